"""A study as a resumable batch job: every configuration into its own directory, in parallel.

    fla sweep runs/xor.toml --out runs/xor --jobs 2

Each configuration is written by :func:`fla.sample.sample` (temporary names, renamed when complete,
run.json last). A sweep run again after an interruption (Ctrl-C, kill -9, a lost node) skips the
configurations whose run.json exists and redoes the others from scratch, so no row is duplicated or
missing. ``study.json`` in the output records the study; resuming with a different study is refused.

Parallelism: joblib worker processes (``--backend local``), each pinning TensorFlow's intra- and
inter-op thread pools to cores // jobs threads so that workers do not oversubscribe the machine; or a
dask.distributed cluster (``--backend dask --scheduler ADDRESS``; without an address a local cluster
of ``--jobs`` worker processes), whose workers must see the output and data directories.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from .errors import ConfigError
from .sample import SampleConfig, sample
from .store import RUN_JSON, write_json
from .study import Study, config_name, load_study

STUDY_JSON = "study.json"


def run_configuration(fields: dict, out: str, data_dir: str | None, threads: int) -> dict:
    """Worker: sample one configuration with TensorFlow pinned to ``threads`` threads."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    pin_threads(threads)
    meta = sample(SampleConfig(**fields), out, data_dir=data_dir, quiet=True)
    return {"out": out, "rows": meta["rows"], "wall_seconds": meta["wall_seconds"]}


def pin_threads(threads: int) -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started in this process: its pools are fixed
        pass


def config_fields(config: SampleConfig) -> dict:
    return {k: v for k, v in config.__dict__.items() if k != "activation"}


def prepare(study: Study, out: Path) -> list[tuple[SampleConfig, Path]]:
    """The configurations still to run; clears what an interrupted run left of them."""
    out.mkdir(parents=True, exist_ok=True)
    record = out / STUDY_JSON
    spec = json.loads(json.dumps(study.spec))
    if record.exists():
        if json.loads(record.read_text()) != spec:
            raise ConfigError(f"--out {out} holds another study ({record} differs); choose another --out")
    else:
        write_json(record, spec)
    todo = []
    for config in study.configurations():
        path = out / config_name(config)
        if (path / RUN_JSON).is_file():
            continue
        if path.exists():
            shutil.rmtree(path)  # an interrupted configuration: redo it whole
        todo.append((config, path))
    return todo


def walk_steps(config: SampleConfig) -> int:
    """Walk steps of a configuration, computed from sizes alone (no data loaded)."""
    from .networks import MLP
    from .problems import SIZES
    from .sample import walks_and_steps

    n_in, n_out = SIZES[config.problem]
    walks, steps = walks_and_steps(config, MLP(n_in, config.width, config.depth, n_out).n_params)
    return walks * steps


def sweep(study_path, out=None, jobs: int = 1, backend: str = "local", scheduler: str | None = None,
          data_dir=None, quiet: bool = False) -> dict:
    """Run every missing configuration of a study; returns a summary."""
    from tqdm import tqdm

    from .problems import NEEDS_DATA, load_problem

    if backend not in ("local", "dask"):
        raise ConfigError(f"--backend must be local or dask, got {backend!r}")
    if not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be an integer >= 1, got {jobs!r}")
    study = load_study(study_path)
    for problem in set(study.spec["problems"]) & NEEDS_DATA:
        load_problem(problem, data_dir)  # a missing data file fails here, before any work starts
    out = Path(out) if out else Path("runs") / study.name
    todo = prepare(study, out)
    total = len(study.configurations())
    threads = max(1, (os.cpu_count() or 1) // jobs)
    args = [(config_fields(c), str(p), None if data_dir is None else str(data_dir), threads) for c, p in todo]
    start, rows = time.time(), 0
    bar = tqdm(total=sum(walk_steps(c) for c, _ in todo), unit="step", unit_scale=True, disable=quiet,
               desc=f"{study.name}: {total - len(todo)}/{total} configurations")
    done = total - len(todo)
    for result in run_all(args, jobs, backend, scheduler):
        done += 1
        rows += result["rows"]
        bar.update(result["rows"])
        bar.set_description(f"{study.name}: {done}/{total} configurations")
    bar.close()
    summary = {"study": study.name, "out": str(out), "configurations": total, "ran": len(todo),
               "skipped": total - len(todo), "rows": rows, "seconds": round(time.time() - start, 1)}
    if not quiet:
        print(f"{study.name}: {summary['ran']} configurations run, {summary['skipped']} already done, "
              f"{rows:,} points in {summary['seconds']} s -> {out}")
    return summary


def run_all(args: list, jobs: int, backend: str, scheduler: str | None):
    """Results of run_configuration over args, as they complete."""
    if not args:
        return
    if backend == "dask":
        yield from run_dask(args, jobs, scheduler)
        return
    if jobs == 1:
        for a in args:
            yield run_configuration(*a)
        return
    from joblib import Parallel, delayed

    yield from Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(run_configuration)(*a) for a in args)


def run_dask(args: list, jobs: int, scheduler: str | None):
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None if scheduler else LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                  dashboard_address=None)
    with Client(scheduler or cluster) as client:
        futures = [client.submit(run_configuration, *a, pure=False) for a in args]
        for future in as_completed(futures):
            yield future.result()
    if cluster is not None:
        cluster.close()
