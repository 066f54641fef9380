"""Converters from other formats to transformers directories, one format per module.

Each converter writes into a directory it is given (the caller makes that write atomic) and raises
:class:`audiollm.weights.errors.WeightsError` naming the input when it is truncated, corrupt or not what it claims to be.
"""
