"""Every install line in the READMEs works from a clone, as written; install.sh installs its checkout.

edgecolor is not published on a package index, so ``pip install 'edgecolor[device]'``
fails for a newcomer. The pip lines are run by pip itself (``--dry-run``, offline) in a
copy of the checkout; the installer is run with ``--dry-run``, which prints every command.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
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
    (copy,) = [command for command in commands if command.startswith("  + copy the files of")]
    assert f" {CHECKOUT} " in copy  # this checkout, copied and built into a wheel
    (build,) = [command for command in commands if " wheel --no-deps " in command]
    assert "temporary" in build and not build.endswith(f" {CHECKOUT}")  # never in place
    installs = [command for command in commands if " install --only-binary" in command]
    # both the install and the forced reinstall of the package itself take the built wheel
    assert len(installs) == 2 and all(".whl" in command for command in installs), installs


def test_the_installer_fetches_the_libedgetpu_rebuild_the_runtime_names():
    """A Coral crash tells the user to install one .deb; install.sh must fetch that same one."""
    from edgecolor.device.runtime import edgetpu

    script = (CHECKOUT / "device" / "install.sh").read_text()
    urls = re.findall(r'^LIBEDGETPU_REBUILD_URL="([^"]+)"', script, re.MULTILINE)
    assert urls == [
        "https://github.com/feranick/libedgetpu/releases/download/"
        f"{edgetpu.LIBEDGETPU_REBUILD_TAG}/{edgetpu.LIBEDGETPU_REBUILD_DEB}"
    ]


def _install_functions(script: str, *arguments: str, **environment: str):
    """Run ``script`` in bash after sourcing install.sh, which then only defines its functions
    ($1 is install.sh, ``arguments`` are $2...)."""
    install_sh = str(CHECKOUT / "device" / "install.sh")
    return subprocess.run(
        ["bash", "-c", f'source "$1"; {script}', "bash", install_sh, *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **environment},
    )


def _tree(folder: Path) -> set[str]:
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if ".git" not in path.relative_to(folder).parts
    }


@pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("git") is None, reason="bash and git"
)
def test_install_sh_builds_the_wheel_outside_the_checkout(tmp_path):
    """Under sudo an in-place build left root-owned build/ and edgecolor.egg-info/ in the
    user's checkout, and a stale build/lib shipped modules deleted since (git pull)."""
    checkout = tmp_path / "edgecolor"
    subprocess.run(["git", "clone", "-q", str(CHECKOUT), str(checkout)], check=True, timeout=120)
    # an earlier in-place build: a module that `git pull` has deleted since
    stale = checkout / "build" / "lib" / "edgecolor" / "deleted_since.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("GONE = True\n")
    (checkout / "edgecolor" / "new_not_committed.py").write_text("NEW = True\n")
    before = _tree(checkout)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    finished = _install_functions(
        'DRY_RUN=0; PIP=("$PYTHON" -m pip --disable-pip-version-check -q); build_wheel "$2" "$3"',
        str(checkout),
        str(wheels),
        PYTHON=sys.executable,
        # offline: the venv's setuptools, not an isolated download (pip's flag is inverted)
        PIP_NO_BUILD_ISOLATION="0",
        PIP_NO_INDEX="1",
    )
    assert finished.returncode == 0, finished.stderr
    assert _tree(checkout) == before  # no build/, no *.egg-info, nothing else
    (wheel,) = wheels.glob("edgecolor-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "edgecolor/__init__.py" in names and "edgecolor/new_not_committed.py" in names
    assert "edgecolor/deleted_since.py" not in names


@pytest.mark.skipif(shutil.which("bash") is None, reason="install.sh is a bash script")
@pytest.mark.parametrize(
    ("codename", "supported"), [("bookworm", 0), ("trixie", 0), ("bullseye", 1)]
)
def test_install_sh_accepts_bookworm_and_trixie(codename, supported):
    """Raspberry Pi Imager's default 64-bit OS is Trixie now; Bookworm is under "Legacy"."""
    finished = _install_functions(f"supported_codename {codename}")
    assert finished.returncode == supported, finished.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="install.sh is a bash script")
