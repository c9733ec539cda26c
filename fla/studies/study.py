"""Study files (TOML): a grid of sampling configurations, as in Bosman et al.'s width/depth studies.

    name = "xor"
    problems = ["xor"]
    widths = [1, 2, 10]          # multiples of each problem's minimal width h (`fla problems`)
    depths = [1, 2, 3]
    granularities = ["micro", "macro"]
    bounds = [1, 10]
    seeds = [0]
    # optional: walks / steps as a number or per granularity, the curvature policy, batching
    walks = 100
    steps = { micro = 200, macro = 100 }
    hessian = "auto"
    hessian_at = "auto"
    minimal_width = { xor = 2 }

Every combination problem x width x depth x granularity x bound x seed is one configuration
(``fla.walks.sample.SampleConfig``) with a stable name, its directory under the study's output.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, fields
from pathlib import Path

from fla.base.errors import ConfigError
from fla.base.settings import (
    Kind,
    build,
    custom,
    integer,
    is_int,
    is_number,
    key_of,
    read_toml,
    refuse_unknown,
    setting,
)
from fla.core.losses import LOSSES
from fla.core.networks import ACTIVATIONS
from fla.walks.config import GRID, SampleConfig, settings
from fla.walks.samplers import SAMPLERS

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def grid(check, plural: str) -> Kind:
    """A grid axis of a study file: a non-empty list of values that pass ``check`` (each value's own
    range is the configuration's to check).

    Args:
        check: the check of one value.
        plural: the values' name, for the error.

    Returns:
        The settings kit's ``Kind``.
    """
    ok = lambda v: isinstance(v, list) and len(v) > 0 and all(map(check, v))
    return Kind(ok, f"a non-empty list of {plural}")


def per_granularity_kind(noun: str) -> Kind:
    """An integer, or a table { micro = N, macro = N } of them (walks and steps).

    Args:
        noun: what the integer counts, for the error.

    Returns:
        The settings kit's ``Kind``.
    """
    ok = lambda v: (
        v is None
        or is_int(v)
        or (isinstance(v, dict) and set(v) <= {"micro", "macro"} and all(map(is_int, v.values())))
    )
    return Kind(ok, "an integer or a table { micro = N, macro = N }")


@dataclass(frozen=True)
class StudyFile:
    """The keys of a study file besides the scalar settings of ``SampleConfig`` (which every
    configuration takes as they are)."""

    name: str | None = setting(
        None,
        "the study's name (default the file's stem)",
        custom(
            lambda v: v is None or (isinstance(v, str) and bool(NAME.match(v)) and ".." not in v),
            "a plain name (letters, digits, '.', '_', '-'; no '/' or '..')",
        ),
    )
    problems: list = setting(None, "problems", grid(lambda v: isinstance(v, str), "strings"))
    widths: list = setting(None, "multiples of the minimal width h", grid(is_int, "integers"))
    depths: list = setting(None, "numbers of hidden layers", grid(is_int, "integers"))
    granularities: list = setting(
        None, "micro, macro", grid(lambda v: isinstance(v, str), "strings")
    )
    bounds: list = setting(None, "initial ranges b", grid(is_number, "numbers"))
    seeds: list = setting(None, "seeds", grid(is_int, "integers"))
    samplers: list | None = setting(
        None,
        'samplers (default ["gradient"]): gradient, random, manhattan, uniform',
        Kind(
            lambda v: (
                v is None or (isinstance(v, list) and len(v) > 0 and all(s in SAMPLERS for s in v))
            ),
            f"a non-empty list of {', '.join(SAMPLERS)}",
        ),
    )
    activations: list | None = setting(
        None,
        'hidden activations (default ["elu"]): ' + ", ".join(ACTIVATIONS),
        Kind(
            lambda v: (
                v is None
                or (isinstance(v, list) and len(v) > 0 and all(a in ACTIVATIONS for a in v))
            ),
            f"a non-empty list of {', '.join(ACTIVATIONS)}",
        ),
    )
    losses: list | None = setting(
        None,
        'data losses (default ["cross_entropy"]): ' + ", ".join(LOSSES),
        Kind(
            lambda v: (
                v is None or (isinstance(v, list) and len(v) > 0 and all(a in LOSSES for a in v))
            ),
            f"a non-empty list of {', '.join(LOSSES)}",
        ),
    )
    walks: int | dict | None = setting(None, "walks a configuration", per_granularity_kind("walks"))
    steps: int | dict | None = setting(None, "steps a walk", per_granularity_kind("steps"))
    minimal_width: dict | None = setting(
        None,
        "each problem's h, where the registry's is not wanted",
        custom(
            lambda v: (
                v is None or (isinstance(v, dict) and all(is_int(h) and h >= 1 for h in v.values()))
            ),
            "a table { problem = H } of integers >= 1",
        ),
    )
    shard_walks: int | None = setting(
        None,
        "walks per shard, rounded down to a multiple of the chunk",
        integer(at_least=1, optional=True),
    )


LISTS = [f.name for f in fields(StudyFile) if f.name in GRID.values()]
PER_GRANULARITY = ("walks", "steps")  # a number, or a table { micro = N, macro = N }
# optional lists, one default each
LISTED = {"sampler": "samplers", "activation": "activations", "loss": "losses"}


def scalar_keys() -> set:
    """The study keys that set one setting for every configuration: every SampleConfig field not in
    the grid, by its key (``lambda`` for the field ``lambda_``).

    Returns:
        The keys.
    """
    return {key_of(f.name) for f in settings() if f.name not in GRID and f.name not in LISTED}


def field_of(key: str) -> str:
    """The SampleConfig field a scalar study key sets.

    Args:
        key: the study key.

    Returns:
        The field's name.
    """
    return next(f.name for f in settings() if key_of(f.name) == key)


@dataclass(frozen=True)
class Study:
    """A study: its ``name`` and its ``spec`` (the study file's keys, checked, as study.json records
    them).
    """

    name: str
    spec: dict

    def configurations(self) -> list[SampleConfig]:
        """Every configuration of the study's grid, in the study's order.

        Returns:
            [SampleConfig], one per point of problems x widths x depths x granularities x bounds x
                seeds.
        """
        s = self.spec
        minimal = s.get("minimal_width", {})
        extra = {field_of(key): s[key] for key in scalar_keys() - set(PER_GRANULARITY) if key in s}
        configs = []
        axes = (
            s["problems"],
            s["widths"],
            s["depths"],
            s["granularities"],
            s["bounds"],
            s["seeds"],
        )
        samplers = s.get("samplers", ["gradient"])
        activations = s.get("activations", ["elu"])
        losses = s.get("losses", ["cross_entropy"])
        for (
            problem,
            multiple,
            depth,
            granularity,
            bound,
            seed,
            sampler,
            activation,
            loss,
        ) in itertools.product(*axes, samplers, activations, losses):
            configs.append(
                SampleConfig(
                    problem=problem,
                    width=multiple * minimal.get(problem, minimal_width(problem, s.get("target"))),
                    depth=depth,
                    granularity=granularity,
                    bound=float(bound),
                    seed=seed,
                    walks=per_granularity(s.get("walks"), granularity),
                    steps=per_granularity(s.get("steps"), granularity),
                    sampler=sampler,
                    activation=activation,
                    loss=loss,
                    **extra,
                )
            )
        return configs


def minimal_width(problem: str, target=None) -> int:
    """The registry's h of a problem (for csv:PATH, its number of classes); 1 if it cannot be read
    (the configuration's validation then names the problem).

    Args:
        problem: the problem.
        target: a csv problem's class column.

    Returns:
        h.
    """
    from fla.core.registry import problem_spec

    try:
        return problem_spec(problem, target).minimal_width
    except Exception:
        return 1


def per_granularity(value, granularity):
    """A walks or steps setting for one granularity.

    Args:
        value: an integer, or {micro: N, macro: N}.
        granularity: ``micro`` or ``macro``.

    Returns:
        The integer (None where the table leaves the granularity out).
    """
    return value.get(granularity) if isinstance(value, dict) else value


def number_name(value: float) -> str:
    """A float as a folder-name part that is unique and reversible: integers plainly (1, 10), else
    Python's shortest round-trip form (1.0000001, 1e-05); float(number_name(x)) == x.

    Args:
        value: the number.

    Returns:
        Its name.
    """
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)


def config_name(config: SampleConfig) -> str:
    """The folder of a configuration inside a study; distinct configurations get distinct names.

    Args:
        config: the configuration.

    Returns:
        E.g. ``xor_w2_d1_macro_b1_s0``.
    """
    from fla.core.registry import problem_folder_name

    sampler = "" if config.sampler == "gradient" else f"_{config.sampler}"
    activation = "" if config.activation == "elu" else f"_{config.activation}"
    bounds = "" if config.walk_bounds == "none" else f"_{config.walk_bounds}"
    loss = "" if config.loss == "cross_entropy" else f"_{config.loss}"
    return (
        f"{problem_folder_name(config.problem)}_w{config.width}_d{config.depth}_{config.granularity}"
        f"_b{number_name(config.bound)}_s{config.seed}{sampler}{activation}{bounds}{loss}"
        f"{regulariser_name(config)}"
    )


def regulariser_name(config: SampleConfig) -> str:
    """The regulariser's part of a folder name.

    Args:
        config: the configuration.

    Returns:
        ``_l2-0.001``, ``_we-0.001-w1``, or ``""``.
    """
    if config.regulariser == "none":
        return ""
    lam = number_name(config.lambda_)
    if config.regulariser == "l2":
        return f"_l2-{lam}"
    return f"_we-{lam}-w{number_name(1.0 if config.w0 is None else config.w0)}"


NAME_MAX = 100  # characters of a study's name (its folder's; configurations append up to 100)


def load_study(path) -> Study:
    """Read and validate a study file.

    Args:
        path: the study TOML file (``fla settings study`` prints its template).

    Returns:
        The ``Study``.

    Raises:
        ConfigError: naming the key of a malformed file.
    """
    path = Path(path)
    spec = read_toml(path, "study file")
    where = f"study file {path}: "
    own = {f.name for f in fields(StudyFile)}
    refuse_unknown(spec, own | scalar_keys(), where)
    build(StudyFile, {k: v for k, v in spec.items() if k in own}, where, key_name)
    for key in LISTS + [k for k in LISTED.values() if k in spec]:
        strings = ("problems", "granularities", "samplers", "activations", "losses")
        seen = [float(v) if key not in strings else v for v in spec[key]]
        twice = next((v for i, v in enumerate(seen) if v in seen[:i]), None)
        if twice is not None:
            raise ConfigError(f"{where}key {key!r} lists {twice!r} twice; give each value once")
    study = Study(spec.get("name", path.stem), spec)
    if not NAME.match(study.name) or ".." in study.name:
        raise ConfigError(f"{where}the file's name {path.stem!r} is no plain name; set key 'name'")
    if len(study.name) > NAME_MAX:  # a folder name: the file system holds at most 255 bytes
        raise ConfigError(
            f"{where}key 'name' is {len(study.name)} characters long; give at most {NAME_MAX}"
        )
    for config in study.configurations():
        try:
            config.validate(style="key")
        except ConfigError as exc:
            raise ConfigError(f"{where}{exc}") from None
    return study


def key_name(name: str) -> str:
    """A study key as errors name it.

    Args:
        name: the key.

    Returns:
        ``key 'name'``.
    """
    return f"key {name!r}"
