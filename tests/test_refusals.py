"""What fla refuses before any work, in one line with exit 2: one row per class of failure found
by fuzzing every command (work that cannot finish, tracebacks, damaged manifests believed, settings
that mean nothing, locks held too briefly, misleading lines). Each row failed on the commit this
table was written against (98327ca); the output-rule rows are tests/test_outputs.py."""

import json

import pyarrow.parquet as pq
import pytest
from helpers import TINY, XOR, make_mnist, one_line, run

from fla.cli import main

LANDSCAPE = "hidden = [1]\nl2 = [0.1]\nchains = 4\nsteps = 2\nbudget = 1\n"


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    root = tmp_path_factory.mktemp("refusals")
    argv = [*XOR, "--walks", "4", "--steps", "5", "--record-params", "--out", str(root / "run")]
    assert main([*argv, "-q"]) == 0
    return root


def refused(argv, capsys, *words):
    status, err = run(argv, capsys)
    assert status == 2 and one_line(err), err
    for word in words:
        assert word in err, (word, err)
    return err


def edited(run_dir, target, change):
    """A copy of a run whose run.json is edited by ``change`` and re-checksummed nowhere else: the
    manifest lies, its files are intact."""
    import shutil

    shutil.copytree(run_dir, target)
    manifest = json.loads((target / "run.json").read_text())
    change(manifest)
    (target / "run.json").write_text(json.dumps(manifest))
    return target


def without_loss(run_dir, target):
    """A copy of a run whose points.parquet lost its loss column, its manifest rewritten to match
    (checksums that verify: only the data's shape can tell)."""
    import shutil

    from fla.base.files import file_record

    shutil.copytree(run_dir, target)
    table = pq.read_table(target / "points.parquet")
    pq.write_table(table.drop(["loss"]), target / "points.parquet")
    manifest = json.loads((target / "run.json").read_text())
    manifest["files"]["points.parquet"] = file_record(target / "points.parquet")
    (target / "run.json").write_text(json.dumps(manifest))
    return target


# -- work that cannot finish, refused with the setting that drives it ---------------------------
def test_a_network_too_deep_to_compile(capsys, tmp_path):
    refused([*XOR[:5], "100000", *XOR[6:], "--out", tmp_path / "o"], capsys, "--depth", "100")
    assert not (tmp_path / "o").exists()


def test_a_study_too_large_for_the_disk_starts_no_task(capsys, tmp_path):
    (tmp_path / "s.toml").write_text(TINY.replace("walks = 6", "walks = 1000000000000"))
    refused(["sweep", tmp_path / "s.toml", "--out", tmp_path / "o"], capsys, "would write")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "text, words",
    [
        (LANDSCAPE.replace("steps = 2", "steps = 1000000000000"), ["key 'steps'", "days"]),
        (LANDSCAPE.replace("hidden = [1]", "hidden = [100000]"), ["key 'hidden'"]),
        (LANDSCAPE.replace("l2 = [0.1]", "l2 = [1e308]"), ["key 'l2'", "overflows"]),
        (LANDSCAPE + "step = 1e308\n", ["key 'step'", "overflows"]),
    ],
    ids=["steps", "hidden", "l2", "step"],
)
def test_landscape_studies_that_cannot_finish_or_overflow(capsys, tmp_path, text, words):
    (tmp_path / "l.toml").write_text(text)
    refused(["landscape", tmp_path / "l.toml", "--out", tmp_path / "o"], capsys, *words)
    assert not (tmp_path / "o").exists()


def test_connect_settings_that_cannot_fit_or_overflow(sampled, capsys, tmp_path):
    (tmp_path / "c.toml").write_text("methods = ['bezier']\n[bezier]\npoints = 100000000000\n")
    argv = ["connect", sampled / "run", "--config", tmp_path / "c.toml", "--out", tmp_path / "o"]
    refused(argv, capsys, "[bezier] points")
    argv = ["connect", sampled / "run", "--l2", "1e308", "--out", tmp_path / "o"]
    refused(argv, capsys, "--l2", "overflows")
    assert not (tmp_path / "o").exists()


# -- tracebacks, now one line ---------------------------------------------------------------------
def test_a_negative_slice_seed(sampled, capsys, tmp_path):
    refused(["slice", sampled / "run", "--seed", "-1", "--out", tmp_path / "o"], capsys, "--seed")


@pytest.mark.parametrize("command", ["slice", "connect", "metrics", "report", "sharpness"])
def test_a_manifest_that_disagrees_with_its_data_is_named_not_believed(
    sampled, capsys, tmp_path, command
):
    wrong = edited(sampled / "run", tmp_path / "run", lambda m: m["config"].update(width=3))
    argv = [command, wrong] + (
        ["--out", tmp_path / "o"] if command in ("slice", "connect", "sharpness") else []
    )
    refused(argv, capsys, "width")


