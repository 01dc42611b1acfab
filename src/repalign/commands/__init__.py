"""CLI subcommands, one module each (see ``repalign.cli``)."""
