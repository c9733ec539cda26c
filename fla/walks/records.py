"""What a sampling run writes beside its walks: the columns of each block of rows, the patterns
each row was measured on, and the run's metadata (versions, configuration, plan, device,
allocator, times).
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone

import numpy as np

from fla.base import allocator
from fla.base.version import __version__
from fla.walks import streams
from fla.walks.config import Plan, SampleConfig


def block_columns(rec: dict, first: int, n: int, *, step0: int, s: int, config) -> dict:
    """The Parquet columns of a block of s steps of walks first .. first + n - 1 (step-major rows).

    Args:
        rec: the walk program's records of the block.
        first: the first walk.
        n: the walks.
        step0: the block's first step.
        s: its steps.
        config: the run's configuration.

    Returns:
        {column: Arrow array} of points.parquet.
    """
    columns = {
        name: rec[name].reshape(s * n)
        for name in (
            "loss",
            "penalty",
            "accuracy",
            "grad_norm",
            "step_length",
            "test_loss",
            "test_accuracy",
        )
        if name in rec
    }
    for name in ("saturation", "saturated_units"):  # [s, n, layers]
        if name in rec:
            columns[name] = rec[name].reshape(s * n, -1)
    columns["walk"] = np.tile(np.arange(first, first + n, dtype=np.int32), s)
    columns["step"] = np.repeat(np.arange(step0, step0 + s, dtype=np.int32), n)
    if config.record_params:
        columns["params"] = rec["params"].reshape(s * n, -1)
    return columns


def patterns_of_rows(rows, first, n, *, step0, train_idx, p: Plan, config, problem):
    """The training patterns whose gradient drove each selected row's step
    (``fla.walks.measure.Patterns``): the whole set (full batch), the step's shared batch, or the
    walk's own batch, redrawn from its stream.

    Args:
        rows: the selected rows (walk and step).
        first: the block's first walk.
        n: its walks.
        step0: its first step.
        train_idx: [S, N] the block's shared batches.
        p: the run's plan.
        config: its configuration.
        problem: its problem.

    Returns:
        The ``Patterns`` of the rows.
    """
    from fla.walks.measure import Patterns

    if p.batching == "full":
        return Patterns(problem.x_train, problem.y_train)
    if p.batching == "shared":
        idx = train_idx[rows // n]
    else:
        idx = streams.walk_batch(
            config.seed,
            streams.TRAIN_BATCH,
            step0 + rows // n,
            walks=first + rows % n,
            size=config.batch_size,
            n=len(problem.x_train),
        ).numpy()
    return Patterns(problem.x_train, problem.y_train, idx)


def now() -> str:
    """The time now in UTC, ISO 8601 to the second (the manifest's ``start_time``).

    Returns:
        E.g. ``2026-12-02T13:34:12+00:00``.
    """
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def device_name(tf) -> str:
    """The device the walks ran on, for the manifest.

    Args:
        tf: the imported TensorFlow module.

    Returns:
        ``GPU: name`` or ``CPU: processor``.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU: {details.get('device_name', gpus[0].name)}"
    return f"CPU: {platform.processor() or platform.machine()}"


def metadata(config: SampleConfig, p: Plan, notes: dict, *, problem, tf) -> dict:
    """A sampling run's metadata (run.json, beside its files): the versions, the configuration and
    plan, the resources' notes, the problem, the random streams, the device, the allocator and the
    start time.

    Args:
        config: the run's configuration.
        p: its plan.
        notes: what ``fla.walks.resources.fit_plan`` noted.
        problem: the problem.
        tf: the imported TensorFlow module.

    Returns:
        The metadata dict.
    """
    import pyarrow

    return {
        "command": "fla sample",
        "fla_version": __version__,
        "tensorflow_version": tf.__version__,
        "numpy_version": np.__version__,
        "pyarrow_version": pyarrow.__version__,
        "python_version": platform.python_version(),
        "config": config.fields(),
        "plan": p.record(),
        "resources": notes,
        "problem": {
            "name": problem.name,
            "kind": problem.kind,
            "n_train": len(problem.x_train),
            "n_test": len(problem.x_test) if problem.has_test else 0,
            "batch_size": None if p.batching == "full" else config.batch_size,
            **problem.info,
        },
        "random_streams": "Philox4x32-10 keyed by (seed, stream), counted by (walk, coordinate, "
        "step); "
        "shared batches: numpy Philox4x64 keyed by (seed, step)",
        "device": device_name(tf),
        "allocator": allocator.setting(),
        "start_time": now(),
    }
