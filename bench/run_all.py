"""Run every benchmark in bench/ and collect their output into docs/benchmarks.md.

    .venv/bin/python bench/run_all.py [--run RUN_DIR] [--model FILE] [--only NAME ...]
                                      [--out docs/benchmarks.md] [--timeout SECONDS]

Each ``bench/bench_*.py`` runs in its own process, one after the other (never two at once:
they time things), with ``--run``/``--model`` passed on to the scripts whose ``--help``
lists those options. Their output goes, with the machine described (CPU, cores, RAM, OS,
Python and library versions), between the markers ``<!-- bench:begin -->`` and
``<!-- bench:end -->`` of the output file; text outside the markers (the hand-written
reading of the numbers) is kept. A missing script is skipped with a note.
``make bench`` runs this.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_OUT = REPO / "docs" / "benchmarks.md"
# The benchmarks the issues ask for, in this order; any other bench_*.py runs after them.
EXPECTED = ("bench_training", "bench_export", "bench_device", "bench_quality", "bench_gallery")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PACKAGES = (
    "tensorflow",
    "tf-keras",
    "tensorflow-model-optimization",
    "ai-edge-litert",
    "numpy",
    "opencv-python-headless",
    "scikit-image",
    "pillow",
)
# Log lines that say nothing about the results (TensorFlow/LiteRT start-up chatter).
NOISE = re.compile(
    r"^(I0000|E0000|W0000|WARNING: All log messages before absl|INFO: Created TensorFlow Lite)"
    r"|cuda|oneDNN custom operations|To enable the following instructions|rebuild TensorFlow"
)

HEADER = """# Benchmarks

Measured on one machine, each figure side by side with the one it is compared with, in
one run. Regenerate with `make bench` (or `.venv/bin/python bench/run_all.py --run RUN_DIR`);
the section between the markers below is rewritten, the rest of this file is kept.

"""


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def describe_machine() -> list[tuple[str, str]]:
    """(label, value) pairs: CPU model and cores, RAM, OS, Python, library versions, commit."""
    cpu = "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in lscpu.splitlines())
        )
        cpu = (
            f"{fields.get('Model name', '?')} ({fields.get('Architecture', platform.machine())}), "
            f"{fields.get('CPU(s)', '?')} logical CPUs, {fields.get('Thread(s) per core', '?')} "
            f"thread(s) per core"
        )
        if fields.get("CPU family"):
            cpu += f", family {fields['CPU family']} model {fields.get('Model', '?')}"
        flags = set(fields.get("Flags", "").split())
        vector = [
            flag
            for flag in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni")
            if flag in flags
        ]
        if vector:
            cpu += f" ({', '.join(vector)})"
        if fields.get("Hypervisor vendor"):
            cpu += f", virtual machine ({fields['Hypervisor vendor']})"
    except (OSError, subprocess.SubprocessError):
        cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    memory = "unknown"
    match = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.M)
    if match:
        memory = f"{int(match.group(1)) / 1024**2:.1f} GiB"
    os_name = platform.platform()
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', _read("/etc/os-release"), re.M)
    if match:
        os_name = f"{match.group(1)}, kernel {platform.release()}"
    rows = [
        ("CPU", cpu),
        ("cores usable by this process", str(usable)),
        ("RAM", memory),
        ("GPU", "none used (benchmarks run on the CPU)"),
        ("OS", os_name),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
    ]
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    rows.append(("libraries", ", ".join(versions)))
    try:
        from edgecolor import __version__
    except ImportError:
        __version__ = "?"
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    rows.append(("edgecolor", f"{__version__} (commit {commit or 'unknown'})"))
    return rows


def find_scripts(only: list[str] | None) -> tuple[list[Path], list[str]]:
    """(scripts to run in order, notes about expected scripts that are missing)."""
    present = {path.stem: path for path in BENCH_DIR.glob("bench_*.py")}
    order = [name for name in EXPECTED if name in present]
    order += sorted(name for name in present if name not in EXPECTED)
    notes = [
        f"`{name}.py` is not in bench/ yet: skipped." for name in EXPECTED if name not in present
    ]
    if only:
        wanted = {name.removesuffix(".py") for name in only}
        unknown = wanted - set(present)
        if unknown:
            raise SystemExit(f"run_all: no such benchmark: {', '.join(sorted(unknown))}")
        order = [name for name in order if name in wanted]
        notes = []
    return [present[name] for name in order], notes


def passthrough(script: Path, options: dict[str, str | None]) -> list[str]:
    """The ``--run``/``--model`` options this script's ``--help`` says it takes."""
    wanted = {flag: value for flag, value in options.items() if value is not None}
    if not wanted:
        return []
    try:
        help_text = subprocess.run(
            [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
        ).stdout
    except subprocess.SubprocessError:
        return []
    arguments = []
    for flag, value in wanted.items():
        if re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text):
            arguments += [flag, value]
    return arguments


