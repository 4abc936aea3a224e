#!/usr/bin/env bash
# Functional check of device/install.sh and `edgecolor colorize` on arm64 Debian Bookworm
# (Python 3.11) or Trixie (Python 3.13), the two bases of 64-bit Raspberry Pi OS, emulated
# with qemu user mode on an x86-64 Debian/Ubuntu host. Not timing (a model call is hundreds
# of times slower than on a Pi), not CI: a manual step before a release. Needs root,
# network access to a Debian mirror and PyPI, and about 2 GB for the root.
# device/emulated_pi_check.sh runs it for both releases.
#
#   sudo device/emulate/check-arm64.sh [--release bookworm|trixie] [--root DIR]
#                                      [--mirror URL] [--model FILE.tflite] [--photo FILE]
#                                      [--size N] [--no-tests] [--keep-mounts]
#
# The root goes into DIR (default /var/tmp/edgecolor-arm64-RELEASE), the host-side scratch
# files (model, photo, reference output) into DIR-work beside it. HOST_PYTHON (default the
# checkout's .venv/bin/python) is the repository's x86-64 Python: ai-edge-litert for the
# reference invoke; TensorFlow and scikit-image (train and dev extras) once, for the test
# photo (and a random model when edgecolor/assets has none), unless --photo is given.
#
# What it does, each step skipped when already done (so a re-run takes minutes):
#  1. host: qemu-user-static, binfmt-support, mmdebstrap, debootstrap; binfmt_misc mounted
#     and qemu-aarch64 registered (with the F flag: the chroot needs no qemu binary inside);
#  2. mmdebstrap --arch=arm64 --variant=debootstrap RELEASE ROOT MIRROR (the host's apt
#     resolves and downloads; only dpkg and the maintainer scripts run emulated: 7-8
#     minutes on a busy 2-core host). Without mmdebstrap: debootstrap --foreign and its second stage in a chroot,
#     which scans the Packages index with emulated grep and perl for every package (13
#     minutes on an idle host, over 18 minutes without finishing on a busy one);
#  3. inside: python3, python3-venv, python3-numpy (Debian's numpy: 1.24 on Bookworm, 2.2
#     on Trixie, the same as the Pi's),
#     git and sudo (what a fresh Raspberry Pi OS has); the host's CA bundle for pip (for
#     hosts behind a TLS-inspecting proxy);
#  4. a copy of this checkout (its tracked and new files, as a clone has them) in
#     /home/pi/edgecolor, then exactly device/README.md's install command there:
#     `cd edgecolor && sudo device/install.sh --services` (install.sh skips
#     python3-picamera2, which only the Raspberry Pi repository has, with a warning);
#  5. edgecolor --version, python -m edgecolor --version and the versions installed; then,
#     as a Raspberry Pi 4 (QEMU_CPU=cortex-a72) and as a Pi 5 (cortex-a76), each with a
#     matching fake /proc/cpuinfo:
#     a. one raw int8 invoke of the model, compared with the same invoke on the x86-64
#        host (XNNPACK's integer results should be identical);
#     b. edgecolor colorize of a grayscale photo with --model, and a check that the output
#        has the input's size and luminance (check_output.py);
#     c. edgecolor live on the bundled demo clip, recorded, and the recording read back;
#     d. the live loop's 4:2:0 join (FrameColorizer) against the exact join, and
#        its preview JPEG;
#     e. as a user runs it: `edgecolor colorize` of two bundled demo photos and of the
#        bundled clip with the bundled model (no --model), in a Python that records any
#        attempt to import TensorFlow or Keras (no_tensorflow.py); outputs checked;
#     f. (unless --no-tests) tests/test_bundled_model.py with pytest (installed with
#        pip --target into the scratch folder, not into the venv).
#     Each step prints its wall time: emulated time, not a Pi's.
#     The model: the bundled default when edgecolor/assets has one, else an int8 model of
#     the default architecture with random weights (make_test_model.py).
#
# Two emulation traps this handles (found while writing it):
#  - under qemu-user /proc/cpuinfo is the HOST's (x86) file; XNNPACK's cpuinfo library
#    then finds no ARM cores and LiteRT segfaults in allocate_tensors. A fake ARM
#    /proc/cpuinfo is bind-mounted over it.
#  - qemu's default "max" CPU offers SVE/SME/i8mm; with it XNNPACK's int8 output differed
#    from x86 in 98% of values (up to 31 LSB). A Pi has none of these: QEMU_CPU names the
#    Pi's core, and then the outputs match x86 exactly.
# Results are in device/README.md ("Emulated arm64 check").

