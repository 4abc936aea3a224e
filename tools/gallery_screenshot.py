"""Make docs/images/gallery.png: the scan gallery in headless Chromium, as the README shows it.

    .venv/bin/python tools/gallery_screenshot.py [--out docs/images/gallery.png]

The bundled demo photos are colorized with the bundled model into a temporary folder, which
``edgecolor gallery`` serves; Chromium (Debian's ``chromium``) loads the page at 1100x700 and
takes the picture once every thumbnail has loaded. tests/test_gallery_browser.py renders the
same page the same way and compares it with the picture in docs/, so the README stays honest.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the DevTools client lives with the browser tests

from chromium import Chromium  # noqa: E402

DEFAULT_OUT = REPO / "docs" / "images" / "gallery.png"
SIZE = (1100, 700)
ALL_LOADED = (
    "document.querySelectorAll('.card').length === {count} && "
    "[...document.images].filter(i => i.closest('.card'))"
    ".every(i => i.complete && i.naturalWidth > 0) && "
    "document.getElementById('status').textContent.includes('{count} scans')"
)


def colorize_demo(folder: Path) -> tuple[Path, Path, int]:
    """The demo photos as "scans" in folder/scans, colorized into folder/colorized."""
    from edgecolor.device.files import batch
    from edgecolor.device.runtime.lazy_colorizer import LazyColorizer
    from edgecolor.device.runtime.model import resolve_model_path
    from edgecolor.device.runtime.options import RuntimeOptions

    demo = REPO / "edgecolor" / "assets" / "demo"
    scans, colorized = folder / "scans", folder / "colorized"
    scans.mkdir(parents=True)
    for photo in sorted(demo.glob("*.jpg")):
        shutil.copy2(photo, scans / photo.name)
    jobs, _ = batch.collect_jobs([scans], colorized)
    factory = LazyColorizer(RuntimeOptions(resolve_model_path(None), "cpu", 2))
    summary = batch.run_batch(jobs, factory, colorized, show_progress=False)
    assert summary.failed == 0, summary.failures
    return scans, colorized, len(jobs)


def render(work: Path) -> bytes:
    """PNG bytes of the gallery page of the colorized demo photos (work: a scratch folder)."""
    from edgecolor.device.gallery.catalogue import Catalogue
    from edgecolor.device.gallery.server import GalleryServer

    scans, colorized, count = colorize_demo(work)
    server = GalleryServer(Catalogue(colorized, [scans]), "127.0.0.1", 0)
    try:
        with Chromium(*SIZE) as browser:
            browser.open(server.url)
            browser.wait_for(ALL_LOADED.format(count=count))
            browser.evaluate("document.fonts.ready.then(() => true)")
            return browser.screenshot()
    finally:
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        png = render(Path(work))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(png)
    print(f"wrote {args.out} ({len(png)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
