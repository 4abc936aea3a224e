"""Fault-injection soak of the two device services on loopback (issue 17).

Runs ``edgecolor scan --watch INBOX -o OUT --serve ...`` and ``edgecolor live --source
picamera2 --serve ... --record ...`` as their systemd units do (device/systemd/), each in
its own process through the command line (so this bench survives module moves), under a
supervisor that behaves like ``Restart=on-failure`` (a pause, then the same command again).
For ``--minutes`` (10 by default) it injects faults at random moments (``--seed``):

* scanner (``--scanimage --scan-batch``, a stand-in ``scanimage`` on PATH that behaves as
  SANE's frontend, see tests/test_device_scan.py): off or unplugged ("no SANE devices
  found", exit 1), busy ("open of device ... failed: Device busy"), hung (never answers;
  killed at ``--scan-timeout``), and back; the feeder is refilled now and then, and photos
  also land in the inbox directly, as from a network share;
* camera (a stand-in ``picamera2`` module around tests/fake_picamera2.py, paced at
  ``SOAK_CAMERA_FPS``): stops delivering frames for a while, as a loose ribbon cable does;
* Coral (the stand-in libedgetpu of tests/fake_edgetpu.py in its ``flaky`` mode, the real
  LiteRT loading it): every invoke fails for a while (an accelerator that died mid-run);
  one restart of the scan service follows the install of a libedgetpu that crashes
  (SIGSEGV) when its delegate is made, the next one the install of a working one again.
  The live service runs on the CPU: one USB Coral serves one process;
* SIGTERM and a restart of each service, as ``systemctl restart`` does (in the first 40 %
  of the run only, so that an instance can live long enough for its memory growth to
  mean something);
* the output folders read-only (as root, which ignores file modes, a read-only bind mount
  over each, as when the kernel remounts a failing SD card read-only; otherwise chmod
  0555) and the disk full (the outputs live on a tmpfs, filled up with a ballast file);
* 50 concurrent clients on one service's pages at a time, and a client on each service's
  stream that never reads.

It then reports scans in vs colorized (none lost, none redone: from the manifest), whether
every recorded segment decodes (PyAV), whether both services are up at the end, the RSS
growth of each (its longest-lived instance after its first minute vs at its end: every
restart starts memory afresh) and the page latency with one client and with 50, and exits 1 when a scan was lost or redone, a segment does
not decode, a service is down or an RSS grew by 20 MB or more.

    sudo nice -n 5 .venv/bin/python bench/soak.py              # 10 minutes
    sudo nice -n 5 .venv/bin/python bench/soak.py --minutes 2 --seed 3
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
BUNDLED_MODEL = REPO / "edgecolor" / "assets" / "edgecolor-default-int8.tflite"
RSS_LIMIT_MB = 20.0

# --------------------------------------------------------------------------- stand-ins

# SANE's scanimage as tests/test_device_scan.py fakes it (frontend/scanimage.c's messages and
# exit statuses); the pages are gray photos made once by the soak, taken in turn.
FAKE_SCANIMAGE = r"""
import os, sys, time
from pathlib import Path

state = Path(__file__).parent
options = dict(argument[2:].split("=", 1) for argument in sys.argv[1:] if "=" in argument)
device = (state / "device.txt").read_text().strip() if (state / "device.txt").exists() else "ready"
name = options.get("device-name", "epson2:libusb:001:004")
if device == "missing":
    sys.stderr.write("scanimage: no SANE devices found\n")
    sys.exit(1)
if device == "busy":
    sys.stderr.write(f"scanimage: open of device {name} failed: Device busy\n")
    sys.exit(1)
if device == "hang":
    time.sleep(3600)
