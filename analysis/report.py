"""``fla report RUN_DIR``: one self-contained HTML file (figures embedded) plus the tables as
CSV."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow.compute as pc

from fla.base.files import atomic_path, file_record, write_json

from .attractors import attractor_table, verify_attractors
from .data import CONFIGURATION, VARIANT, count_by, open_run, same
from .figures import accuracy, curvature_breakdown, lg_clouds, variant_name
from .page import Section, constant_columns, link_columns, ordered, page


def png(fig) -> str:
    """A figure as an embedded PNG (110 dpi), the figure closed.

    Args:
        fig: the matplotlib figure.

    Returns:
        The PNG, base64.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def write_report(
    run_dir,
    out=None,
    max_points: int = 20_000,
    *,
    l2: float = 0.0,
    data_dir=None,
    partial=None,
    quiet: bool = True,
) -> Path:
    """Write RUN_DIR/report.html (or ``out``) and the tables as CSV beside it in a folder of its
    own, NAME_tables/ for NAME.html (report_tables/ for the default), with their manifest
    tables.json; under the output rule (``fla.base.outputs``): the page is new or fla report's own,
    its tables folder new or holding only the tables its manifest lists, neither on an input of
    RUN_DIR; the output folder's lock is held throughout. RUN_DIR may hold sampling runs (a
    configuration or a study), connection runs (fla connect), or both; every connection run under
    RUN_DIR gets its own sections.

    Args:
        run_dir: what the report reads.
        out: the HTML file (default RUN_DIR/report.html).
        max_points: points drawn per l-g panel.
        l2: the attractors' quenches' L2 term.
        data_dir: the folder of data files.
        partial: the label of a study that is not whole (``fla.studies.tasks.whole_study``), heading
            the page.
        quiet: no progress.

    Returns:
        The page's path.

    Raises:
        ConfigError: a RUN_DIR that does not exist, an --out not ending in .html, or a refused
            output.
        FileNotFoundError: nothing to report under RUN_DIR.
    """
    from fla.base.errors import ConfigError
    from fla.base.outputs import check_folder, claim_files, refuse_on_inputs, written_by_fla
    from fla.base.settings import check, flag

    from .settings import ReportSettings

    check(ReportSettings(max_points=max_points, l2=l2), flag)  # Python callers too
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
    with claim_files(pages, "fla report", run_dir, flag=flag, own=written_by_fla, into_run=True):
        check_folder(tables_dir, "fla report", (), own=own_table, resume=True, flag=flag)
        return _write_report(
            run_dir,
            out,
            tables_dir,
            max_points=max_points,
            l2=l2,
            data_dir=data_dir,
            partial=partial,
            quiet=quiet,
        )


def listed_tables(tables_dir: Path) -> set:
    """The tables an earlier report's tables.json lists in its folder, checksums matching.

    Args:
        tables_dir: the report's tables folder.

    Returns:
        Their names.
    """
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