@pytest.mark.parametrize("command", ["metrics", "report"])
def test_a_missing_column_is_named(sampled, capsys, tmp_path, command):
    damaged = without_loss(sampled / "run", tmp_path / "run")
    refused([command, damaged], capsys, "no column 'loss'")


# -- settings that mean nothing, refused with the reason -----------------------------------------
@pytest.mark.parametrize(
    "extra, words",
    [
        (["--hessian", "none", "--hessian-at", "all"], ["--hessian-at", "none"]),
        (["--batching", "per_walk"], ["--batching", "whole training set"]),
        (["--hessian", "full", "--lanczos-tol", "1e-4"], ["--lanczos-tol"]),
        (["--regulariser", "weight_elimination", "--lambda", "1e-3", "--w0", "1e-30"], ["--w0"]),
        (["--regulariser", "l2", "--lambda", "1e38"], ["--lambda", "overflows"]),
    ],
    ids=["hessian-at", "batching", "lanczos-tol", "w0", "lambda"],
)
def test_meaningless_sampling_settings(capsys, tmp_path, extra, words):
    refused([*XOR, *extra, "--out", tmp_path / "o"], capsys, *words)
    assert not (tmp_path / "o").exists()


def test_a_slice_range_past_float32_and_numbers_as_users_write_them(sampled, capsys, tmp_path):
    argv = ["slice", sampled / "run", "--out", tmp_path / "o", "--range"]
    refused([*argv, "-1e300", "1e300"], capsys, "--range")
    status, err = run([*argv, "-1e3", "1e3", "--resolution", "3", "-q"], capsys)
    assert status == 0, err  # -1e3 is a number, not a flag


# -- locks for the whole command, never left behind -----------------------------------------------
def test_metrics_holds_its_lock_while_it_computes(sampled, capsys, tmp_path, monkeypatch):
    """Two fla metrics on one output both succeeded: the lock was taken only to write. It is held
    from the start, so a second writer is refused however the two overlap."""
    import fla.metrics.tables as tables
    from fla.base.files import folder_lock, locked_by_another

    compute, seen = tables.run_metrics, []

    def watched(*args, **kwargs):
        seen.append(locked_by_another(tmp_path))
        return compute(*args, **kwargs)

    monkeypatch.setattr(tables, "run_metrics", watched)
    assert run(["metrics", sampled / "run", "--out", tmp_path / "m", "-q"], capsys)[0] == 0
    assert seen and seen[0] is not None  # locked while computing
    with folder_lock(tmp_path):
        refused(["metrics", sampled / "run", "--out", tmp_path / "m"], capsys, "another fla")


def test_a_lock_that_cannot_be_written_is_not_left_behind(sampled, capsys, tmp_path, monkeypatch):
    """On a full disk the lock file was made (0 bytes) and writing its holder failed, before the
    code that removes it: it stayed. Whatever fails once it is made, it goes."""
    import socket

    def full():
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(socket, "gethostname", full)
    refused(["metrics", sampled / "run", "--out", tmp_path / "m"], capsys, "No space left")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_study_name_too_long_for_a_folder_creates_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(TINY.replace('name = "tiny"', f'name = "{"x" * 300}"'))
    refused(["sweep", tmp_path / "s.toml"], capsys, "key 'name'")
    assert not (tmp_path / "runs").exists()


# -- lines that name what the user gave -----------------------------------------------------------
def test_a_missing_run_dir_is_named_at_once(capsys, tmp_path):
    for command in (["metrics"], ["report"], ["plot", "lg"]):
        extra = ["--out", tmp_path / "f.png"] if command[0] == "plot" else []
        refused([*command, tmp_path / "nonexist", *extra], capsys, "RUN_DIR", "does not exist")


def test_towards_the_centre_itself_is_named(sampled, capsys, tmp_path):
    argv = ["slice", sampled / "run", "--at", "walk=0", "--direction", "towards:walk=0"]
    refused([*argv, "--out", tmp_path / "o"], capsys, "the centre itself")


def test_a_csv_with_a_header_and_no_rows(capsys, tmp_path):
    (tmp_path / "empty.csv").write_text("sepal_length,sepal_width,class\n")
    argv = ["sample", f"csv:{tmp_path / 'empty.csv'}", *XOR[2:], "--out", tmp_path / "o"]
    refused(argv, capsys, "no rows")


def test_a_batch_larger_than_the_training_set_names_batch_size(capsys, tmp_path):
    make_mnist(tmp_path / "mnist", n_train=60, n_test=20)
    argv = ["sample", "mnist", "--width", "2", "--depth", "1", "--granularity", "micro"]
    argv += ["--bound", "1", "--data-dir", tmp_path, "--batch-size", "1000000000"]
    refused([*argv, "--out", tmp_path / "o"], capsys, "--batch-size", "60")
