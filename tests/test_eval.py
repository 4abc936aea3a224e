"""`edgecolor eval`: metrics per model and for the gray baseline, JSON report, grid, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from edgecolor.cli import main
from edgecolor.evaluation import metrics
from edgecolor.evaluation.evaluate import BASELINE, Candidate, evaluate, unique_labels
from edgecolor.evaluation.grid import CELL_HEIGHT, CELL_WIDTH

COLOUR_PHOTOS = {
    "astronaut.png": skimage.data.astronaut,
    "animals/chelsea.jpg": skimage.data.chelsea,
    "animals/deeper/coffee.png": skimage.data.coffee,
}


def _save(path: Path, image: np.ndarray, size: int = 64) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(image)
    picture.thumbnail((size, size))
    picture.save(path)


@pytest.fixture
def photo_dir(tmp_path) -> Path:
    """3 small colour photos in nested folders, 1 black-and-white photo, 1 non-image file."""
    folder = tmp_path / "photos"
    for name, loader in COLOUR_PHOTOS.items():
        _save(folder / name, loader())
    _save(folder / "bw" / "camera.png", skimage.data.camera())
    (folder / "notes.txt").write_text("not a photo")
    return folder


def _run(argv: list[str]) -> int:
    return main(["eval", *[str(value) for value in argv]])


def _direct_gray_psnr(path: Path) -> float:
    original = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
    gray = metrics.to_grayscale(original).astype(np.float64)
    mse = np.mean((original.astype(np.float64) - gray[..., None]) ** 2)
    return 10.0 * np.log10(255.0**2 / mse)


def test_eval_simplest_form_uses_the_bundled_model(photo_dir, tmp_path, monkeypatch, capsys):
    """README's first example: `edgecolor eval --data DIR`, nothing else to have or name."""
    from edgecolor.device.runtime.model import default_model_path

    monkeypatch.chdir(tmp_path)
    assert _run(["--data", photo_dir]) == 0
    report = json.loads((tmp_path / "eval-output" / "eval.json").read_text())
    assert report["photos"] == 3
    (model,) = report["models"]
    assert Path(model["model_file"]) == default_model_path()
    assert model["format"] == "int8" and np.isfinite(model["psnr"])
    assert (tmp_path / "eval-output" / "grid.png").is_file()
    assert model["label"] in capsys.readouterr().out


@pytest.mark.slow
def test_eval_reports_models_and_gray_baseline(
    photo_dir, tmp_path, tiny_model, tiny_float_model, capsys
):
    out = tmp_path / "out"
    code = _run(
        [
            "--model",
            tiny_model,
            "--model",
            tiny_float_model,
            "--data",
            photo_dir,
            "--out",
            out,
            "--grid",
            "2",
        ]
    )
    assert code == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["schema"] == "edgecolor.eval/1"
    assert report["photos"] == 3
    assert report["skipped_gray"] == ["bw/camera.png"]
    assert report["failed"] == []

    baseline = report["baseline"]
    assert baseline["colorfulness_ratio"] == pytest.approx(0.0, abs=1e-9)
    direct = np.mean([_direct_gray_psnr(photo_dir / name) for name in COLOUR_PHOTOS])
    assert baseline["psnr"] == pytest.approx(direct, rel=1e-9)
    assert baseline["delta_e2000"] > 0

    models = report["models"]
    assert [entry["label"] for entry in models] == ["tiny-int8", "tiny-float32"]
    assert [entry["format"] for entry in models] == ["int8", "float32"]
    for entry in models:
        for key in ("psnr", "delta_e2000", "colorfulness_ratio"):
            assert np.isfinite(entry[key]), (entry["label"], key)
        assert entry["vs_baseline"]["psnr_gain_db"] == pytest.approx(
            entry["psnr"] - baseline["psnr"]
        )
        assert entry["backend"]
    per_photo = {photo["path"]: photo for photo in report["per_photo"]}
    assert set(per_photo) == set(COLOUR_PHOTOS)
    assert set(per_photo["astronaut.png"]["scores"]) == {BASELINE, "tiny-int8", "tiny-float32"}

    # Grid: 2 photos x (grayscale | 2 models | original).
    with Image.open(out / "grid.png") as grid:
        assert grid.width >= 4 * CELL_WIDTH and grid.height >= 2 * CELL_HEIGHT
        assert grid.height < 3 * CELL_HEIGHT
    printed = capsys.readouterr().out
    assert BASELINE in printed and "tiny-int8" in printed and "tiny-float32" in printed


