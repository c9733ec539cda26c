"""``fla report RUN_DIR``: one self-contained HTML file (figures embedded) plus the tables as
CSV."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow.compute as pc

from fla.base.files import atomic_path, file_record, write_json

from .attractors import attractor_table, verify_attractors
from .data import CONFIGURATION, VARIANT, count_by, open_run
from .figures import accuracy, curvature_breakdown, lg_clouds, variant_name


def png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def write_report(
    run_dir, out=None, max_points: int = 20_000, l2: float = 0.0, data_dir=None, partial=None
) -> Path:
    """Write RUN_DIR/report.html (or ``out``) and the tables as CSV beside it in a folder of its
    own, NAME_tables/ for NAME.html (report_tables/ for the default), with their manifest
    tables.json; under the output rule (:mod:`fla.base.outputs`): the page is new or fla report's
    own, its tables folder new or holding only the tables its manifest lists, neither on an input
    of RUN_DIR; the output folder's lock is held throughout.

    RUN_DIR may hold sampling runs (a configuration or a study), connection runs (fla connect), or
    both; every connection run under RUN_DIR gets its own sections. ``partial``, the label of a
    study that is not whole (:func:`fla.studies.tasks.whole_study`), heads the page.
    """
    from fla.base.errors import ConfigError
    from fla.base.outputs import check_folder, claim_files, refuse_on_inputs, written_by_fla

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"RUN_DIR {run_dir} does not exist; give a folder fla wrote")
    flag = "--out" if out else "the default output"
    out = Path(out) if out else run_dir / "report.html"
    tables_dir = out.parent / f"{out.stem}_tables"
    refuse_on_inputs([out, tables_dir], run_dir, flag)
    if out.suffix.lower() != ".html":
        raise ConfigError(f"--out {out} must end in .html")
    listed = listed_tables(tables_dir)
    own_table = lambda e: e.name == "tables.json" or e.name in listed
    pages = [out, tables_dir / "tables.json"]
    with claim_files(pages, "fla report", run_dir, flag, written_by_fla, into_run=True):
        check_folder(tables_dir, "fla report", (), own_table, True, flag)
        return _write_report(run_dir, out, tables_dir, max_points, l2, data_dir, partial)


def listed_tables(tables_dir: Path) -> set:
    """The tables an earlier report's tables.json lists in ``tables_dir`` (checksums matching)."""
    import json

    from fla.base.files import checksum

    try:
        record = json.loads((tables_dir / "tables.json").read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(record, dict) or record.get("command") != "fla report":
        return set()
    files = record.get("files", {}) if isinstance(record.get("files"), dict) else {}
    return {
        name
        for name, entry in files.items()
        if (tables_dir / name).is_file() and entry.get("sha256") == checksum(tables_dir / name)
    }


def _write_report(run_dir, out, tables_dir, max_points, l2, data_dir, partial) -> Path:
    connections = sorted(p.parent for p in run_dir.rglob("connect.json"))
    landscapes = sorted(p.parent for p in run_dir.rglob("landscape.json"))
    slices = sorted(p.parent for p in run_dir.rglob("slice.json"))
    try:
        sections, summary = sampling_sections(open_run(run_dir), max_points, run_dir, l2, data_dir)
    except FileNotFoundError:
        if not connections and not landscapes and not slices:
            raise FileNotFoundError(
                f"nothing to report under {run_dir}: no complete sampling run "
                "(points.parquet beside run.json), no connection run (connect.json), no "
                "landscape run (landscape.json) and no slice (slice.json)"
            ) from None
        sections, summary = [], "No sampling runs."
    if sections:
        sections += measure_sections(run_dir)
    if landscapes:
        from .landscape_sections import landscape_sections

        sections += landscape_sections(run_dir, landscapes, png)
    for folder in connections:
        sections += connection_sections(
            folder, folder.relative_to(run_dir) if folder != run_dir else folder.name
        )
    if slices:
        from .slices import slice_sections

        sections += slice_sections(run_dir, slices, png)
    tables_dir.mkdir(parents=True, exist_ok=True)
    for name in listed_tables(tables_dir):  # an earlier report's tables (checked: fla's own)
        (tables_dir / name).unlink()
    body = [f"<p><strong>{html.escape(partial.upper())}</strong></p>"] if partial else []
    for i, (title, image, table) in enumerate(sections):
        body.append(f"<h2>{html.escape(title)}</h2>")
        if image:
            body.append(f'<img alt="{html.escape(title)}" src="data:image/png;base64,{image}">')
        if table is not None and len(table):
            slug = "".join(c if c.isalnum() else "_" for c in title.lower())[:40].strip("_")
            name = f"{i:02d}_{slug}.csv"
            with atomic_path(tables_dir / name) as tmp:
                table.to_csv(tmp, index=False)
            body.append(f'<p>Table: <a href="{tables_dir.name}/{name}">{name}</a></p>')
            body.append(table.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>fla report: "
        f"{html.escape(str(run_dir))}"
        "</title><style>body{font-family:sans-serif;max-width:1400px;margin:auto}img{max-width:100%}"
        "table{border-collapse:collapse;font-size:12px}td,th{padding:2px 6px;border-bottom:1px "
        "solid #ddd}"
        f"</style></head><body><h1>fla report: {html.escape(str(run_dir))}</h1>"
        f"<p>{html.escape(summary)}</p>" + "\n".join(body) + "</body></html>"
    )
    with atomic_path(out) as tmp:
        tmp.write_text(page)
    write_json(  # the tables' manifest: each CSV with its size and SHA-256, and the page's
        tables_dir / "tables.json",
        {
            "command": "fla report",
            "report": out.name,
            "run": str(run_dir),
            "partial": partial,
            "files": {p.name: file_record(p) for p in sorted(tables_dir.glob("[0-9][0-9]_*.csv"))},
            "page": file_record(out),
        },
    )
    return out


def data_table(run_dir) -> pd.DataFrame:
    """Per configuration folder, every input file its run read (size and SHA-256, as its manifest
    recorded them) and the problem's preprocessing."""
    import json

    from fla.base.store import RUN_JSON, configurations

    rows = []
    for folder in configurations(run_dir)[0]:
        problem = json.loads((folder / RUN_JSON).read_text()).get("problem", {})
        inputs = problem.get("inputs")
        where = str(folder.relative_to(run_dir)) if folder != Path(run_dir) else folder.name
        preprocessing = "; ".join(
            f"{k}: {problem[k]}" for k in ("standardised", "scaled", "split") if k in problem
        )
        if inputs is None:
            records = [{"file": "(not recorded: an older run)"}]
        else:
            records = inputs or [{"file": "(none: built in)"}]
        for record in records:
            rows.append(
                {
                    "configuration": where,
                    "problem": problem.get("name"),
                    "file": record.get("file"),
                    "bytes": record.get("bytes"),
                    "sha256": record.get("sha256", "")[:16],
                    "preprocessing": preprocessing,
                }
            )
    return pd.DataFrame(rows)


def sampling_sections(dataset, max_points: int, run_dir, l2: float = 0.0, data_dir=None):
    configs = count_by(dataset, CONFIGURATION + ["seed"])
    sections = [
        ("Configurations (points per configuration and seed)", None, configs),
        ("Data each configuration read (from its manifest)", None, data_table(run_dir)),
    ]
    if dataset.count_rows(filter=pc.field("hessian").is_valid()):
        for column, title in (
            ("curvature", "Curvature breakdown, the paper's rule (any zero eigenvalue: flat)"),
            (
                "reduced_curvature",
                "Curvature breakdown, reduced (the null directions every point of the network has "
                "set aside; both signs significant: saddle)",
            ),
        ):
            fig, table = curvature_breakdown(dataset, column)
            sections.append((title, png(fig), table))
    fig, table = accuracy(dataset)
    sections.append(("Accuracy at the end of the walks", png(fig), table))
    sections.append(
        (
            f"Attractors (gradient norm < 0.01, losses clustered) with what quenches from them "
            f"find "
            f"(verified{', L2 ' + format(l2, 'g') if l2 else ''}; see analysis/attractors.py)",
            None,
            verify_attractors(run_dir, attractor_table(dataset), l2=l2, data_dir=data_dir),
        )
    )
    # one figure per problem, walk and variant (activation, loss, regulariser): apart, never merged
    panels = configs.groupby(["problem", "granularity", "bound"] + VARIANT, dropna=False)
    for (problem, granularity, bound, *values), _ in panels:
        variant = dict(zip(VARIANT, values))
        fig, drawn = lg_clouds(
            dataset, problem, granularity, bound, max_points=max_points, variant=variant
        )
        name = variant_name(*values)
        sections.append(
            (
                f"l-g clouds: {problem}, {granularity}, [-{bound:g}, {bound:g}]"
                f"{', ' + name if name else ''}",
                png(fig),
                drawn,  # per panel: the points drawn, their median loss and gradient norm
            )
        )
    return (
        sections,
        f"{int(configs['count'].sum()):,} sampled points in {len(configs)} configurations.",
    )


def connection_sections(folder: Path, name) -> list:
    import json

    from .connections import (
        comparison_table,
        disconnectivity_graph,
        endpoints_table,
        path_profiles,
        read_connection,
        spanning_tree_figure,
    )

    data = read_connection(folder)
    minima, paths, tree = data["minima"], data["paths"], data["tree"]
    title = str(name)
    summary = json.loads((folder / "connect.json").read_text())
    went = endpoints_table(summary)
    failed = int(paths.failed.sum()) if "failed" in paths else 0
    notes = (
        [
            (
                f"Where the {summary.get('candidates', 0):,} walk endpoints of {title} went "
                "(polished: the minima connected, other minima, the asymptotic basin)",
                None,
                went,
            )
        ]
        if len(went)
        else []
    )
    if failed:
        notes.append(
            (
                f"FAILED path searches in {title}: {failed} of {len(paths)} (every retry's saddle "
                "above the straight line's, or the path left the minima's region)",
                None,
                paths[paths.failed][
                    ["a", "b", "method", "saddle_loss", "line_saddle_loss", "search"]
                ],
            )
        )
    table1 = (
        [
            (
                f"Table 1 (Draxler et al.): minima and saddles of {title}",
                None,
                pd.read_csv(folder / "table1.csv"),
            )
        ]
        if (folder / "table1.csv").is_file()
        else []
    )
    profiles = (
        [
            (
                f"Loss along the paths of {title}: straight line and each method, per pair",
                png(path_profiles(paths, title)),
                comparison_table(paths),
            )
        ]
        if "method" in paths
        else [(f"No paths in {title} (one minimum, or a budget of 0)", None, None)]
    )
    return (
        table1
        + notes
        + [
            (f"Minima of {title}", None, minima.drop(columns=["params"])),
            (
                f"Disconnectivity graph of {title}",
                png(disconnectivity_graph(minima, tree, title)),
                None,
            ),
        ]
        + profiles
        + [(f"Spanning tree of {title}", png(spanning_tree_figure(minima, tree, title)), tree)]
    )


def measure_sections(run_dir: Path) -> list:
    """The landscape measures of the sampling runs (fla.metrics.tables), figure and table."""
    from fla.metrics.tables import run_metrics

    from .measures import measures_figure

    table = run_metrics(run_dir)
    if not len(table):
        return []
    shown = ["fem", "fem_max", "m1", "ic_h_max", "ic_eps_05", "correlation_length"]
    shown += ["g_avg", "fdc", "dm", "stagnation", "best_loss", "last_loss"]
    shown = [m for m in shown if m in set(table.measure)]
    fig, _ = measures_figure(table, shown)
    return [("Landscape measures over walks (mean, 95% bootstrap interval)", png(fig), table)]


FLAGS = {"loss_function": "loss"}  # a column whose flag has another name


def chosen_panel(dataset, problem, granularity, bound, activation=None, loss=None) -> dict:
    """The first (problem, granularity, bound, variant) of the run matching what was asked;
    ConfigError listing what the run holds if nothing does."""
    from fla.base.errors import ConfigError

    configs = count_by(dataset, ["problem", "granularity", "bound"] + VARIANT)
    asked = {
        "problem": problem,
        "granularity": granularity,
        "bound": bound,
        "activation": activation,
        "loss_function": loss,
    }
    keep = np.ones(len(configs), bool)
    for key, value in asked.items():
        if value is not None:
            keep &= (configs[key] == value).to_numpy()
    if keep.any():
        return configs[keep].iloc[0].to_dict()
    for key, value in asked.items():
        if value is not None and not (configs[key] == value).any():
            held = ", ".join(
                f"{v:g}" if key == "bound" else str(v) for v in sorted(set(configs[key]))
            )
            shown = f"{value:g}" if key == "bound" else value
            flag = FLAGS.get(key, key)
            raise ConfigError(f"--{flag} {shown} is not in this run; it holds {flag} {held}")
    raise ConfigError("no configuration of this run has all of what was asked together")


def write_plot(
    kind: str,
    run_dir,
    out,
    problem=None,
    granularity=None,
    bound=None,
    color="curvature",
    logx=False,
    logy=True,
    partial=None,
    activation=None,
    loss=None,
    rule="curvature",
) -> Path:
    """One figure of ``kind`` (lg, curvature, accuracy, metrics, slice) to ``out`` (.png, .pdf or
    .svg); ``partial`` (the label of a study that is not whole) is written across it; ``rule``,
    the curvature figure's classes (``curvature``, the paper's, or ``reduced_curvature``)."""
    if kind == "slice":
        from .slices import slice_figure

        fig, _ = slice_figure(run_dir)
        return save_figure(fig, out, kind)
    dataset = open_run(run_dir)
    if kind == "lg":
        first = chosen_panel(dataset, problem, granularity, bound, activation, loss)
        fig, _ = lg_clouds(
            dataset,
            first["problem"],
            first["granularity"],
            float(first["bound"]),
            color,
            logx,
            logy,
            variant={key: first[key] for key in VARIANT},
        )
    elif kind == "metrics":
        from fla.metrics.tables import run_metrics

        from .measures import measures_figure

        fig, _ = measures_figure(run_metrics(run_dir))
    elif kind == "curvature":
        fig, _ = curvature_breakdown(dataset, rule)
    else:
        fig, _ = accuracy(dataset)
    if partial:
        fig.text(0.5, 0.0, partial.upper(), ha="center", va="top", color="firebrick")
    return save_figure(fig, out, kind)


def save_figure(fig, out, kind: str) -> Path:
    """Save a figure atomically, marked as fla plot's in its metadata (so that fla recognises it
    as its own output, :data:`fla.base.outputs.FIGURE_MARK`)."""
    from fla.base.files import atomic_path
    from fla.base.outputs import FIGURE_MARK

    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    mark = FIGURE_MARK.decode()
    metadata = {"png": {"Software": mark}, "pdf": {"Creator": mark}, "svg": {"Creator": mark}}
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=fmt, dpi=130, bbox_inches="tight", metadata=metadata[fmt])
    plt.close(fig)
    return out
