"""A study as a resumable batch job: every configuration into its own directory, in parallel.

    fla sweep runs/xor.toml --out runs/xor --jobs 2

Each configuration is written by :func:`fla.walks.sample.sample` (temporary names, renamed when
complete, the manifest run.json last). A sweep run again after an interruption (Ctrl-C, kill -9, a
lost node) keeps a configuration only if its manifest verifies (files, sizes, checksums, and the
settings this study asks for) and redoes the others from scratch, so no row is duplicated, missing
or made with other settings. ``study.json`` in the output records the study; resuming with a
different study is refused. One sweep at a time writes an output folder: it holds a lock
(``.fla-sweep.lock``, an advisory ``flock`` that the system releases when the process dies, so a
killed sweep leaves no stale lock), and a second sweep on the same folder is refused. A redone
configuration loses only the files fla writes there; anything else in its folder stops the sweep
with its name.

Parallelism: joblib worker processes (``--backend local``), each pinning TensorFlow's intra- and
inter-op thread pools to cores // jobs threads so that workers do not oversubscribe the machine; or
a dask.distributed cluster (``--backend dask --scheduler ADDRESS``; without an address a local
cluster of ``--jobs`` worker processes), whose workers must see the output and data directories.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from fla.base import allocator, compile_cache
from fla.base.errors import ConfigError, NonFiniteError
from fla.base.store import (
    LOCK,
    folder_lock,
    is_own_temporary,
    read_manifest,
    verify,
    write_json,
    writer_alive,
)
from fla.studies.study import Study, config_name, load_study
from fla.walks.sample import OWN_FILES, SampleConfig, sample

STUDY_JSON = "study.json"


def clear_configuration(path: Path, keep=lambda entry: False) -> None:
    """Remove what fla wrote in an unfinished or damaged configuration folder (shard folders
    included, but what ``keep`` says); refuse to touch anything else."""
    entries = [e for e in path.iterdir() if not keep(e)]
    live = [e for e in entries if e.is_file() and writer_alive(e)]
    if live:
        raise ConfigError(
            f"{path} is being written by another fla process ({live[0].name}); wait for it"
        )
    own = lambda e: (
        (e.is_file() and (e.name in OWN_FILES or is_own_temporary(e, OWN_FILES)))
        or (e.is_dir() and e.name.startswith("walks_") and all(own(f) for f in e.iterdir()))
    )
    foreign = [e.name for e in entries if not own(e)]
    if foreign:
        raise ConfigError(
            f"{path} must be redone but holds files fla did not write "
            f"({', '.join(sorted(foreign)[:3])}); "
            "move them elsewhere and run the sweep again"
        )
    for e in entries:
        if e.is_dir():
            clear_configuration(e)
            e.rmdir()
        else:
            e.unlink()


@dataclass(frozen=True)
class Task:
    """One unit of work: a configuration, or a shard of its walks, and the folder it writes."""

    config: SampleConfig
    path: Path
    walk_range: tuple[int, int] | None  # None: the whole configuration, unsharded
    walk_steps: int
    cost: (
        float  # estimated work in microseconds (walk steps times point_cost), for balancing workers
    )

    @property
    def architecture(self) -> tuple:
        return (self.config.problem, self.config.width, self.config.depth)


def run_tasks(tasks: list, data_dir: str | None, threads: int) -> list[dict]:
    """Worker: run tasks one after another with TensorFlow pinned to ``threads`` threads (the tasks
    of one architecture share its compiled walk program)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    allocator.keep_freed_buffers()
    compile_cache.enable()
    pin_threads(threads)
    results = []
    for task in tasks:
        results.append(run_task(task, data_dir))
        compile_cache.publish()  # a worker may be ended without its exit handlers
    return results


def run_task(task: Task, data_dir) -> dict:
    try:
        meta = sample(
            task.config, task.path, data_dir=data_dir, quiet=True, walk_range=task.walk_range
        )
    except NonFiniteError:
        meta = read_manifest(task.path)  # written before the error was raised
    return {
        "out": str(task.path),
        "rows": meta["rows"],
        "wall_seconds": meta["wall_seconds"],
        "nonfinite_rows": meta["nonfinite_rows"],
    }


def pin_threads(threads: int) -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started in this process: its pools are fixed
        pass


