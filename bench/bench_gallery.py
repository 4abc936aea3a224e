"""The scan gallery with 1,000 and 10,000 scans: page load, thumbnail cost, service memory.

    .venv/bin/python bench/bench_gallery.py [--counts 1000 10000] [--skip-memory]

Sections (issue 12):

1. Thumbnail cost per scan at real scan sizes: a 6x4" print at 600 dpi (3600x2400) as gray
   JPEG, 16-bit gray TIFF (what ``scanimage`` writes) and the colour JPEG edgecolor writes
   for it; the first request makes and caches the thumbnail, later ones read the cache.
   Extrapolated to 1,000 and 10,000 scans (two thumbnails each: before and after).
2. Page load with 1,000 and 10,000 scans (synthetic folders made here: small photos and a
   manifest, as ``edgecolor scan`` leaves them): loading the catalogue, the catalogue's
   memory, the first screen over HTTP (page, status, first 60 scans and their 120
   thumbnails, cold and cached), a page deep in the list, every page one after the other,
   and the first screen in headless Chromium when it is installed.
3. Peak resident memory of ``edgecolor scan --watch IN -o OUT --serve`` over the
   10,000-scan folders while the page is open (Chromium, or an HTTP client when Chromium is
   missing, holding the event stream, reading every page and thumbnails) and 10 new
   3600x2400 scans are colorized; side by side with the same service without ``--serve``.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the Chromium DevTools client of the browser tests

SCAN_SIZE = (3600, 2400)  # 6x4" at 600 dpi
FIRST_SCREEN = 60  # scans the page asks for first


def scan_photo(size: tuple[int, int] = SCAN_SIZE, seed: int = 0) -> Image.Image:
    """A gray photo at scan size (scikit-image's camera, enlarged, with a little grain)."""
    from skimage import data

    camera = Image.fromarray(data.camera()).rotate(seed % 4 * 90)
    picture = np.asarray(camera.resize(size, Image.Resampling.BICUBIC), np.int16)
    grain = np.random.default_rng(seed).integers(-6, 7, picture.shape, dtype=np.int16)
    return Image.fromarray(np.clip(picture + grain, 0, 255).astype(np.uint8))


def milliseconds(seconds: list[float]) -> str:
    median = statistics.median(seconds) * 1000
    return f"{median:.1f} ms" if median >= 1 else f"{median:.3f} ms"


# --------------------------------------------------------------------------- 1. thumbnails


def section_thumbnails(folder: Path, counts: list[int], repeats: int = 5) -> None:
    from edgecolor.device.gallery import renditions

    print('## 1. Thumbnail cost per scan (3600x2400, 6x4" at 600 dpi)\n')
    sources = folder / "thumbnail-sources"
    sources.mkdir()
    gray = scan_photo()
    colour = Image.merge(
        "RGB", [gray, gray.point(lambda v: int(v * 0.9)), gray.point(lambda v: int(v * 0.75))]
    )
    kinds = {
        "gray JPEG (original)": ("jpg", gray, {"quality": 90}),
        "16-bit gray TIFF (original)": (
            "tif",
            Image.fromarray(np.asarray(gray, np.uint16) * 257),
            {},
        ),
        "colour JPEG (colorized)": ("jpg", colour, {"quality": 95}),
    }
    rows = []
    cold_total = {}
    for label, (suffix, picture, options) in kinds.items():
        files = []
        for number in range(repeats):
            path = sources / f"{label.split()[0]}-{label.split()[1]}-{number}.{suffix}"
            picture.save(path, **options)
            files.append(path)
        cold, warm, sizes = [], [], []
        for path in files:
            target = folder / "cache" / f"{path.name}.jpg"
            start = time.perf_counter()
            renditions.rendition(path, target, renditions.THUMBNAIL)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            renditions.rendition(path, target, renditions.THUMBNAIL)
            warm.append(time.perf_counter() - start)
            sizes.append(target.stat().st_size)
        cold_total[label] = statistics.median(cold)
        rows.append(
            f"| {label} | {path.stat().st_size / 1e6:.1f} MB | {milliseconds(cold)} | "
            f"{milliseconds(warm)} | {statistics.median(sizes) / 1e3:.0f} kB |"
        )
    print(
        "| scan | file | first request (make + cache) | later (cached, freshness check) | thumbnail |"
    )
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    per_scan = {
        "JPEG scans": cold_total["gray JPEG (original)"] + cold_total["colour JPEG (colorized)"],
        "TIFF scans": cold_total["16-bit gray TIFF (original)"]
        + cold_total["colour JPEG (colorized)"],
    }
    print("\nEvery thumbnail of a folder, made once (before + after per scan), one at a time:\n")
    print("| scans | " + " | ".join(per_scan) + " |")
    print("| --- |" + " --- |" * len(per_scan))
    for count in counts:
        cells = " | ".join(f"{seconds * count / 60:.1f} min" for seconds in per_scan.values())
        print(f"| {count:,} | {cells} |")
    print(
        "\nThe page asks only for the thumbnails it shows (lazy images, 60 scans a page), so "
        "a first visit to 10,000 scans makes ~120, not 20,000.\n"
    )


# --------------------------------------------------------------------------- 2. page load


def synthetic_folders(folder: Path, count: int) -> tuple[Path, Path]:
    """IN and OUT as ``edgecolor scan`` leaves them after ``count`` scans (small photos)."""
    watch, out = folder / f"in-{count}", folder / f"out-{count}"
    buffer = io.BytesIO()
    scan_photo((96, 64)).save(buffer, format="JPEG", quality=85)
    small = buffer.getvalue()
    buffer = io.BytesIO()
    scan_photo((96, 64)).convert("RGB").save(buffer, format="JPEG", quality=85)
    coloured = buffer.getvalue()
    lines = []
    for number in range(count):
        relative = Path(f"roll-{number // 500:03d}") / f"scan-{number:05d}.jpg"
        source, output = watch / relative, out / relative
        source.parent.mkdir(parents=True, exist_ok=True)
        output.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(small)
        output.write_bytes(coloured)
        status = source.stat()
        lines.append(
            json.dumps(
                {
                    "output": str(output.resolve()),
                    "source": str(source.resolve()),
                    "size": status.st_size,
                    "mtime_ns": status.st_mtime_ns,
                    "kind": "image",
                    "time": "2026-01-01T00:00:00Z",
                    "frames": 1,
                    "model": "edgecolor-default-int8.tflite",
                }
            )
        )
    (out / ".edgecolor").mkdir()
    (out / ".edgecolor" / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return watch, out


class Client:
    """One keep-alive HTTP connection, like one of a browser's."""

    def __init__(self, url: str):
        host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def get(self, target: str) -> bytes:
        self.connection.request("GET", target)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{target}: HTTP {response.status}")
        return body

    def first_screen(self) -> int:
        """Page, status, the first scans and their thumbnails; returns the thumbnail count."""
        self.get("/")
        self.get("/api/status")
        scans = json.loads(self.get(f"/api/scans?limit={FIRST_SCREEN}"))["scans"]
        thumbnails = [s[key] for s in scans for key in ("thumb_before", "thumb_after") if s[key]]
        for thumbnail in thumbnails:
            self.get(thumbnail)
        return len(thumbnails)


def section_page_load(folder: Path, counts: list[int], chromium: bool) -> dict[int, tuple]:
    from edgecolor.device.gallery.catalogue import Catalogue
    from edgecolor.device.gallery.server import GalleryServer

    print("## 2. Page load\n")
    print(
        "Synthetic folders (96x64 photos, so the thumbnail cost of section 1 is left out of the "
        "cold figures: they show the server's own work). One keep-alive connection, requests "
        "one after the other (a browser uses six at once); medians of 5 runs.\n"
    )
    rows, folders = [], {}
    for count in counts:
        watch, out = synthetic_folders(folder, count)
        folders[count] = (watch, out)
        start = time.perf_counter()
        catalogue = Catalogue(out, [watch])
        load = time.perf_counter() - start
        del catalogue
        tracemalloc.start()  # (slows allocation down: a second load, for the memory only)
        catalogue = Catalogue(out, [watch])
        memory = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert len(catalogue) == count
        server = GalleryServer(catalogue, "127.0.0.1", 0)
        try:
            client = Client(server.url)
            start = time.perf_counter()
            thumbnails = client.first_screen()
            assert thumbnails == 2 * min(count, FIRST_SCREEN), thumbnails
            cold = time.perf_counter() - start
            warm = []
            for _ in range(5):
                start = time.perf_counter()
                client.first_screen()
                warm.append(time.perf_counter() - start)
            deep = []
            for _ in range(5):
                start = time.perf_counter()
                client.get(f"/api/scans?limit={FIRST_SCREEN}&before={count // 2}")
                deep.append(time.perf_counter() - start)
            start = time.perf_counter()
            before, pages = "", 0
            while True:
                page = json.loads(client.get(f"/api/scans?limit=200{before}"))
                pages += 1
                if not page["more"]:
                    break
                before = f"&before={page['scans'][-1]['sequence']}"
            every_page = time.perf_counter() - start
            browser = browser_first_screen(server.url) if chromium else None
        finally:
            server.close()
        rows.append(
            f"| {count:,} | {load * 1000:.0f} ms | {memory / 1e6:.1f} MB ({memory / count:.0f} B/scan) "
            f"| {cold * 1000:.0f} ms | {milliseconds(warm)} | {milliseconds(deep)} "
            f"| {every_page * 1000:.0f} ms ({pages} pages) "
            f"| {f'{browser * 1000:.0f} ms' if browser is not None else 'no Chromium'} |"
        )
    print(
        "| scans | catalogue load | catalogue memory | first screen, cold (page + status + "
        f"{FIRST_SCREEN} scans + {2 * FIRST_SCREEN} thumbnails made) | same, cached | "
        f"a page of {FIRST_SCREEN} from the middle | every scan, 200 a page | Chromium: "
        "navigate to the first screen's pictures shown, cached |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    return folders


VISIBLE_LOADED = (
    "(() => { const images = [...document.querySelectorAll('.card img')]"
    ".filter(i => i.getBoundingClientRect().top < innerHeight);"
    " return images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0); })()"
)


def browser_first_screen(url: str, repeats: int = 3) -> float:
    """Median seconds from navigation to every picture on the first screen shown (cached)."""
    from chromium import Chromium

    times = []
    with Chromium(width=1100, height=800) as browser:
        for _ in range(repeats + 1):  # the first fills the thumbnail cache
            browser.open("about:blank")
            start = time.perf_counter()
            browser.send("Page.navigate", {"url": url}, session=True)
            browser.wait_for("document.readyState === 'complete'")
            browser.wait_for(VISIBLE_LOADED)
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


# --------------------------------------------------------------------------- 3. memory


def resident(pid: int) -> dict[str, float]:
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    except (OSError, ValueError):
        pass
    return fields


def run_service(watch: Path, out: Path, new_scans: int, serve: bool, chromium: bool) -> dict:
    """Start the scan service, (open the page,) drop new scans, wait until all are colorized."""
    command = [
        sys.executable,
        "-m",
        "edgecolor.cli",
        "scan",
        "--watch",
        str(watch),
        "-o",
        str(out),
        "--settle",
        "0.5",
        "--interval",
        "1",
        "--device",
        "cpu",
        "--threads",
        "2",
    ]
    if serve:
        command += ["--serve", "127.0.0.1:0"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=out.parent)
    lines: list[str] = []
    url: list[str] = []

    def read_stderr() -> None:
        for line in process.stderr:
            lines.append(line)
            if line.startswith("gallery: http://"):
                url.append(line.split()[1])

    threading.Thread(target=read_stderr, daemon=True).start()
    peak = {"VmRSS": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set() and process.poll() is None:
            value = resident(process.pid).get("VmRSS", 0.0)
            peak["VmRSS"] = max(peak["VmRSS"], value)
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    watching = None
    try:
        deadline = time.monotonic() + 120
        while serve and not url:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("".join(lines[-5:]))
            time.sleep(0.1)
        time.sleep(3)  # the first passes over the folder: everything there is done already
        started = resident(process.pid).get("VmRSS", 0.0)
        if serve:
            watching = PageOpen(url[0], chromium)
        for number in range(new_scans):
            partial = watch / f".new-{number}.part.jpg"
            scan_photo(seed=number).save(partial, quality=90)
            os.replace(partial, watch / f"new-{number:02d}.jpg")
        done = out / f"new-{new_scans - 1:02d}.jpg"
        deadline = time.monotonic() + 600
        while not all((out / f"new-{n:02d}.jpg").exists() for n in range(new_scans)):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"not colorized in time: {done}; {''.join(lines[-5:])}")
            time.sleep(0.2)
        if watching is not None:
            watching.until_shown(new_scans)
        final = resident(process.pid)
    finally:
        if watching is not None:
            watching.close()
        process.terminate()
        process.wait(timeout=60)
        stop.set()
        sampler.join()
        for number in range(new_scans):  # the next run starts from the same folders
            for path in (watch / f"new-{number:02d}.jpg", out / f"new-{number:02d}.jpg"):
                path.unlink(missing_ok=True)
    return {
        "start": started,
        "peak": max(peak["VmRSS"], final.get("VmHWM", 0.0)),
        "end": final.get("VmRSS", 0.0),
        "page": watching.description if watching else "-",
    }


class PageOpen:
    """The gallery open in Chromium (scrolled to the end: every scan's card), or, without
    Chromium, an HTTP client holding the event stream and reading every page of scans."""

    def __init__(self, url: str, chromium: bool):
        self.url = url
        self.browser = None
        self.description = ""
        if chromium:
            from chromium import Chromium

            self.browser = Chromium(width=1100, height=800)
            self.browser.open(url)
            self.browser.wait_for(VISIBLE_LOADED)
            deadline = time.monotonic() + 600
            scans = json.loads(Client(url).get("/api/status"))["scans"]
            cards = 0
            while cards < scans and time.monotonic() < deadline:  # to the end: every page
                cards = self.browser.evaluate(
                    "window.scrollTo(0, document.body.scrollHeight);"
                    " document.querySelectorAll('.card').length"
                )
                time.sleep(0.05)
            self.description = f"Chromium, scrolled through {cards:,} of {scans:,} cards"
        else:
            self.client = Client(url)
            before, pages = "", 0
            while True:
                page = json.loads(self.client.get(f"/api/scans?limit=200{before}"))
                pages += 1
                if not page["more"]:
                    break
                before = f"&before={page['scans'][-1]['sequence']}"
            self.client.first_screen()
            self.events = Client(url).connection
            self.events.request("GET", "/events")
            self.events.getresponse()  # held open, read by nobody: a stalled page
            self.description = f"HTTP client: {pages} pages read, event stream open"

    def until_shown(self, new_scans: int) -> None:
        if self.browser is not None:
            self.browser.wait_for(
                f"document.querySelector('.card').dataset.name === 'new-{new_scans - 1:02d}.jpg'",
                timeout=120,
            )
            self.browser.evaluate("window.scrollTo(0, 0)")
            self.browser.wait_for(VISIBLE_LOADED, timeout=120)
        else:
            newest = json.loads(self.client.get("/api/scans?limit=1"))["scans"][0]["name"]
            assert newest == f"new-{new_scans - 1:02d}.jpg", newest
            self.client.first_screen()

    def close(self) -> None:
        if self.browser is not None:
            self.browser.close()
        else:
            self.client.connection.close()
            self.events.close()


def section_memory(folders: tuple[Path, Path], count: int, chromium: bool, new_scans: int) -> None:
    watch, out = folders
    print(f"## 3. Scan service memory with {count:,} scans and the page open\n")
    print(
        f"`edgecolor scan --watch IN -o OUT` (bundled model, 2 threads) over the {count:,}-scan "
        f"folders of section 2; after start-up, {new_scans} new {SCAN_SIZE[0]}x{SCAN_SIZE[1]} "
        "gray JPEG scans are dropped into IN and colorized while the page watches. Resident "
        "memory from /proc/PID/status (peak: the highest sample every 0.1 s and VmHWM).\n"
    )
    rows = []
    for serve in (False, True):
        figures = run_service(watch, out, new_scans, serve, chromium)
        label = "with `--serve`, page open" if serve else "without `--serve`"
        rows.append(
            f"| {label} | {figures['start']:.0f} MB | {figures['peak']:.0f} MB "
            f"| {figures['end']:.0f} MB | {figures['page']} |"
        )
    print("| service | after start-up | peak | at the end | page |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--new-scans", type=int, default=10, help="scans colorized in section 3")
    parser.add_argument("--skip-memory", action="store_true", help="skip section 3")
    args = parser.parse_args()
    from chromium import find_chromium

    chromium = find_chromium() is not None
    print(f"# Scan gallery (Chromium: {'yes' if chromium else 'not installed, HTTP only'})\n")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        section_thumbnails(folder, args.counts)
        folders = section_page_load(folder, args.counts, chromium)
        if not args.skip_memory:
            largest = max(args.counts)
            section_memory(folders[largest], largest, chromium, args.new_scans)
    return 0


if __name__ == "__main__":
    sys.exit(main())
