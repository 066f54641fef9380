"""One module per ``audiollm`` subcommand (see :mod:`audiollm.cli`)."""
