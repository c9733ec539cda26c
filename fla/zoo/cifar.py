"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from their standard archives, never downloaded.

Looked for in the data directory (--data-dir, else $FLA_DATA, else ~/.cache/fla), binary version
first:

    CIFAR-10:  cifar-10-batches-bin/ or cifar-10-binary.tar.gz
                   data_batch_1..5.bin, test_batch.bin: records of 1 label byte + 3072 pixel bytes
               cifar-10-batches-py/ or cifar-10-python.tar.gz
                   pickled dicts: b"data", b"labels"
    CIFAR-100: cifar-100-binary/ or cifar-100-binary.tar.gz
                   train.bin, test.bin: coarse label, fine label, 3072 pixel bytes (fine used)
               cifar-100-python/ or cifar-100-python.tar.gz
                   b"data", b"fine_labels"

The python version is read by an unpickler that builds only numpy arrays, dtypes and plain
containers: any other global in the file is refused, so a crafted file cannot run code.
Images come back uint8 [N, 32, 32, 3] (channels last), labels int32 [N].
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from fla.base.errors import DataError
from fla.core.readers import resolve_data_dir

LAYOUT = {
    "cifar10": {
        "binary": (
            "cifar-10-batches-bin",
            "cifar-10-binary.tar.gz",
            [f"data_batch_{i}.bin" for i in range(1, 6)],
            ["test_batch.bin"],
            1,
        ),
        "python": (
            "cifar-10-batches-py",
            "cifar-10-python.tar.gz",
            [f"data_batch_{i}" for i in range(1, 6)],
            ["test_batch"],
            b"labels",
        ),
    },
    "cifar100": {
        "binary": ("cifar-100-binary", "cifar-100-binary.tar.gz", ["train.bin"], ["test.bin"], 2),
        "python": (
            "cifar-100-python",
            "cifar-100-python.tar.gz",
            ["train"],
            ["test"],
            b"fine_labels",
        ),
    },
}
CLASSES = {"cifar10": 10, "cifar100": 100}
MAX_MEMBER_BYTES = 400 * 2**20  # the largest CIFAR file is about 180 MB (CIFAR-100 python train)
SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers; refuses every other global."""

    def find_class(self, module, name):
        """Only what CIFAR's python batches hold (numpy arrays and dicts) may be unpickled.

        Args:
            module: the global's module.
            name: its name.

        Returns:
            The allowed global.

        Raises:
            DataError: any other global.
        """
        if (module, name) not in SAFE_GLOBALS:
            raise DataError(
                f"refusing to unpickle {module}.{name}: CIFAR files hold only arrays and dicts"
            )
        if module.startswith("numpy"):
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy < 2
                from numpy.core.multiarray import _reconstruct
            return {"_reconstruct": _reconstruct, "ndarray": np.ndarray, "dtype": np.dtype}[name]
        import codecs

        return codecs.encode


def read_files(root: Path, folder: str, archive: str, *, names: list[str]) -> list[bytes] | None:
    """The named files of a CIFAR data set, from its folder or its archive.

    Args:
        root: the data folder.
        folder: the data set's folder in it.
        archive: the data set's .tar.gz in it.
        names: the files.

    Returns:
        The files' bytes, or None if neither the folder nor the archive exists.
    """
    if (root / folder).is_dir():
        missing = [n for n in names if not (root / folder / n).is_file()]
        if missing:
            raise DataError(f"missing data file {root / folder / missing[0]}")
        return [(root / folder / n).read_bytes() for n in names]
    if (root / archive).is_file():
        try:
            with tarfile.open(root / archive, "r:gz") as tar:
                members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
                missing = [n for n in names if n not in members]
                if missing:
                    raise DataError(f"{root / archive} has no member {missing[0]}")
                too_big = [n for n in names if members[n].size > MAX_MEMBER_BYTES]
                if too_big:
                    raise DataError(
                        f"{root / archive}: member {too_big[0]} declares "
                        f"{members[too_big[0]].size} "
                        f"bytes, more than any CIFAR file ({MAX_MEMBER_BYTES})"
                    )
                return [tar.extractfile(members[n]).read() for n in names]
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(
                f"{root / archive} is not a readable .tar.gz archive ({exc}); download it again"
            ) from None
    return None


def parse_binary(raw: bytes, label_bytes: int, where: str):
    """Images and labels of CIFAR's binary layout.

    Args:
        raw: the file's bytes.
        label_bytes: the bytes before each image (1 for CIFAR-10, 2 for CIFAR-100: fine label last).
        where: the file, for the errors.

    Returns:
        (images [N, 32, 32, 3] uint8, labels [N] int32).

    Raises:
        DataError: not a whole number of records.
    """
    record = label_bytes + 3072
    if len(raw) % record:
        raise DataError(f"{where}: {len(raw)} bytes is not a whole number of {record}-byte records")
    rows = np.frombuffer(raw, np.uint8).reshape(-1, record)
    return rows[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), rows[
        :, label_bytes - 1
    ].astype(np.int32)


def parse_python(raw: bytes, label_key: bytes, where: str):
    """Images and labels of a CIFAR python batch, unpickled by ``ArraysOnly``.

    Args:
        raw: the file's bytes.
        label_key: ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100).
        where: the file, for the errors.

    Returns:
        (images [N, 32, 32, 3] uint8, labels [N] int32).

    Raises:
        DataError: not a CIFAR python batch.
    """
    try:
        batch = ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{where}: not a CIFAR python batch ({exc})") from None
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise DataError(
            f"{where}: not a CIFAR python batch (needs keys data and {label_key.decode()})"
        )
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[label_key])
    if data.ndim != 2 or data.shape[1] != 3072 or labels.ndim != 1 or len(labels) != len(data):
        raise DataError(
            f"{where}: {data.shape} images and {labels.shape} labels; expected [N, 3072] and [N]"
        )
    if data.dtype != np.uint8 or not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
        raise DataError(f"{where}: images must be uint8 and labels integers >= 0")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.int32)


def load_cifar(name: str, data_dir=None):
    """A CIFAR data set from the data folder (its binary or python version, unpacked or archived).

    Args:
        name: ``cifar10`` or ``cifar100``.
        data_dir: the data folder (default $FLA_DATA, else ~/.cache/fla).

    Returns:
        (x_train [50000, 32, 32, 3] uint8, y_train [50000], x_test [10000, 32, 32, 3], y_test
            [10000]).

    Raises:
        DataError: no data set there, or a damaged one.
    """
    if name not in LAYOUT:
        raise DataError(f"unknown dataset {name!r}; choose cifar10 or cifar100")
    root = resolve_data_dir(data_dir)
    for version, (folder, archive, train, test, key) in LAYOUT[name].items():
        files = read_files(root, folder, archive, names=train + test)
        if files is None:
            continue
        parse = parse_binary if version == "binary" else parse_python
        parts = [parse(raw, key, f"{root}/{n}") for raw, n in zip(files, train + test)]
        x_train = np.concatenate([p[0] for p in parts[: len(train)]])
        y_train = np.concatenate([p[1] for p in parts[: len(train)]])
        x_test = np.concatenate([p[0] for p in parts[len(train) :]])
        y_test = np.concatenate([p[1] for p in parts[len(train) :]])
        if y_train.max(initial=0) >= CLASSES[name] or y_test.max(initial=0) >= CLASSES[name]:
            raise DataError(f"{root}: labels beyond {CLASSES[name]} classes in {name}")
        return x_train, y_train, x_test, y_test
    options = " or ".join(f"{f}/ or {a}" for f, a, *_ in LAYOUT[name].values())
    raise DataError(
        f"missing {name} data: looked in {root} for {options}; pass --data-dir DIR or set FLA_DATA"
    )


def write_binary(folder: Path, name: str, x_train, *, y_train, x_test, y_test) -> None:
    """Write a data set in CIFAR's binary layout (for tests and small synthetic sets).

    Args:
        folder: the data folder.
        name: ``cifar10`` or ``cifar100``.
        x_train: [N, 32, 32, 3] uint8 images.
        y_train: [N] labels.
        x_test: [M, 32, 32, 3] uint8 images.
        y_test: [M] labels.
    """
    dirname, _, train, test, label_bytes = LAYOUT[name]["binary"]
    out = Path(folder) / dirname
    out.mkdir(parents=True, exist_ok=True)

    def records(x, y):
        labels = np.repeat(np.asarray(y, np.uint8)[:, None], label_bytes, axis=1)
        return np.concatenate(
            [labels, np.asarray(x, np.uint8).transpose(0, 3, 1, 2).reshape(len(x), -1)], 1
        ).tobytes()

    chunks = np.array_split(np.arange(len(x_train)), len(train))
    for fname, idx in zip(train, chunks):
        (out / fname).write_bytes(records(x_train[idx], y_train[idx]))
    (out / test[0]).write_bytes(records(x_test, y_test))


def normalise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """uint8 images as float32, scaled to [0, 1] and standardised per channel.

    Args:
        x: [N, 32, 32, 3] uint8 images.
        mean: [3] the training set's channel means.
        std: [3] its channel standard deviations.

    Returns:
        [N, 32, 32, 3] float32.
    """
    return ((x.astype(np.float32) / 255.0) - mean) / std
