"""Files fla writes, safely: every file under a temporary name (``.NAME.PID.tmp``) renamed when
complete (``atomic_path``, the one helper for every atomic write), so that a killed run never
leaves a file that looks whole; checksums and file records; and one writer per output folder
(``folder_lock``). The renames are atomic against a killed process; against power loss they are
not fsync'ed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fla.base.errors import ConfigError

LOCK = ".fla-sweep.lock"  # the name is older than its use by every command that writes a folder


TEMPORARY = re.compile(r"^\.(.+)\.(\d+)\.tmp$")  # what atomic writes leave behind when killed


def temporary_name(path: Path) -> Path:
    """The temporary file beside ``path`` that an atomic write of it uses (its pid in the name).

    Args:
        path: the file to write.

    Returns:
        The temporary path.
    """
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def is_own_temporary(path: Path, names) -> bool:
    """Whether a path is a temporary file fla's atomic write of one of ``names`` left behind.

    Args:
        path: the path.
        names: the files written.

    Returns:
        True for such a leftover.
    """
    match = TEMPORARY.match(Path(path).name)
    return bool(match) and match.group(1) in names


def writer_alive(path: Path) -> bool:
    """Whether the process that owns a temporary file (its pid is in the name) is still running on
    this machine; a leftover of a killed process may be removed, a live writer's file may not.

    Args:
        path: the temporary file.

    Returns:
        True while its writer runs.
    """
    match = TEMPORARY.match(Path(path).name)
    if not match:
        return False
    pid = int(match.group(2))
    return pid != os.getpid() and pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process is running on this machine.

    Args:
        pid: the process id.

    Returns:
        True if it runs.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path``: renamed onto ``path`` if the block completes, removed if
    not.

    Args:
        path: the file to write.

    Yields:
        The temporary path to write to.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def folder_lock(out: Path, flag: str = "--out"):
    """Hold the output folder's lock for the duration: ``flock`` on LOCK, which the system releases
    if the process dies, and which is removed when released, so that no lock file stands in the way
    of a later run (a killed process's file is free and ignored).

    Args:
        out: the output folder.
        flag: how errors name it.

    Yields:
        Nothing; the lock is held inside the block.

    Raises:
        ConfigError: another live process holds it.
    """
    import fcntl

    path = Path(out) / LOCK
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConfigError(
                f"{flag} {out} is being written by another fla process ({holder}); wait for it to "
                f"finish or choose another {flag}"
            ) from None
        try:  # the file may have been released and removed between our open and our lock
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    try:  # from here the file is ours: whatever fails (a full disk), it goes
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield
    finally:
        path.unlink(missing_ok=True)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def locked_by_another(folder: Path) -> str | None:
    """Who holds a folder's lock, if a live process other than this one does.

    Args:
        folder: the folder.

    Returns:
        The holder in words, or None.
    """
    import fcntl

    path = Path(folder) / LOCK
    if not path.is_file():
        return None
    try:
        handle = open(path)
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return handle.read().strip() or "another process"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def refuse_inside_a_locked_folder(out: Path, flag: str = "--out") -> None:
    """Refuse an output inside a folder another fla process is writing (a running sweep's study
    folder, a landscape study): its writer owns everything below it.

    Args:
        out: the output folder.
        flag: how errors name it.

    Raises:
        ConfigError: naming the folder and its writer.
    """
    for folder in Path(out).resolve().parents:
        holder = locked_by_another(folder)
        if holder:
            raise ConfigError(
                f"{flag} {out} lies inside {folder}, which another fla process is writing "
                f"({holder}); choose another {flag}"
            )


def write_table(path: Path, table: pa.Table) -> None:
    """A Parquet table written atomically.

    Args:
        path: the file.
        table: the Arrow table.
    """
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_json(path: Path, obj: dict) -> None:
    """JSON written atomically (temporary file, then rename).

    Args:
        path: the file.
        obj: the object (written indented, keys sorted).
    """
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def checksum(path: Path) -> str:
    """The SHA-256 of a file's bytes.

    Args:
        path: the file.

    Returns:
        Hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: Path) -> dict:
    """What a manifest says of one file.

    Args:
        path: the file.

    Returns:
        {"bytes", "sha256"} and, for Parquet, "rows".
    """
    path = Path(path)
    record = {"bytes": path.stat().st_size, "sha256": checksum(path)}
    if path.suffix == ".parquet":
        record["rows"] = pq.read_metadata(path).num_rows
    return record


MANIFESTS = (
    "run.json",
    "connect.json",
    "landscape.json",
    "slice.json",
    "study.json",
    "sharpness.json",
)


def protected_files(root) -> set:
    """Every file fla reads under a folder: the manifests and the files they list (no output may
    land on one).

    Args:
        root: the folder.

    Returns:
        Their resolved paths.
    """
    root = Path(root)
    out = set()
    for name in MANIFESTS:
        for manifest in root.rglob(name) if root.is_dir() else []:
            out.add(manifest.resolve())
            try:
                listed = json.loads(manifest.read_text()).get("files", {})
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(listed, dict):
                out.update((manifest.parent / f).resolve() for f in listed)
    return out
