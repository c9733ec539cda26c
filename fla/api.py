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

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import matplotlib.figure
    import pandas as pd
    import pyarrow.dataset as ds

PathLike = str | os.PathLike

__all__ = ["Results", "open", "sample", "sweep"]


def open(path: PathLike) -> Results:  # noqa: A001 - fla.open, as the README calls it
    """A folder fla wrote, ready to read.

    Args:
        path: a sampling run, a study, a connection, landscape or slice run, or a folder holding
            several.

    Returns:
        The folder as `Results`; nothing is read until a table is asked for.

    Raises:
        ConfigError: ``path`` is not a folder.
    """
    return Results(path)


def sample(
    problem: str,
    *,
    out: PathLike,
    data_dir: PathLike | None = None,
    quiet: bool = True,
    **settings: Any,
) -> Results:
    """``fla sample`` from Python: the walks of one configuration, recorded to Parquet.

    Args:
        problem: a problem of ``fla problems`` (``xor``, ``mnist``, ``iris``, ...) or
            ``csv:PATH``.
        out: the new folder to write (refused if it holds what fla did not write).
        data_dir: where the data files are (default ``$FLA_DATA``, else ``~/.cache/fla``).
        quiet: no progress lines.
        **settings: the fields of ``fla.walks.config.SampleConfig`` by name: ``width``,
            ``depth``, ``granularity`` (``micro`` or ``macro``) and ``bound`` are required;
            ``walks``, ``steps``, ``seed``, ``sampler``, ``hessian``, ``activation``, ``loss``,
            ``regulariser``, ``lambda_`` and the rest as ``fla sample --help`` lists them.

    Returns:
        The run, opened.

    Raises:
        ConfigError: a setting is refused (named, with its fix), before anything is written.

    Example:
        >>> run = fla.sample("xor", width=2, depth=1, granularity="macro", bound=1.0, out="x")
    """
    from fla.walks.config import SampleConfig

    _quiet_tensorflow()
    from fla.walks.sample import sample as run_sample

    run_sample(SampleConfig(problem, **settings), out, data_dir=data_dir, quiet=quiet)
    return Results(out)


def sweep(
    study: PathLike,
    *,
    out: PathLike | None = None,
    jobs: int = 1,
    data_dir: PathLike | None = None,
    quiet: bool = True,
) -> Results:
    """``fla sweep`` from Python: every configuration of a study file (resumable: a second call
    keeps what verifies and does the rest).

    Args:
        study: the study's TOML file (``runs/quick.toml``; ``fla settings study`` lists its keys).
        out: the study's folder (default ``runs/NAME``).
        jobs: configurations run at once, one process each.
        data_dir: where the data files are.
        quiet: no progress lines.

    Returns:
        The study's folder, opened.
    """
    from fla.studies.study import load_study
    from fla.studies.sweep import sweep as run_sweep

    _quiet_tensorflow()

    run_sweep(study, out, jobs=jobs, data_dir=data_dir, quiet=quiet)
    return Results(out or Path("runs") / load_study(study).name)


