#!/usr/bin/env bash
# edgecolor's device runtime on both bases of 64-bit Raspberry Pi OS, emulated on an x86-64
# machine: Debian 13 Trixie (Python 3.13; Raspberry Pi Imager's default) and Debian 12
# Bookworm (Python 3.11), arm64, each as a Pi 4 (QEMU_CPU=cortex-a72) and as a Pi 5
# (cortex-a76). It runs device/emulate/check-arm64.sh once per release; that script's
# header lists every step (mmdebstrap, README's `sudo device/install.sh --services`,
# raw int8 invoke against x86-64, `edgecolor colorize` of bundled photos and the bundled
# clip with no TensorFlow import, `edgecolor live`, tests/test_bundled_model.py).
#
#   sudo device/emulated_pi_check.sh [--dir DIR] [--release trixie|bookworm] [CHECK OPTIONS]
#
# Needs: an x86-64 Debian or Ubuntu host, root (debootstrap, chroot, bind mounts,
# binfmt_misc), access to a Debian mirror and PyPI (apt installs qemu-user-static,
# binfmt-support, mmdebstrap and debootstrap on the host), about 2 GB per release under
# DIR (default /var/tmp/edgecolor-pi; keep it outside the repository), and the
# repository's x86-64 Python (HOST_PYTHON, default the checkout's .venv/bin/python): the
# reference invoke needs ai-edge-litert, and the first run makes its 512x512 test photo
# with TensorFlow and scikit-image there (on the host only; pass --photo FILE to skip).
#
# How long (measured on a 2-core build machine, the check pinned to one core at nice 19
# beside a training: `HOST_PYTHON=.../python nice -n 19 taskset -c 1 device/emulated_pi_check.sh
# --dir /work/pi`): the first time, measured step by step over several runs, the root
# takes 7-8 minutes, the first install.sh 7 minutes (Bookworm) to 21 (Trixie, part of it
# sharing its core; apt's OpenCV is most of it), pytest and scikit-image for the tests a
# few, the checks 3-5: about half an hour per release. Then 7 minutes (Trixie) and 4
# (Bookworm) on the existing roots. The timings the checks print are emulated wall times, hundreds of times
# a Pi's: they say nothing about a Pi's speed (docs/pi-projection.md does).
#
# Idempotent: a root that exists is reused (only apt, pip and the checks run again);
# delete DIR to start from nothing. Each release's output also goes to DIR/RELEASE.log.
# Exit status: 0 when every release passed, 1 otherwise (the logs say which step failed).
# Results are in device/README.md ("Checked under emulation").

set -uo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
DIR=/var/tmp/edgecolor-pi
RELEASES=(trixie bookworm)
PASS_ON=()
while (( $# )); do
    case $1 in
        --dir) DIR=${2:?--dir needs a folder}; shift ;;
        --release) RELEASES=("${2:?--release needs trixie or bookworm}"); shift ;;
        -h|--help) sed -n '2,/^$/p' "$0"; exit 0 ;;
        *) PASS_ON+=("$1") ;;
    esac
    shift
done
[[ $EUID -eq 0 ]] || { echo "run as root (sudo $0)" >&2; exit 2; }
mkdir -p -- "$DIR"

declare -A RESULT
for release in "${RELEASES[@]}"; do
    start=$SECONDS
    "$SCRIPT_DIR/emulate/check-arm64.sh" --release "$release" --root "$DIR/$release" \
        "${PASS_ON[@]}" 2>&1 | tee "$DIR/$release.log"
    status=${PIPESTATUS[0]}
    RESULT[$release]="exit $status after $(( (SECONDS - start) / 60 )) min"
done

echo
failed=0
for release in "${RELEASES[@]}"; do
    echo "$release: ${RESULT[$release]} (log: $DIR/$release.log)"
    [[ ${RESULT[$release]} == "exit 0 "* ]] || failed=1
done
exit "$failed"
