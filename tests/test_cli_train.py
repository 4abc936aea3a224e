"""``edgecolor train`` / ``edgecolor summary`` on the command line: exit codes and messages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from training_photos import tiny_config_dict, write_colour_photos, write_gray_photo

from edgecolor import cli
from edgecolor.color import LAB_SCALING, LabScaling

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    write_colour_photos(folder, copies=2)
    return folder


def write_config(path: Path, **train) -> Path:
    path.write_text(json.dumps(tiny_config_dict(**train)))
    return path


def usage_error(capsys, argv: list[str]) -> str:
    """Run the CLI, expect exit 2, return the error line (the last stderr line)."""
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("edgecolor train: error: ")
    return lines[-1]


def test_missing_data_folder(tmp_path, capsys):
    config = write_config(tmp_path / "tiny.json")
    line = usage_error(
        capsys,
        [
            "train",
            "--data",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "run"),
            "--config",
            str(config),
        ],
    )
    assert "nowhere" in line
    assert not (tmp_path / "run").exists()  # nothing written for a bad command


def test_empty_data_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    line = usage_error(
        capsys, ["train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run")]
    )
    assert "empty" in line and "no images" in line


def test_no_data_given(tmp_path, capsys):
    assert "--data" in usage_error(capsys, ["train", "--out", str(tmp_path / "run")])


def test_only_gray_photos(tmp_path, capsys):
    write_gray_photo(tmp_path / "old" / "grandma.jpg")
    config = write_config(tmp_path / "tiny.json")
    line = usage_error(
        capsys,
        [
            "train",
            "--data",
            str(tmp_path / "old"),
            "--out",
            str(tmp_path / "run"),
            "--config",
            str(config),
        ],
    )
    assert "no colour photos found in" in line and "old" in line


def test_image_size_the_network_cannot_take(photos, tmp_path, capsys):
    config = write_config(tmp_path / "tiny.json")
    argv = ["train", "--data", str(photos), "--out", str(tmp_path / "run"), "--config", str(config)]
    assert "30" in usage_error(capsys, argv + ["--image-size", "30"])
    assert "-8" in usage_error(capsys, argv + ["--image-size", "-8"])


def test_unknown_config_key_and_bad_json(photos, tmp_path, capsys):
    config = tmp_path / "typo.json"
    config.write_text(json.dumps({"train": {"stepz": 10}}))
    argv = ["train", "--data", str(photos), "--out", str(tmp_path / "run"), "--config"]
    assert "'stepz'" in usage_error(capsys, argv + [str(config)])
    config.write_text(json.dumps({"trainer": {}}))
    assert "'trainer'" in usage_error(capsys, argv + [str(config)])
    config.write_text("{not json")
    assert "typo.json" in usage_error(capsys, argv + [str(config)])


def test_a_scaling_other_than_the_trained_one_is_refused(photos, tmp_path, capsys):
    config = tmp_path / "scaled.json"
    other = LabScaling(L_scale=40.0, L_offset=1.25, ab_scale=100.0)
    config.write_text(json.dumps({"scaling": other.to_metadata()}))
    argv = ["train", "--data", str(photos), "--out", str(tmp_path / "run"), "--config"]
    line = usage_error(capsys, argv + [str(config)])
    assert "L / 40 - 1.25" in line and "L / 50 - 1" in line
    assert not (tmp_path / "run").exists()


def test_run_config_without_scaling_has_the_legacy_one(tmp_path, monkeypatch):
    from edgecolor import color
    from edgecolor.config import RunConfig

    # Were today's scaling another, a recipe would get it and an old run would keep its own.
    today = LabScaling(L_scale=40.0, L_offset=1.25, ab_scale=100.0)
    monkeypatch.setattr(color, "LAB_SCALING", today)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"train": {"steps": 3}}))
    assert RunConfig.load(path).scaling == today and RunConfig().scaling == today
    assert RunConfig.load_run(path).scaling == color.LEGACY_LAB_SCALING
    assert color.LEGACY_LAB_SCALING == LabScaling(50.0, 1.0, 110.0)
    recorded = RunConfig.from_dict(json.loads(RunConfig(scaling=today).to_json()))
    assert recorded.scaling == today


def test_unknown_network_name(photos, tmp_path, capsys):
    argv = ["train", "--data", str(photos), "--out", str(tmp_path / "run")]
    assert "'resnet'" in usage_error(capsys, argv + ["--generator", "resnet"])
    assert "'vgg'" in usage_error(capsys, argv + ["--discriminator", "vgg"])


def test_resume_without_checkpoint(photos, tmp_path, capsys):
    line = usage_error(
        capsys, ["train", "--data", str(photos), "--out", str(tmp_path / "run"), "--resume"]
    )
    assert "no checkpoint" in line and "run" in line


@pytest.mark.slow
def test_train_end_to_end_then_resume(photos, tmp_path, capsys):
    config = write_config(tmp_path / "tiny.json", steps=3)
    run_dir = tmp_path / "run"
    argv = ["train", "--data", str(photos), "--out", str(run_dir), "--config", str(config)]
    assert cli.main(argv + ["--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "to step 3" in out and "samples:" in out
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["scaling"] == LAB_SCALING.to_metadata()  # export stamps the run's own
    assert saved["train"]["batch_size"] == 2  # flags override the config file
    assert saved["train"]["steps"] == 3 and saved["train"]["data"] == [str(photos)]
    assert (run_dir / "samples" / "step_0000003.png").is_file()

    # an existing run is never trained over by accident
    assert "already has checkpoints" in usage_error(capsys, argv)
    # a resumed run keeps its architecture
    resume = ["train", "--out", str(run_dir), "--resume"]
    assert "--image-size 64" in usage_error(capsys, resume + ["--image-size", "64"])
    assert cli.main(resume + ["--steps", "5"]) == 0
    assert "to step 5" in capsys.readouterr().out
    assert json.loads((run_dir / "config.json").read_text())["train"]["steps"] == 5
    assert (run_dir / "checkpoints" / "ckpt-5.index").is_file()


def test_train_help_names_the_real_default_networks(capsys):
    from edgecolor.config import RunConfig

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    defaults = RunConfig()
    assert "edge (default)" not in help_text
    for network in (defaults.generator.name, defaults.discriminator.name):
        assert f"default: the --config file's; {network} without --config" in help_text
    # The recipe the README trains with names its own generator, which wins.
    recipe = json.loads((REPO / "training" / "default.json").read_text())
    assert recipe["generator"]["name"] == "lite0" != defaults.generator.name


def test_summary_prints_parameters_and_macs(capsys):
    assert cli.main(["summary", "--image-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "edge_generator" in out and "patchgan" in out and "64x64" in out
    assert cli.main(["summary", "--image-size", "100"]) == 2
    assert "100" in capsys.readouterr().err


@pytest.mark.slow
def test_sigkill_loses_at_most_one_interval_and_never_corrupts(photos, tmp_path):
    """Kill a real training process with SIGKILL while it checkpoints every step; resume."""
    config = write_config(
        tmp_path / "tiny.json", steps=100000, checkpoint_every=1, eval_every=1000, sample_every=1000
    )
    run_dir = tmp_path / "run"
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    command = [
        sys.executable,
        "-m",
        "edgecolor.cli",
        "train",
        "--data",
        str(photos),
        "--out",
        str(run_dir),
        "--config",
        str(config),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if len(list((run_dir / "checkpoints").glob("ckpt-*.index"))) >= 3:
                break
            time.sleep(0.05)
        else:
            pytest.fail("training wrote no checkpoints within 240 s")
        time.sleep(0.13)  # land somewhere inside a step or a save
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    from edgecolor.training.checkpoint import latest_checkpoint, load_generator

    latest = latest_checkpoint(run_dir)
    assert latest is not None
    _, _, step = load_generator(run_dir)  # restorable, not corrupt
    assert latest.endswith(f"ckpt-{step}") and step >= 3
    resumed = subprocess.run(
        command[:-2] + ["--resume", "--steps", str(step + 2)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"to step {step + 2}" in resumed.stdout
