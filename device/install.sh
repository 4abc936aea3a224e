#!/usr/bin/env bash
# Install edgecolor on Raspberry Pi OS Bookworm (64-bit): apt packages, a venv that sees
# them, edgecolor with its [device] extra (numpy held to the system's version), optional
# Coral Edge TPU runtime and systemd services. Safe to run again: every step checks before
# it changes.
#
#   sudo device/install.sh                          # the checkout this script is in
#   sudo device/install.sh --services               # + systemd units (device/README.md)
#   sudo device/install.sh --coral --services       # + Edge TPU runtime (USB Accelerator)
#   sudo device/install.sh --coral-pcie --services  # + M.2 / PCIe Coral (apex driver; Pi 5: 4K pages)
#   sudo device/install.sh dist/edgecolor-0.1.0-py3-none-any.whl   # a wheel built from it
#   device/install.sh --dry-run --coral --services  # print every command, change nothing
#
# Run `device/install.sh --help` for every option; device/README.md explains the choices.

set -euo pipefail

PREFIX=/opt/edgecolor              # venv in $PREFIX/venv, constraints in $PREFIX/constraints.txt
CONFIG_DIR=/etc/edgecolor          # EnvironmentFile of the systemd units
STATE_DIR=/var/lib/edgecolor       # home of the service user; default scan folders
SERVICE_USER=edgecolor
SYSTEM_PYTHON=/usr/bin/python3
SOURCE=""                          # a .whl file or a checkout; empty: this script's checkout
WITH_CAMERA=auto                   # python3-picamera2: auto = when apt has it (Raspberry Pi OS)
WITH_OPENCV=1                      # python3-opencv from apt (USB cameras, video, windows)
WITH_CORAL=0
WITH_SERVICES=0
LIBEDGETPU_DEB=""                  # install this libedgetpu .deb instead of Coral's apt package
WITH_CORAL_PCIE=0                  # the M.2 / PCIe Coral: gasket-dkms (apex driver), apex group
GASKET_DEB=""                      # install this gasket-dkms .deb instead of Coral's apt package
DRY_RUN=0
REBOOT_NEEDED=0                    # set by the PCIe Coral's set-up: config.txt or page size

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

# Coral's apt repository (https://coral.ai/software/#debian-packages). The key is Google's
# Cloud packages key; it goes into its own keyring, trusted for this repository only.
CORAL_APT_LINE="deb [signed-by=/usr/share/keyrings/coral-edgetpu-archive-keyring.gpg] https://packages.cloud.google.com/apt coral-edgetpu-stable main"
CORAL_APT_KEY_URL="https://packages.cloud.google.com/apt/doc/apt-key.gpg"
# feranick's libedgetpu rebuilt against TensorFlow 2.19.1 (github.com/feranick/libedgetpu),
# for when Coral's package crashes with LiteRT. 64-bit Raspberry Pi OS Bookworm is arm64 on
# a Pi 4 and a Pi 5 alike: the same package for both.
LIBEDGETPU_REBUILD_URL="https://github.com/feranick/libedgetpu/releases/download/16.0TF2.19.1-1/libedgetpu1-std_16.0tf2.19.1-1.bookworm_arm64.deb"
# USB ids of the Coral USB Accelerator: before its firmware is loaded, and after.
CORAL_USB_IDS=("1a6e:089a" "18d1:9302")

usage() {
    cat <<'EOF'
Usage: sudo device/install.sh [OPTIONS] [SOURCE]

SOURCE   what to install: nothing = the edgecolor checkout this script is in; a path to
         an edgecolor checkout; or an edgecolor wheel (.whl) built from one. A checkout is
         built into a wheel first. (edgecolor is not published on a package index.)

Options:
  --prefix DIR        where the venv goes (default /opt/edgecolor; venv in DIR/venv)
  --coral             set up a Coral USB Accelerator: Coral's apt repository,
                      libedgetpu1-std, its udev rule, users in the plugdev group
  --libedgetpu-deb F  with --coral: install this libedgetpu .deb instead of Coral's
                      package (e.g. a rebuild that matches LiteRT; see device/README.md)
  --coral-pcie        set up an M.2 / mini-PCIe Coral (a Pi 5 with an M.2 HAT, a CM4 or
                      CM5 carrier board): what --coral does, plus kernel headers, DKMS,
                      gasket-dkms (the apex driver), the apex group and its udev rule, users
                      in apex; on a Pi 5 also kernel=kernel8.img (4 KiB pages, which the
                      driver needs) and dtparam=pciex1 in config.txt (then reboot)
  --gasket-deb F      with --coral-pcie: install this gasket-dkms .deb instead of Coral's
                      package, which fails to build on recent kernels (build it from
                      github.com/google/gasket-driver with debuild; see device/README.md)
  --services          install the systemd units edgecolor-live and edgecolor-scan,
                      the service user "edgecolor" and /etc/edgecolor/edgecolor.env
                      (installed, not enabled: enable them with systemctl)
  --camera            require python3-picamera2 (fail when apt does not have it)
  --no-camera         skip python3-picamera2. Default: installed when apt has it (the
                      Raspberry Pi repository, i.e. Raspberry Pi OS), else skipped with
                      a warning (plain Debian arm64, a container)
  --no-opencv         skip python3-opencv (photos and scans only: no USB camera,
                      no video files, no window)
  --python PATH       the system Python the venv is made from (default /usr/bin/python3)
  --dry-run           print every command that would change the system; change nothing
  -h, --help          this text
EOF
}

