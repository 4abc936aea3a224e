"""`edgecolor demo` (placeholder, being built)."""


def register(subparsers) -> None:
    """Add the demo subcommand to the `edgecolor` parser."""
