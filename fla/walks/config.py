"""One sampling configuration: its settings (the one list the CLI flags and study keys come from)
and the plan it resolves to once the problem is known.

Every setting is a field of ``SampleConfig`` with its help text, its check and the words of
what it expects. ``fla sample`` builds one flag per field (``hessian_at`` -> ``--hessian-at``); a
study file may set every field (the grid fields as lists: ``problems, widths, depths, granularities,
bounds, seeds``); an error names the setting as the user wrote it.

    >>> config = SampleConfig("xor", width=2, depth=1, granularity="macro", bound=1.0)
    >>> plan(config, (2, 1), full_batch=True).walks
    90
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np

from fla.base.errors import ConfigError
from fla.base.settings import (
    SEED,
    boolean,
    check,
    choice,
    custom,
    declared,
    flag,
    integer,
    key_of,
    number,
    setting,
    text,
)
from fla.core.losses import LOSSES
from fla.core.networks import ACTIVATIONS
from fla.core.registry import REGISTRY, is_problem
from fla.core.regularisers import REGULARISERS
from fla.curvature.classes import EXACT_MAX_PARAMS
from fla.walks.rule import WALK_BOUNDS
from fla.walks.samplers import SAMPLERS

GRANULARITY = {"micro": 0.01, "macro": 0.1}
DEFAULT_STEPS = {"micro": 1000, "macro": 100}
HESSIAN_POLICIES = ("auto", "exact", "blocks", "lanczos", "none", "full")
HESSIAN_OF_POLICY = {
    "exact": "exact",
    "full": "exact",
    "blocks": "blocks",
    "lanczos": "lanczos",
    "none": "none",
}  # the plan's word for each policy; full is exact's old name
GRID = {
    "problem": "problems",
    "width": "widths",
    "depth": "depths",
    "granularity": "granularities",
    "bound": "bounds",
    "seed": "seeds",
}  # the grid's settings and their study keys (lists)


def parse_hessian_at(spec):
    """A ``--hessian-at`` setting as its parts.

    Args:
        spec: ``auto``, ``all``, ``last``, ``every:K`` (K >= 1) or ``grad-below:X`` (X > 0, finite).

    Returns:
        (kind, value), value None, K or X; None if malformed.
    """
    kind, _, value = str(spec).partition(":")
    try:
        if kind in ("auto", "all", "last") and not value:
            return kind, None
        if kind == "every" and int(value) >= 1:
            return kind, int(value)
        if kind == "grad-below" and float(value) > 0 and math.isfinite(float(value)):
            return kind, float(value)
    except ValueError:
        pass
    return None


@dataclass(frozen=True)
class CurvatureAt:
    """Where curvature is computed, parsed once from ``--hessian-at``: at ``all`` rows, each
    walk's ``last`` step, ``every`` K-th step (``value`` K, from step 0) or where the gradient
    norm is below X (``grad-below``, ``value`` X). ``spec`` is the setting as written (what run
    metadata records)."""

    kind: Literal["all", "last", "every", "grad-below"]
    value: int | float | None
    spec: str

    @classmethod
    def parse(cls, spec: str) -> CurvatureAt:
        """A resolved ``--hessian-at`` setting.

        Args:
            spec: ``all``, ``last``, ``every:K`` or ``grad-below:X`` (``auto`` resolved first).

        Returns:
            The ``CurvatureAt``.

        Raises:
            ValueError: ``auto``, which depends on the Hessian policy.
        """
        kind, value = parse_hessian_at(spec)
        if kind == "auto":
            raise ValueError("resolve auto before parsing: it depends on the Hessian policy")
        return cls(kind, value, str(spec))

    def rows(self, steps: np.ndarray, grad_norm: np.ndarray, *, n_steps: int) -> np.ndarray:
        """The rows that get curvature.

        Args:
            steps: [R] each row's step.
            grad_norm: [R] each row's gradient norm.
            n_steps: the walks' steps (``last`` is step n_steps - 1).

        Returns:
            The rows' indices.
        """
        if self.kind == "all":
            mask = np.ones(len(steps), bool)
        elif self.kind == "last":
            mask = steps == n_steps - 1
        elif self.kind == "every":
            mask = steps % self.value == 0
        else:
            mask = grad_norm < self.value
        return np.flatnonzero(mask)

    def share(self, n_steps: int) -> float:
        """The share of rows that get curvature, where it is known in advance.

        Args:
            n_steps: the walks' steps.

        Returns:
            1 (all), 1 / n_steps (last), 1 / K (every:K), 0 (grad-below: not known).
        """
        return {"all": 1.0, "last": 1.0 / n_steps, "every": 1.0 / (self.value or 1)}.get(
            self.kind, 0.0
        )


PROBLEM = custom(is_problem, f"one of {', '.join(REGISTRY)}, or csv:PATH")
HESSIAN_AT = custom(
    lambda v: parse_hessian_at(v) is not None,
    "auto, all, last, every:K (K >= 1) or grad-below:X (X > 0)",
)


@dataclass(frozen=True)
class SampleConfig:
    """One configuration of progressive gradient walks (or another sampler's): what ``fla sample``'s
    flags and a study file's keys set. Each field is a setting of ``fla.base.settings`` (its help,
    check and flag); ``validate`` checks them together.
    """

    problem: str = setting(
        None,
        "the classification problem: " + ", ".join(REGISTRY) + ", or csv:PATH (see fla problems)",
        PROBLEM,
    )
    width: int = setting(None, "hidden units per layer", integer(at_least=1), required=True)
    depth: int = setting(None, "number of hidden layers", integer(at_least=1), required=True)
    granularity: str = setting(
        None,
        "step bound s: 1% (micro) or 10% (macro) of the range width 2*bound",
        choice(*GRANULARITY),
        required=True,
    )
    bound: float = setting(
        None, "initial points uniform in [-bound, bound]^D", number(above=0), required=True
    )
    walks: int | None = setting(
        None, "number of walks (default 10 * D)", integer(at_least=1, optional=True)
    )
    steps: int | None = setting(
        None,
        "steps per walk (default 1000 micro, 100 macro)",
        integer(at_least=1, optional=True),
    )
    seed: int = setting(
        0,
        "seed of every random draw",
        SEED,
    )
    hessian: str = setting(
        "auto",
        "curvature: exact = the exact spectrum of the full Hessian (full: the same, its older "
        "name); blocks = the block-diagonal Hessian of the reference code (one block per weight "
        "matrix and bias vector); lanczos = eig_min/eig_max by Lanczos; auto = exact when D <= "
        "hessian_max_params, else lanczos",
        choice(*HESSIAN_POLICIES),
    )
    hessian_max_params: int = setting(
        EXACT_MAX_PARAMS, "largest D for which hessian auto is exact", integer(at_least=1)
    )
    hessian_at: str = setting(
        "auto",
        "where curvature is computed: all, last (each walk's last step), every:K, "
        "grad-below:X; auto = all (exact, blocks), last (lanczos)",
        HESSIAN_AT,
    )
    lanczos_tol: float = setting(
        1e-3,
        "Lanczos stops when the extreme Ritz values' residual bounds are <= tol x max|eigenvalue|",
        number(above=0, below=1),
    )
    lanczos_steps: int = setting(100, "most Lanczos steps per point", integer(at_least=2))
    flat_tolerance: float = setting(
        1e-5, "an eigenvalue is zero when |ev| <= tol * max|ev|", number(at_least=0, below=1)
    )
    target: str | None = setting(
        None, "csv:PATH problems: the class column (default the last column)", text(optional=True)
    )
    record_params: bool = setting(False, "store every point's parameter vector", boolean())
    batching: str = setting(
        "shared",
        "mini-batch problems: one batch per step shared by all walks (one GEMM) "
        "or one batch per walk",
        choice("shared", "per_walk"),
    )
    batch_size: int = setting(100, "mini-batch size", integer(at_least=1))
    sampler: str = setting(
        "gradient",
        "how the points are sampled: gradient (progressive gradient walks), random (progressive "
        "random walks), manhattan (Manhattan progressive random walks), uniform (independent "
        "uniform samples); see fla.walks.samplers",
        choice(*SAMPLERS),
    )
    walk_bounds: str = setting(
        "none",
        "gradient walks: unbounded (none, as in the modality paper) or kept inside "
        "[-bound, bound]^D by reflection (reflect)",
        choice(*WALK_BOUNDS),
    )
    activation: str = setting(
        "elu",
        "hidden units: elu (Bosman et al.), tanh, sigmoid, relu, leaky_relu (slope 0.01) or silu; "
        "see fla.core.networks",
        choice(*ACTIVATIONS),
    )

    loss: str = setting(
        "cross_entropy",
        "the data loss: cross_entropy or mse (squared error), each of sigmoid (binary) or softmax "
        "outputs; see fla.core.losses",
        choice(*LOSSES),
    )
    regulariser: str = setting(
        "none",
        "penalty added to the data loss, whose sum the walk follows: none, l2 (lambda |theta|^2) "
        "or weight_elimination (lambda sum u / (1 + u), u = theta^2 / w0^2); see "
        "fla.core.regularisers",
        choice(*REGULARISERS),
    )
    lambda_: float | None = setting(
        None,
        "the regulariser's weight lambda (required with one)",
        number(at_least=0, optional=True),
    )
    w0: float | None = setting(
        None, "weight elimination's scale w0 (default 1)", number(above=0, optional=True)
    )

    def validate(self, style: str = "flag") -> None:
        """Check every setting: a value its check refuses, or a setting the others make meaningless.

        Args:
            style: how the errors name a setting: ``"flag"`` (--hessian-at) or ``"key"``
                (hessian_at, as study files write it).

        Raises:
            ConfigError: naming the first bad setting.
        """
        check(self, lambda name: setting_name(name, style))
        self._validate_regulariser(style)
        name = lambda field: setting_name(field, style)
        if self.walk_bounds != "none" and self.sampler != "gradient":
            raise ConfigError(
                f"{name('walk_bounds')} applies to gradient walks; the {self.sampler} sampler "
                "keeps its points inside [-bound, bound]^D already"
            )
        if self.depth is not None and self.depth > MAX_DEPTH:
            raise ConfigError(
                f"{name('depth')} {self.depth}: the walk's program holds every layer, and more "
                f"than {MAX_DEPTH} would take hours to compile; give at most {MAX_DEPTH}"
            )
        self._validate_curvature(name)
        if self.w0 is not None and self.bound is not None and self.w0 < W0_MIN * self.bound:
            raise ConfigError(
                f"{name('w0')} {self.w0:g}: theta^2 / w0^2 overflows float32 for weights of "
                f"the order of {name('bound')} {self.bound:g}; give w0 >= {W0_MIN * self.bound:.1e}"
            )

    def _validate_curvature(self, name) -> None:
        """Curvature settings that the chosen --hessian never reads are refused."""
        if self.hessian == "none":
            for field in ("hessian_at", "flat_tolerance", "lanczos_tol", "lanczos_steps"):
                if getattr(self, field) != DEFAULTS[field]:
                    raise ConfigError(
                        f"{name(field)} applies to curvature, and {name('hessian')} none "
                        "computes none; leave it out or choose a --hessian"
                    )
        if HESSIAN_OF_POLICY.get(self.hessian) in ("exact", "blocks"):
            for field in ("lanczos_tol", "lanczos_steps"):
                if getattr(self, field) != DEFAULTS[field]:
                    raise ConfigError(
                        f"{name(field)} applies to Lanczos, and {name('hessian')} "
                        f"{self.hessian} computes exact spectra; leave it out"
                    )
        if self.hessian != "auto" and self.hessian_max_params != DEFAULTS["hessian_max_params"]:
            raise ConfigError(
                f"{name('hessian_max_params')} is where {name('hessian')} auto switches to "
                f"Lanczos; with {name('hessian')} {self.hessian} it means nothing: leave it out"
            )

    def _validate_regulariser(self, style: str) -> None:
        name = lambda field: setting_name(field, style)
        if self.regulariser == "none" and self.lambda_ is not None:
            raise ConfigError(
                f"{name('lambda_')} weighs a regulariser; set {name('regulariser')} to l2 or "
                "weight_elimination, or leave it out"
            )
        if self.regulariser != "none" and self.lambda_ is None:
            raise ConfigError(
                f"{name('regulariser')} {self.regulariser} needs its weight: set "
                f"{name('lambda_')} (e.g. 0.001)"
            )
        if self.w0 is not None and self.regulariser != "weight_elimination":
            raise ConfigError(
                f"{name('w0')} is weight elimination's scale; set {name('regulariser')} to "
                "weight_elimination, or leave it out"
            )

    @property
    def objective_settings(self) -> dict:
        """The loss and regulariser settings, as ``fla.core.objective.run_objective`` reads them."""
        return {
            "loss": self.loss,
            "regulariser": self.regulariser,
            "lambda_": self.lambda_,
            "w0": 1.0 if self.w0 is None else self.w0,
        }

    def fields(self) -> dict:
        """The settings as a dict (what SampleConfig(**...) takes back). The settings added since
        the first manifests (sampler, activation, walk bounds, loss, regulariser) are left out at
        their defaults, so that the manifests of unbounded, unregularised ELU gradient walks on the
        cross-entropy read as they did before these were settings.

        Returns:
            {setting: value}, as run.json's ``config`` records it.
        """
        return {k: v for k, v in asdict(self).items() if (k, v) not in OMITTED_AT_DEFAULT}


MAX_DEPTH = 100  # hidden layers a walk's program holds, compiled in minutes at most
W0_MIN = 1e-15  # weight elimination's w0, relative to the bound: theta^2 / w0^2 stays in float32
PENALTY_MAX = 1e30  # lambda x D x (100 bound)^2 at most: the penalty and its gradient stay finite


def check_meaning(config: "SampleConfig", p: "Plan", n_train: int, *, style: str = "flag") -> None:
    """Refuse what the problem and the plan make meaningless, with the reason: mini-batch settings
    of a full-batch problem, a batch larger than the training set, a penalty weight whose penalty
    overflows float32 for the weights the walk reaches.

    Args:
        config: the configuration.
        p: its plan.
        n_train: the training patterns.
        style: how errors name a setting: ``flag`` or ``key``.

    Raises:
        ConfigError: naming the setting.
    """
    name = lambda field: setting_name(field, style)
    if p.batching == "full":
        for field in ("batching", "batch_size"):
            if getattr(config, field) != DEFAULTS[field]:
                raise ConfigError(
                    f"{name(field)} applies to mini-batch problems; {config.problem} is "
                    f"evaluated on its whole training set ({n_train:,} patterns) at every step: "
                    "leave it out"
                )
    elif config.batch_size > n_train and config.batch_size != DEFAULTS["batch_size"]:
        # (the default shrinks to the training set: a small data set samples without tuning)
        raise ConfigError(
            f"{name('batch_size')} {config.batch_size:,} is larger than {config.problem}'s "
            f"training set ({n_train:,} patterns); give at most {n_train:,}"
        )
    if config.lambda_:
        reach = config.lambda_ * p.n_params * (100.0 * config.bound) ** 2
        if reach > PENALTY_MAX:
            raise ConfigError(
                f"{name('lambda_')} {config.lambda_:g}: the penalty of {p.n_params:,} weights of "
                f"the order of {name('bound')} {config.bound:g} overflows float32 (about "
                f"{reach:.0e}); give lambda <= {PENALTY_MAX / reach * config.lambda_:.1e}"
            )


OMITTED_AT_DEFAULT = (
    ("sampler", "gradient"),
    ("activation", "elu"),
    ("walk_bounds", "none"),
    ("loss", "cross_entropy"),
    ("regulariser", "none"),
    ("lambda_", None),
    ("w0", None),
)


def setting_name(name: str, style: str) -> str:
    """A setting as the user wrote it.

    Args:
        name: the field's name.
        style: ``flag`` (``--hessian-at``) or ``key`` (a study file's key, a grid setting by its
            list's name).

    Returns:
        The name as errors write it.
    """
    if style == "key":
        return f"key {GRID.get(name, key_of(name))!r}"
    return name if name == "problem" else flag(name)


def settings() -> list:
    """The fields of SampleConfig that a user sets.

    Returns:
        Their dataclass fields.
    """
    return declared(SampleConfig)


DEFAULTS = {f.name: f.default for f in fields(SampleConfig)}


@dataclass(frozen=True)
class Plan:
    """What a configuration resolves to once the problem is known."""

    n_params: int
    walks: int
    steps: int
    step_size: float
    hessian: Literal["exact", "blocks", "lanczos", "none"]  # --hessian exact (or full)
    hessian_at: CurvatureAt
    batching: Literal["full", "shared", "per_walk"]
    chunk: int
    network: Any = field(default=None, compare=False, repr=False)  # the MLP, built once

    @property
    def keep_params(self) -> bool:
        """Whether the walk must return the points' parameters (curvature is measured at them)."""
        return self.hessian != "none"

    def record(self) -> dict:
        """The plan as run metadata records it.

        Returns:
            Its fields, ``hessian_at`` as written, without the network.
        """
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "network"}
        return {**out, "hessian_at": self.hessian_at.spec}


