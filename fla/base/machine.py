"""What the machine has for a run: memory available (``FLA_MEMORY_BYTES`` overrides it) and free
disk, checked by every long command before it allocates or writes (the walks' plan, slices, the
landscape study, connect)."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

from fla.base.errors import ConfigError


def available_bytes() -> int:
    """The memory available: MemAvailable from /proc/meminfo (Linux), else physical memory;
    ``FLA_MEMORY_BYTES`` overrides.

    Returns:
        Bytes.
    """
    if os.environ.get("FLA_MEMORY_BYTES"):
        value = os.environ["FLA_MEMORY_BYTES"]
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not (math.isfinite(number) and number > 0):
            raise ConfigError(
                f"FLA_MEMORY_BYTES must be a number of bytes > 0, got {value!r}; fix or unset it"
            )
        return int(number)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def free_disk_bytes(folder) -> int:
    """Free bytes on the file system of a folder (or of its nearest existing parent).

    Args:
        folder: the folder.

    Returns:
        Bytes.
    """
    folder = Path(folder).resolve()
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def check_disk(folder, need: float, what: str, *, fix: str) -> None:
    """Refuse a write that cannot fit on the disk.

    Args:
        folder: where it goes.
        need: a lower bound of the bytes written.
        what: what writes them, for the error.
        fix: what to change, for the error.

    Raises:
        ConfigError: ``need`` exceeds the free disk.
    """
    free = free_disk_bytes(folder)
    if need > free:
        raise ConfigError(
            f"{what} would write at least {human(need)} and {folder} has {human(free)} free; {fix}"
        )


def check_memory(need: float, what: str, fix: str) -> None:
    """Refuse work that cannot fit in memory.

    Args:
        need: the bytes it needs.
        what: what needs them, for the error.
        fix: what to change, for the error.

    Raises:
        ConfigError: ``need`` exceeds the memory available.
    """
    have = available_bytes()
    if need > 0.8 * have:
        raise ConfigError(
            f"{what} needs about {human(need)} of memory, {human(have)} is free; {fix}"
        )


def human(n: float) -> str:
    """A number of bytes as people read it.

    Args:
        n: bytes.

    Returns:
        E.g. ``"1.5 GiB"`` (binary units, one decimal).
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
