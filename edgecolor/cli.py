"""The ``edgecolor`` command: train, export, colorize, scan, gallery, live, bench, eval, demo,
summary.

Each stage owns its subcommands in a ``commands`` module with ``register(subparsers)``;
those modules import nothing heavy at load (TensorFlow, LiteRT, OpenCV are imported by the
command that needs them), so ``edgecolor --help`` is instant and works on a Pi.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from edgecolor import __version__
from edgecolor.errors import EXIT_USAGE, EdgecolorError

# Module path of each stage's command registry, in the order they appear in --help.
COMMAND_MODULES = (
    "edgecolor.training.commands",  # train, summary
    "edgecolor.export.commands",  # export
    "edgecolor.device.commands",  # colorize, scan, live, bench
    "edgecolor.device.gallery.commands",  # gallery
    "edgecolor.evaluation.commands",  # eval
    "edgecolor.demo",  # demo
)


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line on stderr with exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="edgecolor",
        description="Colorize black-and-white photos and video on small devices.",
    )
    parser.add_argument("--version", action="version", version=f"edgecolor {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if args.verbose else "%(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except EdgecolorError as error:
        print(f"edgecolor {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"edgecolor {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
