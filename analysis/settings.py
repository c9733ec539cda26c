"""What ``fla report`` and ``fla plot`` can be told: their settings, declared with the settings kit
(``fla.base.settings``) so that each flag's help, type and check live in one place. Light on
purpose: the command line builds its parser from these without importing matplotlib."""

from __future__ import annotations

from dataclasses import dataclass

from fla.base.settings import boolean, choice, integer, number, partial_setting, setting, text

PLOTS = ("lg", "curvature", "accuracy", "metrics", "slice")
RULE_COLUMNS = {"paper": "curvature", "reduced": "reduced_curvature"}  # --rule: the column read


@dataclass(frozen=True)
class ReportSettings:
    """The settings of a report (``analysis.report.write_report``)."""

    max_points: int = setting(20_000, "points drawn per l-g panel", integer(at_least=1))
    l2: float = setting(
        0.0,
        "verify attractors by quenching with the loss plus LAMBDA |theta|^2",
        number(at_least=0),
        metavar="LAMBDA",
    )
    partial: bool = partial_setting()


@dataclass(frozen=True)
class PlotSettings:
    """One figure of a run (``analysis.report.write_plot``): its kind and, for the l-g clouds,
    which configuration of a study (each None: the first)."""

    kind: str = setting(
        "lg",
        "lg: l-g clouds; curvature: curvature breakdown; accuracy: accuracy at the last step; "
        "metrics: each landscape measure against width and depth; slice: a folder of fla slice",
        choice(*PLOTS),
        required=True,
    )
    problem: str | None = setting(None, "lg: which problem (default the first)", text(True))
    granularity: str | None = setting(
        None, "lg: which granularity (default the first)", choice("micro", "macro", optional=True)
    )
    bound: float | None = setting(
        None, "lg: which initialisation range (default the first)", number(above=0, optional=True)
    )
    activation: str | None = setting(
        None, "lg: which hidden activation (default the first)", text(True)
    )
    loss: str | None = setting(
        None, "lg: which loss, cross_entropy or mse (default the first)", text(True)
    )
    color: str = setting("curvature", "lg: colour points by", choice("curvature", "test_loss"))
    rule: str = setting(
        "paper",
        "curvature: the paper's classes (any zero eigenvalue: flat) or the reduced Hessian's (the "
        "architecture's null directions set aside)",
        choice(*RULE_COLUMNS),
    )
    logx: bool = setting(
        False,
        "lg: logarithmic loss axis (default: when the losses span more than two decades)",
        boolean(),
    )
    linear_y: bool = setting(False, "lg: linear gradient-norm axis (default log)", boolean())
    partial: bool = partial_setting()

    def figure_options(self) -> dict:
        """The keywords of ``write_plot`` these settings give (``partial`` aside: it is the label of
        the study, found by reading it).

        Returns:
            {keyword: value}.
        """
        return {
            "problem": self.problem,
            "granularity": self.granularity,
            "bound": self.bound,
            "color": self.color,
            "logx": True if self.logx else None,
            "logy": not self.linear_y,
            "activation": self.activation,
            "loss": self.loss,
            "rule": RULE_COLUMNS[self.rule],
        }
