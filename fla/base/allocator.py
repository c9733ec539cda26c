"""glibc malloc settings that keep each step's freed buffers for the next step.

XLA:CPU allocates a compiled step's large temporaries (the gradient and Delta blocks, [walks, D]
float32: 32 MB for 1000 MNIST 784-10-10 walks) with ``malloc`` and frees them when the step ends.
glibc serves a request above its mmap threshold with freshly mapped pages and unmaps them on
``free`` (the threshold adapts upwards to at most 32 MB on 64-bit systems, ``mallopt(3)``), and it
returns a heap's free top to the system above its trim threshold. Either way the next step
page-faults and zeroes its buffers anew (``python bench/bench_walks.py``, run with and without
``FLA_MALLOC=system``, shows what that costs the MNIST 784-10-10 shared step).

``keep_freed_buffers`` raises both thresholds to the largest value ``mallopt`` takes, so that
freed buffers stay in the process and are reused. The cost is memory: the process keeps its peak
heap instead of returning freed pages (``fla``'s memory estimate, ``fla.walks.resources``,
already counts the peak). Results do not change: only where buffers live does.

``fla``'s command line and sweep workers call it first thing; a Python user who runs walks calls it
once. It does nothing when the C library is not glibc, when ``FLA_MALLOC=system``, or when the
process was started with its own malloc thresholds (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_`` or ``glibc.malloc`` tunables in ``GLIBC_TUNABLES``), which it respects.
dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; ``fla sweep --backend dask``
starts its own local cluster without it (``fla.studies.sweep.run_dask``).
"""

from __future__ import annotations

import ctypes
import os

from fla.base.errors import ConfigError

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3
THRESHOLD = 2**31 - 1  # mallopt's value is a C int
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
_STATE = {}


def _glibc():
    """The process's C library if it is glibc, else None."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        return libc
    except (OSError, AttributeError):
        return None


def _user_has_set_it() -> bool:
    return any(
        os.environ.get(name) for name in _USER_SETTINGS
    ) or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "")


def keep_freed_buffers() -> str:
    """Raise glibc's mmap and trim thresholds (once per process), so that freed buffers are kept for
    the next set rather than returned to the system and faulted in again.

    Returns:
        ``setting()``, what the allocator now does.

    Raises:
        ConfigError: ``FLA_MALLOC`` set to anything but ``system``.
    """
    choice = os.environ.get("FLA_MALLOC", "")
    if choice.lower() not in ("", "system"):
        raise ConfigError(
            f"FLA_MALLOC must be 'system' (glibc's default thresholds) or unset, got {choice!r}"
        )
    if os.getpid() not in _STATE:
        libc = _glibc()
        if choice.lower() == "system":
            _STATE[os.getpid()] = "system default (FLA_MALLOC=system)"
        elif libc is None:
            _STATE[os.getpid()] = "system default (not glibc)"
        elif _user_has_set_it():
            _STATE[os.getpid()] = "glibc, thresholds from the environment"
        elif libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD) and libc.mallopt(
            M_TRIM_THRESHOLD, THRESHOLD
        ):
            _STATE[os.getpid()] = (
                f"glibc, mmap and trim thresholds {THRESHOLD} (fla.base.allocator)"
            )
        else:
            _STATE[os.getpid()] = "system default (mallopt refused)"
    return setting()


def setting() -> str:
    """What this process's allocator does, in words, for a run's metadata.

    Returns:
        E.g. ``system default (not glibc)``.
    """
    return _STATE.get(os.getpid(), "system default")