def clean_output(text: str) -> str:
    """Drop start-up chatter and progress-bar redraws; keep what the script printed."""
    lines = []
    # split("\n"), not splitlines(): splitlines() also splits at the \r of a redraw.
    for line in text.split("\n"):
        line = line.rstrip("\r").rsplit("\r", 1)[-1].rstrip()  # a tqdm bar redraws with \r: keep the last state
        if NOISE.search(line):
            continue
        lines.append(line)
    return "\n".join(lines).strip("\n")


def run_script(script: Path, arguments: list[str], timeout: float) -> tuple[int | str, float, str]:
    """Run one benchmark; returns (exit code or "timeout", seconds, cleaned output)."""
    command = [sys.executable, str(script), *arguments]
    environment = dict(
        os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1"
    )
    print(f"== {script.name} {' '.join(arguments)}", flush=True)
    start = time.perf_counter()
    try:
        completed = subprocess.run(
            command,
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
        )
        code: int | str = completed.returncode
        output = completed.stdout
    except subprocess.TimeoutExpired as expired:
        code = "timeout"
        partial = expired.stdout or b""
        output = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
    seconds = time.perf_counter() - start
    cleaned = clean_output(output)
    print(cleaned, flush=True)
    print(f"== {script.name}: exit {code}, {seconds:.0f} s\n", flush=True)
    return code, seconds, cleaned


def render(machine, results, notes, command: str) -> str:
    """The generated section (between the markers) as Markdown."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [BEGIN, "", f"Generated {stamp} by `{command}`.", "", "## Machine", ""]
    parts += ["| | |", "| --- | --- |"] + [f"| {label} | {value} |" for label, value in machine]
    parts.append("")
    if notes:
        parts += [f"- {note}" for note in notes] + [""]
    for script, code, seconds, output, arguments in results:
        status = "ok" if code == 0 else f"**exit {code}**"
        parts += [f"## {script.stem}", ""]
        invocation = " ".join(["python", f"bench/{script.name}", *arguments])
        parts += [f"`{invocation}` ({status}, {seconds:.0f} s)", ""]
        parts += ["```text", output or "(no output)", "```", ""]
    parts.append(END)
    return "\n".join(parts) + "\n"


def write_report(path: Path, section: str) -> None:
    """Replace the marked section of ``path`` (or create the file), atomically."""
    existing = path.read_text(encoding="utf-8") if path.exists() else HEADER
    if BEGIN in existing and END in existing:
        before, rest = existing.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        text = before + section.rstrip("\n") + after
    else:
        text = existing.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(temp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="training run folder, passed to benchmarks that take --run")
    parser.add_argument("--model", help="exported .tflite, passed to benchmarks that take --model")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="run only these (e.g. bench_quality)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown file to update")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    parser.add_argument(
        "--dry-run", action="store_true", help="describe the machine and list the scripts only"
    )
    args = parser.parse_args(argv)

    scripts, notes = find_scripts(args.only)
    machine = describe_machine()
    for label, value in machine:
        print(f"{label}: {value}")
    for note in notes:
        print(f"note: {note}")
    if args.dry_run:
        print("would run:", ", ".join(script.name for script in scripts) or "nothing")
        return 0
    options = {"--run": args.run, "--model": args.model}
    results = []
    for script in scripts:
        arguments = passthrough(script, options)
        code, seconds, output = run_script(script, arguments, args.timeout)
        results.append((script, code, seconds, output, arguments))
    command = "python bench/run_all.py" + "".join(
        f" {flag} {value}"
        for flag, value in (("--run", args.run), ("--model", args.model))
        if value
    )
    write_report(args.out, render(machine, results, notes, command))
    print(f"wrote {args.out}")
    failed = [script.name for script, code, *_ in results if code != 0]
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
