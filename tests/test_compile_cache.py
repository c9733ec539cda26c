"""The persistent compile cache (fla.base.compile_cache): what it loads is what it compiled, no
process ever reads a partial or damaged entry, and an entry is never handed to another TensorFlow,
CPU or XLA setting."""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fla.base import compile_cache

ROOT = Path(__file__).resolve().parents[1]


def test_namespace_holds_tensorflow_version_cpu_and_xla_flags_but_not_the_cache_directory(
    monkeypatch,
):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setenv("TF_XLA_FLAGS", "--tf_xla_persistent_cache_directory=/a")
    base = compile_cache.namespace()
    monkeypatch.setenv("TF_XLA_FLAGS", "--tf_xla_persistent_cache_directory=/b")
    # each process's private directory: one shared namespace
    assert compile_cache.namespace() == base
    changes = [
        ("setenv", "XLA_FLAGS", "--xla_cpu_enable_fast_math=true"),
        ("setenv", "TF_XLA_FLAGS", "--tf_xla_auto_jit=2"),
        ("setattr", "tensorflow_version", lambda: "0.0.1"),
        ("setattr", "cpu_signature", lambda: "x86_64 flags=avx512f"),
    ]
    for how, name, value in changes:
        with monkeypatch.context() as m:
            getattr(m, how)(*((compile_cache, name, value) if how == "setattr" else (name, value)))
            assert compile_cache.namespace() != base, name


def entry(text: bytes) -> bytes:
    """Bytes in the wire form of a cache entry (its three length-delimited fields)."""
    return b"".join(bytes([8 * field + 2, len(text)]) + text for field in (1, 2, 3))


def test_an_entry_is_well_formed_only_in_the_wire_form_of_a_cache_entry():
    good = entry(b"program")
    assert compile_cache.well_formed(good)
    assert not compile_cache.well_formed(good[:-1])  # truncated: the last field runs past the end
    assert not compile_cache.well_formed(good + b"\x00")  # trailing bytes
    assert not compile_cache.well_formed(entry(b"x")[:-3])  # two fields of three
    assert not compile_cache.well_formed(bytes([8 * 1 + 0, 5]) + good)  # a varint field
    assert not compile_cache.well_formed(entry(b"x") + bytes([8 * 4 + 2, 0]))  # a fourth field
    assert not compile_cache.well_formed(b"")


def test_a_process_reads_complete_entries_only_and_publishes_its_own_by_rename(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("FLA_COMPILE_CACHE", str(tmp_path))
    monkeypatch.setattr(compile_cache, "_STATE", {})
    monkeypatch.setenv(
        "TF_XLA_FLAGS", "--tf_xla_auto_jit=0 --tf_xla_persistent_cache_directory=/parent"
    )
    shared = tmp_path / compile_cache.namespace()
    shared.mkdir()
    (shared / "done.pb").write_bytes(entry(b"complete"))
    (shared / "done.pb.sha256").write_text(hashlib.sha256(entry(b"complete")).hexdigest())
    # a bit flipped after it was published
    (shared / "damaged.pb").write_bytes(entry(b"compiled herx"))
    (shared / "damaged.pb.sha256").write_text(hashlib.sha256(entry(b"compiled here")).hexdigest())
    (shared / "garbage.pb").write_bytes(b"garbage")  # written damaged: its checksum matches
    (shared / "garbage.pb.sha256").write_text(hashlib.sha256(b"garbage").hexdigest())
    (shared / "unchecked.pb").write_bytes(b"no checksum")
    (shared / ".half.pb.123.partial").write_bytes(b"half")  # another process is publishing it
    host = socket.gethostname()
    dead = shared / f".work-{host}-{2**22 + 12345}-x"  # above Linux's largest pid: never alive
    alive = shared / f".work-{host}-{os.getppid()}-x"
    recent = shared / f".work-{host}-{2**22 + 12346}-x"  # maybe another container's live process
    for d in (dead, alive, recent):
        d.mkdir()
    for d in (dead, alive):
        os.utime(d, (0, 0))

    # entries are the published programs: no partial copy, no checksum file, no private directory
    assert [p.name for p in compile_cache._entries(shared)] == [
        "damaged.pb",
        "done.pb",
        "garbage.pb",
        "unchecked.pb",
    ]
    private = compile_cache.enable()
    assert private.parent == shared and compile_cache.enable() == private
    assert sorted(p.name for p in private.iterdir()) == ["done.pb"]
    assert (
        os.environ["TF_XLA_FLAGS"]
        == f"--tf_xla_auto_jit=0 --tf_xla_persistent_cache_directory={private}"
    )
    assert not dead.exists() and alive.exists() and recent.exists()

    for name in ("new.pb", "damaged.pb", "garbage.pb"):  # compiled here: not loaded
        (private / name).write_bytes(entry(b"compiled here"))
    (private / "torn.pb").write_bytes(b"torn")  # no program: never published
    assert compile_cache.publish() == 3
    assert (
        (shared / "new.pb").read_bytes()
        == (shared / "damaged.pb").read_bytes()
        == (shared / "garbage.pb").read_bytes()
        == entry(b"compiled here")
    )
    assert compile_cache.publish() == 0
    assert sorted(p.name for p in shared.iterdir() if not p.name.startswith(".")) == [
        "damaged.pb",
        "damaged.pb.sha256",
        "done.pb",
        "done.pb.sha256",
        "garbage.pb",
        "garbage.pb.sha256",
        "new.pb",
        "new.pb.sha256",
        "unchecked.pb",
    ]
    compile_cache._close(os.getpid())
    assert not private.exists()


def test_off_removes_the_flag(monkeypatch):
    monkeypatch.setenv("FLA_COMPILE_CACHE", "off")
    monkeypatch.setattr(compile_cache, "_STATE", {})
    monkeypatch.setenv("TF_XLA_FLAGS", "--tf_xla_persistent_cache_directory=/parent")
    assert compile_cache.enable() is None
    assert "TF_XLA_FLAGS" not in os.environ


def test_no_cache_where_an_entry_could_not_be_written(tmp_path, monkeypatch):
    """TensorFlow fails the compilation when it cannot write an entry: such a process compiles
    uncached."""
    monkeypatch.setenv("FLA_COMPILE_CACHE", str(tmp_path))
    monkeypatch.setattr(compile_cache, "_STATE", {})
    monkeypatch.setenv("TF_XLA_FLAGS", "--tf_xla_persistent_cache_directory=/parent")
    assert compile_cache._writable(tmp_path)
    free = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        shutil, "disk_usage", lambda p: free._replace(free=compile_cache.MIN_FREE_BYTES - 1)
    )
    assert compile_cache.enable() is None
    assert "TF_XLA_FLAGS" not in os.environ and not list(tmp_path.glob("*/.work-*"))
    # a file-size limit (tests/test_failures.py::test_disk_full_is_one_line_and_leaves_nothing runs
    # under one)


