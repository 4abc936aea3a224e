"""Every install line in the READMEs works from a clone, as written; install.sh installs its checkout.

edgecolor is not published on a package index, so ``pip install 'edgecolor[device]'``
fails for a newcomer. The pip lines are run by pip itself (``--dry-run``, offline) in a
copy of the checkout; the installer is run with ``--dry-run``, which prints every command.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]
READMES = ("README.md", "device/README.md")


def _fenced_shell_lines(text: str) -> list[str]:
    """Command lines of the ```sh blocks (comments and prompts stripped)."""
    lines, fence, shell = [], False, False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("```"):
            fence = not fence
            shell = fence and line[3:].strip() in ("sh", "bash", "")
            continue
        if shell and line and not line.startswith("#"):
            lines.append(line.split("  #")[0].strip())
    return lines


def _pip_install_lines() -> list[tuple[str, str]]:
    found = []
    for readme in READMES:
        for line in _fenced_shell_lines((CHECKOUT / readme).read_text()):
            if line.startswith("pip install"):
                found.append((readme, line))
    return found


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """What a clone holds for pip: the project file, the README it names and the package."""
    copy = tmp_path_factory.mktemp("clone")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(CHECKOUT / name, copy / name)
    shutil.copytree(
        CHECKOUT / "edgecolor", copy / "edgecolor", ignore=shutil.ignore_patterns("__pycache__")
    )
    return copy


def test_the_readmes_install_lines_name_the_checkout_not_an_index_project():
    lines = _pip_install_lines()
    assert {readme for readme, _ in lines} >= {"README.md"}, lines
    for readme in READMES:
        text = (CHECKOUT / readme).read_text()
        assert not re.search(r"pip install[^`\n]*'edgecolor\[[a-z,]*\]'", text), readme
        assert not re.search(r"pip install[^`\n]* edgecolor(\s|$)", text), readme


@pytest.mark.parametrize(("readme", "line"), _pip_install_lines())
def test_each_readme_pip_line_resolves_in_a_clone(clone, readme, line):
    """pip, offline, in a copy of the checkout: resolves the local project or fails."""
    words = shlex.split(line)
    assert words[:2] == ["pip", "install"]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--no-deps",
        "--no-index",
        "--no-build-isolation",
        "--ignore-installed",
        "--quiet",
        *words[2:],
    ]
    finished = subprocess.run(command, cwd=clone, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, f"{readme}: `{line}`:\n{finished.stderr}"


@pytest.mark.skipif(shutil.which("bash") is None, reason="install.sh is a bash script")
def test_install_sh_installs_the_checkout_it_is_in_by_default():
    finished = subprocess.run(
        [
            "bash",
            str(CHECKOUT / "device" / "install.sh"),
            "--dry-run",
            "--no-camera",
            "--no-opencv",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    commands = [line for line in finished.stdout.splitlines() if line.startswith("  + ")]
    (build,) = [command for command in commands if " wheel --no-deps " in command]
    assert build.endswith(f" {CHECKOUT}")  # this checkout, built into a wheel
    installs = [command for command in commands if " install --only-binary" in command]
    # both the install and the forced reinstall of the package itself take the built wheel
    assert len(installs) == 2 and all(".whl" in command for command in installs), installs


def test_the_installer_fetches_the_libedgetpu_rebuild_the_runtime_names():
    """A Coral crash tells the user to install one .deb; install.sh must fetch that same one."""
    from edgecolor.device import backends

    script = (CHECKOUT / "device" / "install.sh").read_text()
    urls = re.findall(r'^LIBEDGETPU_REBUILD_URL="([^"]+)"', script, re.MULTILINE)
    assert urls == [
        "https://github.com/feranick/libedgetpu/releases/download/"
        f"{backends.LIBEDGETPU_REBUILD_TAG}/{backends.LIBEDGETPU_REBUILD_DEB}"
    ]