def step_size(granularity: str, bound: float) -> float:
    """The step size s = fraction x 2b: 1% of the range's width for micro walks, 10% for macro
    walks.

    Args:
        granularity: ``micro`` or ``macro``.
        bound: b.

    Returns:
        s.
    """
    return GRANULARITY[granularity] * 2.0 * bound


def network_of(config: SampleConfig, sizes):
    """The configuration's network.

    Args:
        config: the configuration.
        sizes: (n_inputs, n_outputs) of its problem.

    Returns:
        The ``fla.core.networks.MLP``.
    """
    from fla.core.networks import MLP

    n_inputs, n_outputs = sizes
    return MLP(n_inputs, config.width, config.depth, n_outputs, config.activation)


def walks_and_steps(config: SampleConfig, n_params: int) -> tuple[int, int]:
    """The study's defaults where the configuration leaves them open: 10 D walks, 1000 (micro) or
    100 (macro) steps.

    Args:
        config: the configuration.
        n_params: D.

    Returns:
        (walks, steps).
    """
    return config.walks or 10 * n_params, config.steps or DEFAULT_STEPS[config.granularity]


def plan(config: SampleConfig, sizes, full_batch: bool) -> Plan:
    """Resolve a configuration's defaults once its problem's sizes are known: D, walks, steps, the
    Hessian and where it is taken, the batching and the programs' width.

    Args:
        config: the configuration.
        sizes: (n_inputs, n_outputs) of its problem.
        full_batch: whether the problem is evaluated on its whole training set every step.

    Returns:
        The ``Plan`` (its network built once).
    """
    network = network_of(config, sizes)
    d = network.n_params
    batching = "full" if full_batch else config.batching
    walks, steps = walks_and_steps(config, d)
    if config.hessian == "auto":
        hessian = "exact" if d <= config.hessian_max_params else "lanczos"
    else:
        hessian = HESSIAN_OF_POLICY[config.hessian]
    at = config.hessian_at
    if at == "auto":
        at = "last" if hessian == "lanczos" else "all"
    return Plan(
        d,
        walks,
        steps,
        step_size(config.granularity, config.bound),
        hessian=hessian,
        hessian_at=CurvatureAt.parse(at),
        batching=batching,
        chunk=chunk_width(d, walks, batching),
        network=network,
    )


