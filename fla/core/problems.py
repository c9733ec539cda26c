"""Classification problems: one registry, one record per problem (:data:`REGISTRY`).

A :class:`Problem` holds float32 inputs and integer labels. ``kind`` is ``binary`` (one output read
through a sigmoid, labels 0/1) or ``multiclass`` (one output per class, softmax). ``batch_size`` is
None for full-batch problems (XOR and the tabular sets: every step uses all training patterns) and
the mini-batch size otherwise (MNIST: 100 random training patterns per step, as in Bosman et al.).

Each :class:`ProblemSpec` says what a problem is before its data are read (sizes, kind, minimal
width h for studies, where its data come from, citation) and how to load it; adding a problem is
one entry. ``fla problems`` lists them.

- ``xor``: the four XOR patterns.
- ``mnist`` and ``fashion_mnist``: LeCun's IDX files (``.gz`` or raw) in the data directory
  (``--data-dir``, else ``$FLA_DATA``, else ``~/.cache/fla``), MNIST there or in ``mnist/``,
  Fashion-MNIST (whose files carry MNIST's names) in ``fashion-mnist/``. Nothing is downloaded.
- ``iris``, ``wine``, ``breast_cancer``, ``digits``: UCI sets shipped with fla (``fla/data``,
  sources and licences in its README).
- ``csv:PATH``: the user's own table (CSV, or Parquet by suffix) of numeric features and a class
  column (``target``, default the last column).

Tabular sets are split once, stratified, 80/20 with a fixed seed (:data:`SPLIT`), and standardised
with the training split's mean and standard deviation; the split is recorded in each run's metadata.

    >>> problem = load_problem("xor")
    >>> problem.x_train.shape, problem.n_outputs
    ((4, 2), 1)
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from fla.base.errors import ConfigError, DataError

DEFAULT_DATA_DIR = Path("~/.cache/fla").expanduser()
SHIPPED = Path(__file__).resolve().parents[1] / "data"  # fla/data
SPLIT = {"test_fraction": 0.2, "seed": 0, "stratified": True}


@dataclass(frozen=True)
class Problem:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    n_inputs: int
    n_outputs: int
    kind: str  # "binary" or "multiclass"
    batch_size: int | None = None  # None: full batch
    # split, source, preprocessing: into the metadata
    info: dict = field(default_factory=dict, compare=False)

    @property
    def has_test(self) -> bool:
        return self.x_test is not None


@dataclass(frozen=True)
class ProblemSpec:
    """What a problem is before its data are read, and how to read them."""

    name: str
    kind: str
    n_inputs: int
    n_classes: int
    minimal_width: int  # the study's h (widths are given as multiples of it)
    load: Callable  # data_dir -> Problem
    batch_size: int | None
    source: str
    citation: str
    needs_data: bool = False  # read from the user's data directory

    @property
    def n_outputs(self) -> int:
        return 1 if self.kind == "binary" else self.n_classes

    @property
    def sizes(self) -> tuple[int, int]:
        return self.n_inputs, self.n_outputs


def xor(data_dir=None) -> Problem:
    """The four XOR patterns, one sigmoid output; no test split."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.int32)
    return Problem("xor", x, y, None, None, n_inputs=2, n_outputs=1, kind="binary")


MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def idx_images(
    name: str, folders: tuple[str, ...], data_dir=None, batch_size: int = 100
) -> Problem:
    """A 28 x 28 grey-scale set of 10 classes in LeCun's IDX files (MNIST, Fashion-MNIST): 784
    inputs scaled to [0, 1], the 60,000/10,000 split of the files."""
    root = resolve_data_dir(data_dir)
    arrays = {
        key: read_idx(find_file(root, stem, folders, name)) for key, stem in MNIST_FILES.items()
    }
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(
                f"{name} {split} images {x.shape} and labels {y.shape} do not match in {root}"
            )
        if x.shape[1:] != (28, 28):
            raise DataError(f"{name} {split} images are {x.shape[1:]}, expected 28 x 28, in {root}")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DataError(
                f"{name} {split} labels range over {y.min()} .. {y.max()}, expected 0 .. 9, in "
                f"{root}"
            )
    scale = lambda images: images.reshape(len(images), -1).astype(np.float32) / 255.0
    return Problem(
        name,
        scale(arrays["x_train"]),
        arrays["y_train"].astype(np.int32),
        scale(arrays["x_test"]),
        arrays["y_test"].astype(np.int32),
        n_inputs=784,
        n_outputs=10,
        kind="multiclass",
        batch_size=batch_size,
        info={"source": str(root)},
    )