def _write_report(
    run_dir, out, tables_dir, *, max_points, l2, data_dir, partial, quiet=True
) -> Path:
    connections = sorted(p.parent for p in run_dir.rglob("connect.json"))
    landscapes = sorted(p.parent for p in run_dir.rglob("landscape.json"))
    slices = sorted(p.parent for p in run_dir.rglob("slice.json"))
    sharp = sorted(p.parent for p in run_dir.rglob("sharpness.json"))
    spawned = sorted(p.parent for p in run_dir.rglob("spawn.json"))
    sections, lead, constants = [], "", {}
    try:
        dataset = open_run(run_dir)
    except FileNotFoundError:
        if not connections and not landscapes and not slices and not sharp and not spawned:
            raise FileNotFoundError(
                f"nothing to report under {run_dir}: no complete sampling run "
                "(points.parquet beside run.json), no connection run (connect.json), no "
                "landscape run (landscape.json), no slice (slice.json), no sharpness "
                "(sharpness.json) and no spawned walks (spawn.json)"
            ) from None
        dataset = None
    if dataset is not None:
        found, lead, constants = sampling_sections(
            dataset, max_points, run_dir, l2=l2, data_dir=data_dir, quiet=quiet
        )
        sections += found + [as_section(t) for t in measure_sections(run_dir)]
    if landscapes:
        from .landscape_sections import landscape_sections

        sections += landscape_sections(run_dir, landscapes, png)
    for folder in connections:
        name = folder.relative_to(run_dir) if folder != run_dir else folder.name
        sections += [as_section(t) for t in connection_sections(folder, name)]
    if sharp:
        from .sharpness_sections import sharpness_sections

        sections += sharpness_sections(sharp, png)
    if spawned:
        from .spawn_sections import spawn_sections

        sections += spawn_sections(spawned, png)
    if slices:
        from .slices import slice_sections

        sections += [as_section(t) for t in slice_sections(run_dir, slices, png)]
    tables_dir.mkdir(parents=True, exist_ok=True)
    for name in listed_tables(tables_dir):  # an earlier report's tables (checked: fla's own)
        (tables_dir / name).unlink()
    count = 0
    for section in sections:  # every table saved whole as CSV, linked from its caption
        for i, (table, caption, _) in enumerate(section.tables):
            if table is None or not len(table):
                continue
            words = section.title + (" " + caption.split(".")[0] if caption else "")
            slug = "_".join("".join(c if c.isalnum() else " " for c in words.lower()).split())
            name = f"{count:02d}_{slug[:60]}.csv"
            count += 1
            with atomic_path(tables_dir / name) as tmp:
                ordered(table).drop(columns=link_columns(table)).to_csv(tmp, index=False)
            section.tables[i] = (
                table.drop(columns=[c for c in constants if c in table]),
                caption,
                f"{tables_dir.name}/{name}",
            )
    for section in sections:  # pages beside the report (a landscape's configurations)
        for name, title, parts in section.pages:
            with atomic_path(tables_dir / name) as tmp:
                tmp.write_text(page(title, parts, partial=partial))
        for frame, _, _ in section.tables if section.pages else []:  # links into the folder
            for column in link_columns(frame) if frame is not None else []:
                frame[column] = [
                    f"{tables_dir.name}/{v}" if isinstance(v, str) else v for v in frame[column]
                ]
    text = page(f"fla report: {run_dir}", sections, lead, partial=partial)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    write_json(  # the tables' manifest: each CSV with its size and SHA-256, and the page's
        tables_dir / "tables.json",
        {
            "command": "fla report",
            "report": out.name,
            "run": str(run_dir),
            "partial": partial,
            "files": {
                p.name: file_record(p)
                for p in sorted(tables_dir.iterdir())
                if p.name != "tables.json" and p.is_file()
            },
            "page": file_record(out),
        },
    )
    return out


def as_section(entry) -> Section:
    """A section from the tuple the section makers return.

    Args:
        entry: (title, image or None, table or None[, caption]).

    Returns:
        The ``Section``.
    """
    title, image, table, *caption = entry
    figures = [(image, caption[0] if caption else f"{title}.")] if image else []
    words = caption[0] if caption and not image else ""  # a table's own caption, if no figure
    tables = [(table, words, None)] if table is not None else []
    return Section(title, figures=figures, tables=tables)


def data_summary(data: pd.DataFrame) -> pd.DataFrame:
    """Each input once: its file (name), size, SHA-256 (16 hex digits), preprocessing, and how many
    configurations read it.

    Args:
        data: ``data_table``'s rows.

    Returns:
        The summary table.
    """
    if data.empty:
        return data
    frame = data.assign(file=[str(f).rsplit("/", 1)[-1] for f in data.file])
    keys = ["problem", "file", "bytes", "sha256", "preprocessing"]
    out = frame.groupby(keys, dropna=False).size().reset_index(name="configurations")
    out["preprocessing"] = [short_preprocessing(p) for p in out.preprocessing]
    return out


def short_preprocessing(text) -> str:
    """The manifest's preprocessing in a few words.

    Args:
        text: as the manifest records it.

    Returns:
        E.g. ``80/20, stratified, seed 0``.
    """
    text = str(text)
    text = text.replace(
        "standardised: with the training split's mean and standard deviation",
        "standardised by the training split",
    )
    return text.replace(
        "{'seed': 0, 'stratified': True, 'test_fraction': 0.2}", "80/20, stratified, seed 0"
    )


def data_table(run_dir) -> pd.DataFrame:
    """Per configuration folder, every input file its run read (size and SHA-256, as its manifest
    recorded them) and the problem's preprocessing.

    Args:
        run_dir: the run.

    Returns:
        One row per folder and file.
    """
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
        config = json.loads((folder / RUN_JSON).read_text()).get("config", {})
        for record in records:
            rows.append(
                {
                    "configuration": where,
                    "problem": problem.get("name"),
                    **{k: config.get(k) for k in ("width", "depth", "granularity", "bound")},
                    "file": record.get("file"),
                    "bytes": record.get("bytes"),
                    "sha256": record.get("sha256", "")[:16],
                    "preprocessing": preprocessing,
                }
            )
    return pd.DataFrame(rows)


