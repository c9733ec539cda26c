"""The problem registry: shipped tabular sets, Fashion-MNIST, the user's own tables (issue 13)."""

import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import make_mnist

from fla.base import compile_cache
from fla.base.errors import DataError
from fla.cli import main
from fla.core.problems import SPLIT
from fla.core.registry import REGISTRY, load_problem, problem_spec

# Facts of the shipped files, counted from the UCI descriptions: rows and rows per class.
KNOWN = {
    "iris": (150, 4, [50, 50, 50]),
    "wine": (178, 13, [59, 71, 48]),
    "breast_cancer": (569, 30, [212, 357]),
    "digits": (1797, 64, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]),
}


@pytest.mark.parametrize("name", list(KNOWN))
def test_shipped_sets_match_their_known_facts_and_their_registry_record(name):
    rows, features, per_class = KNOWN[name]
    p = load_problem(name)
    spec = REGISTRY[name]
    assert (
        (p.n_inputs, p.n_outputs, p.kind)
        == (spec.n_inputs, spec.n_outputs, spec.kind)
        == (
            features,
            1 if len(per_class) == 2 else len(per_class),
            "binary" if len(per_class) == 2 else "multiclass",
        )
    )
    assert len(p.x_train) + len(p.x_test) == rows and p.batch_size is None
    counts = np.bincount(np.concatenate([p.y_train, p.y_test]))
    assert list(counts) == per_class
    # stratified: round(20%) of each class
    test_counts = np.bincount(p.y_test, minlength=len(per_class))
    assert list(test_counts) == [int(round(SPLIT["test_fraction"] * c)) for c in per_class]
    # standardised with the training split
    np.testing.assert_allclose(p.x_train.mean(0), 0, atol=1e-5)
    std = p.x_train.std(0)
    np.testing.assert_allclose(std[std > 0], 1, atol=1e-4)
    # ... not with the test split's statistics
    assert not np.allclose(p.x_test.mean(0), 0, atol=1e-3)
    assert p.info["split"] == SPLIT


def test_the_split_is_the_documented_one_and_only_rescales():
    """Rebuilt independently: per class in order, one seeded permutation, its first round(20%) to
    test; features scaled by the training split's mean and (population) standard deviation."""
    raw = pd.read_csv("fla/data/iris.csv")
    x, y = raw.drop(columns="class").to_numpy(), raw["class"].to_numpy()
    rng = np.random.default_rng(SPLIT["seed"])
    parts = [rng.permutation(np.flatnonzero(y == c)) for c in range(3)]
    train = np.sort(np.concatenate([p[10:] for p in parts]))
    test = np.sort(np.concatenate([p[:10] for p in parts]))
    mean, std = x[train].mean(0), x[train].std(0)
    p = load_problem("iris")
    np.testing.assert_allclose(p.x_train, (x[train] - mean) / std, atol=1e-5)
    np.testing.assert_allclose(p.x_test, (x[test] - mean) / std, atol=1e-5)
    np.testing.assert_array_equal(p.y_test, y[test])


def write_table(path, frame):
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_users_own_table_samples_and_sweeps_like_any_problem(tmp_path, capsys, suffix):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=40),
            "b": rng.normal(size=40),
            "label": ["x", "y"] * 20,
            "c": rng.normal(size=40),
        }
    )
    path = write_table(tmp_path / f"mine{suffix}", frame)
    spec = problem_spec(f"csv:{path}", "label")
    assert (spec.n_inputs, spec.kind, spec.minimal_width) == (3, "binary", 2)
    out = tmp_path / "run"
    assert (
        main(
            [
                "sample",
                f"csv:{path}",
                "--target",
                "label",
                "--width",
                "2",
                "--depth",
                "1",
                "--granularity",
                "macro",
                "--bound",
                "1",
                "--walks",
                "3",
                "--steps",
                "4",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    df = pq.read_table(out / "points.parquet").to_pandas()
    assert len(df) == 12 and df.test_loss.notna().all() and (df.problem == f"csv:{path}").all()
    study = tmp_path / "s.toml"
    study.write_text(
        f'name = "mine"\nproblems = ["csv:{path}"]\ntarget = "label"\nwidths = [1]\ndepths = [1]\n'
        'granularities = ["macro"]\nbounds = [1]\nseeds = [0]\nwalks = 3\nsteps = 4\n'
    )
    assert main(["sweep", str(study), "--out", str(tmp_path / "sweep"), "-q"]) == 0
    folders = [p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir()]
    assert len(folders) == 1 and folders[0].startswith("csv-mine-") and "/" not in folders[0]
    assert main(["report", str(tmp_path / "sweep")]) == 0


@pytest.mark.parametrize(
    "frame, target, message",
    [
        (
            pd.DataFrame({"a": ["u", "v", "w", "x"], "y": [0, 1, 0, 1]}),
            "y",
            "feature column 'a' is not numeric",
        ),
        (
            pd.DataFrame({"a": [1.0, np.nan, 2.0, 3.0], "y": [0, 1, 0, 1]}),
            "y",
            "column 'a' has missing values",
        ),
        (pd.DataFrame({"a": [1.0, 2.0, 2.0, 3.0], "y": [1, 1, 1, 1]}), "y", "holds a single class"),
        (
            pd.DataFrame({"a": [1.0, 2.0, 2.0, 3.0], "y": [0, 1, 0, 1]}),
            "kind",
            "no column 'kind'; columns are a, y",
        ),
    ],
)
def test_bad_user_tables_get_one_line_and_no_output(tmp_path, capsys, frame, target, message):
    path = write_table(tmp_path / "bad.csv", frame)
    status = main(
        [
            "sample",
            f"csv:{path}",
            "--target",
            target,
            "--width",
            "2",
            "--depth",
            "1",
            "--granularity",
            "macro",
            "--bound",
            "1",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert status == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_unreadable_tables(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="is not a readable Parquet table"):
        problem_spec(f"csv:{tmp_path / 'x.parquet'}")
    with pytest.raises(DataError, match="not found"):
        problem_spec(f"csv:{tmp_path / 'missing.csv'}")


def test_fashion_mnist_reads_its_own_folder_with_the_idx_reader(tmp_path):
    arrays = make_mnist(tmp_path / "fashion-mnist", seed=3)
    make_mnist(tmp_path, seed=4)  # MNIST's files, same names, one folder up: never mixed in
    p = load_problem("fashion_mnist", tmp_path)
    np.testing.assert_array_equal(p.y_train, arrays["train-labels-idx1-ubyte"])
    assert p.name == "fashion_mnist" and p.x_train.shape == (60, 784)
    with pytest.raises(DataError, match="fashion-mnist"):
        load_problem("fashion_mnist", tmp_path / "fashion-mnist")


def test_problems_lists_the_registry(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FLA_COMPILE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(compile_cache, "_STATE", {})  # as in a fresh process
    # restored, whatever main sets
    monkeypatch.setenv("TF_XLA_FLAGS", os.environ.get("TF_XLA_FLAGS", ""))
    assert main(["problems"]) == 0
    assert not (tmp_path / "cache").exists()  # it compiles nothing: no cache, no 4 MB write probe
    out = capsys.readouterr().out
    for name in REGISTRY:
        assert name in out
    assert "csv:PATH" in out
