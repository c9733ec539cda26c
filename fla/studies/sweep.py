"""A study as a resumable batch job: every configuration into its own directory, in parallel.

    fla sweep runs/xor.toml --out runs/xor --jobs 2

Each configuration is written by ``fla.walks.sample.sample`` (temporary names, renamed when
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

import os
import time
from dataclasses import dataclass
from pathlib import Path

from fla.base import allocator, compile_cache, quiet
from fla.base.errors import ConfigError, NonFiniteError
from fla.base.settings import check, choice, flag, integer, setting, text
from fla.base.store import read_manifest
from fla.studies.study import Study, load_study
from fla.studies.tasks import STUDY_JSON, Task, prepare, work_units
from fla.walks.sample import sample


def run_tasks(tasks: list, data_dir: str | None, threads: int) -> list[dict]:
    """Worker: run tasks one after another with TensorFlow pinned to ``threads`` threads (the tasks
    of one architecture share its compiled walk program).

    Args:
        tasks: the worker's ``Task`` list.
        data_dir: the folder of data files.
        threads: TensorFlow's intra-op threads.

    Returns:
        One ``run_task`` result per task.
    """
    allocator.keep_freed_buffers()
    compile_cache.enable()  # before TensorFlow's first compilation reads its flags
    quiet.import_tensorflow(threads)  # a worker's pools are fixed when TensorFlow starts
    results = []
    for task in tasks:
        results.append(run_task(task, data_dir))
        compile_cache.publish()  # a worker may be ended without its exit handlers
    return results


def run_task(task: Task, data_dir) -> dict:
    """One task of a sweep: a configuration, or a shard of its walks.

    Args:
        task: the ``Task``.
        data_dir: the folder of data files.

    Returns:
        {"out", "rows", "wall_seconds", "nonfinite_rows"} (a run with non-finite values is kept,
            written faithfully).
    """
    try:
        meta = sample(
            task.config,
            task.path,
            data_dir=data_dir,
            quiet=True,
            walk_range=task.walk_range,
            in_sweep=True,
        )
    except NonFiniteError:
        meta = read_manifest(task.path)  # written before the error was raised
    return {
        "out": str(task.path),
        "rows": meta["rows"],
        "wall_seconds": meta["wall_seconds"],
        "nonfinite_rows": meta["nonfinite_rows"],
    }


def preflight(study: Study, out: Path, data_dir=None) -> None:
    """Every configuration of the study checked as ``fla sample`` checks one before any work starts:
    its settings' meaning, its memory (``fla.walks.resources.fit_plan``) and, over the whole study,
    the disk its rows need (the same lower bound).

    Args:
        study: the ``Study``.
        out: the study's output folder.
        data_dir: the folder of data files.

    Raises:
        ConfigError: naming the study key that drives a refusal.
    """
    from fla.base.machine import check_disk
    from fla.core.registry import load_problem
    from fla.walks.config import check_meaning, plan
    from fla.walks.resources import fit_plan
    from fla.walks.sample import disk_lower_bound

    disk, rows, problems = 0.0, 0, {}
    for config in study.configurations():
        key = (config.problem, config.target)
        if key not in problems:
            problems[key] = load_problem(config.problem, data_dir, config.target)
        problem = problems[key]
        p = plan(config, (problem.n_inputs, problem.n_outputs), problem.batch_size is None)
        where = f"study {study.name}, {config.problem} width {config.width} depth {config.depth}"
        try:
            check_meaning(config, p, len(problem.x_train), style="key")
            fit_plan(config, p, problem)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        disk += disk_lower_bound(p, config, (0, p.walks))
        rows += p.walks * p.steps
    parent = out if out.is_dir() else next((q for q in out.parents if q.is_dir()), Path("."))
    check_disk(parent, disk, f"study {study.name}: {rows:,} rows", fix="use fewer walks or steps")


@dataclass(frozen=True)
class SweepSettings:
    """How ``fla sweep`` runs a study: in how many processes, and where."""

    jobs: int = setting(1, "configurations run in parallel", integer(at_least=1))
    backend: str = setting(
        "local",
        "local: joblib worker processes; dask: a dask.distributed cluster",
        choice("local", "dask"),
    )
    scheduler: str | None = setting(
        None, "dask scheduler address (default: a local cluster of --jobs workers)", text(True)
    )


def sweep(
    study_path,
    out=None,
    jobs: int = 1,
    *,
    backend: str = "local",
    scheduler: str | None = None,
    data_dir=None,
    quiet: bool = False,
) -> dict:
    """Run every missing configuration of a study (``fla sweep``); what is there and verifies is
    kept.

    Args:
        study_path: the study TOML file.
        out: the output folder (default ``runs/<study name>``).
        jobs: configurations run in parallel.
        backend: ``local`` (joblib worker processes) or ``dask``.
        scheduler: a dask scheduler's address (default a local cluster of ``jobs`` workers).
        data_dir: the folder of data files.
        quiet: no progress bar or summary.

    Returns:
        {"study", "out", "configurations", "tasks", "ran", "skipped", "rows", "seconds"}.

    Raises:
        ConfigError: bad settings or study, a bad --out, or more memory or disk than there is.
    """
    from fla.core.registry import load_problem, problem_spec

    check(SweepSettings(jobs, backend, scheduler), flag)
    study = load_study(study_path)
    for problem in study.spec[
        "problems"
    ]:  # a missing or malformed data file fails here, before any work
        if problem_spec(problem, study.spec.get("target")).needs_data:
            load_problem(problem, data_dir)
    out_folder = Path(out) if out else Path("runs") / study.name
    preflight(study, out_folder, data_dir)
    from fla.base.outputs import claim_folder

    out = Path(out) if out else Path("runs") / study.name
    # a study's folder resumes: prepare() checks it holds this study and what each folder holds
    with claim_folder(out, "fla sweep", (STUDY_JSON,), own=lambda e: True, resume=True):
        return _sweep(
            study, out, jobs, backend=backend, scheduler=scheduler, data_dir=data_dir, quiet=quiet
        )


def _sweep(
    study: Study, out: Path, jobs: int, *, backend: str, scheduler, data_dir, quiet: bool
) -> dict:
    from tqdm import tqdm

    todo, total = prepare(study, out, data_dir)
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
    for results in run_all(
        work_units(todo, jobs), data_dir, threads, jobs=jobs, backend=backend, scheduler=scheduler
    ):
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


def run_all(work: list, data_dir, threads: int, *, jobs: int, backend: str, scheduler: str | None):
    """Results of ``run_tasks`` over the lists of tasks in ``work``, as each list completes.

    Args:
        work: one list of tasks per worker.
        data_dir: the folder of data files.
        threads: TensorFlow's threads a worker.
        jobs: the workers.
        backend: ``local`` or ``dask``.
        scheduler: a dask scheduler's address.

    Returns:
        An iterator of each list's results.
    """
    if not work:
        return
    if backend == "dask":
        yield from run_dask(work, data_dir, threads, jobs=jobs, scheduler=scheduler)
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


def run_dask(work: list, data_dir, threads: int, *, jobs: int, scheduler: str | None):
    """``run_all`` on a dask.distributed cluster: a scheduler's, or a local cluster of ``jobs``
    workers.

    Args:
        work: one list of tasks per worker.
        data_dir: the folder of data files.
        threads: TensorFlow's threads a worker.
        jobs: the local cluster's workers.
        scheduler: a scheduler's address, or None.

    Returns:
        An iterator of each list's results.
    """
    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    # dask's default starts workers with MALLOC_TRIM_THRESHOLD_=65536, which fla.base.allocator
    # would respect; on fla's own cluster the workers keep their freed buffers as joblib's do
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
