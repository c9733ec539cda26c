"""A study's work, planned: its configurations and shards as tasks (skipping what verifies,
clearing what fla wrote in what does not), their predicted cost, and the units of work handed to
workers (a whole architecture where the balance allows, one compilation each; most costly first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fla.base.errors import ConfigError
from fla.base.files import LOCK, is_own_temporary, locked_by_another, write_json, writer_alive
from fla.base.store import OWN_FILES, read_manifest, verify
from fla.core.registry import input_provenance, same_data
from fla.studies.study import Study, config_name
from fla.walks.config import SampleConfig

STUDY_JSON = "study.json"


def clear_configuration(path: Path, keep=lambda entry: False) -> None:
    """Remove what fla wrote in an unfinished or damaged configuration folder (shard folders
    included, but what ``keep`` says); refuse to touch anything else.

    Args:
        path: the configuration's folder.
        keep: entry -> whether to keep it.

    Raises:
        ConfigError: an entry fla did not write.
    """
    holder = locked_by_another(path)
    if holder:
        raise ConfigError(f"{path} is being written by another fla process ({holder}); wait for it")
    entries = [e for e in path.iterdir() if not keep(e)]
    live = [e for e in entries if e.is_file() and writer_alive(e)]
    if live:
        raise ConfigError(
            f"{path} is being written by another fla process ({live[0].name}); wait for it"
        )
    own = lambda e: (
        (e.is_file() and (e.name in OWN_FILES + (LOCK,) or is_own_temporary(e, OWN_FILES)))
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
        if e.is_symlink():
            raise ConfigError(f"{e} is a link; fla does not delete through links: move it")
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
        """(problem, width, depth): the tasks that share one compiled walk program."""
        return (self.config.problem, self.config.width, self.config.depth)


def prepare(study: Study, out: Path, data_dir=None) -> tuple[list[Task], int]:
    """The tasks of a study still to run: a task is done when its folder verifies against the
    settings and walk range this study asks for and its manifest records the very data its problem
    reads now (sizes and SHA-256 of every input file); what fla wrote of the others is cleared. A
    configuration folder that is a link is refused (fla never deletes or writes through a link).

    Args:
        study: the ``Study``.
        out: its output folder.
        data_dir: the folder of data files.

    Returns:
        (the tasks still to run, how many tasks the study has).

    Raises:
        ConfigError: an --out holding another study, or something fla did not write where a
            configuration belongs.
    """
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
    todo, data = [], {}
    for task in tasks:
        refuse_links(task.path, out)
        if task.path.is_dir() and verify(task.path, task.config.fields(), task.walk_range) is None:
            key = (task.config.problem, task.config.target)
            if key not in data:
                data[key] = input_provenance(task.config.problem, data_dir, task.config.target)
            recorded = read_manifest(task.path).get("problem", {}).get("inputs")
            if recorded is not None and same_data(recorded, data[key]):
                continue
        if task.path.is_dir():
            clear_configuration(task.path)
        elif task.path.exists():
            raise ConfigError(
                f"{task.path} is a file where a configuration folder belongs; move it"
            )
        todo.append(task)
    return todo, len(tasks)


def study_gaps(run_dir) -> tuple[int, list[str]] | None:
    """What a study's output folder lacks. What reads a study checks it is whole with this
    (``--partial`` to go on without).

    Args:
        run_dir: a folder.

    Returns:
        (how many tasks its study has, the folders of those that are missing or do not verify,
            relative to it, each with why); None for a folder that holds no study.json.
    """
    from fla.studies.study import Study

    run_dir = Path(run_dir)
    record = run_dir / STUDY_JSON
    if not record.is_file():
        return None
    try:
        spec = json.loads(record.read_text())
        study = Study(spec.get("name", run_dir.name), spec)
        tasks = [
            task
            for config in study.configurations()
            for task in configuration_tasks(config, run_dir, study, clear=False)
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{record} is not a readable study record ({exc})") from None
    gaps = []
    for task in tasks:
        name = str(task.path.relative_to(run_dir))
        if not task.path.is_dir():
            gaps.append(f"{name} missing")
            continue
        problem = verify(task.path, task.config.fields(), task.walk_range)
        if problem:
            gaps.append(f"{name} damaged: {problem}")
    return len(tasks), gaps


def whole_study(run_dir, partial: bool = False) -> str | None:
    """Whether a study may be read.

    Args:
        run_dir: a folder.
        partial: go on with a study that is not whole.

    Returns:
        None for a whole study or a folder that holds none; with ``partial``, a label for every
            output ("partial: 6 of 8 tasks; missing ...").

    Raises:
        ConfigError: naming what is missing, for a study that is not whole without ``partial``.
    """
    gaps = study_gaps(run_dir)
    if gaps is None or not gaps[1]:
        return None
    total, missing = gaps
    names = "; ".join(missing[:3]) + (f"; and {len(missing) - 3} more" if len(missing) > 3 else "")
    if not partial:
        raise ConfigError(
            f"{run_dir} holds {total - len(missing)} of its study's {total} tasks ({names}); "
            "finish it with fla sweep, or pass --partial to read what is there"
        )
    return f"partial: {total - len(missing)} of {total} tasks ({names})"


def refuse_links(path: Path, out: Path) -> None:
    """fla never deletes or writes through a symbolic link.

    Args:
        path: a path inside ``out``.
        out: the output folder.

    Raises:
        ConfigError: ``path`` or a folder between it and ``out`` is a link.
    """
    for folder in [path, *path.parents]:
        if folder == out:
            return
        if folder.is_symlink():
            raise ConfigError(
                f"{folder} is a link (to {folder.resolve()}); fla does not write or delete through "
                "links: replace it with a folder"
            )


# walk steps a shard holds at most, by default (minutes on 2 cores for MNIST 784-10-10)
SHARD_WORK = 50_000_000


SHARD = "walks_{lo}-{hi}"


def configuration_tasks(
    config: SampleConfig, out: Path, study: Study, *, clear: bool = True
) -> list[Task]:
    """One task for a configuration whose walk steps fit in a shard, else one per shard of its walks
    (each a multiple of the plan's chunk, so a sharded run equals an unsharded one), in subfolders
    ``walks_LO-HI``.

    Args:
        config: the configuration.
        out: the study's output folder.
        study: the ``Study``.
        clear: remove what other shard sizes left in the folder.

    Returns:
        The ``Task`` list.
    """
    from fla.core.registry import problem_spec
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
    if clear and path.is_dir():  # what an unsharded run or other shard sizes left here goes
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
    """The estimated cost of one recorded point (a walk step and its share of curvature), for
    balancing workers (``python bench/bench_spectra.py`` prints the measurements on XOR): a walk
    step costs about depth + D / 100; an exact spectrum about 0.04 D^2; Lanczos about 300 walk steps
    a measured point. Rows chosen by ``grad-below`` are not known in advance and are not counted.

    Args:
        p: the plan.
        depth: the hidden layers.

    Returns:
        Microseconds on this project's 2-core machine.
    """
    step = depth + p.n_params / 100
    share = p.hessian_at.share(p.steps)
    if p.hessian in ("exact", "blocks"):
        return step + share * 0.04 * p.n_params**2
    return step + share * 300 * step if p.hessian == "lanczos" else step


def work_units(tasks: list[Task], jobs: int) -> list[list[Task]]:
    """Tasks grouped into units that one worker runs one after another, the most costly first. An
    architecture's tasks form one unit (the worker compiles it once) unless they cost more than a
    worker's share, then each is a unit of its own. Workers take the next unit as they finish one
    (longest processing time first), so the cost estimates need not be exact.

    Args:
        tasks: the tasks to run.
        jobs: the workers.

    Returns:
        The units.
    """
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