def sampling_sections(dataset, max_points: int, run_dir, *, l2=0.0, data_dir=None, quiet=True):
    """The sampling runs' part of the report: findings first, then the study, the attractors,
    curvature, accuracy and l-g clouds.

    Args:
        dataset: the run's points.
        max_points: points drawn per l-g panel.
        run_dir: the run.
        l2: the attractors' quenches' L2 term.
        data_dir: the folder of data files.
        quiet: no progress.

    Returns:
        (sections, lead, the study's constants).
    """
    configs = count_by(dataset, CONFIGURATION + ["seed"])
    constants = constant_columns(configs, keep=("problem", "width", "depth", "count"))
    verified = verify_attractors(
        run_dir, attractor_table(dataset), l2=l2, data_dir=data_dir, quiet=quiet
    )
    curvature = None
    if dataset.count_rows(filter=pc.field("hessian").is_valid()):
        curvature = {column: curvature_breakdown(dataset, column) for column in CURVATURE_RULES}
    acc_fig, acc_table = accuracy(dataset)
    data = data_table(run_dir)
    findings = ordered(findings_table(configs, verified, curvature, accuracy_table=acc_table))
    findings = findings.drop(columns=[c for c in ("problem", "width", "depth") if c in findings])
    sections = [
        Section(
            "Findings",
            text=findings_text(configs, verified, curvature, accuracy_table=acc_table),
            tables=[(findings, FINDINGS_CAPTION, None)],
        ),
        Section(
            "The study",
            text=shared_settings(constants),
            tables=[
                (configs, "Points per configuration and seed.", None),
                (data_summary(data), "The data the configurations read (their manifests).", None),
                (
                    data.drop(columns=["preprocessing"]).assign(
                        file=[str(f).rsplit("/", 1)[-1] for f in data.file]
                    ),
                    "The data each configuration read.",
                    None,
                ),
            ],
        ),
        Section(
            "Attractors",
            text=ATTRACTOR_TEXT + (f" Quenched with L2 {l2:g}." if l2 else ""),
            tables=attractor_tables(verified),
        ),
    ]
    if curvature is not None:
        for column, (fig, table) in curvature.items():
            sections.append(
                Section(
                    CURVATURE_RULES[column][0],
                    figures=[(png(fig), CURVATURE_RULES[column][1])],
                    tables=[(table, "Shares of the measured points per class.", None)],
                    level=3,
                )
            )
    sections.append(
        Section(
            "Accuracy at the end of the walks",
            figures=[(png(acc_fig), ACCURACY_CAPTION)],
            tables=[(acc_table, "Per architecture and split: median, quartiles, walks.", None)],
        )
    )
    # one figure per problem, walk and variant (activation, loss, regulariser): apart, never merged
    panels = configs.groupby(["problem", "granularity", "bound"] + VARIANT, dropna=False)
    for (problem, granularity, bound, *values), _ in panels:
        variant = dict(zip(VARIANT, values))
        fig, drawn = lg_clouds(
            dataset, problem, granularity, bound=bound, max_points=max_points, variant=variant
        )
        name = variant_name(variant)
        sections.append(
            Section(
                f"l-g clouds: {problem}, {granularity}, [-{bound:g}, {bound:g}]"
                f"{', ' + name if name else ''}",
                figures=[(png(fig), lg_caption(drawn, max_points))],
                tables=[
                    (
                        drawn,
                        "Per panel: the points drawn, their median loss and gradient norm.",
                        None,
                    )
                ],
                level=3,
            )
        )
    points, n = int(configs["count"].sum()), len(configs)
    lead = f"{plural(points, 'sampled point')} in {plural(n, 'configuration')}."
    return sections, lead, constants