@pytest.mark.slow
def test_eval_names_a_corrupt_photo_and_exits_1(photo_dir, tmp_path, tiny_model, caplog):
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "out"
    code = _run(["--model", tiny_model, "--data", photo_dir, "--out", out, "--grid", "0"])
    assert code == 1
    report = json.loads((out / "eval.json").read_text())
    assert report["photos"] == 3
    assert [entry["path"] for entry in report["failed"]] == ["broken.jpg"]
    assert "broken.jpg" in caplog.text
    assert not (out / "grid.png").exists()


@pytest.mark.slow
def test_eval_limit_and_output_inside_data(photo_dir, tiny_model):
    out = photo_dir / "eval-output"
    assert _run(["--model", tiny_model, "--data", photo_dir, "--out", out, "--limit", "2"]) == 0
    first = json.loads((out / "eval.json").read_text())
    # The grid written inside the data folder is not read back as a photo on the next run.
    assert _run(["--model", tiny_model, "--data", photo_dir, "--out", out]) == 0
    second = json.loads((out / "eval.json").read_text())
    assert first["photos"] + len(first["skipped_gray"]) == 2
    assert second["photos"] == 3


def test_eval_missing_model_exits_2(photo_dir, tmp_path, capsys):
    assert _run(["--model", tmp_path / "nope.tflite", "--data", photo_dir]) == 2
    assert "nope.tflite" in capsys.readouterr().err