class Results:
    """A folder fla wrote, read as pandas tables (the command line's, with the same columns).

    - `points`, `endpoints`: the sampled rows and each walk's final parameters, with columns
      chosen and rows filtered where they lie (``width=2`` is ``width == 2``; ``where`` takes
      any pyarrow expression);
    - `configurations`: the points of each configuration;
    - `measures`: the landscape measures (``fla metrics``), per walk with ``per_walk``;
    - `attractors`: the attractor table, verified by quenches (``fla report``'s);
    - `minima`, `paths`, `tree`: the connection runs under the folder;
    - `landscapes`, `landscape`, `slices`: the landscape configurations and slices under it;
    - `figure`: any figure of the report; `report`: the report itself.

    Every reader verifies the files it reads against their manifests first.
    """

    def __init__(self, path: PathLike):
        """Open a folder fla wrote (``fla.open`` is the same).

        Args:
            path: a sampling run, a study, a connection run, a landscape study or a slice folder.

        Raises:
            ConfigError: the folder does not exist.
        """
        from fla.base.errors import ConfigError

        self.path = Path(path)
        if not self.path.is_dir():
            raise ConfigError(f"{self.path} is not a folder fla wrote (it does not exist)")

    def __repr__(self) -> str:
        return f"fla.open({str(self.path)!r})"

    # -- sampling runs ------------------------------------------------------------------------
    def dataset(self) -> ds.Dataset:
        """The verified sampling runs under the folder as one pyarrow dataset (lazy), for queries of
        your own.

        Returns:
            A ``pyarrow.dataset.Dataset`` of every points.parquet under the folder.
        """
        from analysis.data import open_run

        return open_run(self.path)

    def points(
        self,
        columns: list[str] | None = None,
        where: ds.Expression | None = None,
        max_rows: int | None = None,
        **equal: Any,
    ) -> pd.DataFrame:
        """The sampled points, one row each.

        Args:
            columns: the columns to read (default every column but the lists ``params`` and
                ``eigenvalues``; ask for them by name).
            where: a pyarrow expression rows must satisfy, e.g.
                ``pyarrow.compute.field("loss") < 0.1``.
            max_rows: at most about this many rows, a seeded uniform (Bernoulli) sample.
            **equal: ``column=value`` filters (``width=2, step=99``).

        Returns:
            A DataFrame of the rows that match, the filters applied in the Parquet scan.
        """
        from analysis.data import sample_rows

        dataset = self.dataset()
        if columns is None:
            columns = [c for c in dataset.schema.names if c not in ("params", "eigenvalues")]
        expression = _row_filter(where, equal)
        if max_rows is not None:
            return sample_rows(dataset, list(columns), max_rows, filter=expression)
        return dataset.to_table(columns=list(columns), filter=expression).to_pandas()

    def endpoints(self, **equal: Any) -> pd.DataFrame:
        """Every walk's final parameter vector (after its last update), one row a walk.

        Args:
            **equal: ``column=value`` filters, as for `points`.

        Returns:
            A DataFrame with the configuration's columns, ``walk``, ``step`` and ``params`` (a
                list of D floats).
        """
        import pyarrow.dataset as ds

        from fla.base.store import ENDPOINT_SCHEMA, ENDPOINTS, configurations

        folders = [f / ENDPOINTS for f in configurations(self.path)[0]]
        data = ds.dataset([str(f) for f in folders], schema=ENDPOINT_SCHEMA, format="parquet")
        return data.to_table(filter=_row_filter(None, equal)).to_pandas()

    def configurations(self) -> pd.DataFrame:
        """Points per configuration and seed (the report's table).

        Returns:
            A DataFrame: the configuration's columns, ``seed`` and ``count``.
        """
        from analysis.data import CONFIGURATION, count_by

        return count_by(self.dataset(), CONFIGURATION + ["seed"])

    def measures(
        self, per_walk: bool = False, neutrality_epsilon: float | None = None
    ) -> pd.DataFrame:
        """The landscape measures of every configuration (``fla metrics``'s table).

        Args:
            per_walk: one row per walk and a column per measure, instead of one row per
                configuration and measure with its mean, spread and 95% interval.
            neutrality_epsilon: the loss change below which a step is neutral (M1, M2; default
                1e-5 of the walk's loss range).

        Returns:
            A DataFrame; ``left_out`` and ``reason`` say which walks a measure could not use.
        """
        from fla.metrics.neutrality import EPSILON
        from fla.metrics.tables import run_metrics

        epsilon = EPSILON if neutrality_epsilon is None else neutrality_epsilon
        frames: list = []
        table = run_metrics(self.path, neutrality_epsilon=epsilon, per_walk=frames)
        if not per_walk:
            return table
        import pandas as pd

        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def attractors(self, verify: bool = True, l2: float = 0.0) -> pd.DataFrame:
        """The attractors of every configuration: the walks' stationary points clustered by loss.

        Args:
            verify: quench points of each attractor (L-BFGS in float64) to say what it is.
            l2: quench the loss plus ``l2`` |theta|^2 instead (then ``local_minimum`` stays
                ``unverified``).

        Returns:
            A DataFrame, one row an attractor, with ``verified`` (what the quenches found) and
                ``local_minimum`` (``yes``, ``no`` or ``unverified``).
        """
        from analysis.attractors import attractor_table, verify_attractors

        if verify:
            _quiet_tensorflow()
        table = attractor_table(self.dataset())
        return verify_attractors(self.path, table, l2=l2) if verify else table

    # -- other commands' outputs --------------------------------------------------------------
    def connections(self) -> list[Path]:
        """The connection runs under the folder.

        Returns:
            Their folders, sorted.
        """
        return sorted(p.parent for p in self.path.rglob("connect.json"))

    def minima(self) -> pd.DataFrame:
        """The polished minima of every connection run under the folder, with their curvature
        classes.

        Returns:
            A DataFrame of minima.parquet's rows, a ``run`` column naming the connection run.
        """
        return self._connection_table("minima")

    def paths(self) -> pd.DataFrame:
        """Every path of every connection run: method, barrier, saddle loss, length, whether its
        search ``failed``, and the line's barrier beside it.

        Returns:
            A DataFrame of paths.parquet's rows, with a ``run`` column.
        """
        return self._connection_table("paths")

    def tree(self) -> pd.DataFrame:
        """The edges of every connection run's minimum spanning tree of barriers.

        Returns:
            A DataFrame of tree.parquet's rows, with a ``run`` column.
        """
        return self._connection_table("tree")

    def alignment(self) -> pd.DataFrame:
        """Every connection run's pairs up to permutation (docs/connecting.md): the straight line's
        and each method's barrier as found and after weight and activation matching, with their
        profiles.

        Returns:
            A DataFrame of alignment.parquet's rows, with a ``run`` column.
        """
        return self._connection_table("alignment")

    def _connection_table(self, name: str) -> pd.DataFrame:
        import pandas as pd

        from analysis.connections import read_connection

        frames = []
        for folder in self.connections():
            tables = read_connection(folder)
            if name not in tables:  # a run written before it had this table
                continue
            frame = tables[name]
            frame.insert(0, "run", str(folder.relative_to(self.path)) or ".")
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def landscapes(self) -> pd.DataFrame:
        """One row per landscape configuration (``fla landscape``) under the folder.

        Returns:
            A DataFrame: its ``folder``, N_h (``hidden``), lambda (``l2``), the minima and
                transition states found and the seconds it took.
        """
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

    def landscape(self, folder: PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The databases of one landscape configuration.

        Args:
            folder: its folder, relative to this one (a ``folder`` of `landscapes`).

        Returns:
            ``(minima, transition_states)``, two DataFrames (loss, Hessian index, eigenvalues,
                parameters; the transition states' two minima).
        """
        from fla.landscapes.tables import read_landscape

        _, minima, transition_states = read_landscape(self.path / folder)
        return minima, transition_states

    def slices(self) -> pd.DataFrame:
        """Every slice under the folder, its grid points as rows.

        Returns:
            A DataFrame of slice.parquet's rows, a ``slice`` column naming the folder.
        """
        import pandas as pd

        from fla.slices.grid import read_slice

        frames = []
        for folder in sorted(p.parent for p in self.path.rglob("slice.json")):
            frame = read_slice(folder)[1].to_pandas()
            frame.insert(0, "slice", str(folder.relative_to(self.path)) or ".")
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def sharpness(
        self,
        out: PathLike | None = None,
        *,
        settings: PathLike | None = None,
        data_dir: PathLike | None = None,
        quiet: bool = True,
        **given: Any,
    ) -> pd.DataFrame:
        """``fla sharpness`` from Python: the sharpness and flatness measures of every walk end
        under the folder (docs/sharpness.md), or, without ``out``, those already measured into
        this folder.

        Args:
            out: the folder to write (resumable: a second call goes on where the first stopped).
            settings: a TOML file of the settings (``measures``, ``patterns``, ``seed`` and a
                section per measure).
            data_dir: where the data files are.
            quiet: no progress lines.
            **given: ``measures`` (a list of ``epsilon``, ``adaptive``, ``m``, ``pacbayes``,
                ``hessian``), ``patterns``, ``seed``; these win over the file's.

        Returns:
            A row per walk end: its gaps, gradient cluster and measures.
        """
        import pandas as pd

        if out is None:
            from analysis.sharpness_sections import read_sharpness

            return read_sharpness(self.path)[1]
        from fla.studies.sharpness import load_settings, measure_sharpness

        _quiet_tensorflow()
        chosen = load_settings(settings, **given)
        measure_sharpness(self.path, out, chosen, data_dir=data_dir, quiet=quiet)
        return pd.read_parquet(Path(out) / "sharpness.parquet")

    def spawn(
        self,
        out: PathLike | None = None,
        *,
        settings: PathLike | None = None,
        data_dir: PathLike | None = None,
        quiet: bool = True,
        **given: Any,
    ) -> pd.DataFrame:
        """``fla spawn`` from Python (this folder one configuration of gradient walks): copies of
        each walk spawned at steps K and the barriers between their ends (Frankle et al. 2020;
        docs/connecting.md), or, without ``out``, every spawn run already under this folder.

        Args:
            out: the folder to write (new or empty).
            settings: a TOML file of the settings.
            data_dir: where the data files are.
            quiet: no summary printed.
            **given: ``at`` (a list of steps), ``copies``, ``points``, ``patterns``,
                ``stable_error``; these win over the file's.

        Returns:
            A row per walk, K and pair of copies: the ends' losses and errors, the loss and error
            barriers, the distances and both profiles along the line (with a ``run`` column
            naming the spawn run when read from this folder).
        """
        import pandas as pd

        from fla.studies.spawn import load_settings, spawn, verified_spawn

        if out is None:
            frames = []
            for folder in sorted(p.parent for p in self.path.rglob("spawn.json")):
                verified_spawn(folder)
                frame = pd.read_parquet(folder / "spawn.parquet")
                frame.insert(0, "run", str(folder.relative_to(self.path)) or ".")
                frames.append(frame)
            return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        _quiet_tensorflow()
        spawn(self.path, out, load_settings(settings, **given), data_dir=data_dir, quiet=quiet)
        return pd.read_parquet(Path(out) / "spawn.parquet")

    # -- figures and the report ---------------------------------------------------------------
    def figure(self, kind: str, **options: Any) -> matplotlib.figure.Figure:
        """A figure of the report.

        Args:
            kind: ``lg`` (the loss-gradient clouds), ``curvature`` (the curvature breakdown),
                ``accuracy`` or ``metrics``.
            **options: ``lg``: ``problem``, ``granularity``, ``bound``, ``color``, ``logx``,
                ``logy``, ``max_points``; ``curvature``: ``column`` (``curvature``, the paper's
                rule, or ``reduced_curvature``); ``metrics``: what ``fla plot metrics`` takes.

        Returns:
            A matplotlib Figure.
        """
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

    def report(self, out: PathLike | None = None, **options: Any) -> Path:
        """Write the report (``fla report``): ``report.html`` in the folder, or ``out``.

        Args:
            out: the HTML file (default ``report.html`` in the folder).
            **options: ``write_report``'s keywords: ``max_points``, ``l2``, ``data_dir``,
                ``partial``, ``quiet``.

        Returns:
            The report's path.
        """
        from analysis.report import write_report

        _quiet_tensorflow()
        return write_report(self.path, out, **options)


def _quiet_tensorflow() -> None:
    """TensorFlow imported without its start-up lines (``fla.base.quiet``) and, when this call
    starts it, with the persistent compile cache (``fla.base.compile_cache``), as the command line
    does, before anything computes."""
    from fla.base import compile_cache
    from fla.base.quiet import import_tensorflow

    if "tensorflow" not in sys.modules:
        compile_cache.enable()
    import_tensorflow()


def _row_filter(where, equal: dict):
    """The pyarrow expression of ``where`` and every ``column == value`` of ``equal``."""
    from analysis.data import matches

    expression = where
    for key, value in equal.items():
        term = matches(key, value)
        expression = term if expression is None else expression & term
    return expression
