"""Classification problems and their loaders; ``fla.core.registry`` holds one record per problem.

A ``Problem`` holds float32 inputs and integer labels. ``kind`` is ``binary`` (one output read
through a sigmoid, labels 0/1) or ``multiclass`` (one output per class, softmax). ``batch_size`` is
None for full-batch problems (XOR and the tabular sets: every step uses all training patterns) and
the mini-batch size otherwise (MNIST: 100 random training patterns per step, as in Bosman et al.).

Each ``ProblemSpec`` says what a problem is before its data are read (sizes, kind, minimal
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

Tabular sets are split once, stratified, 80/20 with a fixed seed (``SPLIT``), and standardised
with the training split's mean and standard deviation; the split is recorded in each run's metadata.

    >>> problem = xor()
    >>> problem.x_train.shape, problem.n_outputs
    ((4, 2), 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from fla.base.errors import DataError
from fla.core.readers import MNIST_FILES, find_file, read_idx, resolve_data_dir

SPLIT = {"test_fraction": 0.2, "seed": 0, "stratified": True}


@dataclass(frozen=True)
class Problem:
    """A classification problem's data: float32 inputs x [N, n_inputs] and integer labels y [N] for
    the training split and, where there is one, the test split; ``kind`` ``binary`` (one sigmoid
    output) or ``multiclass`` (softmax); ``batch_size`` None for a full-batch problem; ``info`` what
    the manifest records (split, source, preprocessing).
    """

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
        """Whether the problem has a test split."""
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
    inputs: Callable = lambda data_dir=None: []  # data_dir -> the files its load reads

    @property
    def n_outputs(self) -> int:
        """The network's outputs: 1 (one sigmoid) for a binary problem, else the classes."""
        return 1 if self.kind == "binary" else self.n_classes

    @property
    def sizes(self) -> tuple[int, int]:
        """(n_inputs, n_outputs), what a plan needs before the data are read."""
        return self.n_inputs, self.n_outputs


def xor(data_dir=None) -> Problem:
    """The four XOR patterns, one sigmoid output; no test split.

    Args:
        data_dir: the data folder (default $FLA_DATA, else ~/.cache/fla).

    Returns:
        The ``Problem``.
    """
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.int32)
    return Problem("xor", x, y, None, None, n_inputs=2, n_outputs=1, kind="binary")


def mnist(data_dir=None, batch_size: int = 100) -> Problem:
    """MNIST (LeCun et al.) from its IDX files: 784 inputs in [0, 1], 10 classes, 60,000/10,000.

    Args:
        data_dir: the data folder (default $FLA_DATA, else ~/.cache/fla).
        batch_size: the mini-batch size walks draw.

    Returns:
        The ``Problem``.

    Raises:
        DataError: missing or malformed files, naming where they were looked for.
    """
    return idx_images("mnist", (".", "mnist"), data_dir, batch_size=batch_size)


def mnist_files(data_dir=None) -> list:
    """MNIST's four IDX files.

    Args:
        data_dir: the data folder (default $FLA_DATA, else ~/.cache/fla).

    Returns:
        Their paths.
    """
    return idx_files("mnist", (".", "mnist"), data_dir)


def fashion_mnist_files(data_dir=None) -> list:
    """Fashion-MNIST's four IDX files.

    Args:
        data_dir: the data folder (default $FLA_DATA, else ~/.cache/fla).

    Returns:
        Their paths.
    """
    return idx_files("fashion_mnist", FASHION_FOLDERS, data_dir)


FASHION_FOLDERS = ("fashion-mnist", "fashion_mnist")


def fashion_mnist(data_dir=None, batch_size: int = 100) -> Problem:
    """Fashion-MNIST (Xiao, Rasul and Vollgraf 2017): MNIST's format and names, in fashion-mnist/.

    Args:
        data_dir: the data folder (default $FLA_DATA, else ~/.cache/fla).
        batch_size: the mini-batch size walks draw.

    Returns:
        The ``Problem``.

    Raises:
        DataError: missing or malformed files.
    """
    return idx_images("fashion_mnist", FASHION_FOLDERS, data_dir, batch_size=batch_size)


def tabular(name: str, frame, target: str | None, *, where: str) -> Problem:
    """Numeric features and a class column as a standardised, stratified 80/20 full-batch problem.

    Args:
        name: the problem's name.
        frame: the table (pandas).
        target: the class column (default the last).
        where: the table's source, for the errors.

    Returns:
        The ``Problem``.

    Raises:
        DataError: naming the column: no rows, no such class column, no features, a non-numeric or
            non-finite feature, missing values, a single class, a class without a test pattern, or
            statistics float64 cannot hold.
    """
    if len(frame) == 0:
        raise DataError(f"{where}: the table has a header and no rows; give it its patterns")
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
        column = features.columns[~np.isfinite(x).all(0)][0]
        raise DataError(f"{where}: feature column {column!r} holds a value that is not finite")
    train, test = split_with_every_class(y, classes, target, where=where)
    mean, std = standardisation(x[train], features.columns, where)
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


