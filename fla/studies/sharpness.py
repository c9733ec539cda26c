"""``fla sharpness RUN_DIR``: the sharpness and flatness measures of ``fla.curvature.sharpness`` at
points of sampling runs (each walk's end by default), with each point's generalisation gap and
its gradient cluster, to test the seed paper's claim that the steep-gradient cluster of an l-g
cloud lies in narrow valleys that generalise worse (Bosman, Engelbrecht and Helbig; Keskar et al.
2017).

Per point: the training loss and accuracy on the whole training set, the test loss and accuracy,
the gaps (test loss - training loss, training accuracy - test accuracy), the gradient norm on the
whole training set and its cluster: the two clusters of log10 |grad| over the configuration's
points found by exact 1-D 2-means (every split of the sorted values tried, the one of least
within-cluster sum of squares kept), ``steep`` the one of larger gradients. The measures are taken
on the first ``patterns`` training patterns (all when fewer).

Output (``--out``): ``parts/NAME.parquet`` per configuration as it finishes, listed in
``sharpness.json`` (the manifest: settings, source, files with their checksums), so a killed run
resumes at the next configuration; at the end ``sharpness.parquet`` (every point) and
``summary.csv`` (per configuration and cluster: the points, the mean gap and each measure's mean;
and per configuration Kendall's tau of each measure with the loss gap over its points, as Jiang
et al. 2020 rank measures).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fla.base.errors import ConfigError, DamagedRunError, NonFiniteError
from fla.base.files import file_record, write_json, write_table
from fla.base.outputs import claim_folder, report_output
from fla.base.settings import (
    build,
    choice,
    comma_separated,
    integer,
    list_of,
    read_toml,
    setting,
    text,
)
from fla.base.store import ENDPOINTS, configurations, read_manifest, verify_files
from fla.curvature import sharpness as sh

COMMAND = "fla sharpness"
MANIFEST = "sharpness.json"
TABLE, SUMMARY, PARTS = "sharpness.parquet", "summary.csv", "parts"
MEASURES = ("epsilon", "adaptive", "m", "pacbayes", "hessian")
SECTIONS = {
    "epsilon": sh.EpsilonSharpness,
    "adaptive": sh.AdaptiveSharpness,
    "m": sh.MSharpness,
    "pacbayes": sh.PacBayes,
    "hessian": sh.HessianMeasures,
}
# the columns each measure writes, the ones the summary averages and ranks
COLUMNS = {
    "epsilon": ("eps_sharpness",),
    "adaptive": ("adaptive_worst", "adaptive_average"),
    "m": ("m_sharpness",),
    "pacbayes": ("pacbayes_flatness", "pacbayes_mag_flatness"),
    "hessian": ("hessian_max", "hessian_trace", "hessian_frobenius"),
}


@dataclass(frozen=True)
class SharpnessSettings:
    """What ``fla sharpness`` measures, where, and with which settings (a TOML file's sections
    [epsilon], [adaptive], [m] and [pacbayes] hold each measure's settings)."""

    measures: tuple = setting(
        MEASURES,
        f"the measures to take, comma-separated on the command line, of {','.join(MEASURES)}",
        comma_separated(list_of(choice(*MEASURES), f"measures of {', '.join(MEASURES)}")),
    )
    at: tuple = setting(
        ("ends",),
        "the points: ends (each walk's end), recorded (every point sampled with "
        "--record-params) or walk=W,step=S; repeatable",
        list_of(text(), "points"),
        nargs="append",
    )
    patterns: int = setting(
        10000, "training patterns the measures are taken on (the first N)", integer(at_least=1)
    )
    seed: int = setting(0, "the seed of every random start and draw", integer(at_least=0))
    epsilon: sh.EpsilonSharpness = field(default_factory=sh.EpsilonSharpness)
    adaptive: sh.AdaptiveSharpness = field(default_factory=sh.AdaptiveSharpness)
    m: sh.MSharpness = field(default_factory=sh.MSharpness)
    pacbayes: sh.PacBayes = field(default_factory=sh.PacBayes)
    hessian: sh.HessianMeasures = field(default_factory=sh.HessianMeasures)

    def record(self) -> dict:
        """The settings as the manifest records them (JSON: tuples as lists).

        Returns:
            A dict of every setting and section.
        """
        return json.loads(json.dumps(asdict(self)))


def load_settings(path=None, **given) -> SharpnessSettings:
    """Settings from a TOML file (its top-level keys and measure sections) and flags (flags win).

    Args:
        path: the settings file, or None.
        **given: settings from the command line (None: not given).

    Returns:
        The checked ``SharpnessSettings``.

    Raises:
        ConfigError: an unknown key or a value its setting refuses.
    """
    raw = read_toml(path, "sharpness settings") if path else {}
    sections = {k: raw.pop(k) for k in list(raw) if k in SECTIONS}
    top = {**raw, **{k: v for k, v in given.items() if v is not None}}
    for key in ("measures", "at"):
        if key in top:
            top[key] = tuple(top[key])
    made = {k: build(cls, sections.get(k, {}), f"[{k}]: ") for k, cls in SECTIONS.items()}
    return build(SharpnessSettings, {**top, **made}, "sharpness settings: ")


def two_means(values: np.ndarray) -> np.ndarray:
    """Exact 1-D 2-means: every split of the sorted values tried, the one of least within-cluster
    sum of squares kept (the steep and shallow gradient clusters).

    Args:
        values: [P] values (gradient norms).

    Returns:
        [P] labels, True for the cluster of larger values; all False for fewer than two distinct
            values.
    """
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="stable")
    v = values[order]
    labels = np.zeros(len(v), bool)
    if len(v) < 2 or v[0] == v[-1]:
        return labels
    best, cut = np.inf, 1
    for k in range(1, len(v)):
        cost = ((v[:k] - v[:k].mean()) ** 2).sum() + ((v[k:] - v[k:].mean()) ** 2).sum()
        if cost < best and v[k - 1] < v[k]:
            best, cut = cost, k
    labels[order[cut:]] = True
    return labels


