"""``edgecolor gallery OUT --serve [HOST:]PORT`` and the gallery of ``edgecolor scan --serve``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edgecolor.device.runtime.options import add_serve_option
from edgecolor.errors import EXIT_OK, UsageError
from edgecolor.signals import stop_on_sigterm

MANIFEST_POLL_SECONDS = 2.0


GALLERY_DESCRIPTION = """\
Serve a page of every file colorized into OUT_DIR (by `edgecolor colorize` or `edgecolor
scan`), newest first, as before/after pairs with downloads. New outputs appear as they
are written. Read-only: nothing is changed but the thumbnail cache in
OUT_DIR/.edgecolor/.
"""


def register(subparsers) -> None:
    """Add the ``gallery`` subcommand to the ``edgecolor`` parser."""
    gallery = subparsers.add_parser(
        "gallery",
        help="a browser page of a colorized folder (before/after, downloads)",
        description=GALLERY_DESCRIPTION,
    )
    gallery.add_argument(
        "-o", "--output", metavar="OUT_DIR", help="the folder edgecolor colorized into"
    )
    # OUT_DIR as a positional, the old spelling of -o (kept for a release)
    gallery.add_argument("folder", nargs="?", metavar="OUT_DIR", help=argparse.SUPPRESS)
    add_serve_option(gallery, "the page", required=True)
    gallery.add_argument(
        "--originals",
        metavar="DIR",
        help="where the originals are (the scanned folder), to show and offer them too",
    )
    gallery.set_defaults(func=run_gallery)


def run_gallery(args: argparse.Namespace) -> int:
    from edgecolor.device.gallery.catalogue import Catalogue
    from edgecolor.device.gallery.server import GalleryServer
    from edgecolor.device.web import parse_bind

    if bool(args.output) == bool(args.folder):
        raise UsageError(
            "name the colorized folder once: edgecolor gallery -o OUT_DIR --serve PORT"
        )
    out_dir = Path(args.output or args.folder)
    if not out_dir.is_dir():
        raise UsageError(f"OUT_DIR {out_dir}: not a folder")
    roots = [Path(args.originals)] if args.originals else []
    if roots and not roots[0].is_dir():
        raise UsageError(f"--originals {args.originals}: not a folder")
    host, port = parse_bind(args.serve)
    catalogue = Catalogue(out_dir, roots)
    if not len(catalogue):
        print(
            f"nothing colorized in {out_dir} yet: the page shows files as they come",
            file=sys.stderr,
        )
    server = GalleryServer(catalogue, host, port)
    print(
        f"gallery: {server.url} ({len(catalogue)} file{'' if len(catalogue) == 1 else 's'}; Ctrl+C to stop)",
        file=sys.stderr,
        flush=True,
    )
    try:
        with stop_on_sigterm():
            while True:
                time.sleep(MANIFEST_POLL_SECONDS)
                catalogue.refresh_from_manifest()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return EXIT_OK


def start_scan_gallery(serve: str, watcher):
    """The gallery of a running scan watcher: ``scan --serve``. Returns the server (close it).

    The watcher tells the catalogue each file it starts and finishes; the server runs on
    its own threads.
    """
    from edgecolor.device.gallery.catalogue import Catalogue
    from edgecolor.device.gallery.server import GalleryServer
    from edgecolor.device.web import parse_bind

    host, port = parse_bind(serve)
    roots = [folder for folder in (watcher.watch_dir, watcher.move_originals) if folder]
    catalogue = Catalogue(watcher.out_dir, roots, scanning=True)
    server = GalleryServer(catalogue, host, port)
    watcher.on_event = catalogue.on_scan_event
    print(f"gallery: {server.url}", file=sys.stderr, flush=True)
    return server
