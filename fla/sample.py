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

HESSIAN_POLICIES = ("auto", "full", "lanczos", "none")
HESSIAN_MAX_PARAMS = 200  # auto: the full spectrum up to this D (cost ~ D^3 a point), Lanczos above
LANCZOS_BYTES = 512 * 2**20  # bound on a Lanczos basis [points, steps, D] float64 held at once
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
    hessian_at: str = "auto"  # all, last, every:K, grad-below:X; auto = all (exact), last (lanczos)
    lanczos_tol: float = 1e-3
    lanczos_steps: int = 100
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
            (hessian_at_valid(self.hessian_at), "--hessian-at",
             "auto, all, last, every:K (K >= 1) or grad-below:X (X > 0)"),
            (is_number(self.lanczos_tol) and 0 < self.lanczos_tol < 1, "--lanczos-tol", "a number in (0, 1)"),
            (is_int(self.lanczos_steps) and self.lanczos_steps >= 2, "--lanczos-steps", "an integer >= 2"),
            (self.batching in ("shared", "per_walk"), "--batching", "shared or per_walk"),
            (is_int(self.batch_size) and self.batch_size >= 1, "--batch-size", "an integer >= 1"),
            (self.chunk is None or (is_int(self.chunk) and self.chunk >= 1), "--chunk", "an integer >= 1"),
            (is_number(self.flat_tolerance) and 0 <= self.flat_tolerance < 1, "--flat-tolerance",
             "a number in [0, 1)"),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise ConfigError(f"{name} must be {expected}, got {getattr(self, name.lstrip('-').replace('-', '_'), None)!r}")


def parse_hessian_at(spec: str):
    """'all' | 'last' | 'every:K' | 'grad-below:X' -> (kind, value); None if malformed."""
    kind, _, value = str(spec).partition(":")
    try:
        if kind in ("auto", "all", "last") and not value:
            return kind, None
        if kind == "every" and int(value) >= 1:
            return kind, int(value)
        if kind == "grad-below" and float(value) > 0:
            return kind, float(value)
    except ValueError:
        pass
    return None


def hessian_at_valid(spec) -> bool:
    return parse_hessian_at(spec) is not None


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
    hessian: str  # exact, lanczos or none
    hessian_at: str  # all, last, every:K or grad-below:X
    batching: str  # full, shared or per_walk
    chunk: int

    @property
    def keep_params(self) -> bool:
        """Whether the walk program must return every point's parameters (Lanczos needs them)."""
        return self.hessian == "lanczos"


def walks_and_steps(config: SampleConfig, n_params: int) -> tuple[int, int]:
    """The study's defaults where the configuration leaves them open: 10 D walks, 1000 or 100 steps."""
    return config.walks or 10 * n_params, config.steps or DEFAULT_STEPS[config.granularity]


