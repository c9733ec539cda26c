"""The output rule (fla.base.outputs), table-driven: every command that writes, against every kind
of occupied --out (a file of the user's with an output's name, another command's output, the input
itself, a link): refused in one line with exit 2, and every byte that was there before is there
after, nothing added."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, XOR, one_line, run, snapshot

from fla.cli import main

LANDSCAPE = "hidden = [1]\nl2 = [0.1]\nchains = 4\nsteps = 2\nbudget = 1\n"
USER = b"the user's own bytes\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A sampled run, a run of the user's CSV lying beside its data, a slice of the run, a study
    file and a landscape study file."""
    root = tmp_path_factory.mktemp("world")
    assert main([*XOR, "--walks", "4", "--steps", "5", "--out", str(root / "run"), "-q"]) == 0
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(30, 2)), columns=["a", "b"])
    frame["class"] = np.arange(30) % 2
    frame.to_csv(root / "mydata.csv", index=False)
    csv_run = ["sample", f"csv:{root / 'mydata.csv'}", "--width", "2", "--depth", "1"]
    csv_run += ["--granularity", "macro", "--bound", "1", "--walks", "4", "--steps", "5"]
    assert main([*csv_run, "--out", str(root / "mydata"), "-q"]) == 0
    slice_argv = ["slice", str(root / "run"), "--out", str(root / "slice")]
    assert main([*slice_argv, "--resolution", "3", "-q"]) == 0
    (root / "study.toml").write_text(TINY)
    (root / "landscape.toml").write_text(LANDSCAPE)
    (root / "data").mkdir()
    (root / "data" / "cifar-10-binary.tar.gz").write_bytes(USER)
    return root


def folder_with(path, name):
    path.mkdir(parents=True)
    (path / name).write_bytes(USER)
    return path


def user_file(path):
    path.write_bytes(USER)
    return path


def linked(path, target_dir=True):
    target = path.parent / f"{path.name}-target"
    if target_dir:
        target.mkdir()
    else:
        target.write_bytes(USER)
    os.symlink(target, path)
    return path


def other_output(w, case):
    return shutil.copytree(w / "slice", case / "out")


def a_run(w, case):
    return shutil.copytree(w / "run", case / "out")


COMMANDS = {  # command -> (argv before --out, the file a user might have of an output's name)
    "sample": (lambda w: [*XOR, "--walks", "4", "--steps", "5"], "points.parquet"),
    "sweep": (lambda w: ["sweep", w / "study.toml"], "study.json"),
    "slice": (lambda w: ["slice", w / "run", "--resolution", "3"], "slice.parquet"),
    "connect": (lambda w: ["connect", w / "run"], "minima.parquet"),
    "landscape": (lambda w: ["landscape", w / "landscape.toml"], "counts.csv"),
    "spawn": (lambda w: ["spawn", w / "run"], "spawn.parquet"),
    "train": (
        lambda w: ["train", "resnet20", "--dataset", "cifar10", "--data-dir", w / "data"],
        "checkpoint.npz",
    ),
}
FOLDER_CASES = {  # kind -> (how the occupied --out is made, for a command)
    "a file of the user's with an output's name": lambda w, case, name: folder_with(
        case / "out", name
    ),
    "another command's output": lambda w, case, name: (
        a_run(w, case) if name == "slice.parquet" else other_output(w, case)
    ),
    "a user's file in the folder": lambda w, case, name: folder_with(case / "out", "mine.txt"),
    "a link": lambda w, case, name: linked(case / "out"),
}
INPUT_ITSELF = {
    "sample": lambda w: w / "mydata.csv",
    "sweep": lambda w: w / "study.toml",
    "slice": lambda w: w / "run",
    "connect": lambda w: w / "run",
    "landscape": lambda w: w / "landscape.toml",
    "spawn": lambda w: w / "run",
    "train": lambda w: w / "data",
}
FILE_COMMANDS = {  # command -> (argv before --out, an output's name)
    "report": (lambda w: ["report", w / "run"], "report.html"),
    "plot": (lambda w: ["plot", "accuracy", w / "run"], "fig.png"),
    "metrics": (lambda w: ["metrics", w / "run"], "m"),
}
FILE_CASES = {
    "a file of the user's": lambda w, case, name: user_file(
        case / (name + ".csv" if name == "m" else name)
    ),
    "a link to a file": lambda w, case, name: linked(
        case / (name + ".csv" if name == "m" else name), target_dir=False
    ),
    "another command's output": lambda w, case, name: (
        shutil.copytree(w / "slice", case / "s")
        / ({"report.html": "report.html", "fig.png": "fig.png", "m": "slice"}[name])
    ),
}
FILE_INPUTS = {
    "report": lambda w: w / "run" / "points.parquet",
    "plot": lambda w: w / "run" / "fig.png",
    "metrics": lambda w: w / "mydata",  # would write mydata.csv over the user's data
}


