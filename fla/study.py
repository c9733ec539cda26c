"""Study files (TOML): a grid of sampling configurations, as in Bosman et al.'s width/depth studies.

    name = "xor"
    problems = ["xor"]
    widths = [1, 2, 10]          # multiples of each problem's minimal width h (XOR: 2, MNIST: 10)
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
(:class:`fla.sample.SampleConfig`) with a stable name, its directory under the study's output.
"""
from __future__ import annotations

import itertools
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .sample import SampleConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MINIMAL_WIDTH = {"xor": 2, "mnist": 10}  # the study's h: XOR 2-h-1 with h = 2, MNIST 784-h-10 with h = 10
LISTS = {"problems": str, "widths": int, "depths": int, "granularities": str, "bounds": (int, float),
         "seeds": int}
OPTIONAL = {"name", "walks", "steps", "hessian", "hessian_at", "hessian_max_params", "batching",
            "batch_size", "lanczos_tol", "lanczos_steps", "minimal_width", "record_params", "chunk"}


@dataclass(frozen=True)
class Study:
    name: str
    spec: dict

    def configurations(self) -> list[SampleConfig]:
        s = self.spec
        minimal = {**MINIMAL_WIDTH, **s.get("minimal_width", {})}
        configs = []
        for problem, multiple, depth, granularity, bound, seed in itertools.product(
                s["problems"], s["widths"], s["depths"], s["granularities"], s["bounds"], s["seeds"]):
            extra = {key: s[key] for key in ("hessian", "hessian_at", "hessian_max_params", "batching",
                                             "batch_size", "lanczos_tol", "lanczos_steps", "record_params",
                                             "chunk") if key in s}
            configs.append(SampleConfig(
                problem=problem, width=multiple * minimal[problem], depth=depth, granularity=granularity,
                bound=float(bound), seed=seed, walks=per_granularity(s.get("walks"), granularity),
                steps=per_granularity(s.get("steps"), granularity), **extra))
        return configs


def per_granularity(value, granularity):
    return value.get(granularity) if isinstance(value, dict) else value


def config_name(config: SampleConfig) -> str:
    """The directory of a configuration inside a study, e.g. ``xor_w2_d1_macro_b1_s0``."""
    return (f"{config.problem}_w{config.width}_d{config.depth}_{config.granularity}"
            f"_b{config.bound:g}_s{config.seed}")


def load_study(path) -> Study:
    """Read and validate a study file; a malformed one raises ConfigError naming the key."""
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"study file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"study file {path} is not valid TOML: {exc}") from None
    where = f"study file {path}"
    unknown = set(spec) - set(LISTS) - OPTIONAL
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}; expected keys: "
                          f"{', '.join(sorted(set(LISTS) | OPTIONAL))}")
    for key, kind in LISTS.items():
        value = spec.get(key)
        if not isinstance(value, list) or not value or not all(
                isinstance(v, kind) and not isinstance(v, bool) for v in value):
            names = {str: "strings", int: "integers", (int, float): "numbers"}[kind]
            raise ConfigError(f"{where}: key {key!r} must be a non-empty list of {names}, got {value!r}")
    for key in ("walks", "steps"):
        value = spec.get(key)
        if value is not None and not (isinstance(value, int) or (
                isinstance(value, dict) and set(value) <= {"micro", "macro"})):
            raise ConfigError(f"{where}: key {key!r} must be an integer or a table {{ micro = N, macro = N }}, "
                              f"got {value!r}")
    minimal = {**MINIMAL_WIDTH, **spec.get("minimal_width", {})}
    for problem in spec["problems"]:
        if problem not in minimal:
            raise ConfigError(f"{where}: no minimal width for problem {problem!r}; add minimal_width = "
                              f"{{ {problem} = H }}")
    study = Study(spec.get("name", path.stem), spec)
    for config in study.configurations():
        try:
            config.validate()
        except ConfigError as exc:
            message = re.sub(r"--([a-z-]+)", lambda m: "key " + repr(m.group(1).replace("-", "_")), str(exc))
            raise ConfigError(f"{where}: {message}") from None
    return study
