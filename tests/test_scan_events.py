"""The scan watcher's events (what the gallery page shows): the file now, the queue, outcomes."""

from __future__ import annotations

from gallery_support import drop_scan  # tests/ is on sys.path (pytest rootdir import)

from edgecolor.device import batch
from edgecolor.device.scan import Watcher


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
    factory = batch.LazyColorizer(model_path=tiny_model, device="cpu", threads=1)
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

    factory = batch.LazyColorizer(model_path=tiny_model, device="cpu", threads=1)
    watcher = Watcher(
        watch, out, factory, settle=0.0, report=lambda text: None, on_event=broken_listener
    )
    (outcome,) = watcher.poll()
    assert outcome.status == "done" and (out / "a.jpg").exists()
    assert "the scan event listener failed" in caplog.text
