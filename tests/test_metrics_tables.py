"""``fla metrics``: the per-configuration table against the walks' own rows, read whole or in
shards, and its files verified when read."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from fla.base.errors import DataError
from fla.cli import main
from fla.metrics import tables
from fla.metrics.tables import bootstrap_interval, read_metrics, run_metrics
from fla.walks.sample import SampleConfig, sample

CONFIG = SampleConfig("xor", width=2, depth=1, granularity="macro", bound=1.0, walks=40, steps=30)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("metrics") / "run"
    sample(CONFIG, out, quiet=True)
    return out


def test_each_measure_is_the_mean_over_walks_of_its_value_from_the_rows(run):
    table = run_metrics(run).set_index("measure")
    points = pq.read_table(run / "points.parquet").to_pandas().sort_values(["walk", "step"])
    walks = points.groupby("walk")
    expected = {
        "last_loss": walks.loss.last(),
        "best_loss": walks.loss.min(),
        "best_accuracy": walks.accuracy.max(),
        "last_accuracy": walks.accuracy.last(),
    }
    for measure, values in expected.items():
        assert table.loc[measure, "mean"] == pytest.approx(values.mean(), rel=1e-6)
        assert table.loc[measure, "std"] == pytest.approx(values.std(ddof=1), rel=1e-6)
        assert table.loc[measure, "walks"] == 40
        assert table.loc[measure, "ci_low"] <= table.loc[measure, "mean"]
        assert table.loc[measure, "mean"] <= table.loc[measure, "ci_high"]
    assert "last_test_loss" not in table.index  # XOR has no test split
    assert (table["sampler"] == "gradient").all() and (table["width"] == 2).all()


def test_shards_of_a_configuration_give_the_table_of_the_whole(tmp_path, monkeypatch):
    config = SampleConfig(
        "xor", width=2, depth=1, granularity="macro", bound=1.0, walks=1040, steps=8, hessian="none"
    )  # shards start at multiples of the chunk, 1024
    sample(config, tmp_path / "whole", quiet=True)
    folder = tmp_path / "sharded" / "xor"
    sample(config, folder / "walks_0-1024", quiet=True, walk_range=(0, 1024))
    sample(config, folder / "walks_1024-1040", quiet=True, walk_range=(1024, 1040))
    whole = run_metrics(tmp_path / "whole")
    monkeypatch.setattr(tables, "WALKS_PER_BLOCK", 100)  # blocks that straddle the shards
    sharded = run_metrics(tmp_path / "sharded")
    pd.testing.assert_frame_equal(whole, sharded)


def test_the_command_writes_verified_tables_and_refuses_damage(run, tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["metrics", str(run), "--out", str(out), "-q"]) == 0
    table = read_metrics(out.with_suffix(".parquet"))
    csv = pd.read_csv(out.with_suffix(".csv"), dtype={"reason": str}).fillna({"reason": ""})
    pd.testing.assert_frame_equal(table, csv, check_dtype=False)
    out.with_suffix(".csv").write_text("tampered\n")
    with pytest.raises(DataError, match="m.csv has 9 bytes"):
        read_metrics(out.with_suffix(".parquet"))
    broken = tmp_path / "broken"
    sample(CONFIG, broken, quiet=True)
    (broken / "endpoints.parquet").write_bytes(b"x")
    assert main(["metrics", str(broken)]) == 2
    assert "damaged" in capsys.readouterr().err and not (broken / "metrics.parquet").exists()


def test_the_bootstrap_interval_brackets_the_mean_and_is_exact_for_constants():
    values = np.random.default_rng(0).normal(3.0, 1.0, 400)
    low, high = bootstrap_interval(values)
    assert low < values.mean() < high
    assert high - low == pytest.approx(2 * 1.96 / np.sqrt(400), rel=0.15)
    assert bootstrap_interval(np.full(10, 2.5)) == (2.5, 2.5)


def test_a_run_whose_manifest_has_no_walk_range_is_read_by_its_walks(run, tmp_path):
    import json
    import shutil

    old = tmp_path / "old"
    shutil.copytree(run, old)
    manifest = json.loads((old / "run.json").read_text())
    del manifest["walk_range"]
    (old / "run.json").write_text(json.dumps(manifest))
    pd.testing.assert_frame_equal(run_metrics(old), run_metrics(run))


def test_a_diverged_walk_is_left_out_of_the_means_and_counted(tmp_path):
    losses = np.cumsum(np.random.default_rng(0).normal(size=(6, 50)), axis=1)
    losses[2, 30] = np.nan
    per_walk = tables.measure_blocks([{"loss": losses}], tables.MEASURES["random"], {})
    fem = per_walk["fem"][0]
    assert np.isnan(fem[2]) and np.isfinite(np.delete(fem, 2)).all()
    rows = {r["measure"]: r for r in tables.summary_rows({"sampler": "random"}, per_walk)}
    assert rows["fem"]["walks"] == 5 and np.isfinite(rows["fem"]["mean"])


def test_metrics_refuse_a_missing_folder_or_a_sampling_runs_folder_and_leave_nothing(run, tmp_path):
    from fla.base.errors import ConfigError
    from fla.base.store import RUN_JSON

    with pytest.raises(ConfigError, match="does not exist"):
        tables.write_metrics(run, tmp_path / "missing" / "m")
    with pytest.raises(ConfigError, match="holds a sampling run"):
        tables.write_metrics(run, run / "m")
    assert sorted(p.name for p in run.iterdir() if p.name.startswith("m.")) == []
    assert (run / RUN_JSON).exists()


def test_a_failed_write_leaves_no_table(run, tmp_path, monkeypatch):
    def broken(path, table):
        raise OSError(28, "No space left on device")

    out = tmp_path / "t"
    out.mkdir()
    monkeypatch.setattr(tables, "write_table", broken)
    with pytest.raises(OSError):
        tables.write_metrics(run, out / "m")
    assert [p.name for p in out.iterdir() if not p.name.startswith(".fla")] == []


def test_a_second_writer_of_the_same_folder_is_refused(run, tmp_path):
    from fla.base.errors import ConfigError
    from fla.base.files import folder_lock

    with folder_lock(tmp_path):
        with pytest.raises(ConfigError, match="another fla process"):
            tables.write_metrics(run, tmp_path / "m")
