"""`edgecolor eval` and `edgecolor demo` run on the device runtime alone: no TensorFlow loaded."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = "('tensorflow', 'tf_keras', 'keras', 'tensorflow_model_optimization')"


def _run_and_check(call: str) -> subprocess.CompletedProcess:
    code = (
        "import sys\n"
        "from edgecolor.cli import main\n"
        f"code = main({call})\n"
        f"heavy = sorted(n for n in sys.modules if n.split('.')[0] in {HEAVY})\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(3 if heavy else code)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_eval_runs_without_tensorflow(tiny_model, tmp_path):
    import skimage.data
    from PIL import Image

    (tmp_path / "photos").mkdir()
    Image.fromarray(skimage.data.coffee()).resize((60, 40)).save(tmp_path / "photos" / "coffee.png")
    argv = [
        "eval",
        "--model",
        str(tiny_model),
        "--data",
        str(tmp_path / "photos"),
        "--out",
        str(tmp_path / "out"),
    ]
    result = _run_and_check(repr(argv))
    assert result.returncode == 0, result.stdout[-800:] + result.stderr[-800:]
    assert (tmp_path / "out" / "eval.json").is_file()


@pytest.mark.slow
def test_demo_runs_without_tensorflow(tiny_model, tmp_path):
    argv = ["demo", "--model", str(tiny_model), "--out", str(tmp_path / "demo")]
    result = _run_and_check(repr(argv))
    assert result.returncode == 0, result.stdout[-800:] + result.stderr[-800:]
    assert (tmp_path / "demo" / "summary.json").is_file()
