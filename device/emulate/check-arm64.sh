#!/usr/bin/env bash
# Functional check of device/install.sh and `edgecolor colorize` on arm64 Debian Bookworm,
# emulated with qemu user mode on an x86-64 Debian/Ubuntu host. Not timing (emulation is
# 10-50x slower than a Pi), not CI: a manual step before a release. Needs root and ~1.5 GB.
#
#   sudo device/emulate/check-arm64.sh [--root DIR] [--mirror URL] [--model FILE.tflite]
#                                      [--photo FILE] [--size N] [--keep-mounts]
#
# What it does, each step skipped when already done (so a re-run takes minutes):
#  1. host: qemu-user-static, binfmt-support, debootstrap; binfmt_misc mounted and
#     qemu-aarch64 registered (with the F flag: the chroot needs no qemu binary inside);
#  2. debootstrap --arch=arm64 --foreign bookworm ROOT MIRROR, then the second stage in
#     a chroot (about 10 minutes);
#  3. inside: python3, python3-venv, python3-numpy (Debian's numpy 1.24, like the Pi's);
#     the host's CA bundle for pip (for hosts behind a TLS-inspecting proxy);
#  4. a wheel of this checkout, then device/install.sh --no-camera --services WHEEL
#     (no python3-picamera2: it is only in the Raspberry Pi repository);
#  5. edgecolor --version, and edgecolor colorize of a grayscale photo with --model: the
#     bundled default model when edgecolor/assets has one, else an int8 model of the
#     default architecture with random weights (device/emulate/make_test_model.py);
#     then checks that the output has the input's size and luminance.
# Results are in device/README.md ("Emulated arm64 check").

set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$SCRIPT_DIR/../.." && pwd)
ROOT=/var/tmp/edgecolor-arm64-root
MIRROR=""
MODEL=""
PHOTO=""
SIZE=256
KEEP_MOUNTS=0
WORK=/var/tmp/edgecolor-arm64-work     # host side: wheel, test model, photo

while (( $# )); do
    case $1 in
        --root) ROOT=${2:?}; shift ;;
        --mirror) MIRROR=${2:?}; shift ;;
        --model) MODEL=$(realpath -- "${2:?}"); shift ;;
        --photo) PHOTO=$(realpath -- "${2:?}"); shift ;;
        --size) SIZE=${2:?}; shift ;;
        --keep-mounts) KEEP_MOUNTS=1 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (debootstrap, chroot and mounts need it)"
[[ $(uname -m) == x86_64 ]] || die "this emulates arm64 on an x86-64 host"

# A clean environment inside the chroot: the host's pip settings (find-links, local
# indexes) point at x86-64 files that do not exist in there.
in_root() {
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt SSL_CERT_FILE=/etc/ssl/certs/host-ca-bundle.crt \
        PIP_DEFAULT_TIMEOUT=180 \
        chroot "$ROOT" "$@"
}

# ------------------------------------------------------------------------------ 1. host
step "Host: qemu-user-static, binfmt-support, debootstrap"
if ! command -v debootstrap >/dev/null || [[ ! -x /usr/bin/qemu-aarch64-static ]]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-user-static binfmt-support debootstrap
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
step "arm64 Bookworm root in $ROOT"
if [[ -f $ROOT/etc/debian_version && ! -d $ROOT/debootstrap ]]; then
    echo "exists: Debian $(cat "$ROOT/etc/debian_version") ($(chroot "$ROOT" dpkg --print-architecture))"
else
    if [[ ! -d $ROOT/debootstrap ]]; then
        mkdir -p "$ROOT"
        debootstrap --arch=arm64 --foreign --include=ca-certificates bookworm "$ROOT" "$MIRROR"
    fi
    echo "second stage (about 10 minutes under emulation)"
    chroot "$ROOT" /debootstrap/debootstrap --second-stage
fi
[[ $(chroot "$ROOT" uname -m) == aarch64 ]] || die "the chroot does not run as aarch64"

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
cat > "$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF

# ------------------------------------------------------------------------------ 3. python
step "Python inside the root (Debian's numpy, as on Raspberry Pi OS)"
in_root apt-get update -q
in_root apt-get install -y -q --no-install-recommends python3 python3-venv python3-numpy
in_root python3 -c 'import numpy, platform, sys; print("python", sys.version.split()[0], platform.machine(), "numpy", numpy.__version__)'

# ------------------------------------------------------------------------------ 4. install
step "A wheel of $REPO"
HOST_PYTHON=$REPO/.venv/bin/python
[[ -x $HOST_PYTHON ]] || HOST_PYTHON=python3
rm -rf "$WORK/wheels"; mkdir -p "$WORK/wheels"
"$HOST_PYTHON" -m pip wheel --no-deps --no-build-isolation -q -w "$WORK/wheels" "$REPO" \
    || "$HOST_PYTHON" -m pip wheel --no-deps -q -w "$WORK/wheels" "$REPO"
WHEEL=$(ls "$WORK"/wheels/edgecolor-*.whl)
echo "$WHEEL"

rm -rf "$ROOT/opt/edgecolor-src"; mkdir -p "$ROOT/opt/edgecolor-src/wheels"
cp -r "$REPO/device" "$ROOT/opt/edgecolor-src/device"
cp "$WHEEL" "$ROOT/opt/edgecolor-src/wheels/"
step "device/install.sh --no-camera --services (inside the root)"
in_root bash /opt/edgecolor-src/device/install.sh --no-camera --services \
    "/opt/edgecolor-src/wheels/$(basename "$WHEEL")"

# ------------------------------------------------------------------------------ 5. colorize
step "edgecolor colorize on arm64"
in_root edgecolor --version
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
cp "$MODEL" "${MODEL%.tflite}.json" "$ROOT/tmp/check/"
cp "$PHOTO" "$ROOT/tmp/check/in/"
in_root edgecolor colorize "/tmp/check/in/$(basename "$PHOTO")" -o /tmp/check/out \
    --model "/tmp/check/$(basename "$MODEL")"
in_root /opt/edgecolor/venv/bin/python - "/tmp/check/in/$(basename "$PHOTO")" \
    "/tmp/check/out/$(basename "${PHOTO%.*}")" <<'EOF'
"""The colorized file exists, has the input's size, and keeps the input's luminance."""
import glob
import sys

import numpy as np
from PIL import Image

from edgecolor import color

source, output_stem = sys.argv[1], sys.argv[2]
outputs = glob.glob(output_stem + ".*")
assert len(outputs) == 1, f"expected one output for {output_stem}, found {outputs}"
original = Image.open(source)
colorized = Image.open(outputs[0])
assert colorized.size == original.size, (colorized.size, original.size)
gray = np.asarray(original.convert("L"), np.float32) / 255.0
rgb = np.asarray(colorized.convert("RGB"), np.float32) / 255.0
L_in = color.gray_to_luminance(gray)
L_out = color.rgb_to_lab(rgb)[..., 0]
difference = np.abs(L_out - L_in)
chroma = np.hypot(*np.moveaxis(color.rgb_to_lab(rgb)[..., 1:], -1, 0))
print(f"output {outputs[0]}: {colorized.size} {colorized.mode}; "
      f"L difference mean {difference.mean():.2f}, p99 {np.percentile(difference, 99):.2f}; "
      f"mean chroma {chroma.mean():.1f}")
# JPEG rounding and 8-bit RGB quantization move L by a few units at most.
assert np.percentile(difference, 99) < 3.0, "the colorized image does not keep the input's luminance"
print("PASS: size and luminance kept")
EOF
echo
echo "arm64 check passed. The root stays in $ROOT (delete it with: rm -rf $ROOT)."
