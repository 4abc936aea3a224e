"""The light modules never pull in TensorFlow (a Raspberry Pi has none)."""

from __future__ import annotations

import subprocess
import sys

import pytest

LIGHT_MODULES = [
    "edgecolor",
    "edgecolor.color",
    "edgecolor.cli",
    "edgecolor.config",
    "edgecolor.errors",
    "edgecolor.photos",
    "edgecolor.photo_frames",
    "edgecolor.training.catalogue",
]


def _run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (nothing imported yet), output captured."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_module_imports_no_tensorflow(module):
    code = (
        "import sys, importlib\n"
        f"importlib.import_module({module!r})\n"
        "heavy = sorted(name for name in sys.modules if name.split('.')[0] in ('tensorflow', 'tf_keras', 'keras'))\n"
        "print(heavy)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, (
        f"{module} imported {result.stdout.strip()} {result.stderr[-500:]}"
    )


def test_cli_help_builds_every_subcommand_without_tensorflow():
    """Building the full parser imports every stage's commands module: none may load TF."""
    code = (
        "import sys\n"
        "from edgecolor import cli\n"
        "parser = cli.build_parser()\n"
        "assert 'train' in parser.format_help() and 'summary' in parser.format_help()\n"
        "sys.exit(1 if 'tensorflow' in sys.modules else 0)\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr[-800:]


def test_export_reads_photos_without_the_training_package(tmp_path):
    """Export verification decodes photos through edgecolor.photos, not edgecolor.training."""
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (200, 120, 40)).save(photo)
    code = (
        "import sys\n"
        "from edgecolor.export.verify import load_photos\n"
        f"photos, names, skipped = load_photos([{str(photo)!r}], short_side=20)\n"
        "assert photos[0].shape == (20, 27, 3) and names == ['photo.png'] and not skipped\n"
        "loaded = sorted(name for name in sys.modules if name.startswith('edgecolor.training'))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded or 'tensorflow' in sys.modules else 0)\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stdout + result.stderr[-800:]


def test_python_dash_m_edgecolor_is_the_command():
    """`python -m edgecolor` (no console script on PATH, e.g. in a bare venv) runs the CLI."""
    result = subprocess.run(
        [sys.executable, "-m", "edgecolor", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("edgecolor ")