def plain(value):
    """A numpy scalar as the Python value it holds (for messages).

    Args:
        value: a value.

    Returns:
        The plain value.
    """
    return value.item() if hasattr(value, "item") else value


def split_with_every_class(y, classes, target, *, where):
    """The stratified split, refused if it leaves a class without a test pattern (a class of one or
    two patterns, or a continuous column read as the class column).

    Args:
        y: [N] class labels.
        classes: the classes.
        target: the class column's name.
        where: the table's source.

    Returns:
        (train indices, test indices).

    Raises:
        DataError: a class without a test pattern.
    """
    train, test = stratified_split(y, SPLIT["test_fraction"], SPLIT["seed"])
    counts = np.bincount(y, minlength=len(classes))
    lonely = np.flatnonzero(np.bincount(y[test], minlength=len(classes)) == 0)
    if len(lonely):
        raise DataError(
            f"{where}: {len(lonely)} of the {len(classes)} classes of {target!r} (e.g. "
            f"{plain(classes[lonely[0]])!r}, {counts[lonely[0]]} pattern(s)) get no test "
            f"pattern in the {1 - SPLIT['test_fraction']:.0%}/{SPLIT['test_fraction']:.0%} split: "
            "each class needs 3 or more patterns; merge or drop the small classes, or name the "
            "class column with --target"
        )
    return train, test


def standardisation(x, columns, where):
    """The training features' mean and standard deviation, per column; a constant column keeps std
    1.

    Args:
        x: [N, n] training features.
        columns: their names.
        where: the table's source.

    Returns:
        (mean [n], std [n]).

    Raises:
        DataError: statistics that overflow float64, or a column that varies only in digits float64
            cannot hold.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = x.mean(0), x.std(0)
    bad = ~(np.isfinite(mean) & np.isfinite(std))
    if bad.any():
        column = columns[np.flatnonzero(bad)[0]]
        raise DataError(
            f"{where}: feature column {column!r} holds values too large to standardise (up to "
            f"{np.abs(x[:, bad]).max():.3g}); rescale it"
        )
    lost = (std > 0) & (std < 1e-12 * np.abs(mean))
    if lost.any():
        column = columns[np.flatnonzero(lost)[0]]
        raise DataError(
            f"{where}: feature column {column!r} varies only in its last digits (std "
            f"{std[lost][0]:.3g} around {mean[lost][0]:.3g}); subtract its offset before saving"
        )
    return mean, np.where(std > 0, std, 1.0)


def stratified_split(y: np.ndarray, test_fraction: float, seed: int):
    """Per class a seeded permutation, round(fraction x count) of it to test.

    Args:
        y: [N] class labels.
        test_fraction: the share held out.
        seed: the permutation's seed.

    Returns:
        (train indices, test indices).
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        k = int(round(test_fraction * len(members)))
        test.append(members[:k])
        train.append(members[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def idx_files(name: str, folders: tuple[str, ...], data_dir=None) -> list:
    """The four IDX files of an image set: training images and labels, test images and labels.

    Args:
        name: the set's name.
        folders: the folders of the data folder they may lie in.
        data_dir: the data folder (default $FLA_DATA, else ~/.cache/fla).

    Returns:
        Their paths.

    Raises:
        DataError: a file found in none of the folders, naming them.
    """
    root = resolve_data_dir(data_dir)
    return [find_file(root, stem, folders, name=name) for stem in MNIST_FILES.values()]


def idx_images(
    name: str, folders: tuple[str, ...], data_dir=None, *, batch_size: int = 100
) -> Problem:
    """A 28 x 28 grey-scale set of 10 classes in LeCun's IDX files (MNIST, Fashion-MNIST): 784
    inputs scaled to [0, 1], the 60,000/10,000 split of the files.

    Args:
        name: the set's name.
        folders: the folders of the data folder they may lie in.
        data_dir: the data folder (default $FLA_DATA, else ~/.cache/fla).
        batch_size: the mini-batch size walks draw.

    Returns:
        The ``Problem``.

    Raises:
        DataError: missing or malformed files.
    """
    root = resolve_data_dir(data_dir)
    files = idx_files(name, folders, data_dir)
    arrays = {key: read_idx(path) for key, path in zip(MNIST_FILES, files)}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(
                f"{name} {split} images {x.shape} and labels {y.shape} do not match in {root}"
            )
        if x.shape[1:] != (28, 28):
            raise DataError(f"{name} {split} images are {x.shape[1:]}, expected 28 x 28, in {root}")
        if len(x) == 0:
            raise DataError(f"{name} {split} files in {root} hold no patterns")
        if x.dtype != np.uint8:
            raise DataError(
                f"{name} {split} images in {root} are stored as {x.dtype}, not unsigned bytes "
                "(IDX type 0x08, pixels 0..255, as MNIST's files are); convert them"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{name} {split} labels in {root} are {y.dtype}, not integers")
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
        info={"source": str(root), "scaled": "pixel / 255 (IDX unsigned bytes)"},
    )
