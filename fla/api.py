"""The Python front door: open a folder fla wrote and read it as pandas tables, sample and sweep,
draw the report's figures, all from a notebook.

    >>> import fla
    >>> run = fla.open("runs/quick")                          # a study, a run, any fla folder
    >>> run.points(["loss", "grad_norm"], width=2, step=99)   # columns and filters pushed down
    >>> run.measures()                                        # fla metrics' table
    >>> fig = run.figure("lg", problem="xor", granularity="micro", bound=1)

Every reader verifies what it reads (a folder whose manifest does not verify is named, never
read); the tables are those the command line writes, with the same columns. This module is, with
the command line, the only code that reaches into ``analysis`` (lazily).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["Results", "open", "sample", "sweep"]


def open(path) -> "Results":  # noqa: A001 - fla.open, as the issue and the README call it
    """The folder ``path`` (a sampling run, a study, or a connection, landscape or slice run, or a
    folder holding several) as :class:`Results`."""
    return Results(path)


def sample(problem: str, *, out, data_dir=None, quiet: bool = True, **settings) -> "Results":
    """``fla sample`` from Python: one configuration (``settings``: the fields of
    :class:`fla.walks.config.SampleConfig`, e.g. ``width=2, depth=1, granularity="macro",
    bound=1.0``) into the new folder ``out``; returns it opened.

    >>> run = fla.sample("xor", width=2, depth=1, granularity="macro", bound=1.0, out="x")
    """
    from fla.walks.config import SampleConfig
    from fla.walks.sample import sample as run_sample

    run_sample(SampleConfig(problem, **settings), out, data_dir=data_dir, quiet=quiet)
    return Results(out)


def sweep(study, *, out=None, jobs: int = 1, data_dir=None, quiet: bool = True) -> "Results":
    """``fla sweep`` from Python: every configuration of the study file ``study`` (resumable);
    returns the study's folder opened."""
    from fla.studies.study import load_study
    from fla.studies.sweep import sweep as run_sweep

    run_sweep(study, out, jobs=jobs, data_dir=data_dir, quiet=quiet)
    return Results(out or Path("runs") / load_study(study).name)


