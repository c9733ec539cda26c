"""Persistent XLA compilation cache: a walk program compiled once is reused by later processes.

TensorFlow's JIT can save each compiled cluster to ``--tf_xla_persistent_cache_directory`` and load
it in a later process that builds the same HLO module (the file name holds the module's fingerprint
and TensorFlow compares the whole module before loading; tensorflow/compiler/jit/
device_executable_persistor.h). A sweep's workers and a user's later sweeps then skip the XLA
compilations (seconds per architecture) that every process otherwise repeats.

Used as TensorFlow ships it, the cache has these hazards, which this module closes:

- TensorFlow writes an entry in place and fails the compilation (no fallback) when it reads an entry
  it cannot parse, e.g. one another worker is still writing. So each process reads and writes a
  private directory, seeded with hard links to the shared entries when it starts; its new entries
  are published to the shared directory by copy and atomic rename (``publish``) after each task.
- The key does not hold the TensorFlow version, the CPU's instruction set or ``XLA_FLAGS``, each of
  which changes the machine code. So the shared directory is one namespace per combination of the
  three (``namespace``): a cache on a cluster's shared disk never hands AVX-512 code to a CPU
  without it.
- The key holds the traced function's name, which TensorFlow numbers with a process-wide counter,
  so a program's key would depend on what the process traced before it (a sweep's worker on 2 cores
  traces a different sequence from a worker on 1). Programs traced in ``stable_names`` take
  their numbers from a range of their own, so the n-th trace of a program is named alike in every
  process. Correctness never rests on this: a wrong name can only miss the cache, since TensorFlow
  compares the whole HLO module before it loads an entry.
- TensorFlow fails the compilation too when an entry is damaged after it was written (a truncated
  copy of a cache, a bad disk): it does not check what it loads. So each entry is published with its
  SHA-256, and a process seeds its private directory only with entries that match theirs and
  have the wire form of a cache entry (``_intact``, ``well_formed``); any other is compiled anew
  and replaced when published.
- TensorFlow also fails the compilation when it cannot write an entry (a full disk, a quota, a
  file-size limit), which would end a run that could have written its results elsewhere. So a
  process uses the cache only when it can write there: no file-size limit, 1 GB free, and a 4 MB
  probe written and synced (``_writable``); otherwise it compiles as if the cache were off.
- TensorFlow reads its flags once, at its first compilation. So ``enable`` must run before it;
  ``fla``'s command line and sweep workers call it first thing.

The loaded executable is the compiled one, byte for byte: results are bitwise those of a process
that compiled (``tests/test_compile_cache.py``). ``FLA_COMPILE_CACHE`` names the root (default
``$XDG_CACHE_HOME/fla/xla``, else ``~/.cache/fla/xla``); ``FLA_COMPILE_CACHE=off`` turns it off.
Deleting the root is safe while no fla process runs (a running one writes its entries there).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import platform
import re
import resource
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

_FLAG = "--tf_xla_persistent_cache_directory"
_PRIVATE = ".work-"
_STATE: dict = {}  # pid -> (shared dir, private dir) of the process that enabled the cache
MIN_FREE_BYTES = 1 << 30  # a process's entries take a few MB (about 250 KB a program)
PROBE_BYTES = 4 << 20
DEAD_AFTER_SECONDS = 86400
_UIDS_PER_PROGRAM = 1 << 20
_COUNTERS: dict = {}  # program key -> uids handed out in its range
_TRACING = threading.local()
_LOCK = threading.Lock()


def root() -> Path | None:
    """The cache's root directory.

    Returns:
        ``FLA_COMPILE_CACHE``'s folder (default $XDG_CACHE_HOME or ~/.cache, then fla/xla), or None
            when it is ``off``.
    """
    setting = os.environ.get("FLA_COMPILE_CACHE", "")
    if setting.lower() in ("off", "0", "none", "false"):
        return None
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fla" / "xla"


def cpu_signature() -> str:
    """The CPU model and instruction-set flags XLA:CPU compiles for (Linux: /proc/cpuinfo).

    Returns:
        The signature in words.
    """
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return f"{platform.machine()} {platform.processor()}"
    wanted = ("model name", "flags", "Features", "CPU part")
    first = {}
    for line in lines:
        key, _, value = line.partition(":")
        key = key.strip()
        if key in wanted and key not in first:
            first[key] = (
                " ".join(sorted(value.split())) if key in ("flags", "Features") else value.strip()
            )
    return f"{platform.machine()} " + " | ".join(f"{k}={first[k]}" for k in sorted(first))


def tensorflow_version() -> str:
    """The installed TensorFlow's version, read without importing it (an import takes seconds).

    Returns:
        The version.
    """
    from importlib import metadata

    for dist in ("tensorflow", "tensorflow-cpu", "tf-nightly", "tensorflow-macos"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    import tensorflow as tf

    return tf.__version__


def namespace() -> str:
    """The shared directory's name: TensorFlow's version, the CPU and the user's XLA flags, hashed.

    Returns:
        The name.
    """
    version = tensorflow_version()
    user_flags = " ".join(
        f for f in os.environ.get("TF_XLA_FLAGS", "").split() if not f.startswith(_FLAG)
    )
    text = "\n".join([version, cpu_signature(), os.environ.get("XLA_FLAGS", ""), user_flags])
    return f"tf{version}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def enable() -> Path | None:
    """Point this process's XLA compilations at a private directory seeded from the shared cache.
    Idempotent within a process; a worker process that inherited its parent's setting gets its own.

    Returns:
        The private directory, or None when the cache is off or its root cannot be written.
    """
    if os.getpid() in _STATE:
        return _STATE[os.getpid()][1]
    top = root()
    if top is None:
        _set_flag(None)
        return None
    try:
        shared = top / namespace()
        shared.mkdir(parents=True, exist_ok=True)
        _remove_dead_private_dirs(shared)
        private = Path(
            tempfile.mkdtemp(prefix=f"{_PRIVATE}{socket.gethostname()}-{os.getpid()}-", dir=shared)
        )
        if not _writable(private):
            shutil.rmtree(private, ignore_errors=True)
            _set_flag(None)
            return None
        for entry in _entries(shared):
            if _intact(entry):
                os.link(entry, private / entry.name)
    except OSError:
        _set_flag(None)
        return None
    _STATE[os.getpid()] = (shared, private)
    _set_flag(private)
    atexit.register(_close, os.getpid())
    return private


def publish() -> int:
    """Copy this process's new entries into the shared directory, each by atomic rename, after its
    SHA-256 (``NAME.sha256``, also renamed into place). A reader never sees a partial entry; an
    intact entry another process published first is kept; a damaged one (its bytes no longer match
    their checksum) is replaced.

    Returns:
        The number of entries published.
    """
    if os.getpid() not in _STATE:
        return 0
    shared, private = _STATE[os.getpid()]
    published = 0
    for entry in _entries(private):
        target = shared / entry.name
        if _intact(target):
            continue
        try:
            data = entry.read_bytes()
            if not well_formed(data):
                continue
            _write_by_rename(_checksum_file(target), hashlib.sha256(data).hexdigest().encode())
            _write_by_rename(target, data)
            published += 1
        except OSError:
            pass
    return published


def _intact(entry: Path) -> bool:
    """Whether ``entry`` exists and its bytes match the SHA-256 published with it.

    TensorFlow fails a compilation, with no fallback, when an entry it loads cannot be parsed, and
    it would load an entry damaged outside fla (a truncated copy, a bad disk) without a check; such
    an entry, and one with no checksum (an older fla's), is neither read nor kept but compiled anew.
    """
    try:
        expected = _checksum_file(entry).read_text().strip()
        data = entry.read_bytes()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == expected and well_formed(data)


ENTRY_FIELDS = (1, 2, 3)  # XlaSerializedCacheEntry: key, hlo_module, executable


def well_formed(data: bytes) -> bool:
    """Whether bytes have the wire form of TensorFlow's ``XlaSerializedCacheEntry``
    (tensorflow/compiler/jit/xla_compile_cache_entry.proto): its three fields, each
    length-delimited, filling the bytes exactly. An entry written damaged (its checksum taken of the
    damage) fails this before TensorFlow, which would fail the compilation, reads it.

    Args:
        data: an entry's bytes.

    Returns:
        True for a well-formed entry.
    """
    try:
        found = [number for number, _ in _wire_fields(data)]
    except ValueError:
        return False
    return tuple(found) == ENTRY_FIELDS


def _wire_fields(data: bytes) -> list:
    """(field number, wire type) of each top-level field of a protocol buffer; ValueError where the
    bytes are not one (only length-delimited fields are expected here)."""
    fields, i = [], 0
    while i < len(data):
        tag, i = _varint(data, i)
        if tag & 7 != 2:
            raise ValueError("not a length-delimited field")
        length, i = _varint(data, i)
        i += length
        if i > len(data):
            raise ValueError("a field runs past the end")
        fields.append((tag >> 3, tag & 7))
    return fields


def _varint(data: bytes, i: int) -> tuple:
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("a truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


UNPARSABLE = re.compile(r"Can't parse (\S+) as binary proto")


def remove_unparsable(error: BaseException) -> str | None:
    """If an error is TensorFlow failing on a cache entry it cannot parse (one whose checksum
    matched: written damaged), remove the entry from the private and the shared directory; the next
    run compiles the program anew.

    Args:
        error: the exception.

    Returns:
        The entry's name, or None for any other error.
    """
    match = UNPARSABLE.search(str(error))
    state = _STATE.get(os.getpid())
    if not match or state is None:
        return None
    entry = Path(match.group(1))
    if state[0] not in entry.parents:  # this process's or a sweep worker's private directory
        return None
    for folder in (entry.parent, state[0]):
        for path in (folder / entry.name, _checksum_file(folder / entry.name)):
            with contextlib.suppress(OSError):
                path.unlink()
    return entry.name


def _checksum_file(entry: Path) -> Path:
    return entry.with_name(entry.name + ".sha256")


def _write_by_rename(target: Path, data: bytes) -> None:
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _writable(directory: Path) -> bool:
    """Whether TensorFlow can write its entries in ``directory`` (a failed write fails the
    compilation)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY or shutil.disk_usage(directory).free < MIN_FREE_BYTES:
        return False
    probe = directory / ".probe"
    try:
        with open(probe, "wb") as f:  # meets a quota that free space does not show
            f.write(bytes(PROBE_BYTES))
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        return False
    finally:
        probe.unlink(missing_ok=True)
    return True


def _entries(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.pb") if p.is_file() and not p.name.startswith("."))


def _set_flag(private: Path | None) -> None:
    flags = [f for f in os.environ.get("TF_XLA_FLAGS", "").split() if not f.startswith(_FLAG)]
    if private is not None:
        flags.append(f"{_FLAG}={private}")
    if flags:
        os.environ["TF_XLA_FLAGS"] = " ".join(flags)
    else:
        os.environ.pop("TF_XLA_FLAGS", None)


def _close(pid: int) -> None:
    if os.getpid() != pid or pid not in _STATE:
        return
    publish()
    shutil.rmtree(_STATE.pop(pid)[1], ignore_errors=True)


def _remove_dead_private_dirs(shared: Path) -> None:
    """Private directories of this host's processes that died without cleaning up (kill -9), a day
    after they were last written: containers that share a hostname do not share their pids."""
    from fla.base.files import pid_alive

    host = socket.gethostname()
    for d in shared.glob(f"{_PRIVATE}{host}-*"):
        try:
            pid = int(d.name[len(f"{_PRIVATE}{host}-") :].split("-")[0])
            stale = time.time() - d.stat().st_mtime > DEAD_AFTER_SECONDS
        except (ValueError, OSError):
            continue
        if stale and not pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def stable_names(*key):
    """Trace TensorFlow functions in this block with uids from ``key``'s own range.

    TensorFlow names traced functions (``__inference_f_<uid>``, while-loop bodies, gradients) with
    ``ops.uid()``, one counter per process. In this block, on this thread, uids are ``2**52 +
    hash(key) * 2**20 + n`` with n counted per key over the process's life, so two traces never
    share a name (TensorFlow refuses a second, different function under a taken name) and the n-th
    trace of ``key`` is named the same in any process. Other threads are unaffected.

    Args:
        *key: what names the traces (a program's settings).

    Yields:
        Nothing; traces inside the block are named from the key's range.
    """
    from tensorflow.python.framework import ops

    _install_uid_hook()
    # made once per thread, on first use: not inside a block, where it would take a uid
    ops.get_default_graph()
    outer = getattr(_TRACING, "key", None)
    _TRACING.key = key
    try:
        yield
    finally:
        _TRACING.key = outer


def _install_uid_hook() -> None:
    from tensorflow.python.framework import ops

    with _LOCK:
        if getattr(ops.uid, "_fla_stable", False):
            return
        original = ops.uid

        def uid():
            key = getattr(_TRACING, "key", None)
            if key is None:
                return original()
            with _LOCK:
                n = _COUNTERS.get(key, 0)
                _COUNTERS[key] = n + 1
            if n >= _UIDS_PER_PROGRAM:
                return original()
            digest = hashlib.sha256(repr(key).encode()).digest()
            return (1 << 52) + int.from_bytes(digest[:4], "big") * _UIDS_PER_PROGRAM + n

        uid._fla_stable = True
        ops.uid = uid