def test_eval_missing_data_exits_2(tiny_model, tmp_path, capsys):
    assert _run(["--model", tiny_model, "--data", tmp_path / "nowhere"]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_eval_empty_folder_exits_2(tiny_model, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert (
        _run(["--model", tiny_model, "--data", tmp_path / "empty", "--out", tmp_path / "out"]) == 2
    )
    assert "no photos" in capsys.readouterr().err


def test_eval_only_gray_photos_exits_2(tiny_model, tmp_path, capsys):
    folder = tmp_path / "bw"
    _save(folder / "camera.png", skimage.data.camera())
    _save(folder / "moon.png", skimage.data.moon())
    assert _run(["--model", tiny_model, "--data", folder, "--out", tmp_path / "out"]) == 2
    error = capsys.readouterr().err
    assert "no colour photos" in error and "2 black-and-white" in error
    assert not (tmp_path / "out" / "eval.json").exists()


def test_eval_bad_numbers_exit_2(photo_dir, tiny_model):
    assert _run(["--model", tiny_model, "--data", photo_dir, "--grid", "-1"]) == 2
    assert _run(["--model", tiny_model, "--data", photo_dir, "--limit", "0"]) == 2


class _GrayColorizer:
    """A fake colorizer that adds no colour: its scores must equal the gray baseline's."""

    def colorize(self, image: np.ndarray) -> np.ndarray:
        return metrics.gray_to_rgb(image)


class _GreenColorizer:
    """A fake colorizer that tints everything green: more colourful than gray, and wrong
    on these warm-toned photos."""

    def colorize(self, image: np.ndarray) -> np.ndarray:
        rgb = metrics.gray_to_rgb(image).astype(np.int16)
        rgb[..., 1] += 60
        return np.clip(rgb, 0, 255).astype(np.uint8)


def test_evaluate_with_fake_colorizers(photo_dir):
    photos = sorted(photo_dir.rglob("*.*"))
    candidates = [Candidate("gray", _GrayColorizer()), Candidate("green", _GreenColorizer())]
    result = evaluate(candidates, photos, grid=5, progress=False)
    assert len(result.photos) == 3 and len(result.skipped_gray) == 1 and len(result.failed) == 1
    baseline, gray, green = (result.summary(label) for label in (BASELINE, "gray", "green"))
    assert gray == baseline
    assert green.colorfulness_ratio > 0 and green.delta_e2000 > baseline.delta_e2000
    # The grid takes every colour photo (grid=5 > 3 photos), columns gray | 2 models | original.
    assert len(result.grid_rows) == 3 and all(len(row) == 4 for row in result.grid_rows)


def test_evaluate_rejects_a_colorizer_that_changes_the_size(photo_dir):
    class Cropper:
        def colorize(self, image):
            return metrics.gray_to_rgb(image)[1:]

    with pytest.raises(RuntimeError, match="cropper"):
        evaluate(
            [Candidate("cropper", Cropper())], sorted(photo_dir.rglob("*.png")), progress=False
        )


def test_unique_labels():
    paths = [Path("a/model.tflite"), Path("b/model.tflite"), Path("c/other.tflite")]
    assert unique_labels(paths) == ["a/model", "b/model", "other"]


@pytest.mark.slow
def test_eval_reports_each_source_folder_on_its_own(tmp_path, tiny_model, capsys):
    """Several --data folders (one per source): one report each, and a summary naming both."""
    source_a, source_b = tmp_path / "source-a", tmp_path / "source-b"
    _save(source_a / "astronaut.png", skimage.data.astronaut())
    _save(source_a / "coffee.png", skimage.data.coffee())
    _save(source_b / "chelsea.jpg", skimage.data.chelsea())
    (source_b / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "out"
    code = _run(["--model", tiny_model, "--data", source_a, source_b, "--out", out, "--grid", "1"])
    assert code == 1  # source-b's broken file is named and skipped; the rest is done
    first = json.loads((out / "source-a" / "eval.json").read_text())
    second = json.loads((out / "source-b" / "eval.json").read_text())
    assert (first["photos"], second["photos"]) == (2, 1)
    assert [entry["path"] for entry in second["failed"]] == ["broken.jpg"]
    summary = json.loads((out / "eval.json").read_text())
    assert sorted(summary["sources"]) == ["source-a", "source-b"]
    assert summary["sources"]["source-a"]["baseline"] == first["baseline"]
    assert summary["sources"]["source-b"]["models"][0]["psnr"] == second["models"][0]["psnr"]
    pooled = summary["pooled"]
    assert pooled["photos"] == 3
    every_photo = first["per_photo"] + second["per_photo"]
    for label, scores in pooled["scores"].items():
        expected = np.mean([photo["scores"][label]["psnr"] for photo in every_photo])
        assert scores["psnr"] == pytest.approx(expected)
    assert (out / "source-a" / "grid.png").is_file()
    printed = capsys.readouterr().out
    assert "== source-a" in printed and "== source-b" in printed and "pooled: 3" in printed


def test_eval_two_sources_with_one_name_exit_2(tmp_path, tiny_model, capsys):
    for parent in ("x", "y"):
        _save(tmp_path / parent / "photos" / "coffee.png", skimage.data.coffee())
    code = _run(
        ["--model", tiny_model, "--data", tmp_path / "x" / "photos", tmp_path / "y" / "photos"]
    )
    assert code == 2
    assert "'photos'" in capsys.readouterr().err


def test_report_and_table_carry_hue_figures_overall_and_per_folder(photo_dir, capsys):
    """The right colours (the original itself) hit every hue; gray hits none; the JSON has
    the figures per photo, per source folder and overall, and the table prints them."""
    from edgecolor.evaluation.evaluate import format_table, report

    originals = {}

    class Oracle:  # gives back the original photo: every hue right
        def colorize(self, image):
            return originals[image.tobytes()]

    photos = sorted(photo_dir.rglob("*.*"))
    for path in photos:
        try:
            original = np.asarray(Image.open(path).convert("RGB"), np.uint8)
        except OSError:
            continue
        originals[metrics.to_grayscale(original).tobytes()] = original
    result = evaluate([Candidate("oracle", Oracle())], photos, grid=0, progress=False)
    data = report(result, photo_dir)
    oracle = next(entry for entry in data["models"] if entry["label"] == "oracle")
    assert oracle["hue_hit"]["all"] == 1.0 and oracle["sepia_share"] == 0.0
    assert data["baseline"]["hue_hit"]["all"] == 0.0
    assert data["baseline"]["neutral_chroma"] == pytest.approx(0.0, abs=0.01)  # float noise
    assert set(data["per_folder"]) == {".", "animals"}
    animals = data["per_folder"]["animals"]
    assert animals["photos"] == 2 and animals["scores"]["oracle"]["hue_hit"]["all"] == 1.0
    # Pooled by pixels: the overall counts are the folders' counts added up.
    assert oracle["hue_counts"]["coloured"] == sum(
        folder["scores"]["oracle"]["hue_counts"]["coloured"]
        for folder in data["per_folder"].values()
    )
    table = format_table(result, photo_dir)
    assert "green" in table and "sepia" in table and "per folder" in table
    assert "animals oracle" in table