LANES = 16  # chunks are multiples of this many walks (the vector width of the kernels, with margin)
# a chunk's [walks, D] array holds at most this many floats (128 MB), when D allows
CHUNK_FLOATS = 2**25


def round_up(n: int, multiple: int = LANES) -> int:
    """n rounded up to a multiple.

    Args:
        n: a number of walks.
        multiple: the multiple (``LANES``).

    Returns:
        The multiple of ``multiple`` at or above n.
    """
    return -(-n // multiple) * multiple


def chunk_width(n_params: int, walks: int, batching: str) -> int:
    """Walks per compiled program: a function of the configuration alone (D, walks, batching).
    Matrix-product kernels (Eigen's, XLA's) choose their blocking, and so the order of their sums,
    by the matrices' shapes, so a walk's low-order bits depend on how many walks share its program
    (measured: 784-3-3-10 with 16 vs 48 walks differ in the last bit). Fixing the width by the
    configuration, and padding the last chunk to it, makes the walks the same however they are split
    into runs (shards start at multiples of it).

    Args:
        n_params: D.
        walks: the configuration's walks.
        batching: ``full``, ``shared`` or ``per_walk``.

    Returns:
        The width, a multiple of ``LANES``.
    """
    cap = 256 if batching == "per_walk" else 1024
    by_size = max(LANES, 2 ** int(math.log2(max(1, CHUNK_FLOATS // n_params))))
    return min(cap, by_size, round_up(walks))