# ---------------------------------------------------------------------------- messages
if [[ -t 1 ]]; then BOLD=$'\e[1m'; GREEN=$'\e[32m'; YELLOW=$'\e[33m'; RED=$'\e[31m'; RESET=$'\e[0m'
else BOLD=""; GREEN=""; YELLOW=""; RED=""; RESET=""; fi
step() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$RESET"; }
ok()   { printf '%s  ok%s %s\n' "$GREEN" "$RESET" "$*"; }
note() { printf '     %s\n' "$*"; }
warn() { printf '%s  warning:%s %s\n' "$YELLOW" "$RESET" "$*" >&2; }
die()  { printf '%serror:%s %s\n' "$RED" "$RESET" "$*" >&2; exit 1; }

# Run a command that changes the system; in --dry-run only print it.
run() {
    if (( DRY_RUN )); then printf '  +'; printf ' %q' "$@"; printf '\n'; return 0; fi
    "$@"
}

# Write stdin to a file (mode $2) only when the content differs; say what happened.
install_text() {
    local destination=$1 mode=$2 content
    content=$(cat)
    if [[ -f $destination ]] && [[ "$(cat -- "$destination")" == "$content" ]]; then
        ok "$destination is up to date"; return 0
    fi
    if (( DRY_RUN )); then printf '  + write %s (mode %s)\n' "$destination" "$mode"; return 0; fi
    mkdir -p -- "$(dirname -- "$destination")"
    # Temp file + rename: a half-written unit or rule is never seen by systemd or udev.
    printf '%s\n' "$content" > "$destination.tmp.$$"
    chmod "$mode" "$destination.tmp.$$"
    mv -f -- "$destination.tmp.$$" "$destination"
    ok "wrote $destination"
}

# Raspberry Pi OS releases this script is written for: Bookworm (Debian 12, Python 3.11)
# and Trixie (Debian 13, Python 3.13; Raspberry Pi Imager's default since late 2025).
# LiteRT publishes aarch64 wheels for both Pythons; anything else gets a warning only.
supported_codename() { [[ $1 == bookworm || $1 == trixie ]]; }

# The files a clone of the checkout $1 holds, copied into the empty folder $2: tracked
# files plus new ones not yet committed, nothing git ignores (build/, *.egg-info, .venv).
# Without git (a downloaded archive): the tree less build output, caches and venvs.
copy_checkout() {
    local source=$1 copy=$2
    if [[ -e $source/.git ]] && command -v git >/dev/null \
            && git -c safe.directory="$source" -C "$source" rev-parse --git-dir >/dev/null 2>&1; then
        # safe.directory: under sudo, root runs git in the user's checkout, which git
        # otherwise refuses ("dubious ownership"). Files deleted but not yet committed are
        # still listed by --cached: only those that exist are copied.
        git -c safe.directory="$source" -C "$source" ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' file; do
                  if [[ -e $source/$file || -L $source/$file ]]; then printf '%s\0' "$file"; fi
              done \
            | (cd -- "$source" && xargs -0 -r cp -P --parents -t "$copy")
    else
        tar -C "$source" --exclude=./.git --exclude=./build --exclude=./dist \
            --exclude='*.egg-info' --exclude=__pycache__ --exclude=./.venv -cf - . \
            | tar -C "$copy" -xf -
    fi
}