CURVATURE_RULES = {
    "reduced_curvature": (
        "Curvature, reduced: the network's null directions set aside",
        "Share of the measured points per curvature class, reduced rule: the null directions "
        "every point of the network has (a softmax's shift, dead ReLU units, first-layer "
        "directions outside the patterns' span) set aside; saddle whenever eigenvalues of both "
        "signs are significant, flat only for a semi-definite spectrum with a zero they do not "
        "explain. One row of panels per Hessian method.",
    ),
    "curvature": (
        "Curvature, the paper's rule",
        "Share of the measured points per curvature class, the rule of Bosman et al.: any "
        "eigenvalue within 1e-5 of the largest makes a point flat (so every point of a softmax "
        "network is flat). One row of panels per Hessian method.",
    ),
}
FINDINGS_CAPTION = (
    "Per architecture and sampling setting: attractors found (stationary points clustered by "
    "loss), those quenches verified, the minima among them and the local minima (verified "
    "minima above the lowest attractor), the lowest attractor's loss, the reduced curvature "
    "classes of the measured points, and the median training and test accuracy at the walks' "
    "last step."
)
ATTRACTOR_TEXT = (
    "Stationary points (gradient norm below 0.01) clustered by loss; each attractor's points "
    "quenched by L-BFGS to say what it is (analysis/attractors.py). local_minimum comes from the "
    "quench alone: yes for a verified minimum that is not the lowest attractor, unverified where "
    "no walk ended inside."
)
ACCURACY_CAPTION = (
    "Training and test accuracy at each walk's last step: the bar is the median over walks, the "
    "line the interquartile range (bounded, as accuracy is)."
)


def lg_caption(drawn: pd.DataFrame, max_points: int) -> str:
    """The l-g clouds' caption: what each panel draws and how many points it left out.

    Args:
        drawn: ``lg_clouds``' rows.
        max_points: points drawn per panel.

    Returns:
        The caption.
    """
    zero = int(drawn.zero_gradient.sum()) if "zero_gradient" in drawn else 0
    text = (
        "Loss against gradient norm of the sampled points (up to "
        f"{max_points:,} a panel), widths across, depths down, one shared scale; coloured by "
        "the paper's curvature class, unmeasured points grey beneath."
    )
    if zero:
        text += (
            f" {zero:,} points with a gradient norm of exactly 0 are drawn at the axis floor (▼)."
        )
    return text


def findings_table(configs, verified, curvature, *, accuracy_table) -> pd.DataFrame:
    """One row per configuration (seeds pooled): the numbers the findings are read from.

    Args:
        configs: the configurations' counts.
        verified: the verified attractor table.
        curvature: the curvature breakdown's table.
        accuracy_table: the accuracy figure's table.

    Returns:
        The table.
    """
    from .figures import architecture, labelled_architectures

    keys = CONFIGURATION
    rows = []
    for key, group in configs.groupby(keys, dropna=False, sort=False):
        record = dict(zip(keys, key))
        match = (
            np.logical_and.reduce([[same(v, record[k]) for v in verified[k]] for k in keys])
            if len(verified)
            else np.zeros(0, bool)
        )
        mine = verified[match] if len(verified) else verified
        row = {
            **record,
            "architecture": architecture(record["problem"], record["width"], record["depth"]),
            "points": int(group["count"].sum()),
            "attractors": len(mine),
            "verified": int(mine.verified.notna().sum()) if len(mine) else 0,
            "minima": int((mine.verified == "minimum").sum()) if len(mine) else 0,
            "local minima": int((mine.local_minimum == "yes").sum()) if len(mine) else 0,
            "lowest loss": float(mine.loss.min()) if len(mine) else np.nan,
        }
        if curvature is not None:  # matched by the labelled architecture: variants apart
            table = curvature["reduced_curvature"][1]
            label = labelled_architectures(pd.DataFrame([record]))[0]
            span = f"[-{record['bound']:g}, {record['bound']:g}]"
            mask = (
                (table.architecture == label)
                & (table.granularity == record["granularity"])
                & (table.range == span)
            )
            for name in ("saddle", "flat", "convex"):
                share = table[mask][name].mean() if name in table and mask.any() else np.nan
                row[f"share {name}"] = float(share)
        rows.append(row)
    out = pd.DataFrame(rows)
    acc = (
        accuracy_table.pivot_table(
            index=["architecture", "granularity", "range"], columns="split", values="median"
        ).reset_index()
        if len(accuracy_table)
        else pd.DataFrame()
    )
    if len(out) and len(acc):
        out["range"] = [f"[-{b:g}, {b:g}]" for b in out.bound]
        out["network"] = out["architecture"]
        out["architecture"] = labelled_architectures(out)
        out = out.merge(acc, on=["architecture", "granularity", "range"], how="left")
        out = out.rename(columns={"train": "accuracy (train)", "test": "accuracy (test)"})
        out = out.drop(columns=["range", "network"])
    return out


