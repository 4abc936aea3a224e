"""``edgecolor prepare-data`` and ``train --data SHARDS``: shards, resume, corrupt photos,
streamed training (one replica here; two logical CPUs for the multi-GPU code path)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from training_photos import (
    MIRRORED_SCRIPT,
    tiny_config_dict,
    write_colour_photos,
    write_gray_photo,
)

from edgecolor import cli
from edgecolor.config import RunConfig


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two "licence folders" of generated colour photos and one gray photo."""
    folder = tmp_path_factory.mktemp("collection")
    write_colour_photos(folder / "cc0", copies=2)
    write_colour_photos(folder / "cc-by", copies=1)
    write_gray_photo(folder / "cc-by" / "gray.png")
    return folder


@pytest.fixture(scope="module")
def shards(photos, tmp_path_factory):
    from edgecolor.training.shards import prepare_shards

    out = tmp_path_factory.mktemp("shards")
    prepare_shards(
        [photos], out, short_side=40, photos_per_shard=3, holdout_fraction=0.2, progress=False
    )
    return out


def read_records(path: Path) -> list[dict]:
    import tensorflow as tf

    records = []
    for serialized in tf.data.TFRecordDataset(str(path)):
        example = tf.train.Example.FromString(serialized.numpy())
        features = example.features.feature
        records.append(
            {
                "jpeg": features["jpeg"].bytes_list.value[0],
                "height": features["height"].int64_list.value[0],
                "width": features["width"].int64_list.value[0],
                "source": features["source"].bytes_list.value[0].decode(),
                "licence": features["licence"].bytes_list.value[0].decode(),
                "near_gray": features["near_gray"].int64_list.value[0],
            }
        )
    return records


def test_prepare_data_writes_shards_and_manifest(photos, shards):
    import tensorflow as tf

    manifest = json.loads((shards / "manifest.json").read_text())
    counts = manifest["counts"]
    # 12 colour photos + 1 gray; 20 % (3) held out; the gray one is kept and flagged.
    assert counts["photos"] == counts["records"] == 13
    assert (counts["train_records"], counts["holdout_records"]) == (10, 3)
    assert counts["near_gray"] == 1 and counts["unreadable"] == 0
    assert [item["records"] for item in manifest["shards"]["train"]] == [3, 3, 3, 1]
    records = [
        record
        for part in ("train", "holdout")
        for item in manifest["shards"][part]
        for record in read_records(shards / item["file"])
    ]
    sources = sorted(record["source"] for record in records)
    assert sources == sorted(str(path.resolve()) for path in photos.rglob("*.*"))
    for record in records:
        rgb = tf.io.decode_jpeg(record["jpeg"], channels=3).numpy()
        assert rgb.shape == (record["height"], record["width"], 3)
        assert min(rgb.shape[:2]) == 40
        assert record["licence"] == Path(record["source"]).parent.name
        assert record["near_gray"] == (Path(record["source"]).name == "gray.png")
    holdout = {
        record["source"]
        for item in manifest["shards"]["holdout"]
        for record in read_records(shards / item["file"])
    }
    train = set(sources) - holdout
    assert len(holdout) == 3 and not holdout & train


def test_interrupted_prepare_data_resumes_without_redoing_shards(photos, tmp_path):
    from edgecolor.training.shards import prepare_shards

    out = tmp_path / "shards"
    finished = []

    def interrupt_after_two(name):
        finished.append(name)
        if len(finished) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_shards(
            [photos],
            out,
            short_side=40,
            photos_per_shard=3,
            progress=False,
            on_shard=interrupt_after_two,
        )
    assert not (out / "manifest.json").exists()
    assert finished == ["train-00000", "train-00001"]
    stamps = {name: (out / f"{name}.tfrecord").stat().st_mtime_ns for name in finished}
    report = prepare_shards([photos], out, short_side=40, photos_per_shard=3, progress=False)
    assert report.kept == finished
    assert report.written == ["train-00002", "train-00003", "train-00004"]
    assert {name: (out / f"{name}.tfrecord").stat().st_mtime_ns for name in finished} == stamps
    assert json.loads((out / "manifest.json").read_text())["counts"]["records"] == 13
    # Finished: a third run writes nothing.
    assert (
        prepare_shards([photos], out, short_side=40, photos_per_shard=3, progress=False).written
        == []
    )
    # Other settings in the same folder are refused, not mixed.
    with pytest.raises(Exception, match="short_side"):
        prepare_shards([photos], out, short_side=48, photos_per_shard=3, progress=False)


