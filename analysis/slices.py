"""Figures of ``fla slice`` folders: contours of the loss over a plane (levels log-spaced when the
loss spans more than two decades), or the loss and accuracy along a line, with the networks, the
connection path or the walk's trajectory drawn on it (Li et al. 2018, Figs. 1, 5 and 9; Garipov et
al. 2018, Fig. 1)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from fla.base.errors import DataError  # noqa: E402
from fla.slices.grid import read_slice  # noqa: E402

LEVELS = 30
DECADES = 2.0  # a loss spanning more than this many decades gets log-spaced levels


def levels(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Contour levels of finite values, log-spaced where they span decades.

    Args:
        values: the grid's losses.

    Returns:
        (levels, whether they are log-spaced).
    """
    finite = values[np.isfinite(values)]
    if not finite.size:  # a slice whose every loss overflowed: nothing to contour
        raise DataError("every loss of this slice is non-finite; nothing to draw")
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.array([lo - 0.5, lo + 0.5]), False
    if lo > 0 and np.log10(hi / lo) > DECADES:
        return np.geomspace(lo, hi, LEVELS), True
    return np.linspace(lo, hi, LEVELS), False


def axis_labels(manifest: dict) -> list[str]:
    """What a slice's axes are, in words.

    Args:
        manifest: the slice's slice.json.

    Returns:
        One label per axis.
    """
    d = manifest["definition"]
    if d["kind"] == "plane":
        p = d["points"]
        return [f"from {p[0]} to {p[1]}", f"towards {p[2]}, orthogonal to the first, same scale"]
    if d["kind"] == "trajectory":
        ev = d["explained_variance"]
        return [f"1st PCA direction ({ev[0]:.1%})", f"2nd PCA direction ({ev[1]:.1%})"]
    out = []
    for n, spec in enumerate(d["directions"]):
        if spec["kind"] == "random":
            norm = ", filter-normalised" if spec["normalisation"] == "filter" else ""
            out.append(f"random direction {n + 1}{norm}")
        elif spec["kind"] == "towards":
            out.append(f"towards {spec['point']}")
        else:
            out.append(f"Hessian eigenvector {spec['rank']} (lambda = {spec['eigenvalue']:.3g})")
    return out


def slice_figure(folder):
    """The figure of a slice: a line's profile or a plane's contours, its marks drawn.

    Args:
        folder: the slice's folder.

    Returns:
        (figure, table of the grid).
    """
    manifest, grid, marks = read_slice(folder)
    frame, marks = grid.to_pandas(), marks.to_pandas()
    labels = axis_labels(manifest)
    source = manifest["source"]
    title = (
        f"{source.get('problem', source.get('dataset'))} "
        f"{source.get('network', source.get('arch'))}: {manifest['definition']['kind']}"
    )
    if frame["j"].isna().all():
        fig = line_figure(frame, marks, labels[0])
    else:
        fig = plane_figure(frame, marks, labels)
    fig.suptitle(title)
    return fig, frame


def line_figure(frame, marks, label):
    """A 1D slice: the training (and test) loss along the line, with its marks.

    Args:
        frame: the grid's rows.
        marks: marks.parquet's rows.
        label: the axis' label.

    Returns:
        The figure.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(frame.a, frame.train_loss, color="C0", label="training loss")
    if frame.test_loss.notna().any():
        ax.plot(frame.a, frame.test_loss, color="C0", ls="--", label="test loss")
    if frame.train_loss.min() > 0 and frame.train_loss.max() / frame.train_loss.min() > 10**DECADES:
        ax.set_yscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("loss")
    twin = ax.twinx()
    twin.plot(frame.a, frame.train_accuracy, color="C1", label="training accuracy")
    if frame.test_accuracy.notna().any():
        twin.plot(frame.a, frame.test_accuracy, color="C1", ls="--", label="test accuracy")
    twin.set_ylabel("accuracy", color="C1")
    twin.set_ylim(-0.02, 1.02)
    for _, m in marks[marks.kind == "point"].iterrows():
        ax.axvline(m.a, color="k", lw=0.6, ls=":")
        ax.annotate(m.label, (m.a, ax.get_ylim()[1]), fontsize=8, ha="center", va="bottom")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="lower right")
    return fig


def plane_figure(frame, marks, labels):
    """A 2D slice: contours of the training loss, with its marks and paths.

    Args:
        frame: the grid's rows.
        marks: marks.parquet's rows.
        labels: the axes' labels.

    Returns:
        The figure.
    """
    panels = [("training loss", "train_loss")]
    panels.append(
        ("test loss", "test_loss")
        if frame.test_loss.notna().any()
        else ("training accuracy", "train_accuracy")
    )
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    shape = (frame.i.max() + 1, frame.j.max() + 1)
    a = frame.a.to_numpy().reshape(shape)
    b = frame.b.to_numpy().reshape(shape)
    for ax, (name, column) in zip(axes, panels):
        z = frame[column].to_numpy().reshape(shape)
        if column.endswith("accuracy"):  # a few discrete values: cells, not contours
            filled = ax.pcolormesh(a, b, z, cmap="viridis", vmin=0, vmax=1, shading="nearest")
            fig.colorbar(filled, ax=ax, label=name)
        else:
            lv, log = levels(z)
            norm = matplotlib.colors.LogNorm(lv[0], lv[-1]) if log else None
            filled = ax.contourf(a, b, z, levels=lv, cmap="viridis", norm=norm, extend="both")
            ax.contour(a, b, z, levels=lv[::3], colors="w", linewidths=0.4, norm=norm)
            bar = fig.colorbar(filled, ax=ax, label=name + (" (log levels)" if log else ""))
            bar.ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.3g"))
        draw_marks(ax, marks)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_title(name)
    return fig


def draw_marks(ax, marks) -> None:
    """Draw a slice's networks, paths and trajectories on its axes.

    Args:
        ax: the axes.
        marks: marks.parquet's rows.
    """
    for kind, style in (("path", dict(color="r", lw=1.5)), ("trajectory", dict(color="w", lw=1))):
        for label, line in marks[marks.kind == kind].groupby("label"):
            line = line.sort_values("order")
            ax.plot(line.a, line.b, marker="." if kind == "trajectory" else None, ms=3, **style)
            off = line.off.max()
            ax.plot([], [], label=f"{label} (off the plane by {off:.2g} at most)", **style)
    for _, m in marks[marks.kind == "point"].iterrows():
        ax.plot(m.a, m.b, "o", color="r", mec="w", ms=6)
        text = m.label if m.loss is None or np.isnan(m.loss) else f"{m.label}\n{m.loss:.3g}"
        ax.annotate(
            text, (m.a, m.b), xytext=(4, 4), textcoords="offset points", color="w", fontsize=8
        )
    if (marks.kind != "point").any():
        ax.legend(fontsize=7, loc="lower left")


def slice_sections(root: Path, folders: list, png) -> list:
    """One report section per slice folder.

    Args:
        root: the folder reported.
        folders: the slices' folders.
        png: figure -> embedded PNG.

    Returns:
        ``analysis.page.Section`` objects.
    """
    sections = []
    for folder in folders:
        fig, frame = slice_figure(folder)
        name = folder.relative_to(root) if folder != root else folder.name
        sections.append(
            (
                f"Loss-surface slice: {name}",
                png(fig),
                None,
                "The training and test loss over the slice's grid (contours, log-spaced where the "
                "loss spans more than two decades; accuracy as cells), with the networks, paths "
                "and trajectories it was drawn through marked.",
            )
        )
    return sections
