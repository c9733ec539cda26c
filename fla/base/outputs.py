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
link. A command holds its output folder's lock (``fla.base.files.folder_lock``) from its
claim to its end.

    >>> with claim_files([out / "m.parquet", out / "m.json"], "fla metrics", run_dir, "--out"):
    ...     write()
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from fla.base.errors import ConfigError
from fla.base.files import (
    LOCK,
    checksum,
    folder_lock,
    is_own_temporary,
    protected_files,
    writer_alive,
)


def recorded_inputs(source: Path) -> set[Path]:
    """The data files the sampling runs under a folder read (their manifests' ``problem.inputs``).

    Args:
        source: the folder a command reads.

    Returns:
        Their resolved paths.
    """
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
    """Everything a command that reads a folder must never write onto: the manifests, the files they
    list and the data files the runs read.

    Args:
        source: the folder a command reads.

    Returns:
        Resolved paths.
    """
    source = Path(source)
    if not source.exists():
        return set()
    return protected_files(source) | recorded_inputs(source) | {source.resolve()}


def refuse_on_inputs(paths, source, flag: str) -> None:
    """Refuse an output path that is an input of ``source`` (or ``source`` itself).

    Args:
        paths: the output paths.
        source: the folder the command reads.
        flag: how errors name the output.

    Raises:
        ConfigError: naming the path and what reads it.
    """
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


FIGURE_MARK = b"fla plot"  # written into every figure fla plot saves (its metadata)
RESULT_MANIFESTS = (
    "run.json",
    "connect.json",
    "slice.json",
    "landscape.json",
    "study.json",
    "sharpness.json",
)


def owned_by(path: Path, command: str | None) -> bool:
    """Whether a file is one a manifest of ``command`` beside it lists with its current checksum, or
    such a manifest itself; figures of fla plot carry ``FIGURE_MARK`` in their metadata instead.

    Args:
        path: the file.
        command: the command (None: any fla command).

    Returns:
        True for the command's own file.
    """
    if command in ("fla plot", None) and path.suffix.lower() in (".png", ".pdf", ".svg"):
        with contextlib.suppress(OSError), open(path, "rb") as f:
            if FIGURE_MARK in f.read(1 << 16):
                return True
    for manifest in path.parent.glob("*.json"):
        try:
            record = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or "command" not in record:
            continue
        if command is not None and record.get("command") != command:
            continue
        if manifest.resolve() == path.resolve():
            return True
        listed = record.get("files", {})
        entry = listed.get(path.name) if isinstance(listed, dict) else None
        if isinstance(entry, dict) and entry.get("sha256") == checksum(path):
            return True
    return False


def report_output(entry: Path) -> bool:
    """Whether an entry is a page or a tables folder that fla report wrote (reports go into the
    folders they read by default).

    Args:
        entry: a folder's entry.

    Returns:
        True for fla report's output.
    """
    if entry.is_symlink():
        return False
    if entry.is_dir():
        tables = entry / "tables.json"
        return tables.is_file() and owned_by(tables, "fla report")
    if entry.suffix == ".html":
        tables = entry.with_name(f"{entry.stem}_tables") / "tables.json"
        with contextlib.suppress(OSError, ValueError):
            page = json.loads(tables.read_text()).get("page", {})
            return page.get("sha256") == checksum(entry)
    return False


def written_by_fla(entry: Path) -> bool:
    """Whether an entry is something fla wrote: a file a manifest of an fla command lists (or such a
    manifest, or a figure of fla plot), a report's page or tables folder, or a result folder (one
    holding an fla manifest).

    Args:
        entry: a folder's entry.

    Returns:
        True for fla's.
    """
    if entry.is_symlink():
        return False
    if report_output(entry):
        return True
    if entry.is_dir():
        return any((entry / name).is_file() for name in RESULT_MANIFESTS)
    return owned_by(entry, None)


def check_new_or_own(paths, command: str, flag: str, *, own=None) -> None:
    """Refuse output paths that are links, folders, or files ``command`` did not write.

    Args:
        paths: the output paths.
        command: the command writing them.
        flag: how errors name the output.
        own: a further predicate that says the command wrote a path.

    Raises:
        ConfigError: naming the first such path.
    """
    for path in map(Path, paths):
        if path.is_symlink():
            raise ConfigError(f"{flag} {path} is a link; fla does not write through links")
        if path.is_dir():
            raise ConfigError(f"{flag} {path} is a folder; give a file name")
        mine = owned_by(path, command) or (own is not None and own(path))
        if path.exists() and not mine:
            raise ConfigError(
                f"{flag} {path} exists and {command} did not write it; fla replaces only its own "
                "outputs: give another name or move the file"
            )


@contextlib.contextmanager
def claim_files(
    paths: list, command: str, source=None, *, flag: str = "--out", own=None, into_run=False
):
    """Hold the output folder's lock while the block writes ``paths``, after refusing any that is an
    input of ``source``, a link, a folder, or a file ``command`` did not write, and (unless
    ``into_run``) a folder that is a sampling run's; the check is made again under the lock.

    Args:
        paths: the files the block writes.
        command: the command writing them.
        source: the folder the command reads.
        flag: how errors name the output.
        own: a further predicate that says the command wrote a path.
        into_run: the files may go into a sampling run's folder.

    Yields:
        Nothing; the lock is held inside the block.

    Raises:
        ConfigError: a refused path, or a lock another process holds.
    """
    paths = [Path(p) for p in paths]
    folder = paths[0].parent
    if not folder.is_dir():
        raise ConfigError(f"{flag} {paths[0]}: folder {folder} does not exist; create it first")
    if (folder / "run.json").exists() and not into_run:
        raise ConfigError(
            f"{flag} {paths[0]}: {folder} holds a sampling run; write beside it, not into it (a "
            "resumed sweep keeps only the files fla writes there)"
        )
    refuse_on_inputs(paths, source, flag)
    check_new_or_own(paths, command, flag, own=own)
    with folder_lock(folder, flag):
        check_new_or_own(paths, command, flag, own=own)
        yield


