"""fla.base.allocator: freed large buffers stay in the process (glibc), unless the user chose
otherwise."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fla.base import allocator

pytestmark = pytest.mark.skipif(allocator._glibc() is None, reason="glibc's mallopt only")

PROBE = """
import ctypes
from fla.base import allocator
print(allocator.keep_freed_buffers())
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
def heap_mb():
    for line in open("/proc/self/maps"):
        if "[heap]" in line:
            start, end = (int(a, 16) for a in line.split()[0].split("-"))
            return (end - start) >> 20
    return 0
before = heap_mb()
libc.malloc(100 << 20)
print("heap" if heap_mb() - before >= 100 else "mapped")
"""


def probe(**env) -> list[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MALLOC_", "GLIBC_TUNABLES", "FLA_MALLOC"))
    }
    environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split("\n")[:2]


def test_a_100_mb_buffer_comes_from_the_heap_only_when_fla_raised_the_thresholds():
    assert probe() == [
        f"glibc, mmap and trim thresholds {allocator.THRESHOLD} (fla.base.allocator)",
        "heap",
    ]
    assert probe(FLA_MALLOC="system") == ["system default (FLA_MALLOC=system)", "mapped"]
    # the user's own thresholds are kept: a trim threshold alone leaves 100 MB above the mmap
    # threshold
    assert probe(MALLOC_TRIM_THRESHOLD_="1000000") == [
        "glibc, thresholds from the environment",
        "mapped",
    ]


def test_a_mistyped_setting_is_refused_with_the_fix(monkeypatch, capsys, tmp_path):
    from fla.cli import main

    monkeypatch.setenv("FLA_MALLOC", "sytem")
    assert (
        main(
            [
                "sample",
                "xor",
                "--width",
                "2",
                "--depth",
                "1",
                "--granularity",
                "macro",
                "--bound",
                "1",
                "--walks",
                "2",
                "--steps",
                "2",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 2
    )
    assert (
        "FLA_MALLOC must be 'system'" in capsys.readouterr().err and not (tmp_path / "run").exists()
    )