class Results:
    """A folder fla wrote, read as tables.

    - :meth:`points`, :meth:`endpoints`: the sampled rows and each walk's final parameters, with
      columns chosen and rows filtered where they lie (``width=2`` is ``width == 2``; ``where``
      takes any pyarrow expression);
    - :meth:`configurations`: the points of each configuration;
    - :meth:`measures`: the landscape measures (``fla metrics``), per walk with ``per_walk``;
    - :meth:`attractors`: the attractor table, verified by quenches (``fla report``'s);
    - :meth:`minima`, :meth:`paths`, :meth:`tree`: the connection runs under the folder;
    - :meth:`landscapes`, :meth:`slices`: the landscape configurations and slices under it;
    - :meth:`figure`: any figure of the report; :meth:`report`: the report itself.
    """

    def __init__(self, path):
        from fla.base.errors import ConfigError

        self.path = Path(path)
        if not self.path.is_dir():
            raise ConfigError(f"{self.path} is not a folder fla wrote (it does not exist)")

    def __repr__(self) -> str:
        return f"fla.open({str(self.path)!r})"

    # -- sampling runs ------------------------------------------------------------------------
    def dataset(self):
        """The verified sampling runs under the folder as one pyarrow dataset (lazy)."""
        from analysis.data import open_run

        return open_run(self.path)

    def points(self, columns=None, where=None, max_rows: int | None = None, **equal):
        """The sampled points (one row each) as pandas: ``columns`` (default all but the
        parameter and spectrum lists), rows where every ``equal`` column has its value and
        ``where`` (a pyarrow expression) holds, at most ``max_rows`` (a uniform sample)."""
        from analysis.data import sample_rows

        dataset = self.dataset()
        if columns is None:
            columns = [c for c in dataset.schema.names if c not in ("params", "eigenvalues")]
        expression = row_filter(where, equal)
        if max_rows is not None:
            return sample_rows(dataset, list(columns), max_rows, expression)
        return dataset.to_table(columns=list(columns), filter=expression).to_pandas()

    def endpoints(self, **equal):
        """Every walk's final parameter vector (after its last update), with its configuration's
        columns, as pandas; ``equal`` filters as for :meth:`points`."""
        import pyarrow.dataset as ds

        from fla.base.store import ENDPOINT_SCHEMA, ENDPOINTS, configurations

        folders = [f / ENDPOINTS for f in configurations(self.path)[0]]
        data = ds.dataset([str(f) for f in folders], schema=ENDPOINT_SCHEMA, format="parquet")
        return data.to_table(filter=row_filter(None, equal)).to_pandas()

    def configurations(self):
        """Points per configuration and seed (the report's table)."""
        from analysis.data import CONFIGURATION, count_by

        return count_by(self.dataset(), CONFIGURATION + ["seed"])

    def measures(self, per_walk: bool = False, neutrality_epsilon: float | None = None):
        """The landscape measures of every configuration (``fla metrics``'s table); with
        ``per_walk`` one row per walk and a column per measure instead."""
        from fla.metrics.neutrality import EPSILON
        from fla.metrics.tables import run_metrics

        epsilon = EPSILON if neutrality_epsilon is None else neutrality_epsilon
        frames: list = []
        table = run_metrics(self.path, neutrality_epsilon=epsilon, per_walk=frames)
        if not per_walk:
            return table
        import pandas as pd

        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def attractors(self, verify: bool = True, l2: float = 0.0):
        """The attractors of every configuration; with ``verify`` what quenches from them find
        (``verified``, ``local_minimum``; :mod:`analysis.attractors`)."""
        from analysis.attractors import attractor_table, verify_attractors

        table = attractor_table(self.dataset())
        return verify_attractors(self.path, table, l2=l2) if verify else table

    # -- other commands' outputs --------------------------------------------------------------
    def connections(self) -> list:
        """The connection runs under the folder (their folders)."""
        return sorted(p.parent for p in self.path.rglob("connect.json"))

    def minima(self):
        return self._connection_table("minima")

    def paths(self):
        return self._connection_table("paths")

    def tree(self):
        return self._connection_table("tree")

    def _connection_table(self, name: str):
        import pandas as pd

        from analysis.connections import read_connection

        frames = []
        for folder in self.connections():
            frame = read_connection(folder)[name]
            frame.insert(0, "run", str(folder.relative_to(self.path)) or ".")
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def landscapes(self):
        """One row per landscape configuration under the folder: N_h, lambda, minima and
        transition states found, seconds."""
        import pandas as pd

        from fla.landscapes.tables import read_landscape

        rows = []
        for folder in sorted(p.parent for p in self.path.rglob("landscape.json")):
            meta, minima, ts = read_landscape(folder)
            rows.append(
                {
                    "folder": str(folder.relative_to(self.path)),
                    "hidden": meta["settings"]["hidden"],
                    "l2": meta["settings"]["l2"],
                    "minima": len(minima),
                    "transition_states": len(ts),
                    "seconds": meta["seconds"],
                }
            )
        return pd.DataFrame(rows)

    def slices(self):
        """Every slice under the folder, its grid points as rows (with a ``slice`` column)."""
        import pandas as pd

        from fla.slices.grid import read_slice

        frames = []
        for folder in sorted(p.parent for p in self.path.rglob("slice.json")):
            frame = read_slice(folder)[1].to_pandas()
            frame.insert(0, "slice", str(folder.relative_to(self.path)) or ".")
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    # -- figures and the report ---------------------------------------------------------------
    def figure(self, kind: str, **options):
        """A figure of the report as a matplotlib Figure: ``lg`` (problem, granularity, bound,
        variant, color, logx, logy, max_points), ``curvature`` (column: curvature or
        reduced_curvature), ``accuracy``, ``metrics``; see :mod:`analysis.figures`."""
        from analysis import figures

        if kind == "lg":
            return figures.lg_clouds(self.dataset(), **options)[0]
        if kind == "curvature":
            return figures.curvature_breakdown(self.dataset(), **options)[0]
        if kind == "accuracy":
            return figures.accuracy(self.dataset())[0]
        if kind == "metrics":
            from analysis.measures import measures_figure

            return measures_figure(self.measures(), **options)[0]
        from fla.base.errors import ConfigError

        raise ConfigError(f"unknown figure {kind!r}; choose lg, curvature, accuracy or metrics")

    def report(self, out=None, **options):
        """Write the report (``fla report``) and return its path."""
        from analysis.report import write_report

        return write_report(self.path, out, **options)


def row_filter(where, equal: dict):
    """The pyarrow expression of ``where`` and every ``column == value`` of ``equal``."""
    from analysis.data import matches

    expression = where
    for key, value in equal.items():
        term = matches(key, value)
        expression = term if expression is None else expression & term
    return expression