def occupant(folder: Path, own: tuple) -> list[str]:
    """The entries of a folder that are neither in ``own`` nor a free lock file.

    Args:
        folder: the folder.
        own: the names that may be there.

    Returns:
        Their names.
    """
    return sorted(e.name for e in Path(folder).iterdir() if e.name not in own and e.name != LOCK)


def refuse_folder_on_source(out: Path, source, flag: str) -> None:
    """Refuse an output folder that is, or lies inside, the folder a command reads, or is one of its
    inputs.

    Args:
        out: the output folder.
        source: the folder the command reads.
        flag: how errors name the output.

    Raises:
        ConfigError: naming both.
    """
    if source is None:
        return
    src, target = Path(source).resolve(), Path(out).resolve()
    if target == src or src in target.parents:
        raise ConfigError(
            f"{flag} {out} lies inside {source}, which this command reads; choose a folder "
            "outside it"
        )
    refuse_on_inputs([out], source, flag)


def leftover(entry: Path, files) -> bool:
    """Whether an entry is a temporary file that a killed run of fla left while writing one of
    ``files`` (its writer is dead: fla may remove it).

    Args:
        entry: a folder's entry.
        files: the names the run writes.

    Returns:
        True for such a leftover.
    """
    return entry.is_file() and is_own_temporary(entry, files) and not writer_alive(entry)


def check_folder(
    out: Path, command: str, files, *, own, resume: bool, flag: str, what: str = ""
) -> None:
    """The output rule for a folder: new, empty (a free lock file and leftovers of a killed run
    aside) or, with ``resume``, holding only entries ``command`` writes there; without ``resume`` a
    folder holding an earlier output is refused as such.

    Args:
        out: the output folder.
        command: the command writing it.
        files: the names it writes.
        own: entry -> whether the command wrote it.
        resume: the command resumes into its own folder.
        flag: how errors name the output.
        what: what the output is, for errors.

    Raises:
        ConfigError: naming what is in the way.
    """
    if out.is_symlink():
        raise ConfigError(
            f"{flag} {out} is a link (to {out.resolve()}); fla does not write through links: "
            "give a folder"
        )
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out} is a file; give a folder")
    if not out.is_dir():
        return
    entries = [e for e in out.iterdir() if e.name != LOCK and not leftover(e, files)]
    live = [e.name for e in entries if is_own_temporary(e, files)]
    if live:
        raise ConfigError(
            f"{flag} {out} is being written by another fla process ({live[0]}); wait for it or "
            f"choose another {flag}"
        )
    links = [e for e in entries if e.is_symlink()]
    if links:
        raise ConfigError(
            f"{links[0]} is a link; fla does not write or delete through links: move it"
        )
    # resuming, only what ``own`` vouches for is fla's (a user's file may bear an output's name)
    mine = lambda e: (not resume and e.name in files) or (own is not None and own(e))
    foreign = sorted(e.name for e in entries if not mine(e))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise ConfigError(
            f"{flag} {out} holds {shown}, which {command} did not write; fla writes only into "
            "new or empty folders (or its own, to resume): give another folder"
        )
    if entries and not resume:
        raise ConfigError(
            f"{flag} {out} already holds {what or 'an output of ' + command}; choose another "
            f"{flag} or delete it"
        )


@contextlib.contextmanager
def claim_folder(
    out,
    command: str,
    files=(),
    *,
    own=None,
    source=None,
    resume: bool = False,
    flag: str = "--out",
    what: str = "",
):
    """Hold ``out``'s lock for the block, after the output rule (module docstring): ``out`` a new or
    empty folder, or (``resume``) one holding only what ``command`` writes there; never on or inside
    ``source`` or one of its inputs, never a link, never inside a folder another fla process writes.
    Leftovers of a killed run (its temporary files) are removed; the folder is made if new, and
    removed again if the block leaves it empty. Checked again under the lock.

    Args:
        out: the output folder.
        command: the command writing it.
        files: the names it writes.
        own: entry -> whether the command wrote it.
        source: the folder the command reads.
        resume: the command resumes into its own folder.
        flag: how errors name the output.
        what: what the output is, for errors.

    Yields:
        Nothing; the lock is held inside the block.

    Raises:
        ConfigError: naming what is in the way.
    """
    from fla.base.files import refuse_inside_a_locked_folder

    out = Path(out)
    refuse_folder_on_source(out, source, flag)
    refuse_inside_a_locked_folder(out, flag)
    check_folder(out, command, files, own=own, resume=resume, flag=flag, what=what)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(out, flag):
            check_folder(out, command, files, own=own, resume=resume, flag=flag, what=what)
            for entry in out.iterdir():
                if leftover(entry, files):
                    entry.unlink(missing_ok=True)
            yield out
    finally:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if empty: never what another wrote


def remove_files(out: Path, files) -> None:
    """Remove what a failed command wrote: ``files`` and their temporaries.

    Args:
        out: the output folder.
        files: the names.
    """
    for name in files:
        (Path(out) / name).unlink(missing_ok=True)
    for entry in Path(out).iterdir() if Path(out).is_dir() else []:
        if leftover(entry, files):
            entry.unlink(missing_ok=True)
