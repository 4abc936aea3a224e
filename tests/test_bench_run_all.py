"""bench/run_all.py: collects benchmark output into docs/benchmarks.md without clobbering it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

RUN_ALL = Path(__file__).resolve().parent.parent / "bench" / "run_all.py"


@pytest.fixture(scope="module")
def run_all():
    spec = importlib.util.spec_from_file_location("run_all", RUN_ALL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_keeps_hand_written_text_and_replaces_the_section(run_all, tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(
        "# Benchmarks\n\nhand-written reading\n\n<!-- bench:begin -->\nold\n<!-- bench:end -->\n\ntail note\n"
    )
    machine = [("CPU", "test cpu"), ("RAM", "1 GiB")]
    results = [(Path("bench/bench_x.py"), 0, 1.5, "x: 3.0x faster", ["--model", "m.tflite"])]
    run_all.write_report(
        path, run_all.render(machine, results, ["`bench_y.py` is not in bench/ yet"], "cmd")
    )
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nhand-written reading\n")
    assert text.rstrip().endswith("tail note")
    assert "old" not in text and text.count("<!-- bench:begin -->") == 1
    assert "| CPU | test cpu |" in text and "x: 3.0x faster" in text
    assert "`python bench/bench_x.py --model m.tflite` (ok, 2 s)" in text
    assert "bench_y.py` is not in bench/ yet" in text


def test_report_is_created_with_a_header(run_all, tmp_path):
    path = tmp_path / "docs" / "benchmarks.md"
    run_all.write_report(path, run_all.render([("CPU", "c")], [], [], "cmd"))
    text = path.read_text()
    assert text.startswith("# Benchmarks") and "<!-- bench:end -->" in text


def test_clean_output_drops_chatter_and_progress_redraws(run_all):
    raw = (
        "I0000 00:00:1 cudart_stub.cc:31] Could not find cuda drivers\n"
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
        "eval:  10%|#  | 1/10\reval: 100%|###| 10/10\n"
        "pipeline 812 images/s\n"
    )
    assert run_all.clean_output(raw) == "eval: 100%|###| 10/10\npipeline 812 images/s"


def test_passthrough_only_gives_options_a_script_accepts(run_all, tmp_path):
    script = tmp_path / "bench_fake.py"
    script.write_text(
        "import argparse\np = argparse.ArgumentParser()\np.add_argument('--model')\np.parse_args()\n"
    )
    arguments = run_all.passthrough(script, {"--run": "RUN", "--model": "m.tflite"})
    assert arguments == ["--model", "m.tflite"]


def test_machine_description_names_cpu_python_and_tensorflow(run_all):
    rows = dict(run_all.describe_machine())
    assert rows["Python"].startswith(".".join(map(str, sys.version_info[:2])))
    assert "tensorflow " in rows["libraries"] and "ai-edge-litert" in rows["libraries"]
    assert rows["CPU"] and rows["RAM"]
