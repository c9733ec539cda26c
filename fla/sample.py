"""One sampling configuration -> one directory of Parquet data (see :mod:`fla.store`).

    >>> config = SampleConfig("xor", width=2, depth=1, granularity="macro", bound=1.0)
    >>> summary = sample(config, "out/xor-2-1")

Walks are split into chunks of ``chunk`` walks (all walks of a chunk advance together in one compiled
program) and steps into blocks bounded by memory. While the next block walks, a writer thread turns
the last one into rows (float64 spectra, curvature classes) and writes them: the small compiled walk
loop keeps about one core busy, and the spectra use the other. Random draws depend only on the seed and the chunk
size (recorded in the metadata): the initial points and each step's Delta on (seed, first walk of the
chunk), the mini-batches on (seed, step). The same seed and chunk give the same data.

Mini-batch problems (MNIST) draw, per step, a batch of ``batch_size`` training patterns and one of
test patterns. ``shared`` batching (the default) gives all walks of a step the same batch, drawn
without replacement, which makes the first layer of all walks one GEMM near the machine's matmul
peak; ``per_walk`` gives each walk its own batch (drawn with replacement: at 100 of 60,000 a
repeated pattern occurs in about 8% of batches), a batched skinny matmul, several times slower.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import __version__
from .errors import ConfigError
from .problems import PROBLEMS
from .store import (ENDPOINT_SCHEMA, ENDPOINTS, POINT_SCHEMA, POINTS, RUN_JSON, PartWriter,
                    table, write_json)
from .walks import DEFAULT_STEPS, GRANULARITY, step_size

HESSIAN_POLICIES = ("auto", "full", "none")
HESSIAN_MAX_PARAMS = 200  # auto: the full spectrum at every point up to this D (cost ~ D^3 a point)
BLOCK_BYTES = 256 * 2**20  # what one compiled call may return, bounding memory
PIPELINE_BLOCKS = 2  # steps run in (at least) this many blocks, so that writing overlaps walking (2 measured best of 1, 2, 4)


@dataclass(frozen=True)
class SampleConfig:
    problem: str
    width: int
    depth: int
    granularity: str
    bound: float
    walks: int | None = None  # default 10 * D
    steps: int | None = None  # default 1000 (micro), 100 (macro)
    seed: int = 0
    hessian: str = "auto"
    hessian_max_params: int = HESSIAN_MAX_PARAMS
    record_params: bool = False
    batching: str = "shared"  # mini-batch problems only: shared or per_walk
    batch_size: int = 100
    chunk: int | None = None  # walks per compiled program; default min(walks, 1024 or 256)
    flat_tolerance: float = 1e-5
    activation: str = field(default="elu", init=False)

    def validate(self) -> None:
        checks = [
            (self.problem in PROBLEMS, "problem", f"one of {', '.join(sorted(PROBLEMS))}"),
            (is_int(self.width) and self.width >= 1, "--width", "an integer >= 1"),
            (is_int(self.depth) and self.depth >= 1, "--depth", "an integer >= 1"),
            (self.granularity in GRANULARITY, "--granularity", "micro or macro"),
            (is_number(self.bound) and 0 < self.bound < math.inf, "--bound", "a finite number > 0"),
            (self.walks is None or (is_int(self.walks) and self.walks >= 1), "--walks", "an integer >= 1"),
            (self.steps is None or (is_int(self.steps) and self.steps >= 1), "--steps", "an integer >= 1"),
            (is_int(self.seed) and 0 <= self.seed < 2**31, "--seed", "an integer in [0, 2^31)"),
            (self.hessian in HESSIAN_POLICIES, "--hessian", f"one of {', '.join(HESSIAN_POLICIES)}"),
            (is_int(self.hessian_max_params) and self.hessian_max_params >= 1, "--hessian-max-params",
             "an integer >= 1"),
            (self.batching in ("shared", "per_walk"), "--batching", "shared or per_walk"),
            (is_int(self.batch_size) and self.batch_size >= 1, "--batch-size", "an integer >= 1"),
            (self.chunk is None or (is_int(self.chunk) and self.chunk >= 1), "--chunk", "an integer >= 1"),
            (is_number(self.flat_tolerance) and 0 <= self.flat_tolerance < 1, "--flat-tolerance",
             "a number in [0, 1)"),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise ConfigError(f"{name} must be {expected}, got {getattr(self, name.lstrip('-').replace('-', '_'), None)!r}")


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Plan:
    """What a configuration resolves to once the problem is known."""

    n_params: int
    walks: int
    steps: int
    step_size: float
    hessian: bool
    batching: str  # full, shared or per_walk
    chunk: int


def plan(config: SampleConfig, problem) -> Plan:
    from .networks import MLP

    network = MLP(problem.n_inputs, config.width, config.depth, problem.n_outputs)
    d = network.n_params
    batching = "full" if problem.batch_size is None else config.batching
    walks = config.walks or 10 * d
    hessian = config.hessian == "full" or (config.hessian == "auto" and d <= config.hessian_max_params)
    chunk = config.chunk or min(walks, 256 if batching == "per_walk" else 1024)
    return Plan(d, walks, config.steps or DEFAULT_STEPS[config.granularity],
                step_size(config.granularity, config.bound), hessian, batching, min(chunk, walks))


def check_out(out: Path) -> None:
    """Refuse an --out that holds another run; clear temporary files a killed run left behind."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory")
    for name in (RUN_JSON, POINTS, ENDPOINTS):
        if (out / name).exists():
            raise ConfigError(f"--out {out} already holds a run ({name}); choose another --out or delete it")
    for tmp in out.glob(".*.tmp") if out.is_dir() else []:
        tmp.unlink()


