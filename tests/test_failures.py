"""Failures a user can cause or meet, driven through the command line (issue 12): each gets exit
status 2 (bad input) or 3 (non-finite results recorded), one line naming the fix, and leaves on disk
only what it should."""

import fcntl
import gzip
import io
import json
import pickle
import resource
import signal
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from helpers import TINY, XOR, damage, make_mnist, one_line, run

from fla.base.errors import DataError
from fla.core.problems import Problem
from fla.core.readers import write_idx
from fla.studies.study import config_name, load_study


def bad_mnist(folder, fix):
    arrays = make_mnist(folder, n_train=20, n_test=10, gz=False)
    fix(folder, arrays)
    return folder


def labels_out_of_range(folder, arrays):
    write_idx(folder / "train-labels-idx1-ubyte", np.full(20, 12, np.uint8))


def truncated_images(folder, arrays):
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])


def bad_magic(folder, arrays):
    path = folder / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x01\x02" + path.read_bytes()[2:])


def huge_header(folder, arrays):
    (folder / "train-images-idx3-ubyte").unlink()
    # 16 bytes declaring 60000 x 60000 x 60000
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + np.array([60000, 60000, 60000], ">u4").tobytes())


def counts_differ(folder, arrays):
    write_idx(folder / "train-labels-idx1-ubyte", arrays["train-labels-idx1-ubyte"][:15])


@pytest.mark.parametrize(
    "fix, message",
    [
        (labels_out_of_range, "labels range over 12 .. 12, expected 0 .. 9"),
        (truncated_images, "header says shape (20, 28, 28)"),
        (bad_magic, "is not an IDX file (bad magic number)"),
        (huge_header, "more than any data set"),
        (counts_differ, "do not match"),
    ],
)
def test_malformed_mnist_files(tmp_path, capsys, fix, message):
    data = bad_mnist(tmp_path / "data", fix)
    status, err = run(
        [
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
            data,
            "--out",
            tmp_path / "out",
        ],
        capsys,
    )
    assert status == 2 and message in err and one_line(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--bound", "1e30"], "past float32's safe range"),
        (["--width", "100000", "--depth", "50"], "needs about"),
        (["--seed", "-1"], "--seed must be an integer in [0, 2^32)"),
        (["--hessian-at", "grad-below:inf"], "--hessian-at must be"),
    ],
)
def test_values_refused_before_any_work(tmp_path, capsys, flags, message):
    argv = list(XOR)
    for flag, value in zip(flags[::2], flags[1::2]):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    status, err = run(argv + ["--out", tmp_path / "out"], capsys)
    assert status == 2 and message in err and one_line(err)
    assert not (tmp_path / "out").exists()


def test_sample_refuses_folders_that_are_not_its_own_and_deletes_nothing_it_did_not_write(
    tmp_path, capsys
):
    study = tmp_path / "study"
    study.mkdir()
    (study / "study.json").write_text("{}")
    (study / ".notes.tmp").write_text("mine")
    status, err = run(XOR + ["--walks", "3", "--steps", "2", "--out", study], capsys)
    assert status == 2 and "which fla sample did not write" in err and one_line(err)
    assert sorted(p.name for p in study.iterdir()) == [".notes.tmp", "study.json"]
    leftovers = tmp_path / "killed"  # what a killed run of fla left: its own temporary files
    leftovers.mkdir()
    (leftovers / ".points.parquet.4242.tmp").write_bytes(b"half")
    assert run(XOR + ["--walks", "3", "--steps", "2", "--out", leftovers, "-q"], capsys)[0] == 0
    assert sorted(p.name for p in leftovers.iterdir()) == [
        "endpoints.parquet",
        "points.parquet",
        "run.json",
    ]


def test_non_finite_results_are_recorded_and_exit_3(tmp_path, capsys, monkeypatch):
    import fla.core.registry
    import fla.walks.resources

    x = np.full((4, 2), np.nan, np.float32)  # every gradient component NaN
    broken = Problem("xor", x, np.array([0, 1, 1, 0], np.int32), None, None, 2, 1, "binary")
    monkeypatch.setattr(fla.core.registry, "load_problem", lambda *args, **kwargs: broken)
    # get past the up-front check
    monkeypatch.setattr(fla.walks.resources, "predicted_logit_scale", lambda *a: 1.0)
    status, err = run(
        XOR + ["--walks", "3", "--steps", "2", "--record-params", "--out", tmp_path / "out", "-q"],
        capsys,
    )
    assert (
        status == 3
        and "6 of 6 rows have a non-finite loss or gradient norm" in err
        and one_line(err)
    )
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["nonfinite_rows"] == 6  # recorded faithfully, and flagged
    import pyarrow.parquet as pq

    df = (
        pq.read_table(tmp_path / "out" / "points.parquet").to_pandas().sort_values(["walk", "step"])
    )
    assert df.loss.isna().all() and df.grad_norm.isna().all()
    params = np.stack(df.params).reshape(3, 2, 9)
    moves = np.diff(params, axis=1)
    # a NaN gradient moves every coordinate by +Delta
    assert (moves > 0).all() and (moves <= 0.2).all()


