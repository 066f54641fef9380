"""Evaluation: text normalisation, metrics, running a model over a manifest, and reports."""