def sample(config: SampleConfig, out, data_dir=None, quiet: bool = False) -> dict:
    """Run one configuration into directory ``out``; returns the run's metadata."""
    from .problems import load_problem

    out = Path(out)
    config.validate()
    check_out(out)
    problem = load_problem(config.problem, data_dir)
    p = plan(config, problem)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _sample(config, p, problem, out, quiet)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _sample(config, p: Plan, problem, out: Path, quiet: bool) -> dict:
    import tensorflow as tf
    from tqdm import tqdm

    from .networks import MLP

    network = MLP(problem.n_inputs, config.width, config.depth, problem.n_outputs)
    program = walk_program(network, problem, p.hessian, config.record_params, p.batching)
    meta, t0 = metadata(config, p, problem, tf), time.time()
    constants = {"problem": config.problem, "width": config.width, "depth": config.depth,
                 "n_params": p.n_params, "activation": config.activation,
                 "granularity": config.granularity, "bound": float(config.bound),
                 "step_size": p.step_size, "seed": config.seed}
    writers = [PartWriter(out / POINTS, POINT_SCHEMA, meta), PartWriter(out / ENDPOINTS, ENDPOINT_SCHEMA, meta)]
    points, endpoints = writers
    shared = shared_batches(config, p, problem) if p.batching == "shared" else None
    per_step_bytes = 4 * (8 + p.n_params * config.record_params + p.n_params**2 * p.hessian)
    block = max(1, min(-(-p.steps // PIPELINE_BLOCKS), BLOCK_BYTES // (p.chunk * per_step_bytes)))
    bar = tqdm(total=p.walks * p.steps, unit="step", disable=quiet, desc=f"{config.problem} {network.name}")

    def record(rec, first, n, step0, s):  # runs in the writer thread
        points.write(table(POINT_SCHEMA, constants, block_columns(rec, first, n, step0, s, p, config), s * n))

    pool, pending = ThreadPoolExecutor(1, thread_name_prefix="fla-writer"), None
    try:
        for first in range(0, p.walks, p.chunk):
            n = min(p.chunk, p.walks - first)
            seeds = np.random.SeedSequence([config.seed, first])
            init_seed, key_seed, batch_seed = seeds.spawn(3)
            theta = network.initial_points(np.random.default_rng(init_seed), n, config.bound)
            key = tuple(int(k) for k in key_seed.generate_state(2, np.uint32))
            batch_rng = np.random.default_rng(batch_seed)
            for step0 in range(0, p.steps, block):
                s = min(block, p.steps - step0)
                train_idx, test_idx = batch_indices(p, problem, shared, batch_rng, step0, s, n, config)
                theta, rec = program.run(theta, p.step_size, key, step0, s, train_idx, test_idx)
                if pending is not None:
                    pending.result()  # at most one block waits: bounded memory, rows in order
                pending = pool.submit(record, rec, first, n, step0, s)
                bar.update(s * n)
            endpoints.write(table(ENDPOINT_SCHEMA, constants, {
                "walk": np.arange(first, first + n, dtype=np.int32),
                "step": np.full(n, p.steps, np.int32), "params": theta}, n))
        if pending is not None:
            pending.result()
        pool.shutdown()
        bar.close()
        meta.update(end_time=now(), wall_seconds=round(time.time() - t0, 3), rows=points.rows)
        for writer in writers:
            writer.commit(meta)
        write_json(out / RUN_JSON, meta)
    except BaseException:
        pool.shutdown(cancel_futures=True)
        bar.close()
        for writer in writers:
            writer.abort()
        raise
    if not quiet:
        rate = points.rows / max(meta["wall_seconds"], 1e-9)
        print(f"{points.rows} points ({p.walks} walks x {p.steps} steps) in {meta['wall_seconds']:.1f} s "
              f"({rate:,.0f} steps/s) -> {out / POINTS}")
    return meta


def block_columns(rec: dict, first: int, n: int, step0: int, s: int, p: Plan, config) -> dict:
    """The Parquet columns of a block of s steps of walks first .. first + n - 1 (step-major rows)."""
    import tensorflow as tf

    import pyarrow as pa

    from .curvature import curvature_arrow, eigenvalues

    columns = {name: rec[name].reshape(s * n) for name in
               ("loss", "accuracy", "grad_norm", "test_loss", "test_accuracy") if name in rec}
    columns["walk"] = np.tile(np.arange(first, first + n, dtype=np.int32), s)
    columns["step"] = np.repeat(np.arange(step0, step0 + s, dtype=np.int32), n)
    if "params" in rec:
        columns["params"] = rec["params"].reshape(s * n, -1)
    if p.hessian:
        eigs = eigenvalues(tf.reshape(rec["hessian"], [s * n, p.n_params, p.n_params]))
        columns.update(eigenvalues=eigs, eig_min=eigs[:, 0], eig_max=eigs[:, -1],
                       curvature=curvature_arrow(eigs, config.flat_tolerance),
                       hessian=pa.array(np.full(s * n, "exact"), mask=~np.isfinite(eigs).all(-1)))
    return columns


_PROGRAMS: dict = {}


def walk_program(network, problem, hessian: bool, record_params: bool, batching: str):
    """The compiled walk program for this network and problem, built once per process.

    A sweep runs many configurations (seeds, bounds, granularities) of one architecture in a
    worker; they share the program and so its XLA compilation (seconds) per input shape.
    """
    from .objective import Objective
    from .walks import WalkProgram

    key = (network, id(problem), hessian, record_params, batching)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = WalkProgram(Objective(network, problem), hessian, record_params, batching)
    return _PROGRAMS[key]


def shared_batches(config, p: Plan, problem):
    """Per step t, one training and one test batch (without replacement) drawn from (seed, t)."""
    n_train, n_test = len(problem.x_train), len(problem.x_test)
    size = min(config.batch_size, n_train)
    train, test = [], []
    for t in range(p.steps):
        rng = np.random.default_rng([config.seed, 2**31 + t])
        train.append(rng.choice(n_train, size, replace=False))
        test.append(rng.choice(n_test, min(config.batch_size, n_test), replace=False))
    return np.asarray(train, np.int32), np.asarray(test, np.int32)


def batch_indices(p: Plan, problem, shared, rng, step0: int, s: int, n: int, config):
    """Index arrays for a block of s steps: [s, N] shared, [s, n, N] per walk, or None (full batch)."""
    if p.batching == "full":
        return None, None
    if p.batching == "shared":
        return shared[0][step0:step0 + s], shared[1][step0:step0 + s]
    size = config.batch_size
    return (rng.integers(0, len(problem.x_train), (s, n, size), dtype=np.int32),
            rng.integers(0, len(problem.x_test), (s, n, size), dtype=np.int32))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def device_name(tf) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU: {details.get('device_name', gpus[0].name)}"
    return f"CPU: {platform.processor() or platform.machine()}"


def metadata(config: SampleConfig, p: Plan, problem, tf) -> dict:
    import pyarrow

    return {
        "fla_version": __version__, "tensorflow_version": tf.__version__, "numpy_version": np.__version__,
        "pyarrow_version": pyarrow.__version__, "python_version": platform.python_version(),
        "config": asdict(config), "plan": asdict(p), "problem": {
            "name": problem.name, "kind": problem.kind, "n_train": len(problem.x_train),
            "n_test": len(problem.x_test) if problem.has_test else 0,
            "batch_size": None if p.batching == "full" else config.batch_size},
        "device": device_name(tf), "start_time": now(),
    }