def findings_text(configs, verified, curvature, *, accuracy_table) -> str:
    """What the study found, in a few sentences of numbers (each from the tables below it).

    Args:
        configs: the configurations' counts.
        verified: the verified attractor table.
        curvature: the curvature breakdown's table.
        accuracy_table: the accuracy figure's table.

    Returns:
        The text.
    """
    n = len(configs.groupby(CONFIGURATION, dropna=False))
    parts = [
        f"{plural(n, 'configuration')}, {plural(int(configs['count'].sum()), 'sampled point')}."
    ]
    if len(verified):
        counts = verified.verified.value_counts()
        saddles = int(sum(v for k, v in counts.items() if str(k).startswith("saddle")))
        minima, local = int(counts.get("minimum", 0)), int((verified.local_minimum == "yes").sum())
        plateaus = int(counts.get("loss decreases (plateau or saddle region)", 0))
        basins = int(counts.get("asymptotic basin", 0))
        regions = plural(plateaus, "plateau or saddle region", "plateaus or saddle regions")
        parts.append(
            f"The walks settled into {plural(len(verified), 'attractor')}; quenches verified "
            f"{int(verified.verified.notna().sum())}: {plural(minima, 'minimum', 'minima')} "
            f"({local} of them local minima above the lowest attractor), "
            f"{plural(saddles, 'saddle')}, {regions} that the loss leaves, and "
            f"{plural(basins, 'asymptotic basin')} (where the loss vanishes only as the weights "
            "grow)."
        )
    if curvature is not None:
        reduced = curvature["reduced_curvature"][1]
        paper = curvature["curvature"][1]
        mean = lambda t, c: float(t[c].mean()) if c in t else 0.0
        over = " (averaged over configurations)" if n > 1 else ""
        parts.append(
            f"Of the points whose Hessian was measured{over}, "
            f"{100 * mean(reduced, 'saddle'):.0f}% are saddles and "
            f"{100 * mean(reduced, 'flat'):.0f}% flat under the reduced rule; the paper's rule "
            f"calls {100 * mean(paper, 'flat'):.0f}% flat."
        )
    if len(accuracy_table):
        train = accuracy_table[accuracy_table.split == "train"]["median"]
        spread = (
            f"ranges from {train.min():.0%} to {train.max():.0%} across configurations"
            if f"{train.min():.0%}" != f"{train.max():.0%}"
            else f"is {train.max():.0%}" + (" in every configuration" if len(train) > 1 else "")
        )
        parts.append(f"Median training accuracy at the walks' end {spread}.")
    return " ".join(parts)


def plural(n: int, one: str, many: str | None = None) -> str:
    """A count and its noun.

    Args:
        n: the count.
        one: the noun, singular.
        many: its plural (default one + "s").

    Returns:
        E.g. ``1 walk``, ``1,200 walks``.
    """
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def shared_settings(constants: dict) -> str:
    """The settings every configuration shares, in a sentence.

    Args:
        constants: ``constant_columns``' {column: value}.

    Returns:
        The sentence, or ``""``.
    """
    named = [f"{k} {v}" for k, v in constants.items() if v is not None]
    return f"Settings every configuration shares: {'; '.join(named)}." if named else ""


def attractor_tables(table: pd.DataFrame) -> list:
    """The attractor table as a summary (what each attractor is) and its detail (curvature shares,
    quench numbers).

    Args:
        table: the verified attractor table.

    Returns:
        [(table, caption, csv name)].
    """
    if table.empty:
        return [(table, "No attractors: no point's gradient norm fell below 0.01.", None)]
    summary = [c for c in CONFIGURATION if c in table] + [
        "attractor",
        "loss",
        "points",
        "share",
        "curvature",
        "verified",
        "local_minimum",
    ]
    detail = [
        c for c in table.columns if c not in summary or c in CONFIGURATION or c == "attractor"
    ]
    return [
        (table[summary], "What each attractor is.", None),
        (
            table[detail],
            "The detail: loss ranges, the sampled classes' shares, the quenches.",
            None,
        ),
    ]


