"""The Python front door (fla.api): docs/python.md's examples run as doctests, and the readers
agree with the Parquet files they read, refuse what fla did not write and push filters down."""

from __future__ import annotations

import doctest
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import fla
from fla.base.errors import ConfigError, DamagedRunError

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory):
    """A macro run of XOR (2-2-1, D = 9; 90 walks of 100 steps) sampled from Python."""
    folder = tmp_path_factory.mktemp("api") / "xor"
    return fla.sample("xor", width=2, depth=1, granularity="macro", bound=1.0, out=folder)


def test_the_python_page_runs_as_it_stands(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(DOCS / "python.md"), module_relative=False, optionflags=flags)
    assert result.attempted > 20
    assert result.failed == 0


def test_points_are_the_parquet_rows_filtered(xor_run):
    table = pq.read_table(xor_run.path / "points.parquet").to_pandas()
    points = xor_run.points(["walk", "step", "loss"], step=99)
    expected = table[table["step"] == 99][["walk", "step", "loss"]].reset_index(drop=True)
    assert list(points.columns) == ["walk", "step", "loss"]
    assert points.reset_index(drop=True).equals(expected)
    everything = xor_run.points()
    assert len(everything) == len(table) == 9000
    assert "params" not in everything and "eigenvalues" not in everything


def test_filters_on_values_no_row_has_give_no_rows(xor_run):
    assert xor_run.points(["loss"], width=3).empty
    assert len(xor_run.points(["loss"], width=2)) == 9000


def test_endpoints_are_each_walks_last_parameters(xor_run):
    ends = xor_run.endpoints()
    assert sorted(ends["walk"]) == list(range(90))
    assert {len(p) for p in ends["params"]} == {9}


def test_a_damaged_run_is_named_not_read(xor_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(xor_run.path, copy)
    with open(copy / "points.parquet", "r+b") as handle:
        handle.seek(100)
        handle.write(b"\0" * 8)
    with pytest.raises(DamagedRunError, match="copy: points.parquet does not match"):
        fla.open(copy).points(["loss"])


def test_a_folder_that_is_not_there_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        fla.open(tmp_path / "nothing")


def test_an_unknown_figure_names_the_choices(xor_run):
    with pytest.raises(ConfigError, match="lg, curvature, accuracy or metrics"):
        xor_run.figure("histogram")


def test_sample_refuses_a_bad_setting_before_it_writes(tmp_path):
    with pytest.raises(ConfigError, match="width"):
        fla.sample("xor", width=0, depth=1, granularity="macro", bound=1.0, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda run: run.report(max_points=0), "--max-points must be an integer >= 1, got 0"),
        (lambda run: run.measures(neutrality_epsilon=1.0), "--neutrality-epsilon must be"),
        (lambda run: run.attractors(l2=-1.0), "--l2 must be a finite number >= 0, got -1.0"),
        (lambda run: run.attractors(l2=float("nan")), "--l2 must be a finite number >= 0"),
    ],
    ids=["report", "measures", "attractors", "attractors-nan"],
)
def test_python_callers_meet_the_checks_the_flags_meet(xor_run, call, words):
    """The settings are checked where the work is done, so a notebook is refused as the command
    line is, with nothing written."""
    before = sorted(p.name for p in xor_run.path.iterdir())
    with pytest.raises(ConfigError, match=re.escape(words)):
        call(xor_run)
    assert sorted(p.name for p in xor_run.path.iterdir()) == before


def test_fla_exports_exactly_its_front_door():
    assert sorted(fla.__all__) == ["Results", "__version__", "open", "sample", "sweep"]
    assert fla.open is fla.api.open
    with pytest.raises(AttributeError):
        fla.read_points  # noqa: B018 - an old name is not an export
    assert os.environ.get("FLA_TRACEBACK") == "1"


def test_sharpness_from_python_measures_every_end_and_reads_back(xor_run, tmp_path):
    table = xor_run.sharpness(tmp_path / "s", measures=["epsilon"])
    ends = xor_run.endpoints()
    assert len(table) == len(ends) and table.eps_sharpness.notna().all()
    assert "adaptive_worst" not in table
    import pandas as pd

    pd.testing.assert_frame_equal(fla.open(tmp_path / "s").sharpness(), table)


def test_spawn_from_python_writes_and_reads_back(xor_run, tmp_path):
    table = xor_run.spawn(tmp_path / "s", at=[0, 50], copies=2)
    assert len(table) == 2 * len(xor_run.endpoints())  # a pair of copies a walk and K
    assert set(table["at"]) == {0, 50} and (table.error_barrier >= 0).all()
    import pandas as pd

    back = fla.open(tmp_path).spawn()
    pd.testing.assert_frame_equal(back.drop(columns="run"), table)
    assert set(back.run) == {"s"}
