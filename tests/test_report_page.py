"""The report as a reader meets it: no NaN or None in any cell, no table wider than a 1,400 px
window, every figure captioned, a contents list that reaches every section, numbers to the digits
they mean and in one numeric order."""

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from analysis.page import MISSING, number, ordered, table_html

WINDOW = 1400  # px: the window the report must fit
CHAR, PAD = 7.0, 14.0  # px per character of 12 px sans-serif, and a cell's padding


class Page(HTMLParser):
    """The parts of a report page the checks need: tables (rows of cell texts), figures (whether
    each image has a caption), anchors and contents links."""

    def __init__(self):
        super().__init__()
        self.tables, self.figures, self.ids, self.links = [], [], set(), []
        self.cell, self.row, self.figure, self.caption = None, None, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self.links.append(attrs["href"][1:])
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.row = []
            self.tables[-1].append(self.row)
        elif tag in ("td", "th"):
            self.cell = ""
        elif tag == "figure":
            self.figure = {"image": False, "caption": ""}
            self.figures.append(self.figure)
        elif tag == "img":
            if self.figure is None:
                self.figures.append({"image": True, "caption": ""})  # an image outside a figure
            else:
                self.figure["image"] = True
        elif tag == "figcaption":
            self.caption = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.row is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "figure":
            self.figure = None
        elif tag == "figcaption":
            self.caption = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        if self.caption and self.figure is not None:
            self.figure["caption"] += data


def read(path) -> Page:
    parser = Page()
    parser.feed(path.read_text())
    return parser


def width(table) -> float:
    """The px a table needs: each column as wide as its longest cell."""
    columns = max(len(r) for r in table)
    longest = [max(len(r[c]) if c < len(r) else 0 for r in table) for c in range(columns)]
    return sum(CHAR * n + PAD for n in longest)


def check(page: Page) -> None:
    for table in page.tables:
        cells = {c for row in table for c in row}
        assert not cells & {"NaN", "nan", "None", "NaT", "<NA>"}, cells & {"NaN", "None"}
        assert width(table) <= WINDOW, (width(table), table[0])
    for figure in page.figures:
        assert figure["image"] and len(figure["caption"].strip()) > 20, figure
    assert page.links and set(page.links) <= page.ids


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from analysis.report import write_report
    from fla.cli import main

    root = tmp_path_factory.mktemp("page")
    study = root / "study.toml"
    study.write_text(
        'name = "p"\nproblems = ["xor", "iris"]\nwidths = [1, 10]\ndepths = [1]\n'
        'granularities = ["macro"]\nbounds = [1, 10]\nseeds = [0]\nwalks = 6\nsteps = 20\n'
    )
    assert main(["sweep", str(study), "--out", str(root / "out"), "-q"]) == 0
    return write_report(root / "out")


def test_the_study_report_reads(report):
    page = read(report)
    check(page)
    assert {"findings", "the-study", "attractors"} <= page.ids
    text = report.read_text()
    assert text.index("id='findings'") < text.index("id='the-study'") < text.index("id='accuracy")


def test_the_tables_are_in_one_numeric_order(report):
    page = read(report)
    configurations = next(t for t in page.tables if t[0][:3] == ["problem", "width", "depth"])
    widths = [int(row[1]) for row in configurations[1:] if row[0] == "iris"]
    assert widths == sorted(widths) and widths[0] < widths[-1]  # 4 before 40, not "4" < "40"


@pytest.mark.parametrize(
    "value, column, text",
    [
        (1234567, "points", "1,234,567"),
        (0.1234567, "loss", "0.1235"),
        (3.4e-9, "loss", "3.4e-9"),
        (0.5, "share saddle", "50.0%"),
        (1.5, "share saddle", "1.5"),  # not a share: as a number
        (float("nan"), "loss", MISSING),
        (None, "verified", MISSING),
        (float("inf"), "correlation_length", "∞"),
        (True, "lowest", "yes"),
        (12.0, "count", "12"),
        (0.25, "test_accuracy", "25.0%"),
        (0.25, "flat_share", "25.0%"),
        (0.25, "pacbayes_flatness", "0.25"),
        (0.25, "saddle", "25.0%"),  # a curvature class's share
        (0.066, "saddle_loss", "0.066"),  # a loss, shown as 6.6% before
        (0.066, "autoneb saddle", "0.066"),  # a measure whose name holds "flat": a number
        (0.25, "accuracy_gap", "0.25"),  # a gap can be negative: one unit for the column
        (0.25, "train_error steep - shallow", "0.25"),  # a difference
    ],
)
def test_numbers_are_shown_to_the_digits_they_mean(value, column, text):
    assert number(value, column) == text


def test_wide_tables_split_and_long_ones_fold():
    frame = pd.DataFrame({f"c{i}": np.arange(40.0) for i in range(30)})
    frame.insert(0, "problem", "xor")
    html = table_html(frame)
    assert "the other" in html and html.count("<table>") == 3 and "<details open>" in html
    page = Page()
    page.feed(html)
    assert all(width(t) <= WINDOW for t in page.tables)


def test_rows_order_numbers_as_numbers():
    frame = pd.DataFrame({"problem": ["xor"] * 3, "width": [20, 2, 4], "depth": [1, 1, 1]})
    assert list(ordered(frame).width) == [2, 4, 20]
    lambdas = pd.DataFrame({"hidden": [1, 1, 1], "l2": [1e-1, 1e-6, 1e-3]})
    assert list(ordered(lambdas).l2) == [1e-6, 1e-3, 1e-1]


@pytest.mark.slow  # 40 s: a landscape, a connection and a slice, each reported
def test_landscape_connection_and_slice_reports_read(tmp_path):
    from analysis.report import write_report
    from fla.cli import main

    (tmp_path / "l.toml").write_text("hidden = [1, 2]\nl2 = [1e-2]\nchains = 8\nsteps = 5\n")
    assert main(["landscape", str(tmp_path / "l.toml"), "--out", str(tmp_path / "l"), "-q"]) == 0
    run = ["sample", "xor", "--width", "2", "--depth", "1", "--granularity", "micro", "--bound"]
    run += ["1", "--walks", "8", "--out", str(tmp_path / "run"), "-q"]
    assert main(run) == 0
    argv = ["connect", str(tmp_path / "run"), "--l2", "1e-3", "--out", str(tmp_path / "c")]
    assert main([*argv, "-q"]) == 0
    argv = ["slice", str(tmp_path / "run"), "--out", str(tmp_path / "s"), "--resolution", "5"]
    assert main([*argv, "-q"]) == 0
    for folder in ("l", "c", "s"):
        out = write_report(tmp_path / folder)
        check(read(out))
        for page in (tmp_path / folder / "report_tables").glob("*.html"):
            check(read(page))
