"""Bad input: one clear line, exit status 2, nothing left behind. And a run from the command
line."""

import subprocess
import sys

import pytest
from helpers import make_mnist

from fla.base import store
from fla.cli import main

XOR = ["sample", "xor", "--width", "2", "--depth", "1", "--granularity", "macro", "--bound", "1"]


def run(argv, capsys):
    status = main(argv)
    err = capsys.readouterr().err.strip()
    return status, err


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"xor": "xorr"},
            "problem must be one of xor, mnist, fashion_mnist, iris, wine, breast_cancer, digits, "
            "or csv:PATH, got 'xorr'",
        ),
        ({"--width": ("2", "0")}, "--width must be an integer >= 1, got 0"),
        ({"--depth": ("1", "-1")}, "--depth must be an integer >= 1, got -1"),
        ({"--bound": ("1", "0")}, "--bound must be a finite number > 0, got 0.0"),
        ({"--bound": ("1", "nan")}, "--bound must be a finite number > 0"),
        ({"extra": ["--walks", "0"]}, "--walks must be an integer >= 1"),
        ({"extra": ["--steps", "0"]}, "--steps must be an integer >= 1"),
        ({"extra": ["--hessian-at", "every:0"]}, "--hessian-at must be auto, all, last, every:K"),
        ({"extra": ["--hessian-at", "sometimes"]}, "--hessian-at must be auto, all, last, every:K"),
    ],
)
def test_bad_flags(tmp_path, capsys, change, message):
    argv = list(XOR)
    for key, value in change.items():
        if key == "extra":
            argv += value
        elif isinstance(value, tuple):
            argv[argv.index(key) + 1] = value[1]
        else:
            argv[argv.index(key)] = value
    status, err = run(argv + ["--out", str(tmp_path / "out")], capsys)
    assert status == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_data_file(tmp_path, capsys):
    argv = [
        "sample",
        "mnist",
        "--width",
        "2",
        "--depth",
        "1",
        "--granularity",
        "micro",
        "--bound",
        "1",
        "--data-dir",
        str(tmp_path),
        "--out",
        str(tmp_path / "out"),
    ]
    status, err = run(argv, capsys)
    assert (
        status == 2 and "missing data file train-images-idx3-ubyte" in err and str(tmp_path) in err
    )
    assert not (tmp_path / "out").exists()


def test_out_holding_another_run_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert run(XOR + ["--walks", "3", "--steps", "2", "--out", str(out), "-q"], capsys)[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    status, err = run(XOR + ["--walks", "3", "--steps", "2", "--out", str(out), "-q"], capsys)
    assert status == 2 and "already holds a run" in err
    assert before == {p.name: p.stat().st_mtime_ns for p in out.iterdir()}


def test_an_interrupted_run_leaves_nothing(tmp_path, capsys, monkeypatch):
    def interrupt(self, table):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.PartWriter, "write", interrupt)
    status, err = run(XOR + ["--out", str(tmp_path / "out")], capsys)
    assert status == 130 and "interrupted" in err
    assert not (tmp_path / "out").exists()


def test_mnist_sample_from_the_command_line(tmp_path, capsys):
    make_mnist(tmp_path / "data")
    argv = [
        "sample",
        "mnist",
        "--width",
        "2",
        "--depth",
        "2",
        "--granularity",
        "micro",
        "--bound",
        "10",
        "--walks",
        "4",
        "--steps",
        "3",
        "--data-dir",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(argv) == 0
    assert "12 points (4 walks x 3 steps)" in capsys.readouterr().out
    assert store.read_points(tmp_path).num_rows == 12


def test_help_documents_every_flag():
    out = subprocess.run(
        [sys.executable, "-m", "fla.cli", "sample", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in (
        "--width",
        "--depth",
        "--granularity",
        "--bound",
        "--walks",
        "--steps",
        "--seed",
        "--hessian",
        "--record-params",
        "--data-dir",
        "--out",
    ):
        assert flag in out