def prepare(study: Study, out: Path) -> tuple[list[Task], int]:
    """(the tasks still to run, how many tasks the study has): a task is done when its folder
    verifies against the settings and walk range this study asks for; what fla wrote of the others
    is cleared."""
    record = out / STUDY_JSON
    spec = json.loads(json.dumps(study.spec))
    if record.exists():
        try:
            same = json.loads(record.read_text()) == spec
        except ValueError:
            same = False
        if not same:
            raise ConfigError(
                f"--out {out} holds another study ({record} differs); choose another --out"
            )
    elif any(e.name != LOCK for e in out.iterdir()):
        raise ConfigError(
            f"--out {out} is not empty and holds no study; give a new or empty directory"
        )
    else:
        write_json(record, spec)
    tasks = [
        task
        for config in study.configurations()
        for task in configuration_tasks(config, out, study)
    ]
    todo = []
    for task in tasks:
        if task.path.is_dir() and verify(task.path, task.config.fields(), task.walk_range) is None:
            continue
        if task.path.is_dir():
            clear_configuration(task.path)
        elif task.path.exists():
            raise ConfigError(
                f"{task.path} is a file where a configuration folder belongs; move it"
            )
        todo.append(task)
    return todo, len(tasks)


# walk steps a shard holds at most, by default (minutes on 2 cores for MNIST 784-10-10)
SHARD_WORK = 50_000_000
SHARD = "walks_{lo}-{hi}"


