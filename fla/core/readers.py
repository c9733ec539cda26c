"""The readers of the problems' files: IDX images and labels (MNIST and Fashion-MNIST, ``.gz`` or
raw), CSV and Parquet tables, and where data files are looked for (``--data-dir``, else
``$FLA_DATA``, else ``~/.cache/fla``). Files from outside are data, never code: every header and
size is checked before anything is allocated.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from fla.base.errors import DataError

DEFAULT_DATA_DIR = Path("~/.cache/fla").expanduser()


MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_table(path: Path):
    """A CSV (optionally .gz) or Parquet table.

    Args:
        path: the file.

    Returns:
        A pandas DataFrame.

    Raises:
        DataError: an unreadable file.
    """
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


def resolve_data_dir(data_dir=None) -> Path:
    """The data folder.

    Args:
        data_dir: a folder, or None.

    Returns:
        ``data_dir`` if given, else ``$FLA_DATA``, else ``~/.cache/fla``.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("FLA_DATA"):
        return Path(os.environ["FLA_DATA"]).expanduser()
    return DEFAULT_DATA_DIR


def find_file(root: Path, stem: str, folders=(".", "mnist"), *, name: str = "mnist") -> Path:
    """A data file, plain or gzipped, in one of the folders of the data folder.

    Args:
        root: the data folder.
        stem: the file's name.
        folders: the folders it may lie in.
        name: the data set, for the error.

    Returns:
        ``stem`` or ``stem.gz``'s path.

    Raises:
        DataError: not found, naming where it was looked for.
    """
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
    ``MAX_IDX_BYTES`` and, for an uncompressed file, equal to what the file holds; no more than the
    declared size plus one byte is ever read, so a small file cannot request gigabytes.

    Args:
        path: the file (.gz read compressed).

    Returns:
        The array, of the header's shape and type.

    Raises:
        DataError: a malformed, truncated or oversized file.
    """
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
    """Write a uint8 array as an IDX file, gzip-compressed if the name ends in .gz (for tests).

    Args:
        path: the file.
        array: a uint8 array.
    """
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