def mnist(data_dir=None, batch_size: int = 100) -> Problem:
    """MNIST (LeCun et al.)."""
    return idx_images("mnist", (".", "mnist"), data_dir, batch_size)


def fashion_mnist(data_dir=None, batch_size: int = 100) -> Problem:
    """Fashion-MNIST (Xiao, Rasul and Vollgraf 2017): MNIST's format and names, in
    fashion-mnist/."""
    return idx_images("fashion_mnist", ("fashion-mnist", "fashion_mnist"), data_dir, batch_size)


def read_table(path: Path):
    """A CSV (optionally .gz) or Parquet table as a pandas DataFrame; DataError if unreadable."""
    import pandas as pd

    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"data file {path} not found") from None
    except Exception as exc:  # parser errors of every kind: one line
        raise DataError(
            f"{path} is not a readable {'Parquet' if path.suffix == '.parquet' else 'CSV'} table "
            f"({str(exc).splitlines()[0]})"
        ) from None


def tabular(name: str, frame, target: str | None, where: str) -> Problem:
    """Numeric features and a class column -> a standardised, stratified 80/20 full-batch
    problem."""
    target = frame.columns[-1] if target is None else target
    if target not in frame.columns:
        raise DataError(
            f"{where}: no column {target!r}; columns are {', '.join(map(str, frame.columns))}"
        )
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise DataError(f"{where}: no feature columns besides the class column {target!r}")
    import pandas as pd

    text = [
        c
        for c in features.columns
        if not pd.api.types.is_numeric_dtype(features[c]) or pd.api.types.is_bool_dtype(features[c])
    ]
    if text:
        raise DataError(f"{where}: feature column {text[0]!r} is not numeric; convert or drop it")
    missing = features.columns[features.isna().any()].tolist() + (
        [target] if frame[target].isna().any() else []
    )
    if missing:
        raise DataError(
            f"{where}: column {missing[0]!r} has missing values; fill or drop those rows"
        )
    classes, y = np.unique(frame[target].to_numpy(), return_inverse=True)
    if len(classes) < 2:
        raise DataError(
            f"{where}: the class column {target!r} holds a single class ({classes[0]!r}); "
            "classification needs two or more"
        )
    x = features.to_numpy(np.float64)
    if not np.isfinite(x).all():
        raise DataError(f"{where}: feature values must be finite")
    train, test = stratified_split(y, SPLIT["test_fraction"], SPLIT["seed"])
    mean, std = x[train].mean(0), x[train].std(0)
    std = np.where(std > 0, std, 1.0)
    scaled = ((x - mean) / std).astype(np.float32)
    kind = "binary" if len(classes) == 2 else "multiclass"
    info = {
        "split": SPLIT,
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "target": str(target),
        "classes": [c.item() if hasattr(c, "item") else c for c in classes],
        "standardised": "with the training split's mean and standard deviation",
    }
    return Problem(
        name,
        scaled[train],
        y[train].astype(np.int32),
        scaled[test],
        y[test].astype(np.int32),
        n_inputs=x.shape[1],
        n_outputs=1 if kind == "binary" else len(classes),
        kind=kind,
        info=info,
    )


