"""Study files (TOML): a grid of sampling configurations, as in Bosman et al.'s width/depth studies.

    name = "xor"
    problems = ["xor"]
    widths = [1, 2, 10]          # multiples of each problem's minimal width h (fla problems lists
    them) depths = [1, 2, 3] granularities = ["micro", "macro"] bounds = [1, 10] seeds = [0] #
    optional: walks / steps as a number or per granularity, the curvature policy, batching walks =
    100 steps = { micro = 200, macro = 100 } hessian = "auto" hessian_at = "auto" minimal_width = {
    xor = 2 }

Every combination problem x width x depth x granularity x bound x seed is one configuration
(:class:`fla.sample.SampleConfig`) with a stable name, its directory under the study's output.
"""

from __future__ import annotations

import itertools
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import GRID, SampleConfig, is_int, settings
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LISTS = {
    "problems": str,
    "widths": int,
    "depths": int,
    "granularities": str,
    "bounds": (int, float),
    "seeds": int,
}
PER_GRANULARITY = ("walks", "steps")  # a number, or a table { micro = N, macro = N }
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def scalar_keys() -> set:
    """The study keys that set one setting for every configuration: every SampleConfig field not in
    the grid."""
    return {f.name for f in settings() if f.name not in GRID}


@dataclass(frozen=True)
class Study:
    name: str
    spec: dict

    def configurations(self) -> list[SampleConfig]:
        s = self.spec
        minimal = s.get("minimal_width", {})
        extra = {key: s[key] for key in scalar_keys() - set(PER_GRANULARITY) if key in s}
        configs = []
        for problem, multiple, depth, granularity, bound, seed in itertools.product(
            s["problems"], s["widths"], s["depths"], s["granularities"], s["bounds"], s["seeds"]
        ):
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
                    **extra,
                )
            )
        return configs


def minimal_width(problem: str, target=None) -> int:
    """The registry's h of a problem (for csv:PATH, its number of classes); 1 if it cannot be read
    (the configuration's validation then names the problem)."""
    from .problems import problem_spec

    try:
        return problem_spec(problem, target).minimal_width
    except Exception:
        return 1


def per_granularity(value, granularity):
    return value.get(granularity) if isinstance(value, dict) else value


def number_name(value: float) -> str:
    """A float as a folder-name part that is unique and reversible: integers plainly (1, 10), else
    Python's shortest round-trip form (1.0000001, 1e-05); float(number_name(x)) == x."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)


def config_name(config: SampleConfig) -> str:
    """The directory of a configuration inside a study, e.g. ``xor_w2_d1_macro_b1_s0``; distinct
    configurations of a study get distinct names."""
    from .problems import problem_folder_name

    return (
        f"{problem_folder_name(config.problem)}_w{config.width}_d{config.depth}_{config.granularity}"
        f"_b{number_name(config.bound)}_s{config.seed}"
    )


def load_study(path) -> Study:
    """Read and validate a study file; a malformed one raises ConfigError naming the key."""
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"study file {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"study file {path} is not valid TOML: {exc}") from None
    where = f"study file {path}"
    known = set(LISTS) | scalar_keys() | {"name", "minimal_width", "shard_walks"}
    unknown = set(spec) - known
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {sorted(unknown)[0]!r}; expected keys: "
            f"{', '.join(sorted(known))}"
        )
    for key, kind in LISTS.items():
        value = spec.get(key)
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
        ):
            names = {str: "strings", int: "integers", (int, float): "numbers"}[kind]
            raise ConfigError(
                f"{where}: key {key!r} must be a non-empty list of {names}, got {value!r}"
            )
        seen = [float(v) if kind is not str else v for v in value]
        twice = next((v for i, v in enumerate(seen) if v in seen[:i]), None)
        if twice is not None:
            raise ConfigError(f"{where}: key {key!r} lists {twice!r} twice; give each value once")
    name = spec.get("name", path.stem)
    if not isinstance(name, str) or not NAME.match(name) or ".." in name:
        raise ConfigError(
            f"{where}: key 'name' must be a plain name (letters, digits, '.', '_', '-'; no '/' "
            f"or '..'), got {name!r}"
        )
    for key in PER_GRANULARITY:
        value = spec.get(key)
        if value is not None and not (
            is_int(value)
            or (
                isinstance(value, dict)
                and set(value) <= {"micro", "macro"}
                and all(map(is_int, value.values()))
            )
        ):
            raise ConfigError(
                f"{where}: key {key!r} must be an integer or a table {{ micro = N, macro = N }}, "
                f"got {value!r}"
            )
    if "shard_walks" in spec and not (is_int(spec["shard_walks"]) and spec["shard_walks"] >= 1):
        raise ConfigError(
            f"{where}: key 'shard_walks' must be an integer >= 1 (walks per shard, rounded down to "
            f"a multiple of the chunk), got {spec['shard_walks']!r}"
        )
    minimal = spec.get("minimal_width", {})
    if not isinstance(minimal, dict) or not all(is_int(v) and v >= 1 for v in minimal.values()):
        raise ConfigError(
            f"{where}: key 'minimal_width' must be a table {{ problem = H }} of integers >= 1"
        )
    study = Study(name, spec)
    for config in study.configurations():
        try:
            config.validate(style="key")
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return study
