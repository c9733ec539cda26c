"""Report sections of ``fla sharpness`` outputs: each measure against the generalisation gap per
architecture, the points coloured by their gradient cluster, and the seed paper's claim put in
numbers (Bosman, Engelbrecht and Helbig: the steep-gradient cluster lies in narrow valleys and
generalises worse; Keskar et al. 2017), with Kendall's tau of each measure with the loss gap
across configurations (Jiang et al. 2020)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fla.base.store import verified_manifest

# every measure grows with sharpness (the PAC-Bayes ones are 1 / sigma^2)
MEASURES = {
    "eps_sharpness": "epsilon-sharpness (Keskar)",
    "adaptive_worst": "adaptive, worst case",
    "adaptive_average": "adaptive, average case",
    "m_sharpness": "m-sharpness (Foret)",
    "pacbayes_flatness": "PAC-Bayes 1/sigma^2",
    "pacbayes_mag_flatness": "PAC-Bayes 1/sigma'^2",
    "hessian_max": "Hessian lambda_max",
    "hessian_trace": "Hessian trace",
    "hessian_frobenius": "Hessian Frobenius",
}
COLOURS = {"steep": "tab:red", "shallow": "tab:blue", "one": "tab:grey"}


def read_sharpness(folder: Path) -> tuple[dict, pd.DataFrame]:
    """An ``fla sharpness`` output, verified.

    Args:
        folder: its folder.

    Returns:
        (manifest, sharpness.parquet's table).

    Raises:
        DataError: a damaged output.
        FileNotFoundError: an output fla sharpness has not finished.
    """
    manifest = verified_manifest(folder, "sharpness.json", "fla sharpness")
    if "sharpness.parquet" not in manifest["files"]:
        raise FileNotFoundError(f"{folder}: fla sharpness has not finished there; run it again")
    return manifest, pd.read_parquet(Path(folder) / "sharpness.parquet")


def claim_table(points: pd.DataFrame) -> pd.DataFrame:
    """Per configuration with both clusters: each measure's and the gaps' steep-minus-shallow
    difference of cluster means.

    Args:
        points: sharpness.parquet's rows.

    Returns:
        The table.
    """
    present = [m for m in MEASURES if m in points]
    gaps = [g for g in ("loss_gap", "accuracy_gap") if g in points]
    rows = []
    for (width, depth), group in points.groupby(["width", "depth"], sort=True):
        means = group.groupby("cluster")[present + gaps + ["grad_norm"]].mean()
        if not {"steep", "shallow"} <= set(means.index):
            continue
        diff = means.loc["steep"] - means.loc["shallow"]
        counts = group.cluster.value_counts()
        rows.append(
            {
                "width": width,
                "depth": depth,
                "steep": int(counts["steep"]),
                "shallow": int(counts["shallow"]),
                **{f"{c} steep - shallow": diff[c] for c in gaps + present},
            }
        )
    return pd.DataFrame(rows)


def tau_table(points: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau of each measure with the loss gap: across configurations (their means), and the
    median over configurations of the tau across each one's points.

    Args:
        points: sharpness.parquet's rows.

    Returns:
        The table.
    """
    from scipy.stats import kendalltau

    rows = []
    means = points.groupby(["width", "depth"]).mean(numeric_only=True)
    for column, name in MEASURES.items():
        if column not in points or "loss_gap" not in points:
            continue
        across = kendalltau(means[column], means.loss_gap).statistic if len(means) > 1 else None
        within = [
            kendalltau(g[column], g.loss_gap).statistic
            for _, g in points.groupby(["width", "depth"])
            if len(g) > 1
        ]
        within = [t for t in within if np.isfinite(t)]
        rows.append(
            {
                "measure": name,
                "tau across configurations": across
                if across is None or np.isfinite(across)
                else None,  # fmt: skip
                "median tau within a configuration": float(np.median(within)) if within else None,
                "configurations": len(means),
            }
        )
    return pd.DataFrame(rows)


def claim_words(claims: pd.DataFrame) -> str:
    """The seed paper's claim in numbers: per measure, in how many configurations the steep cluster
    is the sharper, and in how many it has the larger loss gap.

    Args:
        claims: ``claim_table``'s rows.

    Returns:
        The sentence.
    """
    if claims.empty:
        return "No configuration has both a steep and a shallow cluster: the claim is not tested."
    k = len(claims)
    parts = []
    if "loss_gap steep - shallow" in claims:
        worse = int((claims["loss_gap steep - shallow"] > 0).sum())
        parts.append(f"the steep cluster has the larger loss gap in {worse} of {k}")
    for column, name in MEASURES.items():
        key = f"{column} steep - shallow"
        if key in claims:
            parts.append(f"{name} is larger there in {int((claims[key] > 0).sum())} of {k}")
    return "Of the configurations with both clusters, " + "; ".join(parts) + "."


def figure(points: pd.DataFrame, gap: str):
    """Rows: architectures; columns: measures; each point a walk end, the measure (log axis when it
    spans decades) against the gap, coloured by its gradient cluster.

    Args:
        points: sharpness.parquet's rows.
        gap: the gap column drawn (``loss_gap`` or ``accuracy_gap``).

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    present = [m for m in MEASURES if m in points]
    archs = sorted(points.groupby(["width", "depth"]).groups)
    fig, axes = plt.subplots(
        len(archs),
        len(present),
        figsize=(2.3 * len(present), 2.0 * len(archs) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for i, (width, depth) in enumerate(archs):
        group = points[(points.width == width) & (points.depth == depth)]
        for j, column in enumerate(present):
            ax = axes[i, j]
            for cluster, part in group.groupby("cluster"):
                finite = part[np.isfinite(part[column])]
                ax.scatter(finite[column], finite[gap], s=6, c=COLOURS[cluster], label=cluster)
            values = group[column][np.isfinite(group[column])]
            if len(values) and (values > 0).all() and values.max() > 20 * values.min():
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no overlaps
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(MEASURES[column], fontsize=7)
            if j == 0:
                ax.set_ylabel(f"width {width}, depth {depth}\n{gap.replace('_', ' ')}", fontsize=7)
    axes[0, 0].legend(fontsize=6, markerscale=2)
    return fig


def sharpness_sections(folders: list, png) -> list:
    """One section per ``fla sharpness`` output.

    Args:
        folders: the outputs' folders.
        png: figure -> embedded PNG.

    Returns:
        ``analysis.page.Section`` objects.
    """
    from .page import Section

    sections = []
    for folder in folders:
        manifest, points = read_sharpness(folder)
        claims = claim_table(points)
        settings = manifest["settings"]
        text = (
            f"{len(points)} walk ends of {points.groupby(['width', 'depth']).ngroups} "
            f"architectures from {manifest['source']}, measured on "
            f"{int(points.patterns.max()):,} training patterns (at most {settings['patterns']:,})."
            " Clusters: the two of log10 |grad| (on the whole training set) "
            "over each configuration's ends, by exact 1-D 2-means; steep is the one of larger "
            "gradients. Every measure grows with sharpness. " + claim_words(claims)
        )
        figures = []
        for gap in ("loss_gap", "accuracy_gap"):
            if gap in points:
                words = "test loss - training loss" if gap == "loss_gap" else "accuracy gap"
                figures.append(
                    (
                        png(figure(points, gap)),
                        f"Each measure against the {words} at every walk end, one row an "
                        "architecture, coloured by gradient cluster (red steep, blue shallow).",
                    )
                )
        tables = [
            (claims, "Steep minus shallow cluster means, per configuration.", None),
            (tau_table(points), "Kendall's tau of each measure with the loss gap.", None),
        ]
        name = Path(folder).name
        sections.append(Section(f"Sharpness: {name}", text=text, figures=figures, tables=tables))
    return sections