def configuration_tasks(config: SampleConfig, out: Path, study: Study) -> list[Task]:
    """One task for a configuration whose walk steps fit in a shard, else one per shard of its walks
    (each a multiple of the plan's chunk, so a sharded run equals an unsharded one), in subfolders
    ``walks_LO-HI``."""
    from fla.core.problems import problem_spec
    from fla.walks.config import plan

    spec = problem_spec(config.problem, config.target)
    p = plan(config, spec.sizes, spec.batch_size is None)
    path = out / config_name(config)
    weight = point_cost(p, config.depth)
    per_shard = study.spec.get("shard_walks") or max(1, SHARD_WORK // p.steps)
    per_shard = max(p.chunk, per_shard // p.chunk * p.chunk)
    if per_shard >= p.walks:
        return [Task(config, path, None, p.walks * p.steps, p.walks * p.steps * weight)]
    ranges = [(lo, min(lo + per_shard, p.walks)) for lo in range(0, p.walks, per_shard)]
    names = {SHARD.format(lo=lo, hi=hi) for lo, hi in ranges}
    if path.is_dir():  # what an unsharded run or other shard sizes left here goes
        clear_configuration(path, keep=lambda e: e.name in names)
    return [
        Task(
            config,
            path / SHARD.format(lo=lo, hi=hi),
            (lo, hi),
            (hi - lo) * p.steps,
            (hi - lo) * p.steps * weight,
        )
        for lo, hi in ranges
    ]


def point_cost(p, depth: int) -> float:
    """Estimated cost of one recorded point (a walk step and its share of curvature), in
    microseconds on this 2-core machine, for balancing workers (``python bench/bench_spectra.py``
    prints the measurements on XOR): a walk step costs about depth + D / 100; an exact spectrum (the
    Hessian by second-order backpropagation and its float64 eigenvalues) about 0.04 D^2; Lanczos
    about 300 walk steps a measured point. Rows chosen by ``grad-below`` are not known in advance
    and are not counted."""
    from fla.walks.config import parse_hessian_at

    step = depth + p.n_params / 100
    kind, value = parse_hessian_at(p.hessian_at)
    share = {"all": 1.0, "last": 1.0 / p.steps, "every": 1.0 / (value or 1)}.get(kind, 0.0)
    if p.hessian in ("exact", "blocks"):
        return step + share * 0.04 * p.n_params**2
    return step + share * 300 * step if p.hessian == "lanczos" else step


def work_units(tasks: list[Task], jobs: int) -> list[list[Task]]:
    """Tasks grouped into units that one worker runs one after another, the most costly first. An
    architecture's tasks form one unit (the worker compiles it once) unless they cost more than a
    worker's share, then each is a unit of its own. Workers take the next unit as they finish one
    (longest processing time first), so the cost estimates need not be exact."""
    if jobs == 1:
        return [[t] for t in tasks]
    groups: dict = {}
    for task in tasks:
        groups.setdefault(task.architecture, []).append(task)
    share = sum(t.cost for t in tasks) / jobs
    units = []
    for group in groups.values():
        units += [group] if sum(t.cost for t in group) <= share else [[t] for t in group]
    return sorted(units, key=lambda unit: -sum(t.cost for t in unit))


def sweep(
    study_path,
    out=None,
    jobs: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    data_dir=None,
    quiet: bool = False,
) -> dict:
    """Run every missing configuration of a study; returns a summary."""
    from fla.core.problems import load_problem, problem_spec

    if backend not in ("local", "dask"):
        raise ConfigError(f"--backend must be local or dask, got {backend!r}")
    if not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be an integer >= 1, got {jobs!r}")
    study = load_study(study_path)
    for problem in study.spec[
        "problems"
    ]:  # a missing or malformed data file fails here, before any work
        if problem_spec(problem, study.spec.get("target")).needs_data:
            load_problem(problem, data_dir)
    out = Path(out) if out else Path("runs") / study.name
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory")
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out):
        return _sweep(study, out, jobs, backend, scheduler, data_dir, quiet)


def _sweep(
    study: Study, out: Path, jobs: int, backend: str, scheduler, data_dir, quiet: bool
) -> dict:
    from tqdm import tqdm

    todo, total = prepare(study, out)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    data_dir = None if data_dir is None else str(data_dir)
    start, rows, nonfinite, done = time.time(), 0, [], total - len(todo)
    bar = tqdm(
        total=sum(t.walk_steps for t in todo),
        unit="step",
        unit_scale=True,
        disable=quiet,
        desc=f"{study.name}: {done}/{total} tasks",
    )
    for results in run_all(work_units(todo, jobs), data_dir, threads, jobs, backend, scheduler):
        for result in results:
            done += 1
            rows += result["rows"]
            if result["nonfinite_rows"]:
                nonfinite.append(
                    f"{Path(result['out']).relative_to(out)} ({result['nonfinite_rows']} rows)"
                )
            bar.update(result["rows"])
        bar.set_description(f"{study.name}: {done}/{total} tasks")
    bar.close()
    summary = {
        "study": study.name,
        "out": str(out),
        "configurations": len(study.configurations()),
        "tasks": total,
        "ran": len(todo),
        "skipped": total - len(todo),
        "rows": rows,
        "seconds": round(time.time() - start, 1),
    }
    if not quiet:
        print(
            f"{study.name}: {summary['configurations']} configurations in {total} tasks: "
            f"{summary['ran']} run, "
            f"{summary['skipped']} already done and verified; {rows:,} points in "
            f"{summary['seconds']} s -> {out}"
        )
    if nonfinite:
        raise NonFiniteError(
            f"{len(nonfinite)} task(s) recorded non-finite losses or gradient norms: "
            f"{', '.join(nonfinite)}"
        )
    return summary


def run_all(work: list, data_dir, threads: int, jobs: int, backend: str, scheduler: str | None):
    """Results of run_tasks over the lists of tasks in ``work``, as each list completes."""
    if not work:
        return
    if backend == "dask":
        yield from run_dask(work, data_dir, threads, jobs, scheduler)
        return
    if jobs == 1:
        for tasks in work:
            yield run_tasks(tasks, data_dir, threads)
        return
    from joblib import Parallel, delayed

    # one unit at a time to each free worker: the next unit goes to whichever worker finishes first
    yield from Parallel(
        n_jobs=jobs, batch_size=1, pre_dispatch="n_jobs", return_as="generator_unordered"
    )(delayed(run_tasks)(tasks, data_dir, threads) for tasks in work)


DASK_TRIM_THRESHOLD = "65536"  # distributed.yaml's default, not a user's choice


def run_dask(work: list, data_dir, threads: int, jobs: int, scheduler: str | None):
    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    # dask's default starts workers with MALLOC_TRIM_THRESHOLD_=65536, which fla.base.allocator
    # would
    # respect; on fla's own cluster the workers keep their freed buffers as joblib's do
    spawn_environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    if str(spawn_environ.get("MALLOC_TRIM_THRESHOLD_")) == DASK_TRIM_THRESHOLD:
        del spawn_environ["MALLOC_TRIM_THRESHOLD_"]
    with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_environ}):
        cluster = (
            None
            if scheduler
            else LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None
            )
        )
    with Client(scheduler or cluster) as client:
        futures = [
            client.submit(run_tasks, tasks, data_dir, threads, pure=False, priority=len(work) - i)
            for i, tasks in enumerate(work)
        ]  # the most costly unit first, as joblib takes them
        for future in as_completed(futures):
            yield future.result()
    if cluster is not None:
        cluster.close()
