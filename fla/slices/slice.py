"""``fla slice``: the loss of a network fla knows on a line or a plane of parameter space.

Three kinds of slice (``fla.slices.directions`` cites the papers):

- around a point (``--at``), along one or two directions (``--direction``): ``random``
  (filter-normalised Gaussian, Li et al. 2018), ``towards:REF`` (the difference to another
  network), ``hessian:K`` (the K-th largest Hessian eigenvector at the point, unit length);
- the plane through three networks (``--plane R1 R2 R3``, Garipov et al. 2018), with the path of a
  connection run drawn on it when the three are its two minima and that path's saddle or bend;
- a walk's trajectory (``--trajectory W``) on the plane of its top two principal directions, around
  its last point (Li et al. 2018, Sec. 7).

Unless ``--range`` is given, a plane's and a trajectory's grids cover their marks with a margin.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fla.base.errors import ConfigError, NonFiniteError
from fla.base.machine import human
from fla.base.outputs import check_folder, claim_folder, refuse_folder_on_source, remove_files
from fla.base.settings import (
    SEED,
    boolean,
    check,
    choice,
    flag,
    integer,
    number,
    setting,
    text,
    values_of,
)
from fla.slices import directions as dirs
from fla.slices.grid import (
    FILES,
    MANIFEST,
    Slice,
    axis,
    evaluate,
    plan_chunk,
    write_slice,
)
from fla.slices.subjects import open_source, point, trajectory_rows

MARGIN = 0.25  # of the marks' extent, around a plane's or a trajectory's marks


RANGE_MAX = 1e6  # grid coordinates, in units of the directions' (filter-normalised) lengths


@dataclass(frozen=True)
class SliceSettings:
    """What a slice is: its kind (around ``at`` along ``direction``s, a ``plane`` through three
    networks, or a walk's ``trajectory``), its grid and its directions' draw. The flags of
    ``fla slice`` are these fields (``add_flags``)."""

    at: str | None = setting(
        None, "the centre point (default walk=0, minimum=0 or model)", text(optional=True)
    )
    direction: tuple | None = setting(
        None,
        "random | towards:POINT | hessian:K; once for a line, twice for a plane "
        "(default two random directions)",
        values_of(text(), "one or two directions", count=(1, 2), optional=True),
        nargs="append",
    )
    plane: tuple | None = setting(
        None,
        "the plane through three networks",
        values_of(text(), "three networks", count=(3, 3), optional=True),
        nargs=3,
        metavar="POINT",
    )
    trajectory: int | None = setting(
        None,
        "a recorded walk's plane",
        integer(at_least=0, optional=True, words="a walk number >= 0"),
        metavar="WALK",
    )
    range: tuple | None = setting(
        None,
        "coordinates of the grid on each axis (default -1 1; planes and trajectories: their "
        "marks with a margin)",
        values_of(number(), "two finite numbers LO < HI", count=(2, 2), optional=True),
        nargs=2,
        metavar=("LO", "HI"),
    )
    resolution: int = setting(
        51,
        "grid points a side",
        integer(at_least=2, at_most=2001, words="an integer from 2 to 2001"),
    )
    seed: int = setting(
        0,
        "seed of the random directions",
        SEED,
    )
    normalisation: str = setting(
        "filter",
        "random directions: filter-normalised (Li et al.) or as drawn",
        choice("filter", "none"),
    )
    keep_biases: bool = setting(
        False,
        "random directions: copy biases and BatchNorm parameters instead of zeroing them",
        boolean(),
    )
    examples: int = setting(
        1024,
        "trained models: training and test images evaluated per point",
        integer(at_least=1),
    )

    def validate(self) -> None:
        """Check the settings before any work.

        Raises:
            ConfigError: naming the first setting refused, alone or beside the others.
        """
        check(self, flag)
        if self.range is not None:
            lo, hi = self.range
            if not lo < hi:
                raise ConfigError(f"--range must be two finite numbers LO < HI, got {lo} {hi}")
            if max(abs(lo), abs(hi)) > RANGE_MAX:
                raise ConfigError(
                    f"--range {lo:g} {hi:g}: beyond {RANGE_MAX:g} directions' lengths from the "
                    "centre the network's float32 logits overflow and the grid holds no finite "
                    "loss; give a smaller --range"
                )
        given = (("--plane", self.plane), ("--trajectory", self.trajectory))
        chosen = [n for n, v in given if v is not None]
        if len(chosen) > 1 or (chosen and self.direction):
            raise ConfigError("give one of --direction, --plane and --trajectory")
        if chosen and self.at:
            raise ConfigError(
                "--at is the centre of --direction slices; a plane is placed by its three "
                "networks, a trajectory around its last point"
            )


SLICE_FILES = FILES + (MANIFEST,)  # what fla slice writes in its folder


def around(subject, at, specs, *, span, resolution, seed, normalisation, keep_biases, data_dir):
    """A line or plane around one point along random filter-normalised (Li et al. 2018, Eq. 2),
    towards-another-network or Hessian-eigenvector directions.

    Args:
        subject: the ``fla.slices.subjects.Subject`` (the source's network and data).
        at: the centre point (a reference of the source; default its default point).
        specs: one or two directions: ``random``, ``towards:POINT``, ``hessian:K``.
        span: (lo, hi) of every axis (default (-1, 1)).
        resolution: grid points a side.
        seed: the seed of the random directions.
        normalisation: ``filter`` or ``none``.
        keep_biases: keep the biases' directions (filter normalisation zeroes them by default).
        data_dir: the folder of data files (for another folder's point).

    Returns:
        The ``Slice``.

    Raises:
        ConfigError: an unknown direction, a direction towards the centre itself, or a zero one.
    """
    origin, label = point(subject, at or subject.default, data_dir)
    specs = list(specs or ["random", "random"])
    randoms = iter(
        dirs.random_directions(
            origin,
            subject.layout,
            specs.count("random"),
            seed=seed,
            normalisation=normalisation,
            keep_biases=keep_biases,
        )
    )
    hessian_k = [parse_hessian(s) for s in specs if s.startswith("hessian:")]
    eigen = hessian_directions(subject, origin, max(hessian_k)) if hessian_k else None
    basis, marks, described = [], [point_mark(label, 0.0, 0.0, dims=len(specs))], []
    for n, spec in enumerate(specs):
        if spec == "random":
            basis.append(next(randoms))
            described.append({"kind": "random", "normalisation": normalisation})
        elif spec.startswith("towards:"):
            other, other_label = point(subject, spec.split(":", 1)[1], data_dir)
            if not np.linalg.norm(other - origin):
                raise ConfigError(
                    f"--direction {spec}: {other_label} is the centre itself ({label}), so the "
                    "direction towards it is zero; choose another point or another --at"
                )
            basis.append(other - origin)
            described.append({"kind": "towards", "point": other_label})
            c = [1.0 if k == n else 0.0 for k in range(2)]
            marks.append(point_mark(other_label, *c, dims=len(specs)))
        elif spec.startswith("hessian:"):
            k = parse_hessian(spec)
            basis.append(eigen["vectors"][k - 1])
            described.append(
                {"kind": "hessian", "rank": k, "eigenvalue": float(eigen["values"][k - 1])}
            )
        else:
            raise ConfigError(f"--direction {spec!r}: expected random, towards:POINT or hessian:K")
        dirs.check_direction(basis[-1], spec)
    basis = np.stack(basis)
    definition = {
        "kind": "around",
        "at": label,
        "directions": described,
        "seed": seed,
        "keep_biases": keep_biases,
        "norms": np.linalg.norm(basis, axis=1).tolist(),
        "origin_norm": float(np.linalg.norm(origin)),
    }
    if len(basis) == 2:
        cos = basis[0] @ basis[1] / np.prod(np.linalg.norm(basis, axis=1))
        definition["cosine"] = float(cos)
    lo, hi = span or (-1.0, 1.0)
    return Slice(origin, basis, [axis(lo, hi, resolution)] * len(basis), definition, marks)


def parse_hessian(spec: str) -> int:
    """K of a ``hessian:K`` direction.

    Args:
        spec: the direction as given.

    Returns:
        K, from 1 to 20.

    Raises:
        ConfigError: a K that is not an integer from 1 to 20.
    """
    value = spec.split(":", 1)[1]
    if not value.isdigit() or not 1 <= int(value) <= 20:
        raise ConfigError(f"--direction {spec!r}: K must be an integer from 1 to 20")
    return int(value)


def hessian_directions(subject, origin, k: int) -> dict:
    """The top k Hessian eigenpairs at the centre, by Lanczos
    (``fla.curvature.lanczos.Hessian.top_eigenvectors``).

    Args:
        subject: the ``fla.slices.subjects.Subject`` (the source's network and data).
        origin: [D] the centre.
        k: how many.

    Returns:
        {"values": [k] descending, "vectors": [k, D]}.

    Raises:
        ConfigError: the eigenvectors did not converge in 200 Lanczos steps.
    """
    from fla.curvature.lanczos import Hessian

    values, vectors, converged = Hessian(subject.loss, origin[None]).top_eigenvectors(
        k, max_steps=min(subject.n_params, 200)
    )
    if not converged[0]:
        raise ConfigError(
            f"the top {k} Hessian eigenvectors did not converge in 200 Lanczos steps; use fewer"
        )
    return {"values": values[0], "vectors": vectors[0]}


def point_mark(label, a, b=None, *, dims=2, kind="point", order=0, off=0.0) -> dict:
    """One row of marks.parquet.

    Args:
        label: what the mark is.
        a: its first coordinate.
        b: its second (None in 1D).
        dims: the slice's dimensions.
        kind: ``point``, ``path`` or ``trajectory``.
        order: its place along a path or trajectory.
        off: its distance from the slice.

    Returns:
        The row, its ``loss`` to be filled in.
    """
    return {
        "label": label,
        "kind": kind,
        "order": order,
        "a": float(a),
        "b": float(b) if b is not None and dims == 2 else None,
        "off": float(off),
        "loss": None,
    }


def through(subject, refs, span, *, resolution, data_dir):
    """The plane through three networks (Garipov et al. 2018, Sec. 5), with the connection path that
    joins them drawn where there is one.

    Args:
        subject: the ``fla.slices.subjects.Subject`` (the source's network and data).
        refs: the three networks' references.
        span: (lo, hi) of both axes (default the marks' extent with a margin).
        resolution: grid points a side.
        data_dir: the folder of data files.

    Returns:
        The ``Slice``.
    """
    found = [point(subject, ref, data_dir) for ref in refs]
    origin, basis = dirs.plane(*(v for v, _ in found))
    coords, _ = dirs.coordinates(np.stack([v for v, _ in found]), origin, basis)
    marks = [point_mark(label, *c) for (_, label), c in zip(found, coords)]
    drawn = path_between(subject, refs)
    if drawn is not None:
        label, params = drawn
        c, off = dirs.coordinates(params, origin, basis)
        marks += [
            point_mark(label, *ci, kind="path", order=n, off=o)
            for n, (ci, o) in enumerate(zip(c, off))
        ]
    definition = {"kind": "plane", "points": [label for _, label in found]}
    return framed(
        origin, basis, coords, marks=marks, definition=definition, span=span, resolution=resolution
    )


def path_between(subject, refs):
    """The connection path whose two minima and saddle or bend are the plane's three networks.

    Args:
        subject: a connection run's ``Subject``.
        refs: the three references (``minimum=A``, ``minimum=B``, ``saddle=A-B`` or ``bend=A-B``).

    Returns:
        (label, dense points [M, D]), or None.
    """
    from fla.slices.subjects import parse_spec, path_row

    if not subject.paths or not all("=" in r for r in refs):
        return None
    parts = [parse_spec(r) for r in refs]
    ends = sorted(int(p["minimum"]) for p in parts[:2] if set(p) == {"minimum"})
    third = parts[2]
    kind = next(iter(third))
    if len(ends) != 2 or kind not in ("saddle", "bend"):
        return None
    if sorted(int(x) for x in third[kind].split("-")) != ends:
        return None
    row = path_row(
        subject.paths, third, kind, first=subject.first_method, spec=refs[2], folder=subject.folder
    )
    params = row["dense_params"] if row.get("dense_params") is not None else row["point_params"]
    return f"{row['method']} {ends[0]}-{ends[1]}", np.asarray(params, np.float64)


def framed(origin, basis, coords, *, marks, definition, span, resolution) -> Slice:
    """A plane's grid: ``span`` on both axes, else the marks' extent with a margin.

    Args:
        origin: [D] the plane's origin.
        basis: [2, D] its directions.
        coords: [P, 2] the defining networks' coordinates.
        marks: marks.parquet's rows.
        definition: what made the plane (JSON).
        span: (lo, hi), or None.
        resolution: grid points a side.

    Returns:
        The ``Slice``.
    """
    every = np.array([[m["a"], m["b"]] for m in marks] + list(coords), np.float64)
    axes = []
    for k in range(2):
        if span is not None:
            axes.append(axis(*span, resolution))
            continue
        lo, hi = every[:, k].min(), every[:, k].max()
        pad = MARGIN * max(hi - lo, 1e-12 + np.abs(every).max() * 1e-3)
        axes.append(axis(lo - pad, hi + pad, resolution))
    return Slice(origin, basis, axes, definition, marks)


def along_trajectory(subject, walk, span, *, resolution):
    """A recorded walk's principal plane (Li et al. 2018, Sec. 7), centred at its last point, with
    the walk drawn on it.

    Args:
        subject: the ``fla.slices.subjects.Subject`` (the source's network and data).
        walk: the walk (recorded with --record-params).
        span: (lo, hi) of both axes, or None.
        resolution: grid points a side.

    Returns:
        The ``Slice``.
    """
    import json

    cfg = json.loads((subject.folder / "run.json").read_text())["config"]
    rows = trajectory_rows(subject.folder, cfg, walk, what=f"--trajectory {walk}")
    steps = sorted(rows)
    params = np.stack([rows[s] for s in steps])
    basis, explained = dirs.principal_directions(params)
    origin = params[-1]
    coords, off = dirs.coordinates(params, origin, basis)
    marks = [
        point_mark(f"walk {walk}", *c, kind="trajectory", order=s, off=o)
        for s, c, o in zip(steps, coords, off)
    ]
    marks += [point_mark(f"step {steps[0]}", *coords[0]), point_mark(f"step {steps[-1]}", 0, 0)]
    definition = {
        "kind": "trajectory",
        "walk": walk,
        "steps": [steps[0], steps[-1]],
        "explained_variance": explained.tolist(),
    }
    return framed(
        origin, basis, coords, marks=marks, definition=definition, span=span, resolution=resolution
    )


def make_slice(
    source, out, settings: SliceSettings = SliceSettings(), *, data_dir=None, quiet: bool = False
) -> dict:
    """Make the slice ``settings`` describe of ``source`` into ``out`` (``fla slice``; module
    docstring), under the output rule: the grid's memory checked first, the losses evaluated in
    chunks of one compiled call, the tables and then slice.json written.

    Args:
        source: a sampling run of one configuration, a connection run or a trained model.
        out: the output folder.
        settings: what slice (``SliceSettings``).
        data_dir: the folder of data files.
        quiet: no progress.

    Returns:
        The manifest written (slice.json).

    Raises:
        ConfigError: bad settings, a source fla did not write, or a grid memory cannot hold.
        NonFiniteError: after writing, when some grid points have a non-finite loss (the command
            line's exit 3).
    """
    from fla.walks.resources import available_bytes

    source, out = Path(source), Path(out)
    settings.validate()
    s = settings
    span, resolution = (tuple(s.range) if s.range else None), s.resolution
    check_folder(
        out, "fla slice", SLICE_FILES, own=None, resume=False, flag="--out", what="a slice"
    )
    refuse_folder_on_source(out, source, "--out")
    subject = open_source(source, data_dir, s.examples)
    if s.plane:
        grid = through(subject, s.plane, span, resolution=resolution, data_dir=data_dir)
    elif s.trajectory is not None:
        if subject.kind != "run":
            raise ConfigError("--trajectory needs a sampling run (recorded with --record-params)")
        grid = along_trajectory(subject, s.trajectory, span, resolution=resolution)
    else:
        grid = around(
            subject,
            s.at,
            s.direction,
            span=span,
            resolution=resolution,
            seed=s.seed,
            normalisation=s.normalisation,
            keep_biases=s.keep_biases,
            data_dir=data_dir,
        )
    chunk = plan_chunk(subject, grid, available_bytes())
    if not quiet:
        print(
            f"{grid.points:,} grid points of a {subject.n_params:,}-parameter network, "
            f"{chunk} a call (about {human(chunk * subject.bytes_per_point)} each)"
        )
    marked = [m for m in grid.marks if m["kind"] == "point"]
    if marked:
        at_points = (
            grid.origin
            + np.array([[m["a"], m["b"] or 0.0][: len(grid.basis)] for m in marked]) @ grid.basis
        )
        for m, loss in zip(marked, subject.evaluate(at_points.astype(np.float32))["train_loss"]):
            m["loss"] = float(loss)
    with claim_folder(out, "fla slice", SLICE_FILES, source=source, what="a slice"):
        start = time.time()
        shown = [0.0]

        def progress(done, total):
            if not quiet and (time.time() - shown[0] > 10 or done == total):
                shown[0] = time.time()
                print(f"  {done:,} / {total:,} points, {time.time() - start:.1f} s")

        values = evaluate(subject, grid, chunk, progress=progress)
        seconds = time.time() - start
        bad = int((~np.isfinite(values["train_loss"])).sum())
        notes = {
            "seconds": round(seconds, 3),
            "points_per_second": round(grid.points / max(seconds, 1e-9), 1),
            "chunk": chunk,
            "calls": -(-grid.points // chunk),
            "nonfinite_points": bad,
        }
        try:
            manifest = write_slice(out, subject, grid, values=values, notes=notes)
        except BaseException:
            remove_files(out, SLICE_FILES)
            raise
    if not quiet:
        print(f"{grid.points:,} points in {seconds:.1f} s -> {out}")
    if bad:
        raise NonFiniteError(f"{bad} of {grid.points} grid points have a non-finite loss")
    return manifest
