"""Report sections of ``fla spawn`` outputs: the error and loss barriers between copies of walks
spawned at step K, against K (Frankle et al. 2020's instability analysis on walks), and the step
from which the walks stay in one linearly connected basin."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def barrier_figure(rows: pd.DataFrame, stable_error: float, title: str = ""):
    """Error and loss barriers between the copies' ends against the spawn step K: every pair a grey
    dot, the median a line; the error panel with the stability threshold dotted.

    Args:
        rows: spawn.parquet's rows.
        stable_error: the threshold.
        title: the figure's title.

    Returns:
        The figure.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    ks = sorted(rows["at"].unique())
    position = {k: i for i, k in enumerate(ks)}  # K on an even scale: spawn steps are uneven
    x = rows["at"].map(position).to_numpy(float)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(rows))
    for ax, column, label in (
        (axes[0], "error_barrier", "error barrier (fraction of patterns)"),
        (axes[1], "loss_barrier", "loss barrier (nats)"),
    ):
        ax.scatter(x + jitter, rows[column], s=6, color="#999", alpha=0.6, label="a pair of copies")
        medians = rows.groupby("at")[column].median()
        ax.plot(
            [position[k] for k in medians.index], medians, "o-", color="tab:blue", label="median"
        )
        ax.set_xticks(range(len(ks)), [str(k) for k in ks])
        ax.set_xlabel("spawn step K")
        ax.set_ylabel(label)
    axes[0].axhline(stable_error, color="firebrick", ls=":", lw=1, label=f"{stable_error:g}")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Barriers between copies spawned at step K{': ' + title if title else ''}")
    return fig


def spawn_sections(folders: list, png) -> list:
    """One section per ``fla spawn`` output.

    Args:
        folders: the outputs' folders.
        png: figure -> embedded PNG.

    Returns:
        ``analysis.page.Section`` objects.
    """
    from fla.base.store import verified_manifest

    from .page import Section

    sections = []
    for folder in folders:
        manifest = verified_manifest(folder, "spawn.json", "fla spawn")
        rows = pd.read_parquet(Path(folder) / "spawn.parquet")
        settings, stable = manifest["settings"], manifest["stable_from"]
        text = (
            f"{settings['copies']} copies of each of the {rows.walk.nunique()} walks of "
            f"{manifest['source']} spawned at each step K and walked on with fresh streams; the "
            "barriers between the copies' ends along the straight line (the highest value along "
            "it above the mean of its ends, Frankle et al. 2020) on "
            f"{int(rows.patterns.max()):,} training patterns. "
            + (
                f"The median error barrier stays at most {settings['stable_error']:g} from step "
                f"{stable} on: from there the walks stay in one linearly connected basin."
                if stable is not None
                else "The median error barrier at the last K is above "
                f"{settings['stable_error']:g}: the walks are not stable at any K measured."
            )
        )
        figure = barrier_figure(rows, settings["stable_error"], Path(folder).name)
        summary = pd.DataFrame(manifest["summary"])
        sections.append(
            Section(
                f"Spawned walks: {Path(folder).name}",
                text=text,
                figures=[
                    (
                        png(figure),
                        "Each pair of copies' barriers (grey) and their median (blue) against "
                        "the step K they were spawned at; dotted: the stability threshold.",
                    )
                ],
                tables=[(summary, "Per spawn step K: the barriers' medians and means.", None)],
            )
        )
    return sections
