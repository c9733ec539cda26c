"""Studies: file validation, and a sweep killed with SIGKILL that resumes with exact row counts."""

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from fla.base import allocator
from fla.base.errors import ConfigError
from fla.studies.study import config_name, load_study
from fla.studies.sweep import sweep

TINY = """
name = "tiny"
problems = ["xor"]
widths = [1, 2]
depths = [1]
granularities = ["macro"]
bounds = [1, 10]
seeds = [0, 1]
walks = 8
steps = { macro = 30, micro = 50 }
"""


def study_file(tmp_path, text=TINY, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        ("widths = [1, 2]", "key 'widths' must be a non-empty list of integers"),
        ('problems = ["xor"]', "unknown key 'colour'"),
        ('problems = ["xor"]', "key 'problems' must be one of xor, mnist"),
        ("bounds = [1, 10]", "key 'bounds' must be a finite number > 0"),
        ("walks = 8", "key 'walks' must be an integer or a table"),
    ],
)
def test_malformed_study_files_name_the_key(tmp_path, change, message):
    replacement = {
        "key 'widths'": "widths = [1, 'a']",
        "unknown key": 'problems = ["xor"]\ncolour = "red"',
        "key 'problems'": 'problems = ["xor", "irs"]',
        "key 'bounds'": "bounds = [1, -10]",
        "key 'walks'": "walks = [8]",
    }
    new = next(v for k, v in replacement.items() if message.startswith(k) or k in message)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_study(study_file(tmp_path, TINY.replace(change, new)))


def test_study_expands_to_the_grid():
    study = load_study("runs/quick.toml")
    configs = study.configurations()
    assert len(configs) == 3 * 2 * 2 * 2
    assert sorted({c.width for c in configs}) == [2, 4, 20]  # h, 2h, 10h with h = 2
    assert {c.steps for c in configs if c.granularity == "micro"} == {200}
    for name in ("xor", "mnist"):
        assert len(load_study(f"runs/{name}.toml").configurations()) == 3 * 3 * 2 * 2


def rows_in(out):
    return sum(
        pq.read_metadata(p).num_rows
        for p in out.rglob("points.parquet")
        if (p.parent / "run.json").exists()
    )


@pytest.mark.slow  # 4-8 s; its fast neighbours cover the same code
def test_a_killed_sweep_resumes_with_nothing_duplicated_or_missing(tmp_path):
    path = study_file(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fla.cli", "sweep", str(path), "--out", str(out), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("*/run.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(out.glob("*/run.json")))
    assert 2 <= finished < 8, "kill the sweep mid-way"
    summary = sweep(path, out, quiet=True)
    assert summary["ran"] == 8 - finished and summary["skipped"] == finished
    assert rows_in(out) == 8 * 8 * 30
    for config in load_study(path).configurations():
        table = pq.read_table(
            out / config_name(config) / "points.parquet", columns=["walk", "step"]
        )
        assert table.num_rows == 240 and len(set(zip(*table.to_pydict().values()))) == 240
    assert not list(out.rglob(".*.tmp"))
    assert sweep(path, out, quiet=True)["ran"] == 0
    from analysis.report import write_report

    assert "8 configurations" in write_report(out).read_text()
    with pytest.raises(ConfigError, match="holds another study"):
        sweep(
            study_file(tmp_path, TINY.replace("walks = 8", "walks = 9"), "other.toml"),
            out,
            quiet=True,
        )


@pytest.mark.slow
def test_parallel_backends_write_the_same_data(tmp_path):
    path = study_file(tmp_path, TINY.replace("seeds = [0, 1]", "seeds = [0]"))
    sweep(path, tmp_path / "serial", quiet=True)
    sweep(path, tmp_path / "joblib", jobs=2, quiet=True)
    sweep(path, tmp_path / "dask", jobs=1, backend="dask", quiet=True)
    for config in load_study(path).configurations():
        tables = [
            pq.read_table(
                tmp_path / d / config_name(config) / "points.parquet"
            ).replace_schema_metadata()
            for d in ("serial", "joblib", "dask")
        ]
        for backend, table in zip(("joblib", "dask"), tables[1:]):
            differ = [
                name for name in table.column_names if not table[name].equals(tables[0][name])
            ]
            assert not differ, f"{config_name(config)}: {backend} differs from serial in {differ}"