# Build the checkout $1 into a wheel in the folder $2, from a copy in a temporary folder.
# pip builds a directory in place: setuptools would leave root-owned build/ and
# edgecolor.egg-info/ in the user's checkout under sudo, and a build/lib kept from an
# earlier run puts modules deleted since (git pull) into the new wheel.
build_wheel() {
    local source=$1 wheel_dir=$2 copy
    if (( DRY_RUN )); then
        printf '  + copy the files of %q (as a clone holds them) to a temporary folder\n' "$source"
        run "${PIP[@]}" wheel --no-deps --wheel-dir "$wheel_dir" "<temporary copy of $source>"
        return 0
    fi
    copy=$wheel_dir/source
    mkdir -p -- "$copy"
    copy_checkout "$source" "$copy"
    [[ -f $copy/pyproject.toml ]] || die "copying $source for the build failed"
    "${PIP[@]}" wheel --no-deps --wheel-dir "$wheel_dir" "$copy"
}

# Groups made in this run: in --dry-run none is really made, and each is printed once.
MADE_GROUPS=" "
ensure_group() {  # group
    if getent group "$1" >/dev/null || [[ $MADE_GROUPS == *" $1 "* ]]; then return 0; fi
    run groupadd --system "$1"
    MADE_GROUPS+="$1 "
}

# A Raspberry Pi 5 or Compute Module 5 (/proc/device-tree/model): it boots a kernel with
# 16 KiB memory pages (kernel_2712.img), and the Coral's apex driver works with 4 KiB only.
is_pi5() { [[ $1 == *"Raspberry Pi 5"* || $1 == *"Compute Module 5"* ]]; }

# Make LINE an active setting of the boot configuration FILE (config.txt) unless it already
# is one; returns 0 when it was added (a reboot is needed), 1 when it was there. Added under
# "[all]": a conditional section at the end of the file ([cm4], [pi4]) would otherwise
# swallow it. Temp file + rename, so a power cut never leaves a half-written config.txt.
ensure_boot_config_line() {  # file line
    local file=$1 line=$2
    if [[ -f $file ]] && grep -qxF -- "$line" "$file"; then ok "$file has $line"; return 1; fi
    if (( DRY_RUN )); then printf '  + add to %s: [all] %s\n' "$file" "$line"; return 0; fi
    [[ -f $file ]] || die "no $file: is this Raspberry Pi OS? Add '$line' to your boot configuration"
    # (no -p: config.txt is on the FAT boot partition, which keeps no owner or mode)
    cp -- "$file" "$file.edgecolor.$$"
    printf '\n[all]\n# device/install.sh --coral-pcie (edgecolor): the Coral needs it\n%s\n' \
        "$line" >> "$file.edgecolor.$$"
    mv -f -- "$file.edgecolor.$$" "$file"
    ok "added $line to $file"
}

# The PCIe Coral's kernel side that depends on the board: on a Pi 5 the 4 KiB-page kernel
# and the external PCIe connector in config.txt; everywhere, whether this kernel has the
# 4 KiB pages the apex driver needs. Sets REBOOT_NEEDED=1 when it takes a reboot.
pcie_boot_setup() {  # config.txt  board-model  page-size
    local config=$1 model=$2 page_size=$3 changed=0
    if is_pi5 "$model"; then
        # kernel8.img: the 4 KiB-page arm64 kernel, which a Pi 5 boots too.
        ensure_boot_config_line "$config" "kernel=kernel8.img" && changed=1
        # The PCIe connector (FFC) for an M.2 HAT; HAT+ boards with an EEPROM enable it
        # themselves, an explicit line does no harm.
        ensure_boot_config_line "$config" "dtparam=pciex1" && changed=1
    fi
    if [[ $page_size != 4096 ]]; then
        warn "this kernel uses $page_size-byte memory pages (getconf PAGESIZE); the Coral's apex driver needs 4096"
        if is_pi5 "$model"; then
            warn "reboot now (sudo reboot) to start the 4 KiB kernel set in $config; then getconf PAGESIZE prints 4096"
        else
            warn "boot a kernel with 4 KiB pages; the PCIe Coral does not work with this one"
        fi
        REBOOT_NEEDED=1
    elif (( changed )); then
        note "reboot (sudo reboot) so that the changes to $config take effect"
        REBOOT_NEEDED=1
    fi
    return 0
}

# Sourced (the tests call the functions above without root): define them, change nothing.
if [[ ${BASH_SOURCE[0]} != "$0" ]]; then return 0; fi

