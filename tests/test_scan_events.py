"""The scan watcher's events (what the gallery page shows): the file now, the queue, outcomes."""

from __future__ import annotations

from gallery_support import drop_scan  # tests/ is on sys.path (pytest rootdir import)

from edgecolor.device.files.scan import ScanEvent, Watcher
from edgecolor.device.runtime.lazy_colorizer import LazyColorizer
from edgecolor.device.runtime.options import RuntimeOptions


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _summary(events):
    return [
        (
            event.kind,
            event.queued,
            event.job.source.name if event.job else None,
            event.outcome.status if event.outcome else None,
        )
        for event in events
    ]


def test_events_name_the_current_file_the_queue_and_the_outcome(tmp_path, tiny_model):
    watch, out, moved = tmp_path / "inbox", tmp_path / "out", tmp_path / "done"
    watch.mkdir()
    for number, name in enumerate(("a.jpg", "b.jpg", "c.jpg")):
        drop_scan(watch, name, seed=number)
    (watch / "d.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    events = []
    factory = LazyColorizer(RuntimeOptions(tiny_model, "cpu", 1))
    watcher = Watcher(
        watch,
        out,
        factory,
        move_originals=moved,
        settle=30.0,
        clock=FakeClock(),
        report=lambda text: None,
        on_event=events.append,
    )
    watcher.poll()  # just written: seen, waiting to settle
    assert _summary(events) == [("idle", 4, None, None)]
    events.clear()
    watcher.clock.now += 31
    watcher.poll()
    assert _summary(events) == [
        ("started", 3, "a.jpg", None),
        ("finished", 3, "a.jpg", "done"),
        ("started", 2, "b.jpg", None),
        ("finished", 2, "b.jpg", "done"),
        ("started", 1, "c.jpg", None),
        ("finished", 1, "c.jpg", "done"),
        ("started", 0, "d.jpg", None),
        ("finished", 0, "d.jpg", "failed"),
        ("idle", 0, None, None),
    ]
    finished = [event for event in events if event.kind == "finished"]
    assert finished[0].original == moved / "a.jpg" and (moved / "a.jpg").exists()
    assert finished[3].original == watch / "d.jpg"  # a failed original stays where it was
    assert "not an image" in finished[3].outcome.reason

    events.clear()
    with open(watch / "e.jpg", "wb") as scanner:  # a file still being written is queued
        scanner.write(b"\xff\xd8")
        watcher.poll()
    assert _summary(events) == [("idle", 1, None, None)]


def test_a_failing_listener_never_stops_the_colorizing(tmp_path, tiny_model, caplog):
    watch, out = tmp_path / "inbox", tmp_path / "out"
    watch.mkdir()
    drop_scan(watch, "a.jpg")

    def broken_listener(event):
        raise RuntimeError("the page is broken")

    factory = LazyColorizer(RuntimeOptions(tiny_model, "cpu", 1))
    watcher = Watcher(
        watch, out, factory, settle=0.0, report=lambda text: None, on_event=broken_listener
    )
    (outcome,) = watcher.poll()
    assert outcome.status == "done" and (out / "a.jpg").exists()
    assert "the scan event listener failed" in caplog.text


class _ScannerThatIsOff:
    """Stands in for :class:`edgecolor.device.files.scanimage.Scanner` while the scanner is off, then on."""

    def __init__(self, problems):
        self.problems = list(problems)
        self.problem = None

    def scan_into(self, folder):
        if not self.problems:
            return False  # no more scans: the watcher finishes
        self.problem = self.problems.pop(0)
        return True


def test_the_page_is_told_when_the_scanner_is_missing_and_when_it_is_back(tmp_path, tiny_model):
    """Issue 17: the folder watcher and the page keep going while the scanner is off, and the
    page's status says so ("scanner not found, retrying in N s")."""
    from edgecolor.device.gallery.catalogue import Catalogue

    watch, out = tmp_path / "inbox", tmp_path / "out"
    watch.mkdir()
    drop_scan(watch, "a.jpg")
    events = []
    factory = LazyColorizer(RuntimeOptions(tiny_model, "cpu", 1))
    watcher = Watcher(
        watch, out, factory, settle=0.0, report=lambda text: None, on_event=events.append
    )
    missing = "scanner not found, retrying in 10 s"
    scanner = _ScannerThatIsOff([missing, missing, "scanner busy, retrying in 20 s", None])
    watcher.run(once=True, interval=0.0, scanner=scanner)
    told = [event.message for event in events if event.kind == "scanner"]
    assert told == [missing, "scanner busy, retrying in 20 s", None]  # changes only
    assert (out / "a.jpg").exists()  # the folder was colorized meanwhile

    catalogue = Catalogue(out, [watch], scanning=True)
    catalogue.on_scan_event(next(event for event in events if event.kind == "scanner"))
    assert catalogue.status()["scanner"] == missing
    catalogue.on_scan_event(ScanEvent("scanner", 0, message=None))
    assert catalogue.status()["scanner"] is None
