"""Where a Coral is attached and what keeps it from working, without loading libedgetpu.

Looks at /dev, the USB and PCI buses in sysfs, the kernel's page size and this boot's id:
cheap enough for every start. :mod:`~edgecolor.device.runtime.edgetpu` uses it to skip a
probe when no Coral is there, to name the fix for a PCIe Coral that cannot be used, and to
trust a stored probe success only in the same boot and the same attachment.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from pathlib import Path

# Where a Coral shows up on Linux, without loading libedgetpu: the M.2 / mini-PCIe card's
# driver (gasket + apex) makes /dev/apex_N; the USB Accelerator enumerates as 1a6e:089a
# until libedgetpu uploads its firmware, then as 18d1:9302 (libedgetpu's udev rules).
DEV_DIR = Path("/dev")
USB_DEVICES_DIR = Path("/sys/bus/usb/devices")
CORAL_USB_IDS = frozenset({("1a6e", "089a"), ("18d1", "9302")})
# The M.2 / mini-PCIe Coral on the PCI bus (Global Unichip 1ac1:089a), seen with or without
# its driver: gasket-dkms's apex module turns it into /dev/apex_N (group apex, mode 0660).
PCI_DEVICES_DIR = Path("/sys/bus/pci/devices")
CORAL_PCI_IDS = frozenset({("0x1ac1", "0x089a")})
# The apex driver works with 4 KiB memory pages only; a Raspberry Pi 5 boots a 16 KiB-page
# kernel (kernel_2712.img) unless config.txt says kernel=kernel8.img.
APEX_PAGE_SIZE = 4096
INSTALL_CORAL_PCIE = "sudo device/install.sh --coral-pcie  (see device/README.md, PCIe Coral)"
# Set to 0 to skip that check and always probe (a Coral attached in a way it cannot see).
EDGETPU_CHECK_ENV = "EDGECOLOR_EDGETPU_CHECK"


def edgetpu_attached() -> bool | None:
    """Whether a Coral is attached: True, False, or None when this system cannot tell.

    A cheap look at /dev and the USB bus in sysfs, so that a Pi with libedgetpu installed
    and the accelerator unplugged does not start a probe child on every run. None (not
    Linux, no sysfs USB bus as in some containers, or ``EDGECOLOR_EDGETPU_CHECK=0``) means
    "probe and see".
    """
    if os.environ.get(EDGETPU_CHECK_ENV, "1") == "0":
        return None
    if platform.system() != "Linux" or not USB_DEVICES_DIR.is_dir():
        return None
    if any(DEV_DIR.glob("apex_*")) or pcie_coral_present():
        return True
    return _bus_has(USB_DEVICES_DIR, ("idVendor", "idProduct"), CORAL_USB_IDS)


def pcie_coral_present() -> bool:
    """Whether a PCIe / M.2 Coral is on the PCI bus (sysfs), driver loaded or not."""
    return PCI_DEVICES_DIR.is_dir() and _bus_has(
        PCI_DEVICES_DIR, ("vendor", "device"), CORAL_PCI_IDS
    )


def _bus_has(bus: Path, id_files: tuple[str, str], wanted: frozenset) -> bool:
    """Whether a device folder under sysfs ``bus`` holds ids in ``wanted`` (its ``id_files``)."""
    return any(ids in wanted for _, ids in _devices_with(bus, id_files))


def _devices_with(bus: Path, files: tuple[str, ...]) -> Iterator[tuple[Path, tuple[str, ...]]]:
    """Each device folder under sysfs ``bus`` (in name order) that has all of ``files``,
    with their contents (stripped, lower case); none when the bus cannot be listed."""
    try:
        devices = sorted(bus.iterdir())
    except OSError:
        return
    for device in devices:
        try:
            contents = tuple(
                (device / name).read_text(encoding="ascii").strip().lower() for name in files
            )
        except (OSError, UnicodeDecodeError):  # interfaces and hubs' ports have no IDs
            continue
        yield device, contents


def _page_size() -> int:
    """This kernel's memory page size in bytes (4096 on most; 16384 on a Pi 5's default)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # not POSIX
        return APEX_PAGE_SIZE


