"""The report's page: sections with anchors and a contents list, figures with captions, and tables
a reader can take in: numbers to the digits they mean, blanks as a stated dash, rows in one
numeric order, no table wider than a 1,400 px window (wide ones split into a summary and a
collapsible detail), long ones collapsible. Every table is also written whole as CSV beside the
page (by the report).

    >>> section = Section("Findings", tables=[frame], text="...")
    >>> html = page("fla report: runs/quick", [section], header=constants)
"""

from __future__ import annotations

import html as escape
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MISSING = "–"  # the page's mark for a value that does not apply or was not measured
MAX_COLUMNS = 13  # a table with more columns is split into a summary and a detail
LONG = 30  # a table with more rows is collapsible (shown open up to this many)
KEY_ORDER = ["problem", "depth", "width", "activation", "loss_function", "regulariser", "lambda"]
KEY_ORDER += ["w0", "granularity", "bound", "seed", "hessian", "method", "hidden", "l2", "a", "b"]
# columns shown as percentages when they hold [0, 1]: shares, accuracies, errors, class shares
LABELS = ("architecture", "configuration", "measure", "attractor", "minimum", "went to", "split")
PERCENT = ("share", "accuracy", "error")
# a column named by curvature classes alone holds the share of each (not saddle_loss)
CLASS_WORDS = {"convex", "concave", "saddle", "flat", "unknown", "reduced", "paper", ""}


HREF = "_href_"  # a column "_href_X" holds the link of each cell of column X (not shown)


def with_links(frame: pd.DataFrame, column: str, hrefs) -> pd.DataFrame:
    """A table with the cells of one column linked.

    Args:
        frame: a table.
        column: the column.
        hrefs: one link a row (None: no link).

    Returns:
        The table with a hidden link column.
    """
    return frame.assign(**{HREF + column: list(hrefs)})


def link_columns(frame: pd.DataFrame) -> list:
    """The hidden link columns of a table.

    Args:
        frame: a table.

    Returns:
        Their names.
    """
    return [c for c in frame.columns if str(c).startswith(HREF)]


@dataclass
class Section:
    """A titled part of the page: text, figures (base64 PNG, caption) and tables (with a name and
    whether the table is the section's main one, shown open)."""

    title: str
    text: str = ""
    figures: list = field(default_factory=list)  # [(png base64, caption)]
    tables: list = field(default_factory=list)  # [(frame, caption, csv name or None)]
    level: int = 2
    pages: list = field(default_factory=list)  # [(file name, title, [Section])]: pages beside

    @property
    def anchor(self) -> str:
        """The section's anchor in the page: its title as a slug."""
        slug = "".join(c if c.isalnum() else "-" for c in self.title.lower())
        return "-".join(part for part in slug.split("-") if part)[:60]


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in one numeric order across every table: by the key columns present, numbers as numbers
    (widths 2, 4, 20; lambda 1e-6 .. 0.1), missing values last.

    Args:
        frame: a table.

    Returns:
        The table, sorted.
    """
    keys = [k for k in KEY_ORDER if k in frame.columns]
    if not set(keys) & {"problem", "depth", "width", "hidden", "a"}:
        return frame  # no architecture to order by: the rows keep the order they were given
    return frame.sort_values(keys, kind="stable", na_position="last", ignore_index=True)


def percent_column(column: str) -> bool:
    """Whether a column holds shares: a word of its name is one of ``PERCENT`` (``share`` in
    ``flat_share``; ``pacbayes_flatness`` holds none) or its name is curvature classes alone
    (``saddle``, not ``saddle_loss``), and it is no gap or difference (a gap of accuracies can be
    negative, and a column must read in one unit).

    Args:
        column: the column's name.

    Returns:
        True for shares.
    """
    words = set(re.split(r"[^a-z]+", column.lower()))
    shares = bool(words & set(PERCENT)) or (words <= CLASS_WORDS and words != {""})
    return shares and not words & {"gap", "minus"} and " - " not in column


def number(value, column: str = "") -> str:
    """A value as the page shows it: integers with thousands separators, fractions in [0, 1] of a
    share or accuracy column as percentages, other floats to 4 significant digits (scientific where
    that is shorter), missing values as ``MISSING``.

    Args:
        value: the value.
        column: its column.

    Returns:
        The text.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if percent_column(column) and 0.0 <= value <= 1.0:
            return f"{100 * value:.1f}%"
        if value == int(value) and abs(value) < 1e6:
            return f"{int(value):,}"
        text = f"{value:.4g}"
        return text.replace("e-0", "e-").replace("e+0", "e+").replace("e+", "e")
    text = str(value)
    return MISSING if text in ("nan", "None", "NaN", "") else text


def constant_columns(frame: pd.DataFrame, keep=()) -> dict:
    """The columns that hold one value in every row (the study's constants, stated once above the
    tables).

    Args:
        frame: a table.
        keep: columns never counted as constant.

    Returns:
        {column: its value}.
    """
    out = {}
    for column in frame.columns:
        if column in keep:
            continue
        values = frame[column].map(number).unique()
        if len(values) == 1 and len(frame) > 1 and values[0] != MISSING:
            out[column] = values[0]
        elif len(values) == 1 and len(frame) > 1:
            out[column] = None  # blank throughout: dropped, and not worth stating
    return out