# ---------------------------------------------------------------------------- arguments
while (( $# )); do
    case $1 in
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
        --prefix=*) PREFIX=${1#*=} ;;
        --coral) WITH_CORAL=1 ;;
        --libedgetpu-deb) LIBEDGETPU_DEB=${2:?--libedgetpu-deb needs a .deb file}; shift ;;
        --libedgetpu-deb=*) LIBEDGETPU_DEB=${1#*=} ;;
        --coral-pcie) WITH_CORAL=1; WITH_CORAL_PCIE=1 ;;
        --gasket-deb) GASKET_DEB=${2:?--gasket-deb needs a .deb file}; shift ;;
        --gasket-deb=*) GASKET_DEB=${1#*=} ;;
        --services) WITH_SERVICES=1 ;;
        --camera) WITH_CAMERA=1 ;;
        --no-camera) WITH_CAMERA=0 ;;
        --no-opencv) WITH_OPENCV=0 ;;
        --python) SYSTEM_PYTHON=${2:?--python needs a path}; shift ;;
        --python=*) SYSTEM_PYTHON=${1#*=} ;;
        --dry-run) DRY_RUN=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) [[ -z $SOURCE ]] || die "only one SOURCE may be given (got '$SOURCE' and '$1')"
           SOURCE=$1 ;;
    esac
    shift
done

VENV=$PREFIX/venv
CONSTRAINTS=$PREFIX/constraints.txt

if [[ -n $LIBEDGETPU_DEB ]]; then
    (( WITH_CORAL )) || die "--libedgetpu-deb only makes sense with --coral"
    [[ -f $LIBEDGETPU_DEB ]] || die "--libedgetpu-deb: no such file: $LIBEDGETPU_DEB"
    LIBEDGETPU_DEB=$(realpath -- "$LIBEDGETPU_DEB")
fi
if [[ -n $GASKET_DEB ]]; then
    (( WITH_CORAL_PCIE )) || die "--gasket-deb only makes sense with --coral-pcie"
    [[ -f $GASKET_DEB ]] || die "--gasket-deb: no such file: $GASKET_DEB"
    GASKET_DEB=$(realpath -- "$GASKET_DEB")
fi
if [[ -z $SOURCE ]]; then
    # The checkout this script belongs to (device/install.sh inside it).
    CHECKOUT=$(cd -- "$SCRIPT_DIR/.." && pwd)
    if [[ -f $CHECKOUT/pyproject.toml && -d $CHECKOUT/edgecolor ]]; then SOURCE=$CHECKOUT
    else die "$SCRIPT_DIR is not inside an edgecolor checkout: give SOURCE (a checkout or a wheel)"; fi
fi
# SOURCE is always set here (given, or this script's checkout).
[[ -e $SOURCE ]] || die "SOURCE not found: $SOURCE (give an edgecolor checkout or a .whl file)"
SOURCE=$(realpath -- "$SOURCE")
if [[ -f $SOURCE && $SOURCE != *.whl ]]; then die "SOURCE is a file but not a wheel (.whl): $SOURCE"; fi
if [[ -d $SOURCE && ! -f $SOURCE/pyproject.toml ]]; then die "SOURCE directory has no pyproject.toml: $SOURCE"; fi
if (( ! DRY_RUN )) && [[ $EUID -ne 0 ]]; then
    die "run as root (sudo $0 ...): apt, /opt, udev and systemd need it. --dry-run works as any user."
fi
if (( DRY_RUN )); then printf '%sDry run: nothing will be changed.%s\n' "$BOLD" "$RESET"; fi

# The person who ran sudo gets the hardware groups too, so `edgecolor live` works from
# their shell, not only from the service.
LOGIN_USER=${SUDO_USER:-}
if [[ $LOGIN_USER == root ]]; then LOGIN_USER=""; fi

# ---------------------------------------------------------------------------- 1. system
step "Checking the system"
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
# shellcheck source=/dev/null
CODENAME=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-unknown}")
MODEL=$(tr -d '\0' 2>/dev/null < /proc/device-tree/model || echo "not a Raspberry Pi (no /proc/device-tree/model)")
note "architecture $ARCH, Debian codename $CODENAME, board: $MODEL"
[[ $ARCH == arm64 ]] || warn "expected arm64 (64-bit Raspberry Pi OS); LiteRT publishes no 32-bit ARM wheels"
supported_codename "$CODENAME" \
    || warn "written for Bookworm and Trixie; this is '$CODENAME' - package names may differ"

step "Installing apt packages"
APT_PACKAGES=(python3 python3-venv python3-numpy python3-pil ca-certificates usbutils)
if (( WITH_OPENCV )); then APT_PACKAGES+=(python3-opencv); fi
export DEBIAN_FRONTEND=noninteractive
run apt-get update
if [[ $WITH_CAMERA != 0 ]]; then
    # python3-picamera2 lives only in the Raspberry Pi repository (Raspberry Pi OS).
    if apt-cache policy python3-picamera2 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        APT_PACKAGES+=(python3-picamera2)
    elif [[ $WITH_CAMERA == 1 ]]; then
        die "--camera: python3-picamera2 is not in your apt sources (not Raspberry Pi OS?)"
    else
        warn "python3-picamera2 is not in your apt sources (not Raspberry Pi OS): no Pi camera module support; photos, scans, USB webcams and video files work"
        WITH_CAMERA=0
    fi
