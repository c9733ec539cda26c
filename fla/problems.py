"""Classification problems: training and test patterns, and how a step draws its batch.

A :class:`Problem` holds float32 inputs and integer labels. ``kind`` is ``binary`` (one output read
through a sigmoid, labels 0/1) or ``multiclass`` (one output per class, softmax). ``batch_size`` is
None for full-batch problems (XOR: every step uses all patterns) and the mini-batch size otherwise
(MNIST: 100 random training patterns per step, as in Bosman et al.).

MNIST is read from its standard IDX files (``.gz`` or raw) in the data directory: ``--data-dir``,
else the environment variable ``FLA_DATA``, else ``~/.cache/fla``. The files may sit in that
directory or in its ``mnist/`` subdirectory. Nothing is ever downloaded.

    >>> problem = load_problem("xor")
    >>> problem.x_train.shape, problem.n_outputs
    ((4, 2), 1)
"""
from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError

DEFAULT_DATA_DIR = Path("~/.cache/fla").expanduser()


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

    @property
    def has_test(self) -> bool:
        return self.x_test is not None


def xor() -> Problem:
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


def mnist(data_dir: str | os.PathLike | None = None, batch_size: int = 100) -> Problem:
    """MNIST (LeCun et al.): 784 inputs scaled to [0, 1], 10 classes, the 60,000/10,000 split."""
    root = resolve_data_dir(data_dir)
    arrays = {key: read_idx(find_file(root, stem)) for key, stem in MNIST_FILES.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"MNIST {split} images {x.shape} and labels {y.shape} do not match in {root}")
        if x.shape[1:] != (28, 28):
            raise DataError(f"MNIST {split} images are {x.shape[1:]}, expected 28 x 28, in {root}")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DataError(f"MNIST {split} labels range over {y.min()} .. {y.max()}, expected 0 .. 9, in {root}")
    scale = lambda images: (images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return Problem(
        "mnist",
        scale(arrays["x_train"]), arrays["y_train"].astype(np.int32),
        scale(arrays["x_test"]), arrays["y_test"].astype(np.int32),
        n_inputs=784, n_outputs=10, kind="multiclass", batch_size=batch_size,
    )


PROBLEMS = {"xor": xor, "mnist": mnist}
NEEDS_DATA = {"mnist"}
FULL_BATCH = {"xor"}  # every step uses all training patterns
SIZES = {"xor": (2, 1), "mnist": (784, 10)}  # (inputs, outputs), known without loading the data


def load_problem(name: str, data_dir=None) -> Problem:
    """The problem called ``name`` (see ``PROBLEMS``); data sets are read from ``data_dir``.

    Loaded once per process and data directory (a sweep's worker runs many configurations).
    """
    if name not in PROBLEMS:
        raise ConfigError(f"unknown problem {name!r}; choose one of: {', '.join(sorted(PROBLEMS))}")
    root = str(resolve_data_dir(data_dir)) if name in NEEDS_DATA else None
    return _load(name, root)


@functools.lru_cache(maxsize=4)
def _load(name: str, root: str | None) -> Problem:
    return PROBLEMS[name](root) if root is not None else PROBLEMS[name]()


def resolve_data_dir(data_dir=None) -> Path:
    """``data_dir`` if given, else ``$FLA_DATA``, else ``~/.cache/fla``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("FLA_DATA"):
        return Path(os.environ["FLA_DATA"]).expanduser()
    return DEFAULT_DATA_DIR


def find_file(root: Path, stem: str) -> Path:
    """``stem`` or ``stem.gz`` in ``root`` or ``root/mnist``; a clear error naming both otherwise."""
    candidates = [d / f"{stem}{ext}" for d in (root, root / "mnist") for ext in (".gz", "")]
    for path in candidates:
        if path.is_file():
            return path
    raise DataError(
        f"missing data file {stem}[.gz]: looked in {root} and {root / 'mnist'}; "
        "pass --data-dir DIR or set FLA_DATA to the folder holding the MNIST IDX files"
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
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_TYPES or magic[3] == 0:
                raise DataError(f"{path} is not an IDX file (bad magic number)")
            ndim = magic[3]
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header")
            shape = tuple(int(s) for s in np.frombuffer(dims, dtype=">u4"))
            dtype = np.dtype(IDX_TYPES[magic[2]])
            expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if expected > MAX_IDX_BYTES:
                raise DataError(f"{path}: header declares shape {shape} ({expected} bytes), more than any data set "
                                f"fla reads ({MAX_IDX_BYTES} bytes)")
            if opener is open and path.stat().st_size - 4 - 4 * ndim != expected:
                raise DataError(f"{path}: header says shape {shape} ({expected} bytes), file holds "
                                f"{path.stat().st_size - 4 - 4 * ndim}")
            raw = f.read(expected + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) != expected:
        raise DataError(f"{path}: header says shape {shape} ({expected} bytes), file holds "
                        f"{len(raw) if len(raw) <= expected else 'more'}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as an IDX file, gzip-compressed if the name ends in .gz (for tests)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