@pytest.mark.slow  # a process of its own, 5 s
def test_disk_full_is_one_line_and_leaves_nothing(tmp_path):
    def limit():
        # a write past the limit fails with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = subprocess.run(
        [sys.executable, "-m", "fla.cli"]
        + XOR
        + [
            "--walks",
            "50",
            "--steps",
            "100",
            "--record-params",
            "--out",
            str(tmp_path / "out"),
            "-q",
        ],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=300,
    )
    err = [line for line in proc.stderr.splitlines() if line.startswith("fla ")]
    assert proc.returncode == 2 and len(err) == 1 and "File too large" in err[0], proc.stderr[
        -2000:
    ]
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ('name = "../../x"', "key 'name' must be a plain name"),
        ('name = "/abs/path"', "key 'name' must be a plain name"),
        ("name = 5", "key 'name' must be a plain name"),
        ("widths = [1, 1]", "key 'widths' lists 1.0 twice"),
        ("bounds = [1, 1.0]", "key 'bounds' lists 1.0 twice"),
        ("walks = 0", "key 'walks' must be an integer >= 1"),
        ('hessian = "sometimes"', "key 'hessian' must be one of"),
        ("shard_walks = -3", "key 'shard_walks' must be an integer >= 1"),
    ],
)
def test_bad_study_files(tmp_path, capsys, change, message):
    key = change.split(" =")[0]
    text = (
        "\n".join(line for line in TINY.splitlines() if not line.startswith(key + " "))
        + "\n"
        + change
        + "\n"
    )
    (tmp_path / "s.toml").write_text(text)
    status, err = run(["sweep", tmp_path / "s.toml", "--out", tmp_path / "out"], capsys)
    assert status == 2 and message in err and one_line(err)
    assert not (tmp_path / "out").exists()


def test_folder_names_are_unique_and_reversible(tmp_path):
    (tmp_path / "s.toml").write_text(
        TINY.replace("bounds = [1]", "bounds = [1, 1.0000001, 10, 1e-05]")
    )
    names = [config_name(c) for c in load_study(tmp_path / "s.toml").configurations()]
    assert names == [
        "xor_w2_d1_macro_b1_s0",
        "xor_w2_d1_macro_b1.0000001_s0",
        "xor_w2_d1_macro_b10_s0",
        "xor_w2_d1_macro_b1e-05_s0",
    ]
    assert [float(n.split("_b")[1].split("_s")[0]) for n in names] == [1, 1.0000001, 10, 1e-05]


def test_one_sweep_per_folder_and_stale_locks(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(TINY)
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".fla-sweep.lock", "a+") as held:  # a live sweep holds the lock
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("pid 1 on elsewhere\n")
        held.flush()
        status, err = run(["sweep", tmp_path / "s.toml", "--out", out, "-q"], capsys)
    assert (
        status == 2
        and "being written by another fla process (pid 1 on elsewhere)" in err
        and one_line(err)
    )
    assert sorted(p.name for p in out.iterdir()) == [".fla-sweep.lock"]
    # the lock file a killed sweep leaves holds no lock: the next sweep goes ahead
    assert run(["sweep", tmp_path / "s.toml", "--out", out, "-q"], capsys)[0] == 0


@pytest.mark.parametrize("how", ["deleted", "truncated", "altered"])
def test_resume_and_report_verify_every_file(tmp_path, capsys, how):
    (tmp_path / "s.toml").write_text(TINY.replace("bounds = [1]", "bounds = [1, 10]"))
    out = tmp_path / "out"
    assert run(["sweep", tmp_path / "s.toml", "--out", out, "-q"], capsys)[0] == 0
    damaged = out / "xor_w2_d1_macro_b10_s0"
    kept = (out / "xor_w2_d1_macro_b1_s0" / "points.parquet").stat().st_mtime_ns
    damage(damaged / "points.parquet", how)
    status, err = run(["report", out], capsys)
    assert status == 2 and "xor_w2_d1_macro_b10_s0" in err and "damaged" in err and one_line(err)
    from fla.studies.sweep import sweep

    summary = sweep(tmp_path / "s.toml", out, quiet=True)
    assert summary["ran"] == 1 and summary["skipped"] == 1  # only the damaged one is redone
    assert (out / "xor_w2_d1_macro_b1_s0" / "points.parquet").stat().st_mtime_ns == kept
    assert run(["report", out], capsys)[0] == 0