fi
# --no-install-recommends keeps the desktop previews (Qt, OpenGL) off a headless Pi.
run apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
ok "apt: ${APT_PACKAGES[*]}"

# ---------------------------------------------------------------------------- 2. venv
step "Creating the virtual environment $VENV"
[[ -x $SYSTEM_PYTHON ]] || (( DRY_RUN )) || die "no Python at $SYSTEM_PYTHON (use --python)"
# The system numpy that apt's picamera2, simplejpeg and opencv were compiled against.
if SYSTEM_NUMPY=$("$SYSTEM_PYTHON" -c 'import numpy; print(numpy.__version__)' 2>/dev/null); then
    ok "system numpy $SYSTEM_NUMPY (held in the venv)"
elif (( DRY_RUN )); then
    SYSTEM_NUMPY="<system numpy version>"; note "numpy not installed yet; apt would install it"
else
    die "the system Python cannot import numpy after installing python3-numpy"
fi
if [[ -x $VENV/bin/python ]] && grep -q '^include-system-site-packages = true' "$VENV/pyvenv.cfg" 2>/dev/null; then
    ok "venv exists (with system site packages)"
else
    # --system-site-packages: picamera2, libcamera and cv2 come from apt and cannot be
    # pip-installed; the venv sees them.
    run mkdir -p "$PREFIX"
    run "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV"
fi

# pip's numpy 2 would shadow apt's numpy 1.x inside the venv, and the compiled modules
# apt installed (picamera2 -> simplejpeg, python3-opencv) fail with "numpy.dtype size
# changed" or "compiled using NumPy 1.x cannot be run in NumPy 2". Holding numpy to the
# system's exact version keeps one numpy for everything.
printf '# Written by device/install.sh: the system numpy (apt) is the only numpy.\nnumpy==%s\n' \
    "$SYSTEM_NUMPY" | install_text "$CONSTRAINTS" 0644

step "Installing edgecolor"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
# --only-binary: a missing wheel must fail in seconds, not start an hour-long compile.
PIP_INSTALL=("${PIP[@]}" install --only-binary=:all: --constraint "$CONSTRAINTS")
BUILD_DIR=""
cleanup() { [[ -n $BUILD_DIR ]] && rm -rf -- "$BUILD_DIR"; return 0; }
trap cleanup EXIT
if [[ -f $SOURCE ]]; then
    REQUIREMENT="edgecolor[device] @ file://$SOURCE"
else
    # A checkout: build its wheel (pure Python) first, so the install itself stays binary-only.
    BUILD_DIR=$(mktemp -d)
    build_wheel "$SOURCE" "$BUILD_DIR"
    if (( DRY_RUN )); then WHEEL="$BUILD_DIR/edgecolor-*.whl"
    else WHEEL=$(ls "$BUILD_DIR"/edgecolor-*.whl)
    fi
    REQUIREMENT="edgecolor[device] @ file://$WHEEL"
fi
run "${PIP_INSTALL[@]}" "$REQUIREMENT"
# pip keeps an installed edgecolor of the same version number even when the wheel is
# newer (a development build): replace the package itself, not its dependencies.
run "${PIP_INSTALL[@]}" --no-deps --force-reinstall "${REQUIREMENT#*@ file://}"

# The "camera" extra minus its OpenCV wheel: opencv-python-headless needs numpy 2, so on
# the Pi cv2 comes from apt (python3-opencv, built for the system numpy). PyAV (audio in
# colorized videos) has no numpy pin. The versions come from edgecolor's own metadata.
if (( ! DRY_RUN )); then
    mapfile -t CAMERA_EXTRAS < <("$VENV/bin/python" - <<'EOF'
import importlib.metadata as metadata
try:
    from packaging.requirements import Requirement
except ImportError:  # not every system has python3-packaging; pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement
for text in metadata.requires("edgecolor") or []:
    requirement = Requirement(text)
    if requirement.marker and requirement.marker.evaluate({"extra": "camera"}) \
            and not requirement.marker.evaluate({"extra": ""}) \
            and not requirement.name.startswith("opencv"):
        print(f"{requirement.name}{requirement.specifier}")
EOF
    ) || CAMERA_EXTRAS=()
else
    CAMERA_EXTRAS=("av")