def test_install_sh_shares_the_scan_folders_with_the_login_user():
    """The README's scanner line, run as the login user, writes into the inbox: the folders
    are group-writable and setgid for the edgecolor group, and the sudo user is in it."""
    finished = subprocess.run(
        ["bash", str(CHECKOUT / "device" / "install.sh"), "--dry-run", "--services"]
        + ["--no-camera", "--no-opencv"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SUDO_USER": "edgecolor-test-login-user"},
    )
    assert finished.returncode == 0, finished.stderr
    commands = [line for line in finished.stdout.splitlines() if line.startswith("  + ")]
    folders = [command for command in commands if "/var/lib/edgecolor/inbox" in command]
    assert folders == [
        "  + install -d -o edgecolor -g edgecolor -m 2775"
        " /var/lib/edgecolor/inbox /var/lib/edgecolor/colorized"
    ]
    assert "  + usermod -aG edgecolor edgecolor-test-login-user" in commands


@pytest.mark.skipif(shutil.which("bash") is None, reason="check-arm64.sh is a bash script")
def test_check_arm64_puts_its_scratch_files_beside_the_root_it_is_given(tmp_path):
    """It wrote to /var/tmp whatever --root said. Its option handling, run without root."""
    script = CHECKOUT / "device" / "emulate" / "check-arm64.sh"
    options = script.read_text().split("\nstep() {")[0]  # settings and option loop
    assert "/var/tmp/edgecolor-arm64-work" not in script.read_text()
    finished = subprocess.run(
        ["bash", "-c", options + '\necho "$ROOT|$WORK"', "check", "--root", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == f"{tmp_path / 'r'}|{tmp_path / 'r'}-work"


@pytest.mark.skipif(shutil.which("bash") is None, reason="check-arm64.sh is a bash script")
@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], "bookworm|/var/tmp/edgecolor-arm64-bookworm"),
        (["--release", "trixie"], "trixie|/var/tmp/edgecolor-arm64-trixie"),
        (["--release", "trixie", "--root", "/x/t"], "trixie|/x/t"),
    ],
)
def test_check_arm64_builds_the_release_it_is_given(arguments, expected):
    """Raspberry Pi OS has two bases (Bookworm, Trixie): each gets its own default root,
    so a check of one never reuses the other's."""
    script = CHECKOUT / "device" / "emulate" / "check-arm64.sh"
    options = script.read_text().split("\nstep() {")[0]
    finished = subprocess.run(
        ["bash", "-c", options + '\necho "$RELEASE|$ROOT"', "check", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == expected


@pytest.mark.skipif(shutil.which("bash") is None, reason="check-arm64.sh is a bash script")
def test_check_arm64_refuses_a_release_it_does_not_know():
    script = CHECKOUT / "device" / "emulate" / "check-arm64.sh"
    options = script.read_text().split("\nstep() {")[0]
    finished = subprocess.run(
        ["bash", "-c", options, "check", "--release", "bullseye"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    # the last line: under `bash -c` the script's own BASH_SOURCE lookup complains first
    assert finished.stderr.splitlines()[-1] == "--release: bookworm or trixie, not 'bullseye'"


def test_service_units_never_give_up_and_space_their_restarts():
    """A device missing for an hour must not leave a unit failed until reset-failed
    (issue 17): no start limit, restarts on failure, a pause that grows where systemd can."""
    from pathlib import Path

    units = sorted((Path(__file__).resolve().parents[1] / "device" / "systemd").glob("*.service"))
    assert len(units) == 2
    for unit in units:
        lines = {
            line.split("=", 1)[0]: line.split("=", 1)[1]
            for line in unit.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        }
        assert lines.get("StartLimitIntervalSec") == "0", unit.name
        assert "StartLimitBurst" not in lines, unit.name
        assert lines["Restart"] in ("on-failure", "always"), unit.name
        assert int(lines["RestartSec"]) >= 10, unit.name
        assert lines["RestartMaxDelaySec"] == "10min" and int(lines["RestartSteps"]) > 1, unit.name


# --------------------------------------------------------------- the PCIe / M.2 Coral


def _dry_run(*options: str, login_user: str = "edgecolor-test-login-user"):
    finished = subprocess.run(
        ["bash", str(CHECKOUT / "device" / "install.sh"), "--dry-run", *options]
        + ["--no-camera", "--no-opencv"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SUDO_USER": login_user},
    )
    commands = [line for line in finished.stdout.splitlines() if line.startswith("  + ")]
    return finished, commands


def _host_has_group(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _host_has_apex_rule() -> bool:
    rules = [*Path("/lib/udev/rules.d").glob("*.rules"), *Path("/etc/udev/rules.d").glob("*.rules")]
    return any('SUBSYSTEM=="apex"' in rule.read_text(errors="replace") for rule in rules)


@pytest.mark.skipif(shutil.which("bash") is None, reason="install.sh is a bash script")
def test_install_sh_sets_up_a_pcie_coral_with_the_apex_group(tmp_path):
    """Issue 17 item 4: gasket-dkms (the apex driver) with kernel headers, the apex group and
    gasket's udev rule, the service user and the login user in apex."""
    finished, commands = _dry_run("--coral-pcie", "--services")
    assert finished.returncode == 0, finished.stderr
    (dkms,) = [c for c in commands if " dkms " in c]
    assert dkms.startswith("  + apt-get install -y --no-install-recommends dkms linux-headers-")
    assert "  + apt-get install -y gasket-dkms" in commands
    assert commands.index(dkms) < commands.index("  + apt-get install -y gasket-dkms")
    assert "  + apt-get install -y libedgetpu1-std" in commands  # the same runtime as USB
    assert "  + usermod -aG apex edgecolor" in commands
    assert "  + usermod -aG apex edgecolor-test-login-user" in commands
    if not _host_has_group("apex"):
        assert commands.count("  + groupadd --system apex") == 1  # made once, before use
        assert commands.index("  + groupadd --system apex") < commands.index(
            "  + usermod -aG apex edgecolor"
        )
    if not _host_has_apex_rule():
        assert "  + write /etc/udev/rules.d/65-edgecolor-apex.rules (mode 0644)" in commands
    # the rule it writes is gasket-dkms's own (google/gasket-driver debian/gasket-dkms.udev)
    script = (CHECKOUT / "device" / "install.sh").read_text()
    rule_lines = [line for line in script.splitlines() if line.startswith("SUBSYSTEM==")]
    assert 'SUBSYSTEM=="apex", MODE="0660", GROUP="apex"' in rule_lines
    # the USB-only install leaves the login user out of apex, and builds no driver
    finished, usb_only = _dry_run("--coral")
    assert finished.returncode == 0, finished.stderr
    assert not [c for c in usb_only if "gasket" in c or "dkms" in c or "apex" in c]


@pytest.mark.skipif(shutil.which("bash") is None, reason="install.sh is a bash script")
def test_install_sh_installs_a_gasket_deb_built_from_source(tmp_path):
    """Coral's gasket-dkms fails to build on recent kernels: a .deb built with debuild from
    google/gasket-driver is installed instead, and Coral's is not asked for."""
    deb = tmp_path / "gasket-dkms_1.0-18_all.deb"
    deb.write_bytes(b"!<arch>\n")
    finished, commands = _dry_run("--coral-pcie", "--gasket-deb", str(deb))
    assert finished.returncode == 0, finished.stderr
    assert f"  + apt-get install -y {deb}" in commands
    assert "  + apt-get install -y gasket-dkms" not in commands
    finished, _ = _dry_run("--coral", "--gasket-deb", str(deb))
    assert finished.returncode == 1 and "--gasket-deb only makes sense with --coral-pcie" in (
        finished.stderr
    )
    finished, _ = _dry_run("--coral-pcie", "--gasket-deb", str(tmp_path / "missing.deb"))
    assert finished.returncode == 1 and "no such file" in finished.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="install.sh is a bash script")
def test_a_pi5_gets_the_4k_page_kernel_once_and_is_told_to_reboot(tmp_path):
    """A Pi 5 boots a 16 KiB-page kernel; the apex driver needs 4 KiB: kernel=kernel8.img
    and the PCIe connector go into config.txt (under [all], after a [cm4] section), once."""
    config = tmp_path / "config.txt"
    original = "dtparam=audio=on\n\n[cm4]\notg_mode=1\n"
    config.write_text(original)
    pi5 = "Raspberry Pi 5 Model B Rev 1.0"
    setup = 'DRY_RUN=$5; pcie_boot_setup "$2" "$3" "$4"; echo "reboot=$REBOOT_NEEDED"'
    finished = _install_functions(setup, str(config), pi5, "16384", "0")
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip().endswith("reboot=1")
    assert "16384-byte memory pages" in finished.stderr and "sudo reboot" in finished.stderr
    text = config.read_text()
    assert text.startswith(original)
    added = [
        line for line in text[len(original) :].splitlines() if line and not line.startswith("#")
    ]
    assert added == ["[all]", "kernel=kernel8.img", "[all]", "dtparam=pciex1"]
    # again (after the reboot: 4 KiB pages now): nothing to add, no reboot
    finished = _install_functions(setup, str(config), pi5, "4096", "0")
    assert finished.returncode == 0, finished.stderr
    assert config.read_text() == text and finished.stdout.strip().endswith("reboot=0")
    assert "has kernel=kernel8.img" in finished.stdout
    # --dry-run prints the lines and changes nothing
    fresh = tmp_path / "fresh.txt"
    fresh.write_text(original)
    finished = _install_functions(setup, str(fresh), pi5, "16384", "1")
    assert f"  + add to {fresh}: [all] kernel=kernel8.img" in finished.stdout
    assert f"  + add to {fresh}: [all] dtparam=pciex1" in finished.stdout
    assert fresh.read_text() == original
    # a Pi 4 / CM4 (4 KiB pages already): config.txt is left alone
    finished = _install_functions(
        setup, str(fresh), "Raspberry Pi Compute Module 4 Rev 1.1", "4096", "0"
    )
    assert fresh.read_text() == original and finished.stdout.strip().endswith("reboot=0")


def test_every_group_a_unit_names_is_made_by_the_installer():
    """A SupplementaryGroups group that does not exist fails the unit (status 216/GROUP):
    install.sh --services makes each (and puts the service user in it), apex included."""
    finished, commands = _dry_run("--services")
    assert finished.returncode == 0, finished.stderr
    for unit in sorted((CHECKOUT / "device" / "systemd").glob("*.service")):
        (line,) = [
            line
            for line in unit.read_text().splitlines()
            if line.startswith("SupplementaryGroups=")
        ]
        groups = line.split("=", 1)[1].split()
        assert "apex" in groups, unit.name
        for group in groups:
            assert f"  + usermod -aG {group} edgecolor" in commands, (unit.name, group)
            if not _host_has_group(group):
                assert f"  + groupadd --system {group}" in commands, (unit.name, group)


def test_the_scan_unit_shares_what_it_writes_with_the_group():
    """UMask=0002: outputs in the setgid 2775 scan folders are group-writable (0664 files,
    2775 folders), so the login user can move and delete them."""
    unit = (CHECKOUT / "device" / "systemd" / "edgecolor-scan.service").read_text()
    service = unit.split("[Service]", 1)[1].split("\n[", 1)[0]
    assert "UMask=0002" in service.splitlines()