@pytest.mark.slow
def test_sharded_runs_by_joblib_and_dask_equal_the_unsharded_one(tmp_path):
    """1,100 walks: chunks of 1,024, so shard_walks = 1024 splits each configuration in two."""
    base = (
        TINY.replace("seeds = [0, 1]", "seeds = [0]")
        .replace("bounds = [1, 10]", "bounds = [1]")
        .replace("widths = [1, 2]", "widths = [1]")
        .replace("walks = 8", "walks = 1100")
        .replace("steps = { macro = 30, micro = 50 }", 'steps = 4\nhessian = "none"')
    )
    whole = study_file(tmp_path, base, "whole.toml")
    sharded = study_file(tmp_path, base + "shard_walks = 1024\n", "sharded.toml")
    sweep(whole, tmp_path / "whole", quiet=True)
    assert sweep(sharded, tmp_path / "joblib", jobs=2, quiet=True)["tasks"] == 2
    sweep(sharded, tmp_path / "dask", jobs=2, backend="dask", quiet=True)
    name = config_name(load_study(whole).configurations()[0])
    assert sorted(p.name for p in (tmp_path / "joblib" / name).iterdir()) == [
        "walks_0-1024",
        "walks_1024-1100",
    ]
    columns = ["walk", "step", "loss", "grad_norm"]
    reference = pq.read_table(
        tmp_path / "whole" / name / "points.parquet", columns=columns
    ).to_pandas()
    reference = reference.sort_values(["walk", "step"], ignore_index=True)
    for backend in ("joblib", "dask"):
        from fla.base.store import read_points

        got = (
            read_points(tmp_path / backend, columns=columns)
            .to_pandas()
            .sort_values(["walk", "step"], ignore_index=True)
        )
        assert got.equals(reference)  # bitwise, read back through the analysis' reader
        # the workers kept their freed buffers too
        for manifest in (tmp_path / backend).rglob("run.json"):
            assert json.loads(manifest.read_text())["allocator"] == allocator.keep_freed_buffers()
    (tmp_path / "joblib" / name / "walks_1024-1100" / "points.parquet").unlink()
    assert sweep(sharded, tmp_path / "joblib", quiet=True)["ran"] == 1  # resumed shard by shard


def test_work_units_keep_an_architecture_together_unless_it_exceeds_a_workers_share(tmp_path):
    """Every task is in exactly one unit; units come most costly first (workers take the next as
    they finish one); a cheap architecture stays in one unit (compiled once), a costly one is
    split."""
    from fla.studies.tasks import Task, work_units
    from fla.walks.config import SampleConfig

    def task(width, cost, seed):
        config = SampleConfig("xor", width=width, depth=1, seed=seed)
        return Task(config, tmp_path / f"w{width}_s{seed}", None, 1, cost)

    tasks = [
        task(2, 1.0, 0),
        task(20, 10.0, 0),
        task(2, 2.0, 1),
        task(20, 12.0, 1),
        task(4, 3.0, 0),
    ]
    units = work_units(tasks, jobs=2)  # share: 28 / 2 = 14; width 20 costs 22, so it is split
    assert sorted(id(t) for u in units for t in u) == sorted(id(t) for t in tasks)
    costs = [sum(t.cost for t in u) for u in units]
    assert costs == sorted(costs, reverse=True) == [12.0, 10.0, 3.0, 3.0]
    assert [t.config.seed for t in units[2] + units[3] if t.config.width == 2] == [0, 1]
    assert all(len({t.config.width for t in u}) == 1 for u in units)
    assert work_units(tasks, jobs=1) == [[t] for t in tasks]