def test_other_settings_are_redone_and_a_lost_study_record_is_refused(tmp_path, capsys):
    from fla.studies.sweep import sweep

    (tmp_path / "s.toml").write_text(TINY)
    out = tmp_path / "out"
    sweep(tmp_path / "s.toml", out, quiet=True)
    folder = out / "xor_w2_d1_macro_b1_s0"
    manifest = json.loads((folder / "run.json").read_text())
    manifest["config"]["walks"] = 7  # as if made with other settings
    (folder / "run.json").write_text(json.dumps(manifest))
    assert sweep(tmp_path / "s.toml", out, quiet=True)["ran"] == 1
    (out / "study.json").unlink()
    (tmp_path / "s.toml").write_text(TINY.replace("walks = 6", "walks = 9"))
    status, err = run(["sweep", tmp_path / "s.toml", "--out", out], capsys)
    assert status == 2 and "holds no study" in err and one_line(err)
    # never deleted, even when a configuration must be redone
    (folder / "notes.txt").write_text("the user's")
    (out / "study.json").write_text(json.dumps(load_study(tmp_path / "s.toml").spec))
    status, err = run(["sweep", tmp_path / "s.toml", "--out", out], capsys)
    assert status == 2 and "holds files fla did not write (notes.txt)" in err
    assert (folder / "notes.txt").read_text() == "the user's"


