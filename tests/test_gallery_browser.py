"""The scan gallery in a real browser: Debian's headless Chromium, driven over DevTools.

Skipped (with the install command) only where no Chromium is installed; .ci/run installs it.
"""

from __future__ import annotations

import importlib.util
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from chromium import Chromium, find_chromium  # tests/ is on sys.path (pytest rootdir import)
from gallery_support import drop_scan, start_scan_service, wait_until
from PIL import Image

from edgecolor.device.gallery.catalogue import Catalogue
from edgecolor.device.gallery.server import GalleryServer

REPO = Path(__file__).resolve().parent.parent
README_PICTURE = REPO / "docs" / "images" / "gallery.png"

pytestmark = pytest.mark.skipif(
    find_chromium() is None, reason="Chromium is not installed (apt-get install -y chromium)"
)

CARDS = "[...document.querySelectorAll('.card')].map(card => card.dataset.name)"
IMAGES_LOADED = (
    "[...document.querySelectorAll('.card img')].length >= {count} && "
    "[...document.querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)"
)


@pytest.fixture
def service(tmp_path, tiny_model):
    watch, out = tmp_path / "inbox", tmp_path / "colorized"
    watch.mkdir()
    for number, name in enumerate(("a-first.jpg", "b-second.tif", "c-third.png")):
        drop_scan(watch, name, seed=number)
    running = start_scan_service(watch, out, tiny_model)
    wait_until(lambda: len(running.scan_names()) == 3, what="three scans colorized")
    yield running
    running.close()


def test_chromium_shows_the_pairs_and_a_new_scan_appears_without_a_reload(service):
    with Chromium(width=390, height=844, scale=2, mobile=True) as browser:  # a phone
        browser.open(service.server.url)
        browser.wait_for(IMAGES_LOADED.format(count=6))
        assert browser.evaluate(CARDS) == ["c-third.png", "b-second.tif", "a-first.jpg"]
        status = browser.evaluate("document.getElementById('status').textContent")
        assert "waiting for scans" in status and "0 in queue" in status and "3 scans" in status
        sizes = browser.evaluate(
            "[...document.querySelectorAll('.card img')].map(i => [i.className, i.naturalWidth])"
        )
        assert sorted(sizes) == [["after", 160]] * 3 + [["before", 160]] * 3
        # every card fits the phone's width (no sideways scrolling)
        assert browser.evaluate("document.documentElement.scrollWidth") <= 390

        browser.evaluate("window.stayedOpen = 'yes'")  # gone if the page reloads
        drop_scan(service.watch, "d-new.jpg", seed=7)
        browser.wait_for(f"{CARDS}[0] === 'd-new.jpg'")
        browser.wait_for(IMAGES_LOADED.format(count=8))
        assert browser.evaluate(CARDS) == [
            "d-new.jpg",
            "c-third.png",
            "b-second.tif",
            "a-first.jpg",
        ]
        assert browser.evaluate("window.stayedOpen") == "yes"
        assert browser.evaluate("performance.getEntriesByType('navigation').length") == 1

        (service.watch / "e-torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
        browser.wait_for("!document.getElementById('failures').hidden")
        failures = browser.evaluate("document.getElementById('failures').textContent")
        assert "1 file failed" in failures and "e-torn.jpg" in failures
        assert browser.evaluate("window.stayedOpen") == "yes"

        # the slider uncovers the colour; the full-size view shows either side
        browser.evaluate(
            "(() => { const s = document.querySelector('.card input[type=range]');"
            " s.value = 90; s.dispatchEvent(new Event('input')); })()"
        )
        clip = browser.evaluate("document.querySelector('.card img.before').style.clipPath")
        assert clip == "inset(0px 10% 0px 0px)"
        browser.evaluate("document.querySelector('.card .pair').click()")
        browser.wait_for("document.getElementById('viewer').classList.contains('open')")
        shown = "document.querySelector('#viewer img')"
        browser.wait_for(f"{shown}.complete && {shown}.naturalWidth === 160")
        assert "/after/d-new.jpg" in browser.evaluate(f"{shown}.src")
        browser.evaluate("document.querySelector('#viewer [data-side=before]').click()")
        browser.wait_for(f"{shown}.src.includes('/before/d-new.jpg') && {shown}.naturalWidth > 0")
        links = browser.evaluate(
            "[...document.querySelectorAll('#viewer a')].map(a => a.getAttribute('href'))"
        )
        assert links == ["/before/d-new.jpg", "/after/d-new.jpg"]
        png = browser.screenshot()
    picture = Image.open(io.BytesIO(png))
    assert picture.size == (780, 1688)  # 390 x 844 CSS pixels at 2x


def _colorized_folder(folder: Path, count: int) -> Path:
    """OUT as ``edgecolor scan`` leaves it after ``count`` scans (tiny photos, a manifest)."""
    out = folder / "out"
    (out / ".edgecolor").mkdir(parents=True)
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 120, 40)).save(buffer, format="JPEG")
    lines = []
    for number in range(count):
        output = out / f"scan-{number:04d}.jpg"
        output.write_bytes(buffer.getvalue())
        lines.append(json.dumps({"output": str(output.resolve()), "source": "", "kind": "image"}))
    (out / ".edgecolor" / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return out


def test_scrolling_fast_to_the_end_loads_every_scan_once(tmp_path, monkeypatch):
    """Pages of 60 are asked for as the end comes into view, also when scrolled there at once
    while the server is slow (a Pi busy colorizing): the end then stays in view across a load."""
    count = 400
    answer = GalleryServer.scans_json
    monkeypatch.setattr(
        GalleryServer, "scans_json", lambda self, query: time.sleep(0.3) or answer(self, query)
    )
    server = GalleryServer(Catalogue(_colorized_folder(tmp_path, count), []), "127.0.0.1", 0)
    try:
        with Chromium(width=1000, height=700) as browser:
            browser.open(server.url)
            browser.wait_for("document.querySelectorAll('.card').length > 0")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                shown = browser.evaluate(
                    "window.scrollTo(0, document.body.scrollHeight);"
                    " document.querySelectorAll('.card').length"
                )
                if shown == count:
                    break
                time.sleep(0.02)
            names = browser.evaluate(CARDS)
    finally:
        server.close()
    assert names == [f"scan-{number:04d}.jpg" for number in reversed(range(count))]


def _load_screenshot_tool():
    spec = importlib.util.spec_from_file_location(
        "gallery_screenshot", REPO / "tools" / "gallery_screenshot.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_picture_is_what_the_page_shows(tmp_path):
    """The page rendered now matches docs/images/gallery.png (tools/gallery_screenshot.py)."""
    tool = _load_screenshot_tool()
    rendered = Image.open(io.BytesIO(tool.render(tmp_path))).convert("RGB")
    kept = Image.open(README_PICTURE).convert("RGB")
    assert rendered.size == kept.size == tool.SIZE
    difference = np.abs(np.asarray(rendered, np.int16) - np.asarray(kept, np.int16))
    # Tolerates a font rasterized a little differently; not a changed page, layout or model.
    assert difference.mean() < 2.0, f"mean difference {difference.mean():.2f}: re-run the tool"
    assert (difference.max(axis=2) > 48).mean() < 0.01