def test_corrupt_photo_is_named_and_skipped(photos, tmp_path, capsys):
    folder = tmp_path / "photos"
    write_colour_photos(folder, copies=1)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    out = tmp_path / "shards"
    assert cli.main(["prepare-data", str(folder), "--out", str(out), "--short-side", "32"]) == 1
    err = capsys.readouterr().err
    assert str(folder / "broken.jpg") in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["records"] == 4 and manifest["counts"]["unreadable"] == 1
    assert manifest["unreadable"][0][0] == str((folder / "broken.jpg").resolve())


def test_bad_data_is_one_usage_line(photos, tmp_path, capsys):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(tiny_config_dict()))
    # XLA's verifier refuses loss-scaled float16 gradients (TensorFlow 2.21): refused up front.
    xla_mixed = tmp_path / "xla.json"
    xla_mixed.write_text(json.dumps(tiny_config_dict(xla=True, mixed_precision=True)))
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "plan.json").write_text("{}")
    cases = [
        (["train", "--data", str(unfinished)], "prepare-data has not finished"),
        (["train", "--data", str(tmp_path / "nowhere")], "nowhere"),
        (
            ["prepare-data", str(photos), "--out", str(tmp_path / "s"), "--short-side", "0"],
            "--short-side",
        ),
        (["prepare-data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "s")], "nowhere"),
        (["train", "--data", str(photos), "--config", str(xla_mixed)], "train.xla"),
    ]
    for argv, expected in cases:
        if argv[0] == "train":
            argv = [*argv, "--out", str(tmp_path / "run")]
            argv += [] if "--config" in argv else ["--config", str(config)]
        assert cli.main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], lines


def test_steps_to_run_stops_at_every_event():
    from edgecolor.training.runtime import steps_to_run

    train = RunConfig.from_dict(
        tiny_config_dict(
            steps=20,
            pretrain_steps=5,
            eval_every=8,
            sample_every=100,
            checkpoint_every=10,
            steps_per_execution=4,
        )
    ).train
    step, calls = 0, []
    while step < train.steps:
        count = steps_to_run(train, step)
        calls.append(count)
        step += count
    assert calls == [4, 1, 3, 2, 4, 2, 4]  # ends at 4, 5, 8, 10, 14, 16, 20


def test_train_on_shards_then_resume(shards, tmp_path, capsys):
    config = tmp_path / "tiny.json"
    config.write_text(
        json.dumps(
            tiny_config_dict(
                steps_per_execution=3, eval_every=3, checkpoint_every=3, gan_weight=0.0
            )
        )
    )
    run = tmp_path / "run"
    assert (
        cli.main(
            [
                "train",
                "--data",
                str(shards),
                "--out",
                str(run),
                "--config",
                str(config),
                "--steps",
                "6",
            ]
        )
        == 0
    )
    assert "to step 6" in capsys.readouterr().out
    log = (run / "logs" / "train.log").read_text()
    assert "reads 4 shard files" in log
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [3, 6]
    split = json.loads((run / "split.json").read_text())
    assert len(split["holdout"]) == 3 and not any(
        path.endswith("gray.png") for path in split["train"]
    )
    assert (
        cli.main(["train", "--data", str(shards), "--out", str(run), "--resume", "--steps", "8"])
        == 0
    )
    assert "to step 8" in capsys.readouterr().out
    assert (run / "checkpoints" / "ckpt-8.index").is_file()


@pytest.mark.slow
def test_shards_on_two_replicas_with_the_gpu_recipe_switches(shards, tmp_path):
    """The GPU path on two logical CPUs: per-replica batches from the shards, float16 with
    loss scaling, several steps per tf.function call."""
    config = tiny_config_dict(
        [str(shards)],
        steps=4,
        mixed_precision=True,
        steps_per_execution=2,
        gan_weight=0.0,  # the adversarial step on two replicas: tests/test_train.py
        pretrain_steps=0,
        eval_every=4,
        checkpoint_every=4,
    )
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, json.dumps(config), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["step"] == 4
    assert math.isfinite(report["g_l1"]) and 0 < report["holdout_l1"] < 1
    assert (tmp_path / "run" / "checkpoints" / "ckpt-4.index").is_file()
