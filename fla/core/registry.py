"""The problem registry: one record per problem (its sizes, the study's minimal width h, where
its data come from and how it is loaded), so that adding a problem is one entry; ``csv:PATH``
names a user's own table. ``fla problems`` lists it.

    >>> problem = load_problem("iris")
    >>> problem_spec("mnist").minimal_width
    10
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from fla.base.errors import ConfigError, DataError
from fla.core.problems import (
    Problem,
    ProblemSpec,
    fashion_mnist,
    fashion_mnist_files,
    mnist,
    mnist_files,
    tabular,
    xor,
)
from fla.core.readers import read_table, resolve_data_dir

SHIPPED = Path(__file__).resolve().parents[1] / "data"  # fla/data


def shipped(name: str, file: str):
    """The loader of a table shipped in fla/data.

    Args:
        name: the problem's name.
        file: the table's file in fla/data.

    Returns:
        load(data_dir=None) -> Problem.
    """

    def load(data_dir=None) -> Problem:
        return tabular(
            name, read_table(SHIPPED / file), "class", where=f"{name} ({SHIPPED / file})"
        )

    return load


def shipped_file(file: str):
    """The files of a problem shipped in fla/data.

    Args:
        file: the table's file.

    Returns:
        files(data_dir=None) -> [path].
    """
    return lambda data_dir=None: [SHIPPED / file]


UCI = (
    "UCI Machine Learning Repository (CC BY 4.0), copy bundled with scikit-learn 1.9.1; see "
    "fla/data/README.md"
)


REGISTRY = {
    spec.name: spec
    for spec in [
        ProblemSpec(
            "xor", "binary", 2, 2, 2, xor, None, "built in", "Bosman, Engelbrecht and Helbig (2020)"
        ),
        ProblemSpec(
            "mnist",
            "multiclass",
            784,
            10,
            10,
            mnist,
            100,
            "IDX files in the data directory (or mnist/)",
            "LeCun, Bottou, Bengio and Haffner (1998)",
            needs_data=True,
            inputs=mnist_files,
        ),
        ProblemSpec(
            "fashion_mnist",
            "multiclass",
            784,
            10,
            10,
            fashion_mnist,
            100,
            "IDX files in the data directory's fashion-mnist/",
            "Xiao, Rasul and Vollgraf (2017), arXiv:1708.07747",
            needs_data=True,
            inputs=fashion_mnist_files,
        ),
        ProblemSpec(
            "iris",
            "multiclass",
            4,
            3,
            4,
            shipped("iris", "iris.csv"),
            None,
            UCI,
            "Fisher (1936)",
            inputs=shipped_file("iris.csv"),
        ),
        ProblemSpec(
            "wine",
            "multiclass",
            13,
            3,
            4,
            shipped("wine", "wine.csv"),
            None,
            UCI,
            "Forina et al. (1991), UCI Wine",
            inputs=shipped_file("wine.csv"),
        ),
        ProblemSpec(
            "breast_cancer",
            "binary",
            30,
            2,
            4,
            shipped("breast_cancer", "breast_cancer.csv"),
            None,
            UCI,
            "Street, Wolberg and Mangasarian (1993), Breast Cancer Wisconsin (Diagnostic)",
            inputs=shipped_file("breast_cancer.csv"),
        ),
        ProblemSpec(
            "digits",
            "multiclass",
            64,
            10,
            10,
            shipped("digits", "digits.csv.gz"),
            None,
            UCI,
            "Alpaydin and Kaynak (1998), Optical Recognition of Handwritten Digits",
            inputs=shipped_file("digits.csv.gz"),
        ),
    ]
}


def is_problem(name) -> bool:
    """Whether a name is a problem fla knows: a key of ``REGISTRY`` or ``csv:PATH``.

    Args:
        name: the name.

    Returns:
        True for a problem.
    """
    return isinstance(name, str) and (
        name in REGISTRY or (name.startswith("csv:") and len(name) > 4)
    )


def problem_spec(name: str, target: str | None = None) -> ProblemSpec:
    """What a problem is before its data are read: the registry's record, or one made from the
    user's table for ``csv:PATH`` (read again whenever the file changes).

    Args:
        name: the problem.
        target: a csv problem's class column.

    Returns:
        The ``ProblemSpec``.

    Raises:
        ConfigError: an unknown problem.
        DataError: an unreadable csv table.
    """
    if name in REGISTRY:
        return REGISTRY[name]
    if not is_problem(name):
        raise ConfigError(
            f"unknown problem {name!r}; choose one of: {', '.join(REGISTRY)}, or csv:PATH"
        )
    return _table_spec(name, target, stamp([Path(name[4:]).expanduser()]))


def stamp(paths) -> tuple:
    """What identifies files' current versions cheaply.

    Args:
        paths: the files.

    Returns:
        ((path, size, modification time), ...).
    """
    out = []
    for path in paths:
        try:
            info = Path(path).stat()
            out.append((str(path), info.st_size, info.st_mtime_ns))
        except OSError:
            out.append((str(path), None, None))
    return tuple(out)


@functools.lru_cache(maxsize=16)
def _table_spec(name: str, target: str | None, version: tuple) -> ProblemSpec:
    from fla.base.files import checksum

    path = Path(name[4:]).expanduser()
    problem = tabular(name, read_table(path), target, where=str(path))
    classes = len(problem.info["classes"])
    return ProblemSpec(
        name,
        problem.kind,
        problem.n_inputs,
        classes,
        classes,
        lambda data_dir=None: problem,
        None,
        f"{path} (sha256 {checksum(path)[:16]})",
        "the user's data",
        inputs=lambda data_dir=None: [path],
    )


def problem_folder_name(name: str) -> str:
    """A problem's name as a folder-name part.

    Args:
        name: the problem.

    Returns:
        The name; csv:PATH becomes csv-<file stem>-<8 hex of the path>.
    """
    if not name.startswith("csv:"):
        return name
    path = name[4:]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(path).name.split(".")[0])
    return f"csv-{stem}-{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def load_problem(name: str, data_dir=None, target: str | None = None) -> Problem:
    """The problem called ``name`` (``REGISTRY``, or ``csv:PATH``), loaded once per process and data
    folder (a sweep's worker runs many configurations).

    Args:
        name: the problem.
        data_dir: the data folder.
        target: a csv problem's class column.

    Returns:
        The ``Problem``.

    Raises:
        ConfigError: an unknown problem.
        DataError: missing or malformed data files.
    """
    spec = problem_spec(name, target)
    root = str(resolve_data_dir(data_dir)) if spec.needs_data else None
    try:
        files = spec.inputs(root)
    except (DataError, OSError):  # missing: the load names it
        files = []
    return _load(name, root, target, version=stamp(files))


@functools.lru_cache(maxsize=8)
def _load(name: str, root: str | None, target: str | None, *, version: tuple) -> Problem:
    """The problem, read once per process and version of its files (``version``: their
    ``stamp``), with the provenance of what was read in its info."""
    spec = problem_spec(name, target)
    inputs = provenance(spec.inputs(root))
    problem = spec.load(root)
    problem.info["inputs"] = inputs  # into every manifest (fla.walks.records.metadata)
    return problem


def input_provenance(name: str, data_dir=None, target: str | None = None) -> list[dict]:
    """What the problem's files are now: what a manifest records of the data its run read, and what
    a resumed sweep compares.

    Args:
        name: the problem.
        data_dir: the data folder.
        target: a csv problem's class column.

    Returns:
        [{"file", "bytes", "sha256"}] per file.
    """
    spec = problem_spec(name, target)
    root = str(resolve_data_dir(data_dir)) if spec.needs_data else None
    return provenance(spec.inputs(root))


def provenance(paths) -> list[dict]:
    """Each file's resolved path, size and SHA-256.

    Args:
        paths: the files.

    Returns:
        [{"file", "bytes", "sha256"}].
    """
    from fla.base.files import checksum

    out = []
    for path in paths:
        path = Path(path).resolve()
        out.append({"file": str(path), "bytes": path.stat().st_size, "sha256": checksum(path)})
    return out


def same_data(recorded: list, current: list) -> bool:
    """Whether two provenance lists describe the same bytes (wherever the files lie now).

    Args:
        recorded: a manifest's provenance.
        current: the files' provenance now.

    Returns:
        True for the same sizes and checksums.
    """
    key = lambda records: [(r["bytes"], r["sha256"]) for r in records]
    return key(recorded) == key(current)