def parse_point(spec: str) -> tuple[int, int]:
    """A named point of a sampling run.

    Args:
        spec: ``walk=W,step=S``.

    Returns:
        (walk, step).

    Raises:
        ConfigError: naming the form.
    """
    parts = dict(p.partition("=")[::2] for p in spec.replace(" ", "").split(","))
    try:
        if set(parts) != {"walk", "step"}:
            raise ValueError
        walk, step = int(parts["walk"]), int(parts["step"])
        if walk < 0 or step < 0:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"--at {spec!r}: expected ends, recorded or walk=W,step=S (W, S >= 0)"
        ) from None
    return walk, step


def points_of(folder: Path, at=("ends",)) -> tuple[list[str], np.ndarray]:
    """A configuration's points: each walk's end (``ends``), every point recorded with its
    parameters (``recorded``, a run sampled with ``--record-params``), or named points; each point
    once, in the order asked.

    Args:
        folder: the configuration's folder.
        at: what to measure: ``ends``, ``recorded``, ``walk=W,step=S``.

    Returns:
        (labels ``walk=W,step=S``, parameters [P, D]).

    Raises:
        ConfigError: ``recorded`` or a named point where the run recorded no parameters.
    """
    import pyarrow.compute as pc

    from fla.base.store import read_points

    found: dict = {}

    def add(table):
        walks, steps = table.column("walk").to_pylist(), table.column("step").to_pylist()
        for w, s, p in zip(walks, steps, table.column("params").to_numpy(zero_copy_only=False)):
            found.setdefault(f"walk={w},step={s}", p)

    for spec in at:
        if spec == "ends":
            add(pq.read_table(folder / ENDPOINTS, columns=["walk", "step", "params"]))
            continue
        recorded = pc.field("params").is_valid()
        if spec != "recorded":
            walk, step = parse_point(spec)
            recorded = recorded & (pc.field("walk") == walk) & (pc.field("step") == step)
        table = read_points(folder, ["walk", "step", "params"], recorded)
        if not len(table):
            raise ConfigError(
                f"--at {spec}: {folder} recorded no parameters there (sample with "
                "--record-params to measure points other than the ends)"
            )
        add(table)
    labels = list(found)
    return labels, np.stack([np.asarray(found[k], np.float64) for k in labels])


DRAWS_BYTES = 2**28  # a call's Gaussian draws and perturbations (float64) at most


