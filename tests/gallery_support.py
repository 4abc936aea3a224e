"""Test support for the scan gallery: photos, a running scan service with its page, waiting."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from edgecolor.device.files.scan import Watcher
from edgecolor.device.gallery.catalogue import Catalogue
from edgecolor.device.gallery.server import GalleryServer
from edgecolor.device.runtime.lazy_colorizer import LazyColorizer
from edgecolor.device.runtime.options import RuntimeOptions


def gray_photo(seed: int = 0, size: tuple[int, int] = (160, 120)) -> Image.Image:
    """A real black-and-white photo (scikit-image's camera), cropped differently per seed."""
    camera = data.camera()
    top, left = (seed * 37) % 200, (seed * 53) % 200
    crop = camera[top : top + 300, left : left + 400]
    return Image.fromarray(crop).resize(size)


def drop_scan(folder: Path, name: str, seed: int = 0, **save_options) -> Path:
    """Write a photo into ``folder`` the way a scanner does: a hidden temporary, then a rename."""
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.part{target.suffix}")
    gray_photo(seed).save(
        temporary, format=Image.registered_extensions()[target.suffix.lower()], **save_options
    )
    os.replace(temporary, target)
    return target


def wait_until(condition: Callable[[], object], timeout: float = 60.0, what: str = "") -> object:
    """Poll ``condition`` until it returns something true; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        time.sleep(0.1)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@dataclass
class ScanService:
    """A scan watcher on its own thread and the gallery page of it, on 127.0.0.1."""

    watch: Path
    out: Path
    watcher: Watcher
    server: GalleryServer
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return self.server.url.rstrip("/")

    def scan_names(self) -> list[str]:
        return [scan["name"] for scan in get_json(self.base + "/api/scans?limit=200")["scans"]]

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=60)
            assert not self.thread.is_alive(), "the watcher did not stop"
        self.server.close()


def start_scan_service(watch: Path, out: Path, model: Path) -> ScanService:
    """Like ``edgecolor scan --watch WATCH -o OUT --serve 127.0.0.1:0``, inside the test."""
    factory = LazyColorizer(RuntimeOptions(model, "cpu", 1, 4.0))
    watcher = Watcher(watch, out, factory, settle=0.2, report=lambda text: None)
    catalogue = Catalogue(out, [watch], scanning=True)
    watcher.on_event = catalogue.on_scan_event
    server = GalleryServer(catalogue, "127.0.0.1", 0)
    service = ScanService(watch, out, watcher, server)

    def run() -> None:
        while not service.stop.is_set():
            watcher.poll()
            service.stop.wait(0.1)

    service.thread = threading.Thread(target=run, name="test-watcher", daemon=True)
    service.thread.start()
    return service


def colourfulness(picture: Image.Image) -> float:
    """Mean |R - B| + |G - B| of an RGB picture (0 for gray)."""
    pixels = np.asarray(picture.convert("RGB")).astype(np.int16)
    return float(np.abs(pixels[..., 0] - pixels[..., 2]).mean())