def _process_identity() -> tuple[int, set[int]]:
    """(effective uid, every group id this process has) - what the kernel checks on open."""
    return os.geteuid(), {os.getegid(), *os.getgroups()}


def _may_read_write(path: Path, uid: int, groups: set[int]) -> bool:
    """Whether ``uid`` with ``groups`` may open ``path`` read-write, from its mode bits.

    The mode bits, not os.access, so that the answer is the one for the identity given
    (the service user) and not root's; gasket's udev rule sets a group and a mode, no ACL.
    """
    try:
        status = path.stat()
    except OSError:
        return False
    if uid == 0:
        return True
    if status.st_uid == uid:
        bits = status.st_mode >> 6
    elif status.st_gid in groups:
        bits = status.st_mode >> 3
    else:
        bits = status.st_mode
    return bits & 0o6 == 0o6


def pcie_coral_problem(identity: tuple[int, set[int]] | None = None) -> str | None:
    """Why a PCIe Coral present here cannot be used, as one line with the fix; None if no problem.

    Looks at /dev/apex_*, the PCI bus and the page size, without loading libedgetpu:

    * /dev/apex_0 that this process (``identity``: uid and group ids; default this process's)
      cannot open read-write: not in the ``apex`` group;
    * a 16 KiB-page kernel (a Raspberry Pi 5's default) with a PCIe Coral: the apex driver
      needs 4 KiB pages (``kernel=kernel8.img``, then a reboot);
    * a PCIe Coral on the bus but no /dev/apex_*: the gasket / apex driver is not loaded.
    """
    uid, groups = identity or _process_identity()
    apex_devices = sorted(DEV_DIR.glob("apex_*"))
    problems = []
    for device in apex_devices:
        if not _may_read_write(device, uid, groups):
            problems.append(
                f"permission denied on {device}: add the user to the apex group "
                "(sudo usermod -aG apex $USER, then log in again; the services get it from "
                "device/install.sh --coral-pcie --services)"
            )
            break
    on_pci_bus = pcie_coral_present()
    page_size = _page_size()
    if (apex_devices or on_pci_bus) and page_size != APEX_PAGE_SIZE:
        problems.append(
            f"this kernel uses {page_size // 1024} KiB memory pages and the Coral's apex "
            "driver needs 4 KiB ones (a Raspberry Pi 5 boots a 16 KiB kernel): put "
            "kernel=kernel8.img in /boot/firmware/config.txt (device/install.sh --coral-pcie "
            "does) and reboot"
        )
    elif on_pci_bus and not apex_devices:
        problems.append(
            "a PCIe Coral is on the PCI bus but there is no /dev/apex_0: the gasket / apex "
            f"driver is not loaded (lsmod | grep apex; {INSTALL_CORAL_PCIE})"
        )
    return "; ".join(problems) or None


NO_CORAL_FOUND = (
    "no Coral found (no /dev/apex_* and no USB device "
    + " or ".join(sorted(f"{vendor}:{product}" for vendor, product in CORAL_USB_IDS))
    + ")"
)


BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    """This boot's random id (Linux), None where there is none."""
    try:
        return BOOT_ID_FILE.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def coral_enumeration() -> list[str]:
    """Where the Coral is attached now: each USB Accelerator's sysfs name, bus and device
    number, each /dev/apex_N's device number and change time.

    A USB device gets a new device number each time it enumerates (plugged back, reset,
    its firmware loaded), so an Edge TPU that was re-enumerated since a probe shows up
    here as a change.
    """
    found = [
        f"usb {device.name} {':'.join(fields)}"
        for device, fields in _devices_with(
            USB_DEVICES_DIR, ("idVendor", "idProduct", "busnum", "devnum")
        )
        if fields[:2] in CORAL_USB_IDS
    ]
    for apex in sorted(DEV_DIR.glob("apex_*")):
        try:
            status = apex.stat()
        except OSError:
            continue
        found.append(f"{apex} {status.st_rdev} {status.st_ctime_ns}")
    return found