def connection_sections(folder: Path, name) -> list:
    """A connection run's sections: for CIFAR models Table 1, notes on where the walk ends went, the
    minima, the disconnectivity graph, the path profiles and the barriers up to permutation.

    Args:
        folder: the connection run.
        name: its name in the page.

    Returns:
        [(title, image, table[, caption])].
    """
    import json

    from .connections import (
        alignment_profiles,
        alignment_table,
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
                "Training loss along each pair's paths against the position along the path (its "
                "fraction of the path's length): the straight line dashed, each method's path "
                "solid, each panel on its own scale (barriers differ by orders of magnitude); a "
                "pair whose search failed is titled in red.",
            )
        ]
        if "method" in paths
        else [(f"No paths in {title} (one minimum, or a budget of 0)", None, None)]
    )
    aligned = data.get("alignment")
    aligned = (
        [
            (
                f"Barriers up to permutation in {title}",
                png(alignment_profiles(aligned, title)) if "line_losses" in aligned else None,
                alignment_table(aligned),
                "Each connected pair's barriers (the loss above the higher minimum; columns named "
                "by the path: line, each method) along the straight line and each method's path, "
                "between the minima as found and after "
                "matching the second minimum's hidden units to the first's by their weights "
                "(Ainsworth et al. 2023, Sec. 3.2) or activations (Sec. 3.1): the same function, "
                "relabelled. A method's path between matched endpoints is searched anew where "
                "the matching moved the second minimum. In the figure, dashed: straight lines; "
                "solid (dash-dotted, dotted for further methods): paths; grey: as found; blue: "
                "weight-matched; "
                "green: activation-matched (drawn last: where a matching moved nothing, its "
                "line covers the one as found).",
            )
        ]
        if aligned is not None
        else []
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
                "Each minimum rises from its loss; two groups join at the lowest saddle loss of "
                "the spanning tree between them (single linkage; Becker and Karplus 1997).",
            ),
        ]
        + profiles
        + aligned
        + [
            (
                f"Spanning tree of {title}",
                png(spanning_tree_figure(minima, tree, title)),
                tree,
                "The minimum spanning tree of the saddle losses found: minima by the rank of "
                "their loss, each edge labelled with its saddle loss.",
            )
        ]
    )


def measure_sections(run_dir: Path) -> list:
    """The landscape measures of the sampling runs (``fla.metrics.tables``), figure and table.

    Args:
        run_dir: the run.

    Returns:
        [(title, image, table)], or [] where the run has no metrics table.
    """
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


def chosen_panel(dataset, problem, granularity, *, bound, activation=None, loss=None) -> dict:
    """The first (problem, granularity, bound, variant) of the run matching what was asked.

    Args:
        dataset: the run's points.
        problem: the problem asked for (None: any).
        granularity: the granularity (None: any).
        bound: the initialisation range (None: any).
        activation: the hidden activation (None: any).
        loss: the loss (None: any).

    Returns:
        The configuration's {column: value}.

    Raises:
        ConfigError: listing what the run holds if nothing matches.
    """
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
    *,
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
    """One figure to a file (``fla plot``); ``partial`` is written across it.

    Args:
        kind: ``lg``, ``curvature``, ``accuracy``, ``metrics`` or ``slice``.
        run_dir: the run (a slice folder for ``slice``).
        out: the file; its suffix (.png, .pdf, .svg) picks the format.
        problem: lg: the problem (default the first).
        granularity: lg: the granularity.
        bound: lg: the initialisation range.
        color: lg: colour points by ``curvature`` or ``test_loss``.
        logx: lg: force the loss axis' scale.
        logy: lg: a logarithmic gradient-norm axis.
        partial: the label of a study that is not whole.
        activation: lg: the hidden activation.
        loss: lg: the loss.
        rule: curvature: ``curvature`` (the paper's classes) or ``reduced_curvature``.

    Returns:
        The figure's path.
    """
    if kind == "slice":
        from .slices import slice_figure

        fig, _ = slice_figure(run_dir)
        return save_figure(fig, out, kind)
    dataset = open_run(run_dir)
    if kind == "lg":
        first = chosen_panel(
            dataset, problem, granularity, bound=bound, activation=activation, loss=loss
        )
        fig, _ = lg_clouds(
            dataset,
            first["problem"],
            first["granularity"],
            bound=float(first["bound"]),
            color=color,
            logx=logx,
            logy=logy,
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
    """Save a figure atomically, marked as fla plot's in its metadata (so that fla recognises it as
    its own output, ``fla.base.outputs.FIGURE_MARK``).

    Args:
        fig: the matplotlib figure.
        out: the file.
        kind: the figure's kind, recorded.

    Returns:
        The path.
    """
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