def refused_and_untouched(world, argv, capsys, out):
    before = snapshot(world)
    status, err = run([*argv, "--out", out, "-q"], capsys)
    assert status == 2 and one_line(err), err
    assert snapshot(world) == before, "a byte changed or a file appeared"
    return err


# a sweep resumes a folder that holds other commands' outputs beside its study (reports), but a
# folder without its study.json is refused whatever it holds (the other cases)
FOLDER_PAIRS = [
    (command, kind)
    for command in COMMANDS
    for kind in FOLDER_CASES
    if (command, kind) != ("sweep", "another command's output")
]


@pytest.mark.parametrize("command, kind", FOLDER_PAIRS)
def test_folder_outputs_never_touch_what_fla_did_not_write(world, capsys, command, kind):
    argv, name = COMMANDS[command]
    case = world / f"case_{command}_{abs(hash(kind))}"
    case.mkdir()
    out = FOLDER_CASES[kind](world, case, name)
    refused_and_untouched(world, argv(world), capsys, out)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_folder_output_lands_on_its_input(world, capsys, command):
    argv, _ = COMMANDS[command]
    refused_and_untouched(world, argv(world), capsys, INPUT_ITSELF[command](world))


# only metrics can name another command's file with its own suffix (slice.parquet)
FILE_PAIRS = [
    (command, kind)
    for command in FILE_COMMANDS
    for kind in FILE_CASES
    if kind != "another command's output" or command == "metrics"
]


@pytest.mark.parametrize("command, kind", FILE_PAIRS)
def test_file_outputs_never_replace_what_fla_did_not_write(world, capsys, command, kind):
    argv, name = FILE_COMMANDS[command]
    case = world / f"file_{command}_{abs(hash(kind))}"
    case.mkdir()
    target = FILE_CASES[kind](world, case, name)
    out = case / name if kind != "another command's output" else target
    refused_and_untouched(world, argv(world), capsys, out)


@pytest.mark.parametrize("command", list(FILE_COMMANDS))
def test_no_file_output_lands_on_its_input(world, capsys, command):
    argv, _ = FILE_COMMANDS[command]
    refused_and_untouched(world, argv(world), capsys, FILE_INPUTS[command](world))


def test_the_issues_case_metrics_beside_a_csv_run_writes_its_own_names(world, capsys):
    """fla metrics mydata (a run of mydata.csv beside it) wrote mydata.csv over the input; the
    tables are mydata.metrics.* and the CSV is untouched."""
    before = (world / "mydata.csv").read_bytes()
    status, err = run(["metrics", world / "mydata", "-q"], capsys)
    assert status == 0, err
    assert (world / "mydata.csv").read_bytes() == before
    for suffix in (".parquet", ".csv", ".json"):
        assert (world / f"mydata.metrics{suffix}").is_file()
    status, err = run(["metrics", world / "mydata", "-q"], capsys)  # its own: written again
    assert status == 0, err


def test_a_command_writes_its_own_output_again_where_it_resumes(world, capsys):
    out = world / "landscape_out"
    argv = ["landscape", world / "landscape.toml", "--out", out, "-q"]
    assert run(argv, capsys)[0] == 0
    assert run(argv, capsys)[0] == 0  # resumed: its own folder
    (out / "counts.csv").write_bytes(USER)  # the user replaced fla's counts.csv
    status, err = run(argv, capsys)
    assert status == 2 and "counts.csv" in err and (out / "counts.csv").read_bytes() == USER
