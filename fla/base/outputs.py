"""The output rule every writing command follows, in one place.

An output is

- a new file or folder name; or
- one that fla wrote for the same command: a file listed, with the checksum it still has, by a
  manifest of that command (``"command"`` in the manifest), or a folder whose manifest says so
  (a resume, or an output written again); or
- refused, before anything is written, with the reason and the fix.

Nothing fla did not write is replaced, renamed or deleted; an output never lies on or inside an
input (the folder a command reads, every manifest under it and every file one lists, and every
data file a sampling run recorded reading: its CSV, its IDX files); fla never writes through a
link. A command holds its output folder's lock (:func:`fla.base.files.folder_lock`) from its
claim to its end.

    >>> with claim_files([out / "m.parquet", out / "m.json"], "fla metrics", run_dir, "--out"):
    ...     write()
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from fla.base.errors import ConfigError
from fla.base.files import LOCK, checksum, folder_lock, protected_files


def recorded_inputs(source: Path) -> set[Path]:
    """The data files the sampling runs under ``source`` read (their manifests'
    ``problem.inputs``), resolved."""
    out = set()
    source = Path(source)
    for manifest in source.rglob("run.json") if source.is_dir() else []:
        try:
            inputs = json.loads(manifest.read_text()).get("problem", {}).get("inputs") or []
        except (OSError, ValueError, AttributeError):
            continue
        for record in inputs if isinstance(inputs, list) else []:
            if isinstance(record, dict) and isinstance(record.get("file"), str):
                out.add(Path(record["file"]).resolve())
    return out


def inputs_of(source) -> set[Path]:
    """Everything a command that reads ``source`` must never write onto (resolved paths)."""
    source = Path(source)
    if not source.exists():
        return set()
    return protected_files(source) | recorded_inputs(source) | {source.resolve()}


def refuse_on_inputs(paths, source, flag: str) -> None:
    """ConfigError if an output path is an input of ``source`` (or ``source`` itself)."""
    if source is None:
        return
    inputs = inputs_of(source)
    for path in paths:
        target = Path(path).resolve()
        if target in inputs:
            what = "the folder it reads" if target == Path(source).resolve() else "an input"
            raise ConfigError(
                f"{flag} {path} would overwrite {target.name}, {what} of {source} (fla reads "
                "it); write elsewhere"
            )


def owned_by(path: Path, command: str) -> bool:
    """Whether ``path`` is a file that a manifest of ``command`` beside it lists with its current
    checksum, or such a manifest itself."""
    for manifest in path.parent.glob("*.json"):
        try:
            record = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("command") != command:
            continue
        if manifest.resolve() == path.resolve():
            return True
        listed = record.get("files", {})
        entry = listed.get(path.name) if isinstance(listed, dict) else None
        if isinstance(entry, dict) and entry.get("sha256") == checksum(path):
            return True
    return False


def check_new_or_own(paths, command: str, flag: str) -> None:
    """ConfigError for the first path that is a link, a folder, or a file ``command`` did not
    write."""
    for path in map(Path, paths):
        if path.is_symlink():
            raise ConfigError(f"{flag} {path} is a link; fla does not write through links")
        if path.is_dir():
            raise ConfigError(f"{flag} {path} is a folder; give a file name")
        if path.exists() and not owned_by(path, command):
            raise ConfigError(
                f"{flag} {path} exists and {command} did not write it; fla replaces only its own "
                "outputs: give another name or move the file"
            )


@contextlib.contextmanager
def claim_files(paths: list, command: str, source=None, flag: str = "--out"):
    """Hold the output folder's lock while the block writes ``paths``, after refusing any that is
    an input of ``source``, a link, a folder, or a file ``command`` did not write; the check is
    made again under the lock."""
    paths = [Path(p) for p in paths]
    folder = paths[0].parent
    if not folder.is_dir():
        raise ConfigError(f"{flag} {paths[0]}: folder {folder} does not exist; create it first")
    if (folder / "run.json").exists():
        raise ConfigError(
            f"{flag} {paths[0]}: {folder} holds a sampling run; write beside it, not into it (a "
            "resumed sweep keeps only the files fla writes there)"
        )
    refuse_on_inputs(paths, source, flag)
    check_new_or_own(paths, command, flag)
    with folder_lock(folder, flag):
        check_new_or_own(paths, command, flag)
        yield


def occupant(folder: Path, own: tuple) -> list[str]:
    """The entries of ``folder`` that are neither in ``own`` nor a free lock file."""
    return sorted(e.name for e in Path(folder).iterdir() if e.name not in own and e.name != LOCK)