feeder = state / "feeder.txt"
pages = int(feeder.read_text() or 0) if feeder.exists() else 0
counter = state / "pages-made.txt"
made = int(counter.read_text() or 0) if counter.exists() else 0
photos = sorted((state / "pages").glob("*.tif"))
number = int(options.get("batch-start", 1))
scanned = 0
while pages > 0:
    path = options["batch"] % number
    content = photos[made % len(photos)].read_bytes()
    with open(path + ".part", "wb") as part:  # scanimage writes NAME.part, then renames
        part.write(content[: len(content) // 2])
        part.flush()
        time.sleep(0.2)
        part.write(content[len(content) // 2 :])
    os.rename(path + ".part", path)
    pages, scanned, number, made = pages - 1, scanned + 1, number + 1, made + 1
    feeder.write_text(str(pages))
    counter.write_text(str(made))
if not scanned:
    sys.stderr.write("scanimage: sane_start: Document feeder out of documents\n")
sys.stderr.write(f"Batch terminated, {scanned} pages scanned\n")
sys.exit(0 if scanned else 7)
"""

# picamera2 and libcamera for the live service: tests/fake_picamera2.py's camera (which
# raises, times out and blocks as picamera2 does), paced like a real sensor, stalling while
# the control file says "stall".
FAKE_PICAMERA2 = r"""
import os
import time
from pathlib import Path

import fake_picamera2

CONTROL = Path(os.environ["SOAK_CAMERA_CONTROL"])
PERIOD = 1.0 / float(os.environ.get("SOAK_CAMERA_FPS", "10"))


def _state():
    try:
        return CONTROL.read_text().strip()
    except OSError:
        return "ready"


class Picamera2(fake_picamera2.FakePicamera2):
    def __init__(self, camera_num=0):
        super().__init__(attached=_state() != "missing", forever=30.0, camera_num=camera_num)
        self._due = time.monotonic()

    def capture_request(self, wait=None, signal_function=None, flush=None):
        self.stall_after = self.frames if _state() == "stall" else None
        pause = self._due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self._due = max(self._due + PERIOD, time.monotonic())
        return super().capture_request(wait=wait)
"""

FAKE_LIBCAMERA = """
class ColorSpace:
    @staticmethod
    def Sycc():
        return "sYCC"
"""


# --------------------------------------------------------------------------- services


@dataclass
class Instance:
    process: subprocess.Popen
    started: float
    rss: list[tuple[float, float]] = field(default_factory=list)  # (age s, MB)


class Service:
    """One service under a stand-in systemd: Restart=on-failure after ``restart_seconds``,
    ``restart()`` = SIGTERM, wait (TimeoutStopSec 90 s, then SIGKILL), start again."""

    def __init__(self, name, command, environment, log, restart_seconds):
        self.name = name
        self.command = command
        self.environment = environment
        self.log = log
        self.restart_seconds = restart_seconds
        # Settings changed since the start (as in the unit's EnvironmentFile): kept for every
        # later start, also the restarts after a failure.
        self.changed_environment: dict[str, str] = {}
        self.instances: list[Instance] = []
        self.exits: list[str] = []  # how each instance ended
        self.failure_restarts = 0
        self._lock = threading.Lock()
        self._stopping = False
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    @property
    def current(self) -> Instance:
        return self.instances[-1]

    def start(self) -> None:
        environment = {**self.environment, **self.changed_environment}
        with open(self.log, "a") as log:
            log.write(f"==== {time.strftime('%H:%M:%S')} start {' '.join(self.command)}\n")
            process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=self.environment["SOAK_WORK"],
                umask=0o002,
            )
        self.instances.append(Instance(process, time.monotonic()))
        if not self._watcher.is_alive():
            self._watcher.start()

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            with self._lock:
                if self._stopping:
                    return
                process = self.current.process
                code = process.poll()
                if code is None:
                    continue
                self.exits.append(f"exit {code} (by itself)")
                if code == 0:  # on-failure: a clean exit stays down
                    continue
            time.sleep(self.restart_seconds)
            with self._lock:
                if self._stopping or self.current.process is not process:
                    continue
                self.failure_restarts += 1
                self.start()

    def stop(self, timeout: float = 90.0) -> str:
        process = self.current.process
        if process.poll() is not None:
            return f"already down (exit {process.returncode})"
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout)
            ended = f"SIGTERM -> exit {code}"
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            ended = "SIGTERM ignored for 90 s: SIGKILL"
        return ended

    def restart(self, changed_environment: dict | None = None) -> str:
        with self._lock:
            ended = self.stop()
            self.exits.append(ended)
            self.changed_environment.update(changed_environment or {})
            self.start()
        return ended

    def shut_down(self) -> str:
        with self._lock:
            self._stopping = True
            ended = self.stop()
            self.exits.append(ended)
        return ended

    def up(self) -> bool:
        return self.current.process.poll() is None

    def sample_rss(self) -> None:
        instance = self.current
        try:
            for line in Path(f"/proc/{instance.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    megabytes = int(line.split()[1]) / 1024
                    instance.rss.append((time.monotonic() - instance.started, megabytes))
        except OSError:
            pass


# --------------------------------------------------------------------------- HTTP clients


def get(port: int, path: str, timeout: float = 30.0) -> tuple[int, float, bytes]:
    """GET http://127.0.0.1:PORT/PATH -> (status or 0 when refused/failed, seconds, body)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return response.status, time.perf_counter() - started, body
    except (OSError, http.client.HTTPException):
        return 0, time.perf_counter() - started, b""
    finally:
        connection.close()


class Latency:
    def __init__(self):
        self.lock = threading.Lock()
        self.samples: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
        self.statuses: dict[tuple[str, str], collections.Counter] = collections.defaultdict(
            collections.Counter
        )

    def add(self, service: str, phase: str, status: int, seconds: float) -> None:
        with self.lock:
            self.statuses[service, phase][status] += 1
            if status == 200:
                self.samples[service, phase].append(seconds)


def load_burst(port: int, paths: list[str], clients: int, seconds: float, name, latency):
    """``clients`` threads, each requesting ``paths`` in turn for ``seconds``."""
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        turn = number
        while time.monotonic() < deadline:
            status, took, _ = get(port, paths[turn % len(paths)])
            latency.add(name, "load", status, took)
            turn += 1
            if status == 0:  # down (restarting): a browser does not retry in a tight loop
                time.sleep(0.5)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)


def never_reading_client(port: int, path: str) -> socket.socket:
    """Asks for an endless stream and never reads it (a phone that went to sleep)."""
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect(("127.0.0.1", port))
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return connection


def dropped_by_server(connection: socket.socket) -> bool:
    """Whether the server has closed the connection (EOF or reset after what it had sent)."""
    connection.setblocking(False)
    try:
        while True:
            chunk = connection.recv(1 << 16)
            if not chunk:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------- set-up


def gray_pages(folder: Path, count: int, rng: random.Random) -> None:
    """``count`` different gray photos (scikit-image's camera, cropped) as TIFF pages."""
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    camera = data.camera()
    for number in range(count):
        top, left = rng.randrange(0, 200), rng.randrange(0, 100)
        crop = camera[top : top + 300, left : left + 400]
        Image.fromarray(crop).save(folder / f"page-{number:02d}.tif")


def drop_photo(inbox: Path, number: int, rng: random.Random) -> Path:
    """A gray JPEG written as a network share client does: a hidden temporary, a rename."""
    from PIL import Image
    from skimage import data

    camera = data.camera()
    top, left = rng.randrange(0, 250), rng.randrange(0, 150)
    target = inbox / "share" / f"drop-{number:04d}.jpg"
    target.parent.mkdir(exist_ok=True)
    temporary = target.with_name(f".{target.name}.part")
    Image.fromarray(camera[top : top + 240, left : left + 320]).save(temporary, format="JPEG")
    os.replace(temporary, target)
    return target


def model_with_edgetpu_copy(folder: Path) -> Path:
    """The bundled model with an ``_edgetpu.tflite`` beside it, as install.sh --coral leaves
    it; the "compiled" file is the CPU model, which the stand-in delegate takes whole."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "soak.tflite"
    shutil.copy(BUNDLED_MODEL, model)
    shutil.copy(BUNDLED_MODEL, folder / "soak_edgetpu.tflite")
    metadata = json.loads(BUNDLED_MODEL.with_suffix(".json").read_text())
    metadata["model_file"] = model.name
    metadata["edgetpu_model_file"] = "soak_edgetpu.tflite"
    model.with_suffix(".json").write_text(json.dumps(metadata))
    return model


def mount_small_disk(folder: Path, megabytes: int) -> str:
    """A tmpfs of ``megabytes`` at ``folder``; returns how (or why not) the disk is small."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return "not mounted (needs root): no full-disk fault"
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0777", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        return f"not mounted ({result.stderr.strip()}): no full-disk fault"
    return f"tmpfs {megabytes} MB"


def make_read_only(folders: list[Path]):
    """Make ``folders`` read-only; returns (a function that undoes it, how it was done).

    Root ignores file modes, so as root each folder gets a read-only bind mount over it
    (EROFS, as when the kernel remounts a failing SD card); otherwise chmod 0555 (EACCES).
    """
    if os.geteuid() == 0:
        mounted = []
        for folder in folders:
            subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
            mounted.append(folder)
            subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)

        def undo():
            for folder in reversed(mounted):
                subprocess.run(["umount", str(folder)], check=False)

        return undo, "read-only bind mount"
    modes = {folder: folder.stat().st_mode & 0o7777 for folder in folders}
    for folder in folders:
        folder.chmod(0o555)

    def undo():
        for folder, mode in modes.items():
            folder.chmod(mode)

    return undo, "chmod 0555"


def fill_disk(folder: Path) -> Path:
    """Write a ballast file until the disk is full (ENOSPC); returns it."""
    ballast = folder / ".soak-ballast"
    with open(ballast, "wb", buffering=0) as handle:
        for size in (1 << 20, 4096):  # megabytes, then the last, partial one
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError:
                pass
    return ballast


# --------------------------------------------------------------------------- the schedule


@dataclass(order=True)
class Fault:
    at: float
    kind: str = field(compare=False)
    seconds: float = field(compare=False, default=0.0)
    detail: str = field(compare=False, default="")


def schedule(minutes: float, rng: random.Random, disk: bool) -> list[Fault]:
    """Random moments for each fault; counts grow with the run's length."""
    total = minutes * 60
    scale = max(1.0, minutes / 10)

    def times(count: float, first: float = 0.05, last: float = 0.85) -> list[float]:
        return [rng.uniform(first * total, last * total) for _ in range(max(1, round(count)))]

    faults = []
    for at in times(2 * scale):
        faults.append(Fault(at, "scanner", rng.uniform(10, 40), "missing"))
    for at in times(1 * scale):
        faults.append(Fault(at, "scanner", rng.uniform(10, 30), "busy"))
    for at in times(1 * scale):
        faults.append(Fault(at, "scanner", rng.uniform(20, 40), "hang"))
    for at in times(3 * scale):
        faults.append(Fault(at, "camera", rng.uniform(5, 25), "stall"))
    for at in times(2 * scale):
        faults.append(Fault(at, "coral", rng.uniform(20, 60), "dead"))
    restarts = times(2 * scale, 0.08, 0.4)
    for number, at in enumerate(sorted(restarts)):
        # The first restart of the scan service follows an update to a libedgetpu that
        # crashes when its delegate is made; the second one a reinstall of a working one.
        detail = ("scan-crashing-libedgetpu", "scan-working-libedgetpu", "scan")[min(number, 2)]
        faults.append(Fault(at, "restart", 0, detail))
    for at in times(2 * scale, 0.08, 0.4):
        faults.append(Fault(at, "restart", 0, "live"))
    for at in times(1.5 * scale):
        faults.append(Fault(at, "read-only", rng.uniform(20, 40)))
    if disk:
        for at in times(1.5 * scale):
            faults.append(Fault(at, "full-disk", rng.uniform(20, 40)))
    bursts = max(2, round(4 * scale))  # one in each of equal slots: they never overlap
    for number in range(bursts):
        slot = 0.8 * total / bursts
        at = 0.1 * total + number * slot + rng.uniform(0, slot - 16)
        faults.append(Fault(at, "load", 15.0, "scan" if number % 2 == 0 else "live"))
    for at in times(1, 0.1, 0.5):
        faults.append(Fault(at, "never-reading", 0, "both"))
    return sorted(faults)


# --------------------------------------------------------------------------- checks


def scan_accounting(inbox: Path, out: Path) -> dict:
    """Scans in (image files in the inbox) vs colorized (a manifest line and the output)."""
    manifest = out / ".edgecolor" / "manifest.jsonl"
    lines = []
    if manifest.exists():
        for line in manifest.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    per_output = collections.Counter(record["output"] for record in lines)
    done_sources = {record["source"] for record in lines if Path(record["output"]).exists()}
    scans_in = sorted(
        str(path.resolve())
        for path in inbox.rglob("*")
        if path.is_file()
        and not path.name.startswith(".")
        and path.suffix.lower() in (".tif", ".jpg")
    )
    lost = [path for path in scans_in if path not in done_sources]
    redone = sorted(output for output, count in per_output.items() if count > 1)
    return {
        "in": len(scans_in),
        "colorized": len(scans_in) - len(lost),
        "lost": [os.path.relpath(path, inbox) for path in lost],
        "redone": [os.path.relpath(path, out) for path in redone],
    }


def recordings(folder: Path) -> dict:
    """Every finished segment decodes to the end with PyAV; no hidden partial files left."""
    import av

    segments, broken = [], []
    for path in sorted(folder.glob("live-*.mp4")):
        try:
            with av.open(str(path)) as container:
                frames = sum(1 for _ in container.decode(video=0))
            if frames == 0:
                raise ValueError("no frames")
            segments.append((path.name, frames))
        except Exception as error:  # any decoder error: this segment is not playable
            broken.append(f"{path.name}: {type(error).__name__}: {error}")
    leftovers = [path.name for path in folder.iterdir() if path.name.startswith(".")]
    return {"segments": segments, "broken": broken, "hidden_leftovers": leftovers}


def rss_growth(service: Service) -> tuple[float | None, float, float | None, float | None]:
    """(growth MB, age s, MB after one minute, MB at its end) of the longest-lived instance:
    a restart starts memory afresh, so only the longest run can show a leak."""
    instance = max(service.instances, key=lambda one: one.rss[-1][0] if one.rss else 0.0)
    samples = instance.rss
    if not samples:
        return None, 0.0, None, None
    age = samples[-1][0]
    after_a_minute = [mb for seconds, mb in samples if seconds >= 60]
    if not after_a_minute:
        return None, age, None, samples[-1][1]
    return after_a_minute[-1] - after_a_minute[0], age, after_a_minute[0], after_a_minute[-1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# --------------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="soak time (default: 10)")
    parser.add_argument("--seed", type=int, default=17, help="fault schedule seed (default: 17)")
    parser.add_argument("--clients", type=int, default=50, help="clients per load burst")
    parser.add_argument(
        "--restart-seconds",
        type=float,
        default=5.0,
        help="pause before a failed service is started again (the units say 30)",
    )
    parser.add_argument("--camera-fps", type=float, default=10.0, help="stand-in camera rate")
    parser.add_argument("--segment-minutes", type=float, default=1.0, help="live --segment-minutes")
    parser.add_argument("--disk-mb", type=int, default=256, help="size of the output tmpfs")
    parser.add_argument(
        "--workdir",
        help="logs and stand-ins here (default: a new temporary folder, kept); the tmpfs "
        "with the outputs is unmounted at the end",
    )
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error(f"--minutes {args.minutes}: must be positive")

    sys.path.insert(0, str(TESTS))
    from fake_edgetpu import build_fake_libedgetpu  # a pure helper: no edgecolor imports

    rng = random.Random(args.seed)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="edgecolor-soak-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    inbox, disk, standins = work / "inbox", work / "disk", work / "standins"
    out, live_folder = disk / "colorized", disk / "live"
    scanner_state, cache = work / "scanner", work / "cache"
    disk_note = mount_small_disk(disk, args.disk_mb)
    mounted = disk_note.startswith("tmpfs")
    for folder in (inbox, out, live_folder, scanner_state, cache, standins / "picamera2"):
        folder.mkdir(parents=True, exist_ok=True)
    (standins / "libcamera").mkdir(exist_ok=True)
    (standins / "picamera2" / "__init__.py").write_text(FAKE_PICAMERA2)
    (standins / "libcamera" / "__init__.py").write_text(FAKE_LIBCAMERA)
    camera_control = work / "camera.txt"
    camera_control.write_text("ready")
    (scanner_state / "scanimage.py").write_text(FAKE_SCANIMAGE)
    scanimage = scanner_state / "scanimage"
    scanimage.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{scanner_state}/scanimage.py" "$@"\n'
    )
    scanimage.chmod(0o755)
    (scanner_state / "device.txt").write_text("ready")
    (scanner_state / "feeder.txt").write_text("3")
    gray_pages(scanner_state / "pages", 12, rng)
    library = build_fake_libedgetpu(work / "libedgetpu")
    if library is None:
        print("soak: needs a C compiler (cc) for the stand-in libedgetpu", file=sys.stderr)
        return 2
    tpu_fails = work / "tpu-fails"
    model = model_with_edgetpu_copy(work / "model")

    scan_port, live_port = free_port(), free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("FAKE_EDGETPU")
    }
    environment.update(
        HOME=str(work),
        XDG_CACHE_HOME=str(cache),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(REPO),
        SOAK_WORK=str(work),
    )
    scan_environment = {
        **environment,
        "PATH": f"{scanner_state}{os.pathsep}{environment.get('PATH', '')}",
        "LD_LIBRARY_PATH": os.pathsep.join(
            filter(None, [str(library.parent), environment.get("LD_LIBRARY_PATH")])
        ),
        "EDGECOLOR_EDGETPU_CHECK": "0",  # no USB bus to look at here: probe the stand-in
        "FAKE_EDGETPU": "flaky",
        "FAKE_EDGETPU_FAIL_FILE": str(tpu_fails),
    }
    live_environment = {
        **environment,
        "PYTHONPATH": os.pathsep.join([str(standins), str(TESTS), str(REPO)]),
        "SOAK_CAMERA_CONTROL": str(camera_control),
        "SOAK_CAMERA_FPS": str(args.camera_fps),
    }
    edgecolor = [sys.executable, "-m", "edgecolor"]
    scan = Service(
        "scan",
        [
            *edgecolor, "scan", "--watch", str(inbox), "-o", str(out), "--model", str(model),
            "--scanimage", "--scan-batch", "--scan-source", "ADF", "--scan-interval", "2",
            "--scan-timeout", "15", "--serve", f"127.0.0.1:{scan_port}",
        ],
        scan_environment,
        work / "scan.log",
        args.restart_seconds,
    )  # fmt: skip
    live = Service(
        "live",
        [
            *edgecolor, "live", "--source", "picamera2", "--serve", f"127.0.0.1:{live_port}",
            "--model", str(model), "--device", "cpu", "--record", str(live_folder / "live.mp4"),
            "--segment-minutes", str(args.segment_minutes),
        ],
        live_environment,
        work / "live.log",
        args.restart_seconds,
    )  # fmt: skip
    faults = schedule(args.minutes, rng, mounted)
    latency = Latency()
    events: list[str] = []
    started = time.monotonic()

    def note(text: str) -> None:
        line = f"{time.monotonic() - started:6.1f} s  {text}"
        events.append(line)
        print(line, file=sys.stderr, flush=True)

    note(f"work folder {work}; outputs on {disk_note}; services as uid {os.geteuid()}")
    scan.start()
    live.start()
    ends: list[tuple[float, str, callable]] = []  # (when, what, undo)
    burst_threads: list[threading.Thread] = []
    never_readers: dict[str, socket.socket] = {}
    ballast: list[Path] = []
    read_only: list = []  # how to undo each read-only fault in force
    dropped = 0
    next_drop = rng.uniform(5, 20)
    next_feed = rng.uniform(10, 30)
    next_rss = 0.0
    next_idle = 3.0
    stop_at = args.minutes * 60
    scanner_faults: list[str] = []  # the scanner fault now in force (last wins)

    def set_scanner(state: str) -> None:
        (scanner_state / "device.txt").write_text(state)

    try:
        while True:
            now = time.monotonic() - started
            if now >= stop_at:
                break
            while faults and faults[0].at <= now:
                fault = faults.pop(0)
                if fault.kind == "scanner":
                    scanner_faults.append(fault.detail)
                    set_scanner(fault.detail)
                    note(f"scanner {fault.detail} for {fault.seconds:.0f} s")

                    def scanner_back(detail=fault.detail):
                        scanner_faults.remove(detail)
                        set_scanner(scanner_faults[-1] if scanner_faults else "ready")

                    ends.append((now + fault.seconds, "scanner back", scanner_back))
                elif fault.kind == "camera":
                    camera_control.write_text("stall")
                    note(f"camera stalls for {fault.seconds:.0f} s")
                    ends.append(
                        (
                            now + fault.seconds,
                            "camera back",
                            lambda: camera_control.write_text("ready"),
                        )
                    )
                elif fault.kind == "coral":
                    tpu_fails.write_text("*")
                    note(f"Coral fails every invoke for {fault.seconds:.0f} s")
                    ends.append(
                        (
                            now + fault.seconds,
                            "Coral back",
                            lambda: tpu_fails.unlink(missing_ok=True),
                        )
                    )
                elif fault.kind == "restart":
                    if fault.detail == "live":
                        note(f"systemctl restart edgecolor-live: {live.restart()}")
                    else:
                        change, extra = None, ""
                        if "libedgetpu" in fault.detail:
                            # Another libedgetpu installed (a new file: stored probe results of
                            # the old one no longer count), one that crashes (SIGSEGV) when
                            # its delegate is made, or a working one again.
                            crashing = "crashing" in fault.detail
                            os.utime(library)
                            change = {"FAKE_EDGETPU": "crash" if crashing else "flaky"}
                            extra = f" with a {'crashing' if crashing else 'working'} libedgetpu"
                        ended = scan.restart(change)
                        note(f"systemctl restart edgecolor-scan: {ended}{extra}")
                elif fault.kind == "read-only":
                    undo, how = make_read_only([out, live_folder])
                    read_only.append(undo)
                    note(f"output folders read-only ({how}) for {fault.seconds:.0f} s")

                    def writable(undo=undo):
                        if undo in read_only:
                            read_only.remove(undo)
                            undo()

                    ends.append((now + fault.seconds, "output folders writable", writable))
                elif fault.kind == "full-disk":
                    ballast.append(fill_disk(disk))
                    note(
                        f"disk full for {fault.seconds:.0f} s ({shutil.disk_usage(disk).free} B free)"
                    )

                    def room():
                        if ballast:
                            ballast.pop().unlink(missing_ok=True)

                    ends.append((now + fault.seconds, "disk has room again", room))
                elif fault.kind == "load":
                    if fault.detail == "scan":
                        port, paths = scan_port, ["/", "/api/status", "/api/scans"]
                    else:
                        port, paths = live_port, ["/"]
                    note(
                        f"{args.clients} clients on the {fault.detail} pages for {fault.seconds:.0f} s"
                    )
                    thread = threading.Thread(
                        target=load_burst,
                        args=(port, paths, args.clients, fault.seconds, fault.detail, latency),
                        daemon=True,
                    )
                    thread.start()
                    burst_threads.append(thread)
                elif fault.kind == "never-reading":
                    try:
                        for name, port, path in (
                            ("live /stream", live_port, "/stream"),
                            ("scan /events", scan_port, "/events"),
                        ):
                            if name not in never_readers:
                                never_readers[name] = never_reading_client(port, path)
                        note("a client that never reads on /stream (live) and /events (scan)")
                    except OSError:  # a service restarting: try again shortly
                        faults.append(Fault(now + 2, fault.kind, fault.seconds, fault.detail))
                        faults.sort()
            ends.sort(key=lambda end: end[0])
            while ends and ends[0][0] <= now:
                _, what, undo = ends.pop(0)
                undo()
                note(what)
            if now >= next_drop:
                try:
                    drop_photo(inbox, dropped + 1, rng)
                    dropped += 1
                except OSError as error:
                    note(f"could not drop a photo: {error}")
                next_drop = now + rng.uniform(5, 20)
            if now >= next_feed:
                feeder = scanner_state / "feeder.txt"
                pages = rng.randint(1, 3)
                feeder.write_text(str(int(feeder.read_text() or 0) + pages))
                next_feed = now + rng.uniform(15, 40)
            if now >= next_rss:
                scan.sample_rss()
                live.sample_rss()
                next_rss = now + 5.0
            if now >= next_idle and not any(thread.is_alive() for thread in burst_threads):
                for name, port, path in (("scan", scan_port, "/"), ("live", live_port, "/")):
                    status, took, _ = get(port, path)
                    latency.add(name, "idle", status, took)
                next_idle = now + 5.0
            time.sleep(0.2)

        # ---- the end: every fault undone, the queue drained, then the checks
        for _, what, undo in sorted(ends, key=lambda end: end[0]):
            undo()
            note(what)
        set_scanner("ready")
        camera_control.write_text("ready")
        tpu_fails.unlink(missing_ok=True)
        for thread in burst_threads:
            thread.join(60)
        note("faults over; waiting for the scan queue to drain (at most 3 minutes)")
        deadline, quiet = time.monotonic() + 180, 0
        while time.monotonic() < deadline and quiet < 3:
            status, _, body = get(scan_port, "/api/status")
            idle = False
            if status == 200:
                state = json.loads(body)
                idle = not state["current"] and not state["queued"]
            feeder = int((scanner_state / "feeder.txt").read_text() or 0)
            quiet = quiet + 1 if idle and feeder == 0 else 0
            time.sleep(2)
        accounting = scan_accounting(inbox, out)
        if accounting["lost"]:  # the watcher may still be settling the last files
            time.sleep(10)
            accounting = scan_accounting(inbox, out)
        scan.sample_rss()
        live.sample_rss()
        up = {}
        for service, port in ((scan, scan_port), (live, live_port)):
            status, _, _ = get(port, "/")
            up[service.name] = service.up() and status == 200
        never_read = {
            name: dropped_by_server(connection) for name, connection in never_readers.items()
        }
        stops = {service.name: service.shut_down() for service in (scan, live)}
        note(f"systemctl stop: scan {stops['scan']}, live {stops['live']}")
        recorded = recordings(live_folder)
    finally:
        for service in (scan, live):
            with service._lock:
                service._stopping = True
            if service.instances and service.current.process.poll() is None:
                service.current.process.kill()
                service.current.process.wait()
        for path in ballast:
            path.unlink(missing_ok=True)
        while read_only:
            read_only.pop()()
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)

    report = {
        "minutes": args.minutes,
        "seed": args.seed,
        "disk": disk_note,
        "scans": {**accounting, "dropped_into_inbox": dropped},
        "recordings": recorded,
        "up_at_end": up,
        "restarts_after_failure": {s.name: s.failure_restarts for s in (scan, live)},
        "exits": {s.name: s.exits for s in (scan, live)},
        "never_reading_client_dropped": never_read,
        "rss": {},
        "latency": {},
        "events": events,
    }
    failures = []
    for service in (scan, live):
        growth, age, first, last = rss_growth(service)
        report["rss"][service.name] = {
            "growth_mb": growth,
            "instance_age_s": age,
            "at_one_minute_mb": first,
            "at_end_mb": last,
        }
        if growth is not None and growth >= RSS_LIMIT_MB:
            failures.append(f"{service.name} RSS grew {growth:.1f} MB")
    for (name, phase), statuses in sorted(latency.statuses.items()):
        samples = latency.samples.get((name, phase), [])
        report["latency"][f"{name} {phase}"] = {
            "ok": len(samples),
            "median_ms": 1000 * statistics.median(samples) if samples else None,
            "p95_ms": 1000 * percentile(samples, 0.95) if samples else None,
            "statuses": {str(status or "no answer"): count for status, count in statuses.items()},
        }
    if accounting["lost"]:
        failures.append(f"{len(accounting['lost'])} scans lost")
    if accounting["redone"]:
        failures.append(f"{len(accounting['redone'])} scans redone")
    if recorded["broken"] or not recorded["segments"]:
        failures.append("a recording does not play" if recorded["broken"] else "no recording")
    for name, is_up in up.items():
        if not is_up:
            failures.append(f"{name} service down at the end")
    report["failures"] = failures

    rows = [
        ("soak", f"{args.minutes:g} min, seed {args.seed}, outputs on {disk_note}"),
        ("scans in / colorized", f"{accounting['in']} / {accounting['colorized']}"),
        ("lost / redone", f"{len(accounting['lost'])} / {len(accounting['redone'])}"),
        (
            "recorded segments",
            f"{len(recorded['segments'])} decode, {len(recorded['broken'])} do not, "
            f"{len(recorded['hidden_leftovers'])} hidden leftovers",
        ),
        ("up at the end", ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in up.items())),
        (
            "restarts after a failure",
            ", ".join(f"{s.name} {s.failure_restarts}" for s in (scan, live)),
        ),
        (
            "never-reading client dropped",
            ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in never_read.items()) or "-",
        ),
    ]
    for name, figures in report["rss"].items():
        if figures["growth_mb"] is None:
            rows.append(
                (f"RSS {name}", f"no instance lived 1 min ({figures['instance_age_s']:.0f} s)")
            )
        else:
            rows.append(
                (
                    f"RSS {name}",
                    f"{figures['at_one_minute_mb']:.1f} -> {figures['at_end_mb']:.1f} MB "
                    f"({figures['growth_mb']:+.1f} MB; longest-lived instance, "
                    f"{figures['instance_age_s']:.0f} s)",
                )
            )
    for name, figures in report["latency"].items():
        others = {k: v for k, v in figures["statuses"].items() if k != "200"}
        if not figures["ok"]:
            rows.append((f"page latency {name}", f"no page answered: {others}"))
            continue
        rows.append(
            (
                f"page latency {name}",
                f"median {figures['median_ms']:.0f} ms, p95 {figures['p95_ms']:.0f} ms "
                f"({figures['ok']} answered 200" + (f"; other: {others}" if others else "") + ")",
            )
        )
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    for line in accounting["lost"][:10]:
        print(f"  lost: {line}")
    for line in accounting["redone"][:10]:
        print(f"  redone: {line}")
    for line in recorded["broken"][:10]:
        print(f"  broken: {line}")
    print("result:", "; ".join(failures) if failures else "nothing lost, both services up")
    print(f"logs: {work}/scan.log, {work}/live.log")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