fi
# picamera2 depends on apt's python3-av: a pip PyAV in the venv would shadow it, so an
# apt PyAV is kept as it is.
if (( WITH_OPENCV )) && (( ${#CAMERA_EXTRAS[@]} )); then
    if APT_AV=$("$SYSTEM_PYTHON" -c 'import av; print(av.__version__)' 2>/dev/null); then
        ok "PyAV $APT_AV from apt (kept; not installing ${CAMERA_EXTRAS[*]})"
    elif run "${PIP_INSTALL[@]}" "${CAMERA_EXTRAS[@]}"; then ok "video extras: ${CAMERA_EXTRAS[*]}"
    else warn "could not install ${CAMERA_EXTRAS[*]}: colorized videos will have no audio"; fi
fi

run ln -sfn "$VENV/bin/edgecolor" /usr/local/bin/edgecolor
if (( ! DRY_RUN )); then
    "$VENV/bin/python" - <<'EOF' || die "the venv is inconsistent (see the message above)"
import numpy, sys
import edgecolor
print(f"     edgecolor {edgecolor.__version__}, numpy {numpy.__version__} from {numpy.__file__}")
try:
    import ai_edge_litert
    from ai_edge_litert import interpreter  # noqa: F401 (loads the native runtime)
    print(f"     LiteRT (ai-edge-litert) {getattr(ai_edge_litert, '__version__', '?')}")
except Exception as error:  # a broken runtime must stop the install, with its reason
    sys.exit(f"LiteRT does not load: {error}")
for module in ("cv2", "picamera2", "av"):
    try:
        imported = __import__(module)
        print(f"     {module} {getattr(imported, '__version__', '')}".rstrip())
    except Exception as error:
        print(f"     {module}: not available ({type(error).__name__}: {error})")
EOF
    [[ "$("$VENV/bin/python" -c 'import numpy; print(numpy.__version__)')" == "$SYSTEM_NUMPY" ]] \
        || die "the venv's numpy is not the system's $SYSTEM_NUMPY"
    ok "edgecolor --version: $("$VENV/bin/edgecolor" --version)"
fi

# ---------------------------------------------------------------------------- 3. groups
add_to_group() {  # user group
    local user=$1 group=$2
    ensure_group "$group"
    if id -nG "$user" 2>/dev/null | tr ' ' '\n' | grep -qx "$group"; then
        ok "$user is in $group"
    else
        run usermod -aG "$group" "$user"
        note "$user added to $group (takes effect at the next login)"
    fi
}

if (( WITH_SERVICES )); then
    step "Service user $SERVICE_USER"
    if id "$SERVICE_USER" >/dev/null 2>&1; then ok "user $SERVICE_USER exists"
    else
        run useradd --system --user-group --home-dir "$STATE_DIR" --create-home \
            --shell /usr/sbin/nologin --comment "edgecolor services" "$SERVICE_USER"
    fi
    # video: the camera (/dev/video*, /dev/media*, /dev/dma_heap); plugdev: the USB Coral;
    # scanner: SANE's USB scanners; apex: the PCIe Coral (/dev/apex_*). The units name these
    # groups in SupplementaryGroups, so they must exist (a missing one fails the unit with
    # status 216/GROUP), with or without --coral-pcie.
    add_to_group "$SERVICE_USER" video
    add_to_group "$SERVICE_USER" plugdev
    add_to_group "$SERVICE_USER" scanner
    add_to_group "$SERVICE_USER" apex
    run install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0755 "$STATE_DIR"
    # The scan folders are shared with the group: the login user (added below), a Samba
    # share or a scanner's "scan to folder" drop files into the inbox and take the results.
    # setgid (2775): what is created inside belongs to the group too, not to whoever wrote it.
    run install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 2775 \
        "$STATE_DIR/inbox" "$STATE_DIR/colorized"
fi
if [[ -n $LOGIN_USER ]]; then
    step "Groups for $LOGIN_USER"
    add_to_group "$LOGIN_USER" video
    if (( WITH_CORAL )); then add_to_group "$LOGIN_USER" plugdev; fi
    if (( WITH_CORAL_PCIE )); then add_to_group "$LOGIN_USER" apex; fi
    # the scan folders (device/README.md's scanimage line writes into the inbox)
    if (( WITH_SERVICES )); then add_to_group "$LOGIN_USER" "$SERVICE_USER"; fi
fi

# ---------------------------------------------------------------------------- 4. Coral
CORAL_REPOSITORY_READY=0
coral_apt_repository() {  # Coral's apt repository and its key, once per run
    (( CORAL_REPOSITORY_READY )) && return 0
    if [[ -f /usr/share/keyrings/coral-edgetpu-archive-keyring.gpg ]]; then ok "Coral apt key present"
    else
        run apt-get install -y --no-install-recommends curl gnupg
        if (( DRY_RUN )); then
            printf '  + curl -fsSL %s | gpg --dearmor -o %s\n' "$CORAL_APT_KEY_URL" /usr/share/keyrings/coral-edgetpu-archive-keyring.gpg
        else
            curl -fsSL "$CORAL_APT_KEY_URL" | gpg --dearmor --yes -o /usr/share/keyrings/coral-edgetpu-archive-keyring.gpg
            ok "Coral apt key installed"
        fi
    fi
    printf '%s\n' "$CORAL_APT_LINE" | install_text /etc/apt/sources.list.d/coral-edgetpu.list 0644
    run apt-get update
    CORAL_REPOSITORY_READY=1
}

if (( WITH_CORAL_PCIE )); then
    step "PCIe / M.2 Coral: the apex driver (gasket-dkms)"
    # DKMS builds the driver for every installed kernel that has its headers. On Raspberry
    # Pi OS that is linux-headers-rpi-v8, the 4 KiB-page kernel (kernel8.img) of a Pi 4 and
    # of a Pi 5 set up below; elsewhere the running kernel's headers.
    HEADERS=""
    for candidate in linux-headers-rpi-v8 "linux-headers-$(uname -r)"; do
        if apt-cache policy "$candidate" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            HEADERS=$candidate; break
        fi
    done
    if [[ -z $HEADERS ]]; then
        HEADERS="linux-headers-$(uname -r)"
        warn "apt has neither linux-headers-rpi-v8 nor $HEADERS: install your kernel's headers, DKMS needs them"
    fi
    run apt-get install -y --no-install-recommends dkms "$HEADERS"
    GASKET_HELP="see device/README.md (PCIe Coral): build gasket-dkms from github.com/google/gasket-driver with debuild, then sudo device/install.sh --coral-pcie --gasket-deb gasket-dkms_*_all.deb"
    if [[ -n $GASKET_DEB ]]; then
        run apt-get install -y "$GASKET_DEB" || die "installing $GASKET_DEB failed (DKMS could not build it?): $GASKET_HELP"
    else
        coral_apt_repository
        # Coral's gasket-dkms (1.0-18) predates the 6.x kernels Raspberry Pi OS ships and
        # can fail to build ("Bad return status for module build"): say what to do instead.
        run apt-get install -y gasket-dkms || die "gasket-dkms from Coral's repository did not build for this kernel: $GASKET_HELP"
    fi
    # /dev/apex_N is read-write for the apex group. gasket-dkms >= 1.0-17 ships the same
    # rule; ours only when no rule for the apex subsystem exists yet.
    ensure_group apex
    if grep -qs 'SUBSYSTEM=="apex"' /lib/udev/rules.d/*.rules /etc/udev/rules.d/*.rules; then
        ok "a udev rule for /dev/apex_* exists"
    else
        install_text /etc/udev/rules.d/65-edgecolor-apex.rules 0644 <<'EOF'
# /dev/apex_N, the M.2 / PCIe Coral (gasket-dkms's apex driver): read-write for the apex
# group, as google/gasket-driver's debian/gasket-dkms.udev (written by edgecolor's
# device/install.sh).
SUBSYSTEM=="apex", MODE="0660", GROUP="apex"
EOF
        if [[ -d /run/udev ]]; then
            run udevadm control --reload-rules
            run udevadm trigger --subsystem-match=apex
        fi
    fi
    BOOT_CONFIG=/boot/firmware/config.txt     # Bookworm and Trixie; /boot/config.txt before
    [[ -f $BOOT_CONFIG || ! -f /boot/config.txt ]] || BOOT_CONFIG=/boot/config.txt
    pcie_boot_setup "$BOOT_CONFIG" "$MODEL" "$(getconf PAGESIZE 2>/dev/null || echo unknown)"
fi

if (( WITH_CORAL )); then
    step "Coral Edge TPU runtime"
    if [[ -n $LIBEDGETPU_DEB ]]; then
        run apt-get install -y "$LIBEDGETPU_DEB"
    else
        coral_apt_repository
        # -std runs the TPU at reduced clock (cooler); -max is faster and gets hot.
        run apt-get install -y libedgetpu1-std
    fi
    # libedgetpu1-std ships this rule (/lib/udev/rules.d/60-libedgetpu1-std.rules); a
    # library installed some other way may not, so add ours only when none exists.
    if grep -qsl '1a6e' /lib/udev/rules.d/*.rules /etc/udev/rules.d/*.rules; then
        ok "a udev rule for the Coral USB Accelerator exists"
    else
        install_text /etc/udev/rules.d/65-edgecolor-coral.rules 0644 <<'EOF'
# Coral USB Accelerator, before (1a6e:089a) and after (18d1:9302) its firmware loads:
# readable and writable by the plugdev group (written by edgecolor's device/install.sh).
SUBSYSTEM=="usb", ATTRS{idVendor}=="1a6e", ATTRS{idProduct}=="089a", GROUP="plugdev", MODE="0664"
SUBSYSTEM=="usb", ATTRS{idVendor}=="18d1", ATTRS{idProduct}=="9302", GROUP="plugdev", MODE="0664"
EOF
        if [[ -d /run/udev ]]; then
            run udevadm control --reload-rules
            run udevadm trigger --subsystem-match=usb
        fi
    fi
    # The same check `--device auto` makes before it uses the TPU: in a child process, an
    # interpreter with the Edge TPU delegate is built, allocated and invoked once. LiteRT
    # binds the delegate inside Interpreter(...), where a libedgetpu built against another
    # TensorFlow version (Coral's own packages: TF 2.5) has been reported to segfault, so
    # loading the delegate alone proves nothing.
    plugged=""
    for id in "${CORAL_USB_IDS[@]}"; do lsusb -d "$id" >/dev/null 2>&1 && plugged=$id; done
    if compgen -G '/dev/apex_*' >/dev/null; then plugged="PCIe, /dev/apex_0"; fi
    PROBE=("$VENV/bin/python" -m edgecolor.device.runtime.probe_edgetpu)
    if (( DRY_RUN )); then printf '  + %s\n' "${PROBE[*]}"
    elif (( REBOOT_NEEDED )); then
        note "the Edge TPU is tried after the reboot: ${PROBE[*]}"
    elif [[ -z $plugged ]]; then
        note "no Coral found (no USB Accelerator, no /dev/apex_*): the Edge TPU is not tried now."
        note "later: ${PROBE[*]}"
    elif "${PROBE[@]}"; then
        ok "Coral ($plugged): an Edge TPU interpreter was built and ran"
        note "next: edgecolor bench MODEL.tflite --device edgetpu (with MODEL_edgetpu.tflite beside it)"
    else
        warn "Coral ($plugged) is plugged in but the Edge TPU does not work (see the lines above)."
        if [[ $ARCH == arm64 ]]; then
            warn "If it crashed: libedgetpu and LiteRT were built against different TensorFlow versions."
            warn "On a Pi 4 or Pi 5 with 64-bit Bookworm install the rebuilt library:"
            warn "  curl -fLO $LIBEDGETPU_REBUILD_URL"
            warn "  sudo device/install.sh --coral --libedgetpu-deb $(basename "$LIBEDGETPU_REBUILD_URL")"
        fi
        warn "edgecolor runs on the CPU meanwhile (--device auto falls back, with a warning)."
    fi
fi

# ---------------------------------------------------------------------------- 5. services
if (( WITH_SERVICES )); then
    step "systemd units"
    UNIT_DIR=$SCRIPT_DIR/systemd
    [[ -d $UNIT_DIR ]] || die "no $UNIT_DIR: run install.sh from an edgecolor checkout to install services"
    for unit in edgecolor-live.service edgecolor-scan.service; do
        sed -e "s|/opt/edgecolor/venv|$VENV|g" "$UNIT_DIR/$unit" | install_text "/etc/systemd/system/$unit" 0644
    done
    if [[ -f $CONFIG_DIR/edgecolor.env ]]; then
        ok "$CONFIG_DIR/edgecolor.env exists (kept: it holds your settings)"
    else
        install_text "$CONFIG_DIR/edgecolor.env" 0644 < "$UNIT_DIR/edgecolor.env"
    fi
    if [[ -d /run/systemd/system ]]; then run systemctl daemon-reload
    else note "systemd is not running here (container or chroot): units installed, not loaded"; fi
    note "start the phone preview: sudo systemctl enable --now edgecolor-live"
    note "start the scan watcher:  sudo systemctl enable --now edgecolor-scan"
    note "settings: $CONFIG_DIR/edgecolor.env; logs: journalctl -u edgecolor-live -f"
fi

step "Done"
note "edgecolor is at /usr/local/bin/edgecolor (venv $VENV)"
note "try: edgecolor colorize photo.jpg -o colorized/"
note "upgrade later: git pull in $SOURCE (a checkout), then run this script again"
if (( REBOOT_NEEDED )); then warn "reboot to finish the PCIe Coral set-up (sudo reboot)"; fi
