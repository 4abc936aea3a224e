"""Subcommands: export (placeholder, being built)."""


def register(subparsers) -> None:
    """Add this stage's subcommands to the `edgecolor` parser."""