def test_report_refuses_foreign_and_corrupted_parquet(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    pq.write_table(pa.table({"x": [1, 2]}), foreign / "points.parquet")
    status, err = run(["report", tmp_path], capsys)
    assert status == 2 and "foreign: no readable manifest" in err and one_line(err)


@pytest.mark.parametrize(
    "text, message",
    [
        ('budget = "x"', "budget must be an integer >= 0"),
        ("budget = -1", "budget must be an integer >= 0"),
        ('[autoneb]\noptimizer = "sgdd"', "autoneb.optimizer must be one of fire, sgd, got 'sgdd'"),
        (
            'methods = ["nebb"]',
            "unknown path method 'nebb'; valid: autoneb, neb, bezier, polychain",
        ),
        ("[bezier]\nbends = 0", "bezier.bends must be an integer >= 1, got 0"),
        ("[neb]\npivot = 3", "[neb] has no setting 'pivot'"),
        ("[polish]\ngtol = 0", "polish.gtol must be a finite number > 0"),
        ("colour = 1", "unknown key 'colour'"),
    ],
)
def test_bad_connect_settings(tmp_path, capsys, text, message):
    from fla.walks.sample import SampleConfig, sample

    sample(
        SampleConfig("xor", width=2, depth=1, granularity="macro", bound=1.0, walks=3, steps=2),
        tmp_path / "run",
        quiet=True,
    )
    (tmp_path / "c.toml").write_text(text + "\n")
    status, err = run(
        ["connect", tmp_path / "run", "--config", tmp_path / "c.toml", "--out", tmp_path / "c"],
        capsys,
    )
    assert status == 2 and message in err and one_line(err)
    assert not (tmp_path / "c").exists()


def cifar_archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def batch(n_images=4, n_labels=4, key=b"labels"):
    data = {b"data": np.zeros((n_images, 3072), np.uint8)}
    if key:
        data[key] = [0] * n_labels
    return pickle.dumps(data, protocol=2)


NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"not a gzip file at all"), "is not a readable .tar.gz archive"),
        (
            lambda p: (
                cifar_archive(p, {n: batch() for n in NAMES}),
                p.write_bytes(p.read_bytes()[:200]),
            ),
            "is not a readable .tar.gz archive",
        ),
        (
            lambda p: cifar_archive(p, {n: batch(key=None) for n in NAMES}),
            "needs keys data and labels",
        ),
        (
            lambda p: cifar_archive(p, {n: batch(4, 3) for n in NAMES}),
            "(4, 3072) images and (3,) labels",
        ),
    ],
)
def test_malformed_cifar_archives(tmp_path, make, message):
    from fla.zoo.cifar import load_cifar

    make(tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_cifar("cifar10", tmp_path)


def test_cifar100_reads_the_fine_label_not_the_coarse_one(tmp_path):
    from fla.zoo.cifar import LAYOUT, load_cifar

    folder = tmp_path / LAYOUT["cifar100"]["binary"][0]
    folder.mkdir()
    rng = np.random.default_rng(0)
    fine = {}
    for name, n in (("train.bin", 6), ("test.bin", 4)):
        coarse, fine[name] = rng.integers(0, 20, n), rng.integers(20, 100, n)  # never equal
        records = np.concatenate(
            [coarse[:, None], fine[name][:, None], rng.integers(0, 256, (n, 3072))], 1
        )
        (folder / name).write_bytes(records.astype(np.uint8).tobytes())
    _, y_train, _, y_test = load_cifar("cifar100", tmp_path)
    np.testing.assert_array_equal(y_train, fine["train.bin"])
    np.testing.assert_array_equal(y_test, fine["test.bin"])


def test_connect_drops_non_finite_endpoints_and_fails_when_none_remain(tmp_path, capsys):
    import pyarrow.parquet as pq

    from fla.base.store import (
        ENDPOINT_SCHEMA,
        ENDPOINTS,
        POINTS,
        read_manifest,
        table,
        write_manifest,
    )
    from fla.walks.sample import SampleConfig, sample

    run_dir = tmp_path / "run"
    sample(
        SampleConfig("xor", width=2, depth=1, granularity="macro", bound=1.0, walks=4, steps=3),
        run_dir,
        quiet=True,
    )

    # endpoints made non-finite, the manifest rewritten to match (a run that met overflow)
    def poison(
        rows,
    ):
        ends = pq.read_table(run_dir / ENDPOINTS).to_pandas()
        params = np.stack(ends.params)
        params[rows] = np.nan
        pq.write_table(
            table(
                ENDPOINT_SCHEMA,
                {},
                {**{c: ends[c].to_numpy() for c in ends if c != "params"}, "params": params},
                n=len(ends),
            ),
            run_dir / ENDPOINTS,
        )
        meta = {k: v for k, v in read_manifest(run_dir).items() if k != "files"}
        write_manifest(run_dir, meta, [POINTS, ENDPOINTS])

    (tmp_path / "c.toml").write_text(
        "budget = 1\n[polish]\nmax_iter = 50\n[autoneb]\nschedule = [[0.1, 20]]\n"
    )
    poison([0, 1])
    with pytest.warns(UserWarning, match="dropped 2 of 4 walk endpoints with non-finite values"):
        status, err = run(
            ["connect", run_dir, "--config", tmp_path / "c.toml", "--out", tmp_path / "c", "-q"],
            capsys,
        )
    assert status == 0
    poison([0, 1, 2, 3])
    status, err = run(
        ["connect", run_dir, "--config", tmp_path / "c.toml", "--out", tmp_path / "d", "-q"], capsys
    )
    assert (
        status == 2 and "every one of the 4 walk endpoints is non-finite" in err and one_line(err)
    )
    assert not (tmp_path / "d").exists()


def test_a_folder_being_written_is_refused_and_a_dead_writers_leftovers_removed(tmp_path, capsys):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "out"
        out.mkdir()
        (out / f".points.parquet.{live.pid}.tmp").write_bytes(b"being written")
        status, err = run(XOR + ["--walks", "3", "--steps", "2", "--out", out, "-q"], capsys)
        assert status == 2 and "is being written by another fla process" in err and one_line(err)
        # untouched
        assert (out / f".points.parquet.{live.pid}.tmp").read_bytes() == b"being written"
    finally:
        live.kill()
        live.wait()
    # now a leftover
    assert run(XOR + ["--walks", "3", "--steps", "2", "--out", out, "-q"], capsys)[0] == 0
    assert not list(out.glob(".*.tmp"))


def test_a_manifest_that_lists_no_points_does_not_verify(tmp_path, capsys):
    from fla.base.files import write_json
    from fla.base.store import read_manifest
    from fla.walks.sample import SampleConfig, sample

    sample(
        SampleConfig("xor", width=2, depth=1, granularity="macro", bound=1.0, walks=3, steps=2),
        tmp_path / "r",
        quiet=True,
    )
    manifest = read_manifest(tmp_path / "r")
    del manifest["files"]["points.parquet"]
    write_json(tmp_path / "r" / "run.json", manifest)
    status, err = run(["report", tmp_path], capsys)
    assert status == 2 and "lists no points.parquet" in err and one_line(err)