set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$SCRIPT_DIR/../.." && pwd)
RELEASE=bookworm
ROOT=""
MIRROR=""
MODEL=""
PHOTO=""
SIZE=256
KEEP_MOUNTS=0
RUN_TESTS=1

while (( $# )); do
    case $1 in
        --release) RELEASE=${2:?}; shift ;;
        --root) ROOT=${2:?}; shift ;;
        --mirror) MIRROR=${2:?}; shift ;;
        --model) MODEL=$(realpath -- "${2:?}"); shift ;;
        --photo) PHOTO=$(realpath -- "${2:?}"); shift ;;
        --size) SIZE=${2:?}; shift ;;
        --no-tests) RUN_TESTS=0 ;;
        --keep-mounts) KEEP_MOUNTS=1 ;;
        -h|--help) sed -n '2,/^$/p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $RELEASE in
    bookworm|trixie) ;;
    *) echo "--release: bookworm or trixie, not '$RELEASE'" >&2; exit 2 ;;
esac
ROOT=${ROOT:-/var/tmp/edgecolor-arm64-$RELEASE}
# Host-side scratch (test model, photo, reference output) beside the root, never in a fixed
# /var/tmp folder: --root is where the user has room for this check's files.
WORK=${ROOT%/}-work

step() { printf '\n==> %s\n' "$*"; }
# Run a command and print its wall time (under emulation: not a Pi's time).
timed() {
    local start=$SECONDS status=0
    "$@" || status=$?
    echo "     (wall time under emulation: $(( SECONDS - start )) s)"
    return "$status"
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (debootstrap, chroot and mounts need it)"
[[ $(uname -m) == x86_64 ]] || die "this emulates arm64 on an x86-64 host"

# A clean environment inside the chroot: the host's pip settings (find-links, local
# indexes) point at x86-64 files that do not exist in there.
QEMU_CPU_MODEL=max    # set per board in step 5
in_root() {
    env -i QEMU_CPU="$QEMU_CPU_MODEL" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt SSL_CERT_FILE=/etc/ssl/certs/host-ca-bundle.crt \
        PIP_DEFAULT_TIMEOUT=180 \
        chroot "$ROOT" "$@"
}

# ------------------------------------------------------------------------------ 1. host
step "Host: qemu-user-static, binfmt-support, mmdebstrap, debootstrap"
if ! command -v mmdebstrap >/dev/null || ! command -v debootstrap >/dev/null \
        || [[ ! -x /usr/bin/qemu-aarch64-static ]]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-user-static binfmt-support debootstrap
    # mmdebstrap: Debian 11 and later; debootstrap is the fallback where it is missing.
    DEBIAN_FRONTEND=noninteractive apt-get install -y mmdebstrap || true
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "qemu-aarch64 is registered but disabled"
grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || die "qemu-aarch64 lacks the F (fix binary) flag: the chroot would need qemu inside"
echo "qemu-aarch64: $(head -2 /proc/sys/fs/binfmt_misc/qemu-aarch64 | tr '\n' ' ')"

if [[ -z $MIRROR ]]; then
    # The host's own Debian mirror (deb822 .sources first, then one-line .list format).
    MIRROR=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1)
    [[ -n $MIRROR ]] || MIRROR=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -1)
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
echo "mirror: $MIRROR"

# ------------------------------------------------------------------------------ 2. root
step "arm64 $RELEASE root in $ROOT"
if [[ -f $ROOT/etc/debian_version && ! -d $ROOT/debootstrap ]]; then
    echo "exists: Debian $(cat "$ROOT/etc/debian_version") ($(chroot "$ROOT" dpkg --print-architecture))"
elif command -v mmdebstrap >/dev/null && [[ ! -d $ROOT/debootstrap ]]; then
    # An empty or missing ROOT only (mmdebstrap refuses anything else); a root that a
    # failed run left half made is for the user to delete.
    timed mmdebstrap --mode=root --arch=arm64 --variant=debootstrap --include=ca-certificates \
        "$RELEASE" "$ROOT" "$MIRROR"
else
    if [[ ! -d $ROOT/debootstrap ]]; then
        mkdir -p "$ROOT"
        debootstrap --arch=arm64 --foreign --include=ca-certificates "$RELEASE" "$ROOT" "$MIRROR"
    fi
    echo "second stage (about 10 minutes under emulation)"
    chroot "$ROOT" /debootstrap/debootstrap --second-stage