def table_html(
    frame: pd.DataFrame, caption: str = "", csv: str | None = None, *, drop=(), open_=True
) -> str:
    """A table as the page shows it (module docstring).

    Args:
        frame: a table.
        caption: its caption.
        csv: the CSV file it is written to, linked.
        drop: the study's constant columns, stated in its header instead.
        open_: a long table is shown (collapsible) rather than folded.

    Returns:
        The HTML.
    """
    frame = ordered(frame.drop(columns=[c for c in drop if c in frame.columns]))
    link = f' (<a href="{escape.escape(csv)}">CSV, whole</a>)' if csv else ""
    note = f"<p class='caption'>{escape.escape(caption)}{link}</p>" if caption or csv else ""
    if frame.empty:
        return note + "<p><em>(no rows)</em></p>"
    hrefs = link_columns(frame)
    keys = [c for c in frame.columns if c in KEY_ORDER or c in LABELS][:5]
    values = [c for c in frame.columns if c not in keys and c not in hrefs]
    first = keys + values[: max(1, MAX_COLUMNS - len(keys))]
    body = rows_html(frame[first + hrefs])
    if len(first) < len(frame.columns) - len(hrefs):
        rest = [
            keys + values[i : i + MAX_COLUMNS - len(keys)]
            for i in range(len(first) - len(keys), len(values), MAX_COLUMNS - len(keys))
        ]
        more = "".join(rows_html(frame[part + hrefs]) for part in rest)
        body += (
            f"<details><summary>the other {len(values) + len(keys) - len(first)} columns"
            "</summary>"
            f"{more}</details>"
        )
    if len(frame) > LONG or not open_:
        state = " open" if open_ else ""
        rows = f"{len(frame):,} row" + ("" if len(frame) == 1 else "s")
        return note + f"<details{state}><summary>{rows}</summary>{body}</details>"
    return note + body


def rows_html(frame: pd.DataFrame) -> str:
    """A table's rows as HTML, numbers formatted by ``number``.

    Args:
        frame: a table.

    Returns:
        The <table> element.
    """
    shown = [c for c in frame.columns if not str(c).startswith(HREF)]
    head = "".join(f"<th>{escape.escape(str(c))}</th>" for c in shown)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        links = dict(zip(frame.columns, record))
        for column, value in zip(frame.columns, record):
            if str(column).startswith(HREF):
                continue
            href = links.get(HREF + str(column))
            if isinstance(href, str) and href:
                link = f"<a href='{escape.escape(href)}'>{escape.escape(number(value))}</a>"
                cells.append(f"<td>{link}</td>")
                continue
            text = number(value, str(column))
            align = "num" if isinstance(value, (int, float, np.number)) else ""
            cells.append(f"<td class='{align}'>{escape.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def figure_html(image: str, caption: str) -> str:
    """A figure with its caption.

    Args:
        image: the PNG, base64.
        caption: the caption.

    Returns:
        The <figure> element.
    """
    alt = escape.escape(caption.split(".")[0])
    return (
        f"<figure><img alt='{alt}' src='data:image/png;base64,{image}'>"
        f"<figcaption>{escape.escape(caption)}</figcaption></figure>"
    )


STYLE = (
    "body{font-family:sans-serif;max-width:1360px;margin:auto;padding:0 12px;color:#222}"
    "img{max-width:100%}figure{margin:12px 0}figcaption,.caption{font-size:13px;color:#444}"
    "table{border-collapse:collapse;font-size:12px;margin:6px 0}"
    "td,th{padding:2px 6px;border-bottom:1px solid #ddd;text-align:left}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}"
    "nav li{margin:2px 0}.partial{color:#a00;font-weight:bold}"
    "details>summary{cursor:pointer;color:#245;margin:4px 0}"
)


def page(title: str, sections: list[Section], lead: str = "", *, partial=None) -> str:
    """The whole page: title, a partial study's label, the lead, contents, then each section.

    Args:
        title: the page's title.
        sections: the ``Section`` list.
        lead: the paragraph under the title.
        partial: the label of a study that is not whole.

    Returns:
        The HTML document.
    """
    contents = "".join(
        f"<li style='margin-left:{(s.level - 2) * 18}px'><a href='#{s.anchor}'>"
        f"{escape.escape(s.title)}</a></li>"
        for s in sections
    )
    body = [f"<h1>{escape.escape(title)}</h1>"]
    if partial:
        body.append(f"<p class='partial'>{escape.escape(partial.upper())}</p>")
    if lead:
        body.append(f"<p>{escape.escape(lead)}</p>")
    body.append(f"<nav><h2>Contents</h2><ul>{contents}</ul></nav>")
    body.append(f"<p class='caption'>{MISSING}: does not apply, or was not measured.</p>")
    for s in sections:
        body.append(f"<h{s.level} id='{s.anchor}'>{escape.escape(s.title)}</h{s.level}>")
        if s.text:
            body.extend(f"<p>{escape.escape(p)}</p>" for p in s.text.split("\n\n"))
        for image, caption in s.figures:
            body.append(figure_html(image, caption))
        for i, (frame, caption, csv) in enumerate(s.tables):  # a short first one open
            shown = i == 0 and (s.title == "Findings" or frame is None or len(frame) <= LONG)
            body.append(table_html(frame, caption, csv, open_=shown))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>" + "\n".join(body) + "</body></html>"
    )