def plan(config: SampleConfig, problem) -> Plan:
    from .networks import MLP

    network = MLP(problem.n_inputs, config.width, config.depth, problem.n_outputs)
    d = network.n_params
    batching = "full" if problem.batch_size is None else config.batching
    walks, steps = walks_and_steps(config, d)
    if config.hessian == "auto":
        hessian = "exact" if d <= config.hessian_max_params else "lanczos"
    else:
        hessian = {"full": "exact", "lanczos": "lanczos", "none": "none"}[config.hessian]
    at = config.hessian_at
    if at == "auto":
        at = "all" if hessian == "exact" else "last"
    chunk = config.chunk or min(walks, 256 if batching == "per_walk" else 1024)
    return Plan(d, walks, steps, step_size(config.granularity, config.bound), hessian, at, batching, min(chunk, walks))


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
    program = walk_program(network, problem, p.hessian == "exact", config.record_params or p.keep_params,
                           p.batching)
    meta, t0 = metadata(config, p, problem, tf), time.time()
    constants = {"problem": config.problem, "width": config.width, "depth": config.depth,
                 "n_params": p.n_params, "activation": config.activation,
                 "granularity": config.granularity, "bound": float(config.bound),
                 "step_size": p.step_size, "seed": config.seed}
    writers = [PartWriter(out / POINTS, POINT_SCHEMA, meta), PartWriter(out / ENDPOINTS, ENDPOINT_SCHEMA, meta)]
    points, endpoints = writers
    shared = shared_batches(config, p, problem) if p.batching == "shared" else None
    keep_params = config.record_params or p.keep_params
    per_step_bytes = 4 * (8 + p.n_params * keep_params + p.n_params**2 * (p.hessian == "exact"))
    block = max(1, min(-(-p.steps // PIPELINE_BLOCKS), BLOCK_BYTES // (p.chunk * per_step_bytes)))
    bar = tqdm(total=p.walks * p.steps, unit="step", disable=quiet, desc=f"{config.problem} {network.name}")

    def record(rec, first, n, step0, s, train_idx):  # runs in the writer thread
        columns = block_columns(rec, first, n, step0, s, p, config)
        columns.update(curvature_columns(rec, n, step0, s, p, config, program.objective, train_idx))
        points.write(table(POINT_SCHEMA, constants, columns, s * n))

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
                pending = pool.submit(record, rec, first, n, step0, s, train_idx)
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
              f"({rate:,.0f} steps/s, compilation included) -> {out / POINTS}")
    return meta


def block_columns(rec: dict, first: int, n: int, step0: int, s: int, p: Plan, config) -> dict:
    """The Parquet columns of a block of s steps of walks first .. first + n - 1 (step-major rows)."""
    columns = {name: rec[name].reshape(s * n) for name in
               ("loss", "accuracy", "grad_norm", "test_loss", "test_accuracy") if name in rec}
    columns["walk"] = np.tile(np.arange(first, first + n, dtype=np.int32), s)
    columns["step"] = np.repeat(np.arange(step0, step0 + s, dtype=np.int32), n)
    if config.record_params:
        columns["params"] = rec["params"].reshape(s * n, -1)
    return columns


def hessian_points(p: Plan, steps: np.ndarray, grad_norm: np.ndarray) -> np.ndarray:
    """Which rows get curvature, by the plan's ``hessian_at``: a bool mask."""
    kind, value = parse_hessian_at(p.hessian_at)
    if kind == "all":
        return np.ones(len(steps), bool)
    if kind == "last":
        return steps == p.steps - 1
    if kind == "every":
        return steps % value == 0
    return grad_norm < value


def curvature_columns(rec, n, step0, s, p: Plan, config, objective, train_idx) -> dict:
    """eig_min, eig_max, curvature, hessian (and the full eigenvalues when exact) for selected rows."""
    import pyarrow as pa
    import tensorflow as tf

    from .curvature import codes_arrow, curvature_codes, eigenvalues, extreme_codes

    if p.hessian == "none":
        return {}
    rows = np.flatnonzero(hessian_points(p, np.repeat(np.arange(step0, step0 + s), n), rec["grad_norm"].ravel()))
    eig_min, eig_max = np.full(s * n, np.nan), np.full(s * n, np.nan)
    codes = np.full(s * n, -1, np.int8)
    columns = {}
    if p.hessian == "exact" and rows.size:
        eigs = eigenvalues(tf.gather(tf.reshape(rec["hessian"], [s * n, p.n_params, p.n_params]), rows))
        eig_min[rows], eig_max[rows] = eigs[:, 0], eigs[:, -1]
        codes[rows] = curvature_codes(eigs, config.flat_tolerance)
        offsets = np.zeros(s * n + 1, np.int32)
        offsets[rows + 1] = p.n_params
        values = pa.array(eigs.astype(np.float32).ravel())
        columns["eigenvalues"] = pa.ListArray.from_arrays(pa.array(np.cumsum(offsets, dtype=np.int32)), values,
                                                          mask=pa.array(codes < 0))
    elif p.hessian == "lanczos" and rows.size:
        eig_min[rows], eig_max[rows], converged = lanczos_extremes(rec, rows, n, objective, train_idx, config)
        codes[rows] = np.where(converged, extreme_codes(eig_min[rows], eig_max[rows], config.flat_tolerance), -1)
    done = np.zeros(s * n, bool)
    done[rows] = np.isfinite(eig_min[rows])
    columns.update(eig_min=pa.array(eig_min, mask=~done), eig_max=pa.array(eig_max, mask=~done),
                   curvature=codes_arrow(codes),
                   hessian=pa.array(np.full(s * n, "exact" if p.hessian == "exact" else "lanczos"), mask=~done))
    return columns


def lanczos_extremes(rec, rows, n, objective, train_idx, config):
    """eig_min, eig_max and convergence at the selected rows, by batched Lanczos on the batch of
    the row's step (the one whose gradient drove it), in chunks bounding the basis' memory."""
    from .hessian import Hessian

    problem = objective.problem
    params = rec["params"].reshape(-1, objective.n_params)[rows]
    t, w = rows // n, rows % n
    if train_idx is None:
        x, y = problem.x_train, problem.y_train
    else:
        idx = train_idx[t] if train_idx.ndim == 2 else train_idx[t, w]
        x, y = problem.x_train[idx], problem.y_train[idx]
    per_chunk = max(1, LANCZOS_BYTES // (8 * config.lanczos_steps * objective.n_params))
    out = np.zeros((3, len(rows)))
    for start in range(0, len(rows), per_chunk):
        part = slice(start, start + per_chunk)
        xs, ys = (x, y) if train_idx is None else (x[part], y[part])
        h = Hessian(objective, params[part], xs, ys, seed=config.seed)
        result = h.eigenvalues(k=1, tol=config.lanczos_tol, max_steps=config.lanczos_steps)
        out[:, part] = result["min"][:, 0], result["max"][:, 0], result["converged"]
    return out[0], out[1], out[2].astype(bool)


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