def points_a_call(d: int, settings: SharpnessSettings) -> int:
    """Points measured a call, so that the Gaussian draws of the average case and of PAC-Bayes
    ([samples, points, D] float64) and the ascent's arrays fit ``DRAWS_BYTES``. The draws are those
    of each call: a run's measures are a function of its points, settings and D.

    Args:
        d: D.
        settings: the ``SharpnessSettings``.

    Returns:
        At least 1.
    """
    samples = max(settings.adaptive.samples, settings.pacbayes.samples) + 8
    return max(1, DRAWS_BYTES // (8 * d * samples))


def epsilon_columns(surface, theta, settings, *, x, y) -> dict:
    """Keskar et al.'s epsilon-sharpness and whether its ascent converged.

    Args:
        surface: the configuration's ``fla.curvature.sharpness.Surface``.
        theta: [B, D] the points.
        settings: the ``SharpnessSettings``.
        x: the measured patterns.
        y: their labels.

    Returns:
        {column: [B]} of sharpness.parquet.
    """
    got = sh.epsilon_sharpness(surface, theta, settings.epsilon, seed=settings.seed)
    return {"eps_sharpness": got["eps_sharpness"], "eps_converged": got["converged"]}


def adaptive_columns(surface, theta, settings, *, x, y) -> dict:
    """Adaptive sharpness, worst and average case, and whether its ascent converged.

    Args:
        surface: the configuration's ``fla.curvature.sharpness.Surface``.
        theta: [B, D] the points.
        settings: the ``SharpnessSettings``.
        x: the measured patterns.
        y: their labels.

    Returns:
        {column: [B]} of sharpness.parquet.
    """
    got = sh.adaptive_sharpness(surface, theta, settings.adaptive, seed=settings.seed)
    keys = ("adaptive_worst", "adaptive_average", "adaptive_average_error")
    return {**{k: got[k] for k in keys}, "adaptive_converged": got["converged"]}


def m_columns(surface, theta, settings, *, x, y) -> dict:
    """Foret et al.'s m-sharpness and the share of batch ascents that converged.

    Args:
        surface: the configuration's ``fla.curvature.sharpness.Surface``.
        theta: [B, D] the points.
        settings: the ``SharpnessSettings``.
        x: the measured patterns.
        y: their labels.

    Returns:
        {column: [B]} of sharpness.parquet.
    """
    got = sh.m_sharpness(surface, theta, settings.m, seed=settings.seed)
    return {"m_sharpness": got["m_sharpness"], "m_converged": got["converged_share"]}


def pacbayes_columns(surface, theta, settings, *, x, y) -> dict:
    """Jiang et al.'s PAC-Bayes sigmas and flatness measures.

    Args:
        surface: the configuration's ``fla.curvature.sharpness.Surface``.
        theta: [B, D] the points.
        settings: the ``SharpnessSettings``.
        x: the measured patterns.
        y: their labels.

    Returns:
        {column: [B]} of sharpness.parquet.
    """
    return sh.pac_bayes_flatness(surface, theta, settings.pacbayes, seed=settings.seed)


def hessian_columns(surface, theta, settings, *, x, y) -> dict:
    """The Hessian's largest eigenvalue, trace and Frobenius norm.

    Args:
        surface: the configuration's ``fla.curvature.sharpness.Surface``.
        theta: [B, D] the points.
        settings: the ``SharpnessSettings``.
        x: the measured patterns.
        y: their labels.

    Returns:
        {column: [B]} of sharpness.parquet.
    """
    h = settings.hessian
    return sh.hessian_measures(
        surface.objective, theta, x, y=y, steps=h.steps, samples=h.samples, seed=settings.seed
    )


# each measure's columns of points theta [B, D], by its name in ``measures``
MEASURE = {
    "epsilon": epsilon_columns,
    "adaptive": adaptive_columns,
    "m": m_columns,
    "pacbayes": pacbayes_columns,
    "hessian": hessian_columns,
}

assert set(MEASURE) == set(MEASURES), "every measure named in MEASURES has its columns"


def measure_configuration(folder: Path, settings: SharpnessSettings, data_dir=None):
    """Every point of one configuration measured (module docstring).

    Args:
        folder: the configuration's verified folder.
        settings: the ``SharpnessSettings``.
        data_dir: the folder of data files.

    Returns:
        (the per-point table, the labels of the points left out because their loss or gradient is
            not finite: a diverged walk has no valley to measure).
    """
    import tensorflow as tf

    from fla.core.objective import run_network, run_objective

    cfg = read_manifest(folder)["config"]
    network, problem = run_network(cfg, data_dir)
    objective = run_objective(cfg, network, problem, dtype=tf.float32)
    labels, theta = points_of(folder, settings.at)
    whole = sh.Surface(objective)
    train_loss, grad = whole.gradient(theta)
    finite = np.isfinite(train_loss) & np.isfinite(grad).all(axis=1) & np.isfinite(theta).all(1)
    left_out = [label for label, ok in zip(labels, finite) if not ok]
    if not finite.any():
        return pd.DataFrame(), left_out
    labels = [label for label, ok in zip(labels, finite) if ok]
    theta, train_loss, grad = theta[finite], train_loss[finite], grad[finite]
    train_acc = 1.0 - whole.error(theta)
    rows = {
        "configuration": str(folder),
        "problem": cfg["problem"],
        "width": cfg["width"],
        "depth": cfg["depth"],
        "point": labels,
        "train_loss": train_loss,
        "train_accuracy": train_acc,
        "grad_norm": np.linalg.norm(grad, axis=1),
    }
    if problem.has_test:
        test = sh.Surface(objective, problem.x_test, problem.y_test)
        data = sh.compiled(objective, "data")
        loss, acc = (
            v.numpy().astype(np.float64)
            for v in data(tf.constant(theta, objective.dtype), test.x, test.y)
        )
        rows |= {
            "test_loss": loss,
            "test_accuracy": acc,
            "loss_gap": loss - train_loss,
            "accuracy_gap": train_acc - acc,
        }
    steep = two_means(np.log10(np.maximum(rows["grad_norm"], 1e-300)))
    rows["cluster"] = np.where(steep, "steep", "shallow") if steep.any() else "one"
    n = min(settings.patterns, len(problem.x_train))
    surface = sh.Surface(objective, problem.x_train[:n], problem.y_train[:n])
    chunk = points_a_call(theta.shape[1], settings)
    x, y = problem.x_train[:n], problem.y_train[:n]
    for name in settings.measures:
        parts = [
            MEASURE[name](surface, theta[i : i + chunk], settings, x=x, y=y)
            for i in range(0, len(theta), chunk)
        ]
        rows |= {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    rows["patterns"] = n
    return pd.DataFrame(rows), left_out


def summary(points: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and cluster: the points, the mean gaps and each measure's mean; per
    configuration (cluster ``all``) also Kendall's tau of each measure with the loss gap.

    Args:
        points: sharpness.parquet's table.

    Returns:
        The summary table (summary.csv).
    """
    from scipy.stats import kendalltau

    measures = [c for cols in COLUMNS.values() for c in cols if c in points]
    gaps = [c for c in ("loss_gap", "accuracy_gap") if c in points]
    out = []
    for (configuration, width, depth), group in points.groupby(
        ["configuration", "width", "depth"], sort=True
    ):
        for cluster, part in [("all", group), *group.groupby("cluster", sort=True)]:
            row = {
                "configuration": configuration,
                "width": width,
                "depth": depth,
                "cluster": cluster,
                "points": len(part),
                "grad_norm": part.grad_norm.median(),
            }
            row |= {c: part[c].mean() for c in gaps + measures}
            if cluster == "all" and "loss_gap" in part:
                for c in measures:
                    tau = kendalltau(part[c], part.loss_gap).statistic if len(part) > 1 else None
                    row[f"tau_{c}"] = None if tau is None or np.isnan(tau) else float(tau)
            out.append(row)
    return pd.DataFrame(out)


def part_name(source: Path, folder: Path) -> str:
    """The file of one configuration's part of a run.

    Args:
        source: the folder measured.
        folder: the configuration's folder under it.

    Returns:
        ``parts/<its path, joined by __>.parquet``.
    """
    rel = folder.relative_to(source) if folder != source else Path(folder.name)
    return f"{PARTS}/{'__'.join(rel.parts) or folder.name}.parquet"


def own(entry: Path) -> bool:
    """What ``fla sharpness`` finds in its own folder: what it writes, and the report written there
    (fla report's).

    Args:
        entry: an entry of the output folder.

    Returns:
        True for one of its own.
    """
    return entry.name in (MANIFEST, TABLE, SUMMARY, PARTS) or report_output(entry)


def measure_sharpness(source, out, settings: SharpnessSettings, *, data_dir=None, quiet=False):
    """``fla sharpness``: every verified configuration under ``source`` measured into ``out``
    (module docstring), resumable part by part.

    Args:
        source: a sampling run or a study folder.
        out: the output folder.
        settings: the ``SharpnessSettings``.
        data_dir: the folder of data files.
        quiet: no progress.

    Returns:
        The manifest written (sharpness.json).
    """
    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise ConfigError(f"RUN_DIR {source} does not exist; give a sampling run or a study folder")
    good, damaged = configurations(source)
    if damaged:
        raise DamagedRunError(damaged)
    if not good:
        raise ConfigError(f"{source} holds no complete sampling run; give a run or a study folder")
    record = {"command": COMMAND, "source": str(source.resolve()), "settings": settings.record()}
    with claim_folder(out, COMMAND, own=own, source=source, resume=True, what="sharpness"):
        manifest = resumed(out, record)
        estimate(good, settings, quiet)
        for folder in good:
            name = part_name(source, folder)
            if name in manifest["files"]:
                continue
            start = time.time()
            table, left_out = measure_configuration(folder, settings, data_dir)
            if left_out:
                manifest.setdefault("left_out", {})[name] = left_out
                if not quiet:
                    print(
                        f"  {name}: {len(left_out)} points left out (loss or gradient not finite)"
                    )
            (out / PARTS).mkdir(exist_ok=True)
            write_table(out / name, pa.Table.from_pandas(table, preserve_index=False))
            manifest["files"][name] = file_record(out / name)
            write_json(out / MANIFEST, manifest)
            if not quiet:
                print(f"  {name}: {len(table)} points in {time.time() - start:.1f} s")
        parts = [n for n in manifest["files"] if n.startswith(PARTS + "/")]
        points = pd.concat([pd.read_parquet(out / n) for n in sorted(parts)], ignore_index=True)
        if points.empty:
            raise NonFiniteError(f"no point under {source} has a finite loss and gradient")
        write_table(out / TABLE, pa.Table.from_pandas(points, preserve_index=False))
        summary(points).to_csv(out / SUMMARY, index=False)
        for name in (TABLE, SUMMARY):
            manifest["files"][name] = file_record(out / name)
        write_json(out / MANIFEST, manifest)
    if not quiet:
        print(f"{len(points)} points of {plural(len(good), 'configuration')} -> {out}")
    left = sum(len(v) for v in manifest.get("left_out", {}).values())
    if left:
        raise NonFiniteError(
            f"{plural(left, 'point')} left out, their loss or gradient not finite (named in "
            f"{MANIFEST}: left_out); every other point is measured"
        )
    return manifest


def resumed(out: Path, record: dict) -> dict:
    """The manifest to go on with: a new one, or the one in ``out`` when it was made with the same
    settings from the same source and every part it lists verifies (a damaged part is dropped and
    measured again).

    Args:
        out: the output folder.
        record: the new manifest.

    Returns:
        The manifest to go on with.
    """
    path = out / MANIFEST
    if not path.is_file():
        return {**record, "files": {}, "left_out": {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ConfigError(f"--out {out}: {MANIFEST} is not readable; choose another --out")
    if {k: manifest.get(k) for k in record} != record:
        raise ConfigError(
            f"--out {out} holds sharpness of another source or other settings; choose another --out"
        )
    files = {
        n: r
        for n, r in manifest.get("files", {}).items()
        if n.startswith(PARTS + "/") and verify_files(out, {n: r}) is None
    }
    left_out = {n: v for n, v in manifest.get("left_out", {}).items() if n in files}
    return {**record, "files": files, "left_out": left_out}


def estimate(folders: list, settings: SharpnessSettings, quiet: bool) -> None:
    """Print the points and the network passes the measures will take, before any work.

    Args:
        folders: the configurations' folders.
        settings: the ``SharpnessSettings``.
        quiet: print nothing.
    """
    walks = sum(pq.read_metadata(f / ENDPOINTS).num_rows for f in folders)
    s = settings
    per_point = {
        "epsilon": s.epsilon.steps + 1,
        "adaptive": s.adaptive.steps + 1 + s.adaptive.samples,
        "m": s.m.steps + 1,
        "pacbayes": 2 * s.pacbayes.samples * (s.pacbayes.bisections + 12),
        "hessian": s.hessian.steps + s.hessian.samples,  # Hessian-vector products (D > 500)
    }
    passes = sum(per_point[m] for m in s.measures)
    if not quiet:
        print(
            f"{walks:,} points in {plural(len(folders), 'configuration')}; about {passes} "
            f"passes over up to {s.patterns:,} training patterns a point (a gradient pass counts "
            "as one)"
        )


def plural(n: int, noun: str) -> str:
    """A count and its noun.

    Args:
        n: the count.
        noun: the noun, singular.

    Returns:
        E.g. ``1 point``, ``3 points``.
    """
    return f"{n} {noun}{'' if n == 1 else 's'}"
