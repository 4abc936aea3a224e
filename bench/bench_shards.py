"""Streamed shards at scale: prepare-data time and size, training RSS over 2,000 steps, input
pipeline vs training rates, folder vs shards loss curves, two workers on disjoint shards.

    # a 50,000-photo collection (random crops 400-800 px of real photos; never commit it)
    .venv/bin/python bench/make_collection.py --out /tmp/c50k/photos --count 50000 PHOTO_DIR...
    TF_USE_LEGACY_KERAS=1 .venv/bin/python bench/bench_shards.py --collection /tmp/c50k \
        [--parts prepare,rates,rss,curves,workers] [--pause PID ...]

Writes ``COLLECTION/shards`` (prepare-data of ``COLLECTION/photos``), run folders under
``COLLECTION/runs`` and every figure into ``COLLECTION/results.json``; prints them.
``--pause PID`` stops a process (e.g. a background training) with SIGSTOP during the
timed parts (prepare, rates, rates_gpu, rss) and always continues it (SIGCONT) afterwards, even when a part fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "training" / "default.json"
EDGECOLOR = [sys.executable, "-m", "edgecolor.cli"]


@contextmanager
def paused(pids: list[int]):
    """SIGSTOP ``pids`` for the block; SIGCONT them afterwards whatever happens."""
    stopped = []
    previous = {}

    def resume():
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def on_signal(number, frame):
        resume()
        raise SystemExit(128 + number)

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[number] = signal.signal(number, on_signal)
    try:
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                print(f"--pause {pid}: no such process", file=sys.stderr)
                continue
            if state == "T":
                continue  # stopped by someone else, who will continue it: not ours to resume
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        yield
    finally:
        resume()
        for number, handler in previous.items():
            signal.signal(number, handler)


def du_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` and its children in MB (VmRSS), None when it is gone."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    except OSError:
        return None
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def bench_config(path: Path, **train) -> Path:
    """training/default.json with ``train`` overrides, written to ``path``."""
    config = json.loads(DEFAULT_CONFIG.read_text())
    config["train"].update(train)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1))
    return path


# --------------------------------------------------------------------------- parts


def part_prepare(collection: Path) -> dict:
    """Time ``edgecolor prepare-data`` on the whole collection (from scratch)."""
    out = collection / "shards"
    shutil.rmtree(out, ignore_errors=True)
    photos = collection / "photos"
    count = sum(1 for _ in photos.rglob("*.jpg"))
    started = time.perf_counter()
    command = [
        *EDGECOLOR,
        "prepare-data",
        str(photos),
        "--out",
        str(out),
        "--holdout-fraction",
        "0.01",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(result.stderr[-2000:])
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "photos": count,
        "input_bytes": du_bytes(photos),
        "seconds": round(seconds, 1),
        "photos_per_second": round(count / seconds, 1),
        "output_bytes": du_bytes(out),
        "shard_files": len(manifest["shards"]["train"]) + len(manifest["shards"]["holdout"]),
        "counts": manifest["counts"],
    }


def part_rates(collection: Path, batches: int = 60, steps: int = 20, rounds: int = 3) -> dict:
    """images/s of the input pipeline alone (1 and 2 threads), and of default-network steps
    fed by it against the same steps on one fixed batch (no input pipeline at all),
    alternating ``rounds`` times (medians: other work on the machine comes and goes)."""
    from statistics import median

    from edgecolor.config import RunConfig
    from edgecolor.training import stream
    from edgecolor.training.train import Trainer

    config = RunConfig.load(DEFAULT_CONFIG)
    config.train.data = [str(collection / "shards")]
    train = config.train
    figures = {"batch_size": train.batch_size, "image_size": train.image_size}
    for threads in (1, 2):
        rates = [
            pipeline_rate(
                collection / "shards", train.image_size, train.batch_size, threads, batches
            )
            for _ in range(rounds)
        ]
        figures[f"pipeline_images_per_second_{threads}_threads"] = round(median(rates), 1)

    run_dir = collection / "runs" / "rates"
    shutil.rmtree(run_dir, ignore_errors=True)
    trainer = Trainer(config, run_dir)
    data = stream.prepare_sharded(config, run_dir)
    batches_iter = stream.distributed_batches(trainer.strategy, data, train, 0)
    fixed = next(batches_iter)

    def timed(next_batch) -> float:
        started = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(next_batch(), adversarial=False)
        return steps / (time.perf_counter() - started)

    for _ in range(5):  # tracing and warm-up
        trainer.train_step(next(batches_iter), adversarial=False)
    streamed, in_memory = [], []
    for _ in range(rounds):
        streamed.append(timed(lambda: next(batches_iter)))
        in_memory.append(timed(lambda: fixed))
    figures.update(
        {
            "train_steps_per_second_streamed": round(median(streamed), 3),
            "train_images_per_second_streamed": round(median(streamed) * train.batch_size, 1),
            "train_steps_per_second_fixed_batch": round(median(in_memory), 3),
            "train_images_per_second_fixed_batch": round(median(in_memory) * train.batch_size, 1),
            "streamed_over_fixed": round(median(streamed) / median(in_memory), 3),
        }
    )
    figures["pipeline_over_training"] = round(
        figures["pipeline_images_per_second_2_threads"]
        / figures["train_images_per_second_streamed"],
        1,
    )
    return figures


def pipeline_rate(
    folder: Path, image_size: int, batch_size: int, threads: int, batches: int
) -> float:
    """images/s of the shard input pipeline alone with ``threads`` tf.data threads."""
    import tensorflow as tf

    from edgecolor.training import stream

    files = stream.shard_files([stream.load_manifest(folder)], "train")
    make = stream.dataset_function(files, image_size, batch_size, 0, 4.0, 2048)
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    iterator = iter(make(tf.distribute.InputContext(1, 0, 1)).with_options(options))
    for _ in range(max(5, 2048 // batch_size)):  # fills the shuffle buffer and the prefetch
        next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - started)


def part_rates_gpu(collection: Path, batches: int = 20) -> dict:
    """The input side at the GPU recipe's sizes (training/gpu.json: 224 px crops, batch 64)
    from shards at a 280 px short side, made from two licence folders (about 5,700 photos)."""
    gpu = json.loads((REPO / "training" / "gpu.json").read_text())["train"]
    out = collection / "shards-280"
    shutil.rmtree(out, ignore_errors=True)
    folders = [collection / "photos" / name for name in ("cimg-doc", "tabler-ui")]
    count = sum(1 for folder in folders for _ in folder.rglob("*.jpg"))
    started = time.perf_counter()
    command = [
        *EDGECOLOR,
        "prepare-data",
        *map(str, folders),
        "--out",
        str(out),
        "--short-side",
        "280",
    ]
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    figures = {
        "photos": count,
        "prepare_seconds": round(seconds, 1),
        "prepare_photos_per_second": round(count / seconds, 1),
        "output_bytes": du_bytes(out),
        "image_size": gpu["image_size"],
        "batch_size": gpu["batch_size"],
    }
    for threads in (1, 2):
        rate = pipeline_rate(out, gpu["image_size"], gpu["batch_size"], threads, batches)
        figures[f"pipeline_images_per_second_{threads}_threads"] = round(rate, 1)
    return figures


def part_rss(collection: Path, steps: int = 2000) -> dict:
    """``edgecolor train --data SHARDS`` for ``steps`` steps, its RSS sampled every 5 s."""
    run_dir = collection / "runs" / "rss"
    shutil.rmtree(run_dir, ignore_errors=True)
    config = bench_config(
        collection / "runs" / "rss.json",
        steps=steps,
        early_stopping_evals=0,
        eval_every=250,
        checkpoint_every=500,
        sample_every=1000,
    )
    command = [*EDGECOLOR, "train", "--data", str(collection / "shards"), "--out", str(run_dir)]
    command += ["--config", str(config)]
    started, wall_start = time.perf_counter(), time.time()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    while process.poll() is None:
        value = rss_mb(process.pid)
        if value:
            samples.append((round(time.perf_counter() - started, 1), round(value, 1)))
        time.sleep(5)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(
            f"training failed (exit {process.returncode}); see {run_dir}/logs/train.log"
        )
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    # Map evaluation steps to times: RSS at the evaluations, from the first one on.
    at_evaluations = []
    for record in log:
        elapsed = record["time"] - wall_start
        nearest = min(samples, key=lambda sample: abs(sample[0] - elapsed))
        at_evaluations.append(
            {"step": record["step"], "rss_mb": nearest[1], "g_l1": record["g_l1"]}
        )
    after_first = [value for elapsed, value in samples if elapsed >= samples[-1][0] * 0.125]
    return {
        "steps": steps,
        "seconds": round(seconds, 1),
        "steps_per_second": round(steps / seconds, 3),
        "rss_max_mb": max(value for _, value in samples),
        "rss_after_first_eighth_min_mb": min(after_first),
        "rss_after_first_eighth_max_mb": max(after_first),
        "rss_at_evaluations": at_evaluations,
        "rss_samples": samples,
    }


def part_curves(collection: Path, steps: int = 300, photos: int = 300) -> dict:
    """The same recipe on a folder of ``photos`` photos (twice, seeds 0 and 1: the noise) and
    on its shards (seed 0): training L1 and validation L1 at every evaluation."""
    import numpy as np

    sources = sorted((collection / "photos").rglob("*.jpg"))
    shuffled = [sources[index] for index in np.random.default_rng(0).permutation(len(sources))]
    small, validation = collection / "small", collection / "small-validation"
    for folder, chosen in (
        (small, shuffled[:photos]),
        (validation, shuffled[photos : photos + 50]),
    ):
        if not folder.exists():
            folder.mkdir(parents=True)
            for path in chosen:
                shutil.copy(path, folder / path.name)
    shards = collection / "small-shards"
    subprocess.run(
        [*EDGECOLOR, "prepare-data", str(small), "--out", str(shards), "--photos-per-shard", "50"],
        check=True,
        capture_output=True,
    )
    config = bench_config(
        collection / "runs" / "curves.json",
        steps=steps,
        eval_every=50,
        checkpoint_every=steps,
        sample_every=steps,
        early_stopping_evals=0,
        plateau_patience=100,
    )
    curves = {}
    for name, data, seed in (
        ("folder_seed0", small, 0),
        ("shards_seed0", shards, 0),
        ("folder_seed1", small, 1),
    ):
        run_dir = collection / "runs" / f"curves-{name}"
        shutil.rmtree(run_dir, ignore_errors=True)
        seeded = bench_config(
            collection / "runs" / f"curves-{seed}.json",
            **{**json.loads(config.read_text())["train"], "seed": seed},
        )
        command = [*EDGECOLOR, "train", "--data", str(data), "--validation", str(validation)]
        command += ["--out", str(run_dir), "--config", str(seeded)]
        subprocess.run(command, check=True, capture_output=True)
        log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
        curves[name] = {
            "step": [record["step"] for record in log],
            "g_l1": [record["g_l1"] for record in log],
            "holdout_l1": [record["holdout_l1"] for record in log],
        }

    def gap(first: str, second: str, key: str) -> float:
        pairs = zip(curves[first][key], curves[second][key], strict=True)
        return round(max(abs(a - b) for a, b in pairs), 5)

    return {
        "photos": photos,
        "steps": steps,
        "curves": curves,
        "max_gap_folder_vs_shards": {
            key: gap("folder_seed0", "shards_seed0", key) for key in ("g_l1", "holdout_l1")
        },
        "max_gap_seed0_vs_seed1": {
            key: gap("folder_seed0", "folder_seed1", key) for key in ("g_l1", "holdout_l1")
        },
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def part_workers(collection: Path, steps: int = 10) -> dict:
    """Two workers on localhost (TF_CONFIG, MultiWorkerMirroredStrategy) on the shards: the
    shard files each one reads, from the run's log."""
    run_dir = collection / "runs" / "workers"
    shutil.rmtree(run_dir, ignore_errors=True)
    config = REPO / "training" / "tiny.json"
    cluster = [f"localhost:{free_port()}", f"localhost:{free_port()}"]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config))
        command = [*EDGECOLOR, "train", "--data", str(collection / "shards"), "--out", str(run_dir)]
        command += ["--config", str(config), "--steps", str(steps)]
        processes.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outputs = [process.communicate(timeout=900)[0] for process in processes]
    if any(process.returncode for process in processes):
        raise SystemExit("a worker failed:\n" + "\n".join(output[-1500:] for output in outputs))
    reads = {}
    for line in (run_dir / "logs" / "train.log").read_text().splitlines():
        if "input pipeline" in line and "shard files:" in line:
            words = line.split("input pipeline ", 1)[1].split()
            reads[int(words[0])] = line.split("shard files: ", 1)[1].split()
    manifest = json.loads((collection / "shards" / "manifest.json").read_text())
    every = [item["file"] for item in manifest["shards"]["train"]]
    first, second = set(reads.get(0, [])), set(reads.get(1, []))
    return {
        "workers": 2,
        "steps": steps,
        "files_worker_0": sorted(first),
        "files_worker_1": sorted(second),
        "disjoint": not first & second,
        "together_all_train_shards": first | second == set(every),
    }


# The parts whose figures are times (the ones --pause applies to).
TIMED = ("prepare", "rates", "rates_gpu", "rss")
PARTS = {
    "prepare": part_prepare,
    "rates": part_rates,
    "rates_gpu": part_rates_gpu,
    "rss": part_rss,
    "curves": part_curves,
    "workers": part_workers,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", help="folder holding photos/ (bench/make_collection.py)")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ",".join(PARTS)
    )
    parser.add_argument("--pause", type=int, nargs="*", default=[], metavar="PID")
    args = parser.parse_args(argv)
    if not args.collection:
        # ``make bench`` runs every script bare: this one needs a large collection made first.
        print("bench_shards: skipped (needs --collection; figures in docs/benchmarks.md)")
        return 0
    collection = Path(args.collection)
    results_path = collection / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    import platform

    results["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }
    for name in args.parts.split(","):
        with paused(args.pause if name in TIMED else []):
            started = time.perf_counter()
            results[name] = PARTS[name](collection)
            results[name]["part_seconds"] = round(time.perf_counter() - started, 1)
        results_path.write_text(json.dumps(results, indent=1))
        shown = {
            key: value
            for key, value in results[name].items()
            if key not in ("rss_samples", "curves")
        }
        print(name, json.dumps(shown, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