fi
[[ $(chroot "$ROOT" uname -m) == aarch64 ]] || die "the chroot does not run as aarch64"
ROOT_CODENAME=$(. "$ROOT/etc/os-release" && echo "${VERSION_CODENAME:-}")
[[ $ROOT_CODENAME == "$RELEASE" ]] \
    || die "$ROOT holds Debian '$ROOT_CODENAME', not $RELEASE: give another --root"

mounts=()
unmount_all() {
    (( KEEP_MOUNTS )) && return 0
    local index
    for (( index=${#mounts[@]}-1; index>=0; index-- )); do umount -l "${mounts[index]}" || true; done
}
trap unmount_all EXIT
bind() {  # source target [mount options...]
    local target=$ROOT$2
    mountpoint -q "$target" && return 0
    mkdir -p "$target"
    mount "${@:3}" "$1" "$target"
    mounts+=("$target")
}
bind proc /proc -t proc
bind sysfs /sys -t sysfs
bind /dev /dev --bind
bind devpts /dev/pts -t devpts

cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca-bundle.crt"
# pip inside reads the bundle from its site-wide configuration too: `sudo` (as in the
# README's command) drops PIP_CERT from the environment.
printf '[global]\ncert = /etc/ssl/certs/host-ca-bundle.crt\n' > "$ROOT/etc/pip.conf"
grep -q "[[:space:]]$(hostname)\$" "$ROOT/etc/hosts" 2>/dev/null \
    || printf '127.0.1.1\t%s\n' "$(hostname)" >> "$ROOT/etc/hosts"   # sudo looks itself up
cat > "$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $RELEASE main
deb $MIRROR $RELEASE-updates main
deb http://deb.debian.org/debian-security $RELEASE-security main
EOF

# ------------------------------------------------------------------------------ 3. python
step "Python inside the root (Debian's numpy, as on Raspberry Pi OS)"
in_root apt-get update -q
in_root apt-get install -y -q --no-install-recommends python3 python3-venv python3-numpy git sudo
in_root python3 -c 'import numpy, platform, sys; print("python", sys.version.split()[0], platform.machine(), "numpy", numpy.__version__)'

# ------------------------------------------------------------------------------ 4. install
step "A clone of $REPO in /home/pi/edgecolor"
HOST_PYTHON=${HOST_PYTHON:-$REPO/.venv/bin/python}
[[ -x $HOST_PYTHON ]] || HOST_PYTHON=python3
CLONE=$ROOT/home/pi/edgecolor
rm -rf "$CLONE"; mkdir -p "$CLONE"
# What `git clone` of this checkout would hold: tracked files plus new ones not yet
# committed (so a check before a commit tests the working tree), nothing ignored.
git -C "$REPO" ls-files -z --cached --others --exclude-standard \
    | (cd "$REPO" && xargs -0 cp --parents -t "$CLONE" 2>/dev/null || true)
[[ -f $CLONE/pyproject.toml && -x $CLONE/device/install.sh ]] || die "copying the checkout failed"
echo "$(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD || echo ' + uncommitted changes')"

# device/README.md, step 4, as written (the chroot is root already; sudo is a no-op).
README_INSTALL="sudo device/install.sh --services"
grep -qF "$README_INSTALL" "$REPO/device/README.md" \
    || die "device/README.md no longer says '$README_INSTALL': update this check"
step "cd edgecolor && $README_INSTALL (inside the root)"
timed in_root bash -c "cd /home/pi/edgecolor && $README_INSTALL"

# ------------------------------------------------------------------------------ 5. colorize
step "edgecolor on arm64"
VENV_PYTHON=/opt/edgecolor/venv/bin/python
in_root edgecolor --version
in_root "$VENV_PYTHON" -m edgecolor --version
# What pip (or apt, through the venv's system site packages) installed.
in_root "$VENV_PYTHON" - <<'EOF'
import importlib.metadata as metadata, platform
print(f"Python {platform.python_version()} {platform.machine()}")
for name in ("edgecolor", "ai-edge-litert", "numpy", "pillow", "av", "simplejpeg", "ml_dtypes"):
    try:
        distribution = metadata.distribution(name)
        where = "apt" if "/usr/lib/python3" in str(distribution.locate_file("")) else "pip"
        print(f"  {name} {distribution.version} ({where})")
    except metadata.PackageNotFoundError:
        print(f"  {name}: not installed")
try:
    import cv2
    print(f"  cv2 {cv2.__version__} ({cv2.__file__})")
except ImportError as error:
    print(f"  cv2: not available ({error})")
EOF
mkdir -p "$WORK/model"
if [[ -z $MODEL ]]; then
    bundled=$(ls "$REPO"/edgecolor/assets/edgecolor-default-int8.tflite 2>/dev/null || true)
    if [[ -n $bundled ]]; then MODEL=$bundled; echo "model: the bundled default $MODEL"
    else
        echo "no bundled model yet: an int8 model of the default architecture, random weights, ${SIZE}x${SIZE}"
        TF_USE_LEGACY_KERAS=1 "$HOST_PYTHON" "$SCRIPT_DIR/make_test_model.py" "$WORK/model" --size "$SIZE"
        MODEL=$WORK/model/edge-random-int8-$SIZE.tflite
    fi
fi
if [[ -z $PHOTO ]]; then
    PHOTO=$WORK/model/astronaut-gray.jpg
    [[ -f $PHOTO ]] || TF_USE_LEGACY_KERAS=1 "$HOST_PYTHON" "$SCRIPT_DIR/make_test_model.py" "$WORK/model" --size "$SIZE"
fi
rm -rf "$ROOT/tmp/check"; mkdir -p "$ROOT/tmp/check/in"
cp "$MODEL" "${MODEL%.tflite}.json" "$SCRIPT_DIR/raw_invoke.py" "$SCRIPT_DIR/check_output.py" \
    "$SCRIPT_DIR/no_tensorflow.py" "$ROOT/tmp/check/"
cp "$PHOTO" "$REPO/edgecolor/assets/demo/street.mp4" "$ROOT/tmp/check/in/"
# Step e: two of the bundled black-and-white photos and the bundled clip, as a user has them.
DEMO_PHOTOS=(horses.jpg macaw.jpg)
mkdir -p "$ROOT/tmp/check/demo"
for photo in "${DEMO_PHOTOS[@]}" street.mp4; do
    cp "$REPO/edgecolor/assets/demo/$photo" "$ROOT/tmp/check/demo/"
done
if (( RUN_TESTS )) && [[ ! -d $ROOT/tmp/check-pytest/skimage ]]; then
    # pytest, and scikit-image for the fringe test's textures (the dev extra's), for step f:
    # beside the venv, not in it (the venv stays as install.sh left it), held to the venv's
    # numpy and Pillow. --no-compile: byte-compiling scipy under emulation takes minutes.
    in_root "$VENV_PYTHON" -c 'import numpy, PIL; print(f"numpy=={numpy.__version__}\npillow=={PIL.__version__}")' \
        > "$ROOT/tmp/check-constraints.txt"
    rm -rf "$ROOT/tmp/check-pytest"
    in_root "$VENV_PYTHON" -m pip --disable-pip-version-check install -q --only-binary=:all: \
        --no-compile --target /tmp/check-pytest -c /tmp/check-constraints.txt pytest scikit-image
    # pip --target ignores what is installed and adds its own numpy and Pillow (of the
    # versions above); removed, so the tests import the venv's, as edgecolor does.
    rm -rf "$ROOT"/tmp/check-pytest/{numpy,numpy.libs,PIL,pillow.libs} \
        "$ROOT"/tmp/check-pytest/[Nn]umpy-*.dist-info "$ROOT"/tmp/check-pytest/[Pp]illow-*.dist-info
fi
LIVE_FRAMES=8
MODEL_IN_ROOT=/tmp/check/$(basename "$MODEL")
PHOTO_IN_ROOT=/tmp/check/in/$(basename "$PHOTO")
"$HOST_PYTHON" "$SCRIPT_DIR/raw_invoke.py" "$MODEL" "$WORK/host-output.npy" xnnpack 2>/dev/null

# A fake /proc/cpuinfo per board: as many cores as /sys shows, with the board's ARM part
# number and features.
fake_cpuinfo() {  # part variant revision "features" "model"
    local index
    for index in $(seq 0 $(( $(nproc) - 1 ))); do
        printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$index" "$4"
        printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$2" "$1" "$3"
    done
    printf 'Model\t\t: %s\n' "$5"
}
fake_cpuinfo 0xd08 0x0 3 "fp asimd evtstrm crc32 cpuid" "Raspberry Pi 4 Model B (emulated)" \
    > "$WORK/cpuinfo-pi4"
fake_cpuinfo 0xd0b 0x4 1 "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" \
    "Raspberry Pi 5 Model B (emulated)" > "$WORK/cpuinfo-pi5"

SKIPPED=()
for board in pi4:cortex-a72 pi5:cortex-a76; do
    name=${board%%:*}; QEMU_CPU_MODEL=${board##*:}
    step "As a Raspberry Pi ${name#pi} (QEMU_CPU=$QEMU_CPU_MODEL)"
    if mountpoint -q "$ROOT/proc/cpuinfo"; then umount "$ROOT/proc/cpuinfo"; fi
    mount --bind "$WORK/cpuinfo-$name" "$ROOT/proc/cpuinfo"

    timed in_root /opt/edgecolor/venv/bin/python /tmp/check/raw_invoke.py "$MODEL_IN_ROOT" \
        "/tmp/check/output-$name.npy" xnnpack 2>/dev/null
    "$HOST_PYTHON" "$SCRIPT_DIR/check_output.py" compare "$WORK/host-output.npy" \
        "$ROOT/tmp/check/output-$name.npy"

    if ! in_root edgecolor colorize --help >/dev/null 2>&1; then
        echo "SKIPPED: this edgecolor has no 'colorize' command yet"
        SKIPPED+=("colorize as $name")
        continue
    fi
    rm -rf "$ROOT/tmp/check/out"
    timed in_root edgecolor colorize "$PHOTO_IN_ROOT" -o /tmp/check/out --model "$MODEL_IN_ROOT"
    in_root /opt/edgecolor/venv/bin/python /tmp/check/check_output.py colorized "$PHOTO_IN_ROOT" \
        "/tmp/check/out/$(basename "${PHOTO%.*}")"

    # The live loop on a video file, recorded: apt's OpenCV (decode, encode) in the venv.
    if ! in_root edgecolor live --help >/dev/null 2>&1; then
        echo "SKIPPED: this edgecolor has no 'live' command yet"
        SKIPPED+=("live as $name")
        continue
    fi
    rm -f "$ROOT/tmp/check/live.avi"
    # --segment-minutes 0: one file, live.avi (by default a recording is cut into
    # live-0001.avi, live-0002.avi, ... of 5 minutes each).
    timed in_root edgecolor live --source /tmp/check/in/street.mp4 --frames "$LIVE_FRAMES" \
        --record /tmp/check/live.avi --segment-minutes 0 --no-overlay --model "$MODEL_IN_ROOT"
    in_root /opt/edgecolor/venv/bin/python /tmp/check/check_output.py video \
        /tmp/check/in/street.mp4 /tmp/check/live.avi "$LIVE_FRAMES"
    # The live loop's own join (its first frames above join exactly while the tables build)
    in_root /opt/edgecolor/venv/bin/python /tmp/check/check_output.py video-mode \
        "$MODEL_IN_ROOT" /tmp/check/in/street.mp4

    # e. As a user runs it: the bundled model (no --model), photos and a video, no TensorFlow.
    rm -rf "$ROOT/tmp/check/demo-out"
    demo_inputs=()
    for photo in "${DEMO_PHOTOS[@]}"; do demo_inputs+=("/tmp/check/demo/$photo"); done
    timed in_root bash -c 'cd /home/pi && "$@"' - "$VENV_PYTHON" /tmp/check/no_tensorflow.py \
        colorize "${demo_inputs[@]}" -o /tmp/check/demo-out
    for photo in "${DEMO_PHOTOS[@]}"; do
        in_root "$VENV_PYTHON" /tmp/check/check_output.py colorized "/tmp/check/demo/$photo" \
            "/tmp/check/demo-out/${photo%.*}"
    done
    timed in_root bash -c 'cd /home/pi && "$@"' - "$VENV_PYTHON" /tmp/check/no_tensorflow.py \
        colorize /tmp/check/demo/street.mp4 -o /tmp/check/demo-out
    in_root "$VENV_PYTHON" /tmp/check/check_output.py colorized-video /tmp/check/demo/street.mp4 \
        /tmp/check/demo-out/street.mp4

    # f. The bundled model's tests, on the installed package (run from outside the checkout,
    # so `import edgecolor` finds the venv's copy; the tests folder is the checkout's).
    if (( RUN_TESTS )); then
        timed in_root env PYTHONPATH=/tmp/check-pytest bash -c 'cd /tmp && "$@"' - \
            "$VENV_PYTHON" -m pytest -q -p no:cacheprovider \
            /home/pi/edgecolor/tests/test_bundled_model.py
    fi
done
umount "$ROOT/proc/cpuinfo"

echo
if (( ${#SKIPPED[@]} )); then
    echo "arm64 check INCOMPLETE: skipped ${SKIPPED[*]}. The root stays in $ROOT."
    exit 3
fi
echo "arm64 check passed on $RELEASE. The root stays in $ROOT (delete it with: rm -rf $ROOT)."