def test_a_program_traced_under_stable_names_is_named_alike_whatever_was_traced_before(monkeypatch):
    import tensorflow as tf

    spec = tf.TensorSpec([3], tf.float32)

    def traced_name(history: int, stable: bool) -> str:
        for _ in range(history):  # other programs traced first, as in another worker
            tf.function(lambda x: x + 1.0, autograph=False).get_concrete_function(spec)
        monkeypatch.setattr(compile_cache, "_COUNTERS", {})  # a fresh process's counters
        f = tf.function(
            lambda x: tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 2.0), (0, x))[1],
            autograph=False,
        )
        if not stable:
            return f.get_concrete_function(spec).name
        with compile_cache.stable_names("test", 1):
            return f.get_concrete_function(spec).name

    assert traced_name(0, True) == traced_name(3, True)
    # what the cache's key would see otherwise
    assert traced_name(0, False) != traced_name(3, False)
    with compile_cache.stable_names("test", 1):  # a second trace in one process: a name of its own
        again = tf.function(lambda x: x * 3.0, autograph=False).get_concrete_function(spec).name
    assert again != traced_name(0, True)


def run_sample(out: Path, cache: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fla.cli",
            "sample",
            "xor",
            "--width",
            "3",
            "--depth",
            "1",
            "--granularity",
            "macro",
            "--bound",
            "1",
            "--walks",
            "20",
            "--steps",
            "30",
            "--hessian",
            "exact",
            "--hessian-at",
            "every:10",
            "-q",
            "--out",
            str(out),
        ],
        check=True,
        cwd=ROOT,
        env={**os.environ, "FLA_COMPILE_CACHE": str(cache)},
    )


@pytest.mark.slow
def test_a_warm_cache_loads_every_program_and_gives_bitwise_the_walks_of_a_cold_one(tmp_path):
    cache = tmp_path / "cache"
    run_sample(tmp_path / "cold", cache)
    entries = sorted(p.name for p in cache.glob("*/*.pb"))
    assert entries, "the cold run published no compiled program"
    assert not list(cache.glob("*/.work-*")), "a finished process left its private directory"
    mtimes = {p: p.stat().st_mtime_ns for p in cache.glob("*/*.pb")}
    run_sample(tmp_path / "warm", cache)
    assert {
        p: p.stat().st_mtime_ns for p in cache.glob("*/*.pb")
    } == mtimes  # loaded, none compiled
    # truncated outside fla: TensorFlow would fail the compilation that loads it
    damaged = max(mtimes)
    damaged.write_bytes(damaged.read_bytes()[:100])
    run_sample(tmp_path / "mended", cache)  # compiled anew, and the entry replaced
    assert compile_cache._intact(damaged) and damaged.stat().st_size > 100
    for name in ("points.parquet", "endpoints.parquet"):
        cold, *others = (
            pd.read_parquet(tmp_path / run / name) for run in ("cold", "warm", "mended")
        )
        for other in others:
            pd.testing.assert_frame_equal(cold, other, check_exact=True)