def stratified_split(y: np.ndarray, test_fraction: float, seed: int):
    """(train, test) indices: per class, a seeded permutation, round(fraction x count) of it to
    test."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        k = int(round(test_fraction * len(members)))
        test.append(members[:k])
        train.append(members[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def shipped(name: str, file: str):
    def load(data_dir=None) -> Problem:
        return tabular(name, read_table(SHIPPED / file), "class", f"{name} ({SHIPPED / file})")

    return load


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
        ),
        ProblemSpec(
            "iris", "multiclass", 4, 3, 4, shipped("iris", "iris.csv"), None, UCI, "Fisher (1936)"
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
        ),
    ]
}


def is_problem(name) -> bool:
    return isinstance(name, str) and (
        name in REGISTRY or (name.startswith("csv:") and len(name) > 4)
    )


@functools.lru_cache(maxsize=16)
def problem_spec(name: str, target: str | None = None) -> ProblemSpec:
    """The registry's record of ``name``, or one made from the user's table for ``csv:PATH``."""
    if name in REGISTRY:
        return REGISTRY[name]
    if not is_problem(name):
        raise ConfigError(
            f"unknown problem {name!r}; choose one of: {', '.join(REGISTRY)}, or csv:PATH"
        )
    from fla.base.store import checksum

    path = Path(name[4:]).expanduser()
    problem = tabular(name, read_table(path), target, str(path))
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
    )


def problem_folder_name(name: str) -> str:
    """A problem's name as a folder-name part: csv:PATH becomes csv-<file stem>-<8 hex of the
    path>."""
    if not name.startswith("csv:"):
        return name
    path = name[4:]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(path).name.split(".")[0])
    return f"csv-{stem}-{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def load_problem(name: str, data_dir=None, target: str | None = None) -> Problem:
    """The problem called ``name`` (see :data:`REGISTRY`, or ``csv:PATH``); data sets are read from
    ``data_dir``. Loaded once per process and data directory (a sweep's worker runs many
    configurations)."""
    spec = problem_spec(name, target)
    root = str(resolve_data_dir(data_dir)) if spec.needs_data else None
    return _load(name, root, target)


@functools.lru_cache(maxsize=8)
def _load(name: str, root: str | None, target: str | None) -> Problem:
    return problem_spec(name, target).load(root)


def resolve_data_dir(data_dir=None) -> Path:
    """``data_dir`` if given, else ``$FLA_DATA``, else ``~/.cache/fla``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("FLA_DATA"):
        return Path(os.environ["FLA_DATA"]).expanduser()
    return DEFAULT_DATA_DIR


def find_file(root: Path, stem: str, folders=(".", "mnist"), name: str = "mnist") -> Path:
    """``stem`` or ``stem.gz`` in the ``folders`` of ``root``; a clear error naming them
    otherwise."""
    dirs = [root / f if f != "." else root for f in folders]
    for path in (d / f"{stem}{ext}" for d in dirs for ext in (".gz", "")):
        if path.is_file():
            return path
    raise DataError(
        f"missing data file {stem}[.gz]: looked in {' and '.join(map(str, dirs))}; pass --data-dir "
        f"DIR "
        f"or set FLA_DATA to the folder holding the {name} IDX files"
    )


IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


MAX_IDX_BYTES = 2**31  # the largest array an IDX header may declare (MNIST's largest holds 47 MB)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (LeCun's format: magic 0x0000TTNN, N big-endian uint32 sizes, then data).

    The header is checked before the data are read: its declared size must be at most
    MAX_IDX_BYTES and, for an uncompressed file, equal to what the file holds; no more than the
    declared size plus one byte is ever read, so a small file cannot request gigabytes."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            magic = f.read(4)
            if (
                len(magic) < 4
                or magic[0] != 0
                or magic[1] != 0
                or magic[2] not in IDX_TYPES
                or magic[3] == 0
            ):
                raise DataError(f"{path} is not an IDX file (bad magic number)")
            ndim = magic[3]
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header")
            shape = tuple(int(s) for s in np.frombuffer(dims, dtype=">u4"))
            dtype = np.dtype(IDX_TYPES[magic[2]])
            expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if expected > MAX_IDX_BYTES:
                raise DataError(
                    f"{path}: header declares shape {shape} ({expected} bytes), more than any data "
                    f"set "
                    f"fla reads ({MAX_IDX_BYTES} bytes)"
                )
            if opener is open and path.stat().st_size - 4 - 4 * ndim != expected:
                raise DataError(
                    f"{path}: header says shape {shape} ({expected} bytes), file holds "
                    f"{path.stat().st_size - 4 - 4 * ndim}"
                )
            raw = f.read(expected + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) != expected:
        raise DataError(
            f"{path}: header says shape {shape} ({expected} bytes), file holds "
            f"{len(raw) if len(raw) <= expected else 'more'}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as an IDX file, gzip-compressed if the name ends in .gz (for
    tests)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
