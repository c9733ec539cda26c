"""The settings kit: every setting fla reads is declared once, as a typed dataclass field with its
check and its help, and loaded, checked and reported by the functions here.

A settings class is a frozen dataclass whose fields are made by ``setting``; the field's
``Kind`` says which values it accepts, in words (``expects``) and as a check. The same
declaration gives the command-line flags (``add_flags``), reads a settings file's keys
(``build``, refusing unknown keys by name) and checks the values (``check``); errors name
the setting as the user wrote it, through the caller's ``name_of`` (``--hessian-at``, ``key
'widths'``, ``autoneb.climb``). Numbers are refused when not finite, everywhere.

    >>> @dataclass(frozen=True)
    ... class Polish:
    ...     gtol: float = setting(1e-5, "gradient norm to reach", number(above=0))
    >>> build(Polish, {"gtol": 0.0}, "--config c.toml: polish.")  # ConfigError: ... must be > 0
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from fla.base.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Kind:
    """What a setting accepts: a check, the words for it, and its command-line type and choices."""

    check: Callable[[object], bool]
    expects: str
    parse: type | None = None
    choices: tuple | None = None

    def __call__(self, value) -> bool:
        return bool(self.check(value))


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A finite int or float (not a bool): what every numeric setting takes."""
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _bounds(value, at_least, above, *, at_most, below) -> bool:
    return (
        (at_least is None or value >= at_least)
        and (above is None or value > above)
        and (at_most is None or value <= at_most)
        and (below is None or value < below)
    )


def _range_words(noun, at_least, above, *, at_most, below) -> str:
    low = f"{at_least}" if at_least is not None else f"{above}" if above is not None else None
    high = f"{at_most}" if at_most is not None else f"{below}" if below is not None else None
    if low is not None and high is not None:
        left = "[" if at_least is not None else "("
        right = "]" if at_most is not None else ")"
        return f"{noun} in {left}{low}, {high}{right}"
    if low is not None:
        return f"{noun} {'>=' if at_least is not None else '>'} {low}"
    if high is not None:
        return f"{noun} {'<=' if at_most is not None else '<'} {high}"
    return noun


def integer(
    at_least=None, above=None, at_most=None, *, below=None, optional=False, words=None
) -> Kind:
    """An integer within the bounds (``optional``: or None); ``words`` replace the bounds' own."""
    words = words or _range_words("an integer", at_least, above, at_most=at_most, below=below)
    ok = lambda v: is_int(v) and _bounds(v, at_least, above, at_most=at_most, below=below)
    return Kind(lambda v: (optional and v is None) or ok(v), words, int)


def number(at_least=None, above=None, at_most=None, *, below=None, optional=False) -> Kind:
    """A finite number within the bounds (``optional``: or None)."""
    words = _range_words("a finite number", at_least, above, at_most=at_most, below=below)
    ok = lambda v: is_number(v) and _bounds(v, at_least, above, at_most=at_most, below=below)
    return Kind(lambda v: (optional and v is None) or ok(v), words, float)


def choice(*names: str, optional=False) -> Kind:
    """One of ``names`` (``optional``: or None)."""
    ok = lambda v: (optional and v is None) or (isinstance(v, str) and v in names)
    return Kind(ok, f"one of {', '.join(names)}", str, names)


def boolean() -> Kind:
    return Kind(lambda v: isinstance(v, bool), "true or false", bool)


def text(optional=False) -> Kind:
    """A non-empty string (``optional``: or None)."""
    return Kind(
        lambda v: (optional and v is None) or (isinstance(v, str) and v != ""), "a text", str
    )


def values_of(kind: Kind, words: str, *, count: tuple[int, int], optional=False) -> Kind:
    """A list of ``count`` (lowest, highest) values of ``kind`` (``optional``: or None), as a flag
    given several values or several times takes them; parsed as ``kind`` parses one."""

    def ok(values) -> bool:
        if values is None:
            return optional
        return (
            isinstance(values, (list, tuple))
            and count[0] <= len(values) <= count[1]
            and all(map(kind, values))
        )

    return Kind(ok, words, kind.parse)


def list_of(kind: Kind, plural: str) -> Kind:
    """A non-empty list of distinct values of ``kind`` (numbers compared as floats), each parsed
    from the command line as ``kind`` parses one."""

    def ok(values) -> bool:
        if not isinstance(values, (list, tuple)) or not values or not all(map(kind, values)):
            return False
        seen = [float(v) if is_number(v) else v for v in values]
        return len(set(seen)) == len(seen)

    return Kind(ok, f"a non-empty list of distinct {plural}", kind.parse)


def comma_separated(kind: Kind) -> Kind:
    """``kind`` (a list) written on the command line as one comma-separated value."""
    split = lambda text: tuple(t.strip() for t in text.split(",") if t.strip())
    return dataclasses.replace(kind, parse=split)


def custom(check: Callable, expects: str, parse: type | None = str) -> Kind:
    return Kind(check, expects, parse)


def setting(
    default,
    help: str,
    kind: Kind,
    *,
    required: bool = False,
    nargs: int | str | None = None,
    metavar=None,
    **field_kw,
):
    """A dataclass field carrying its help, its kind and whether it must be given; on the command
    line ``nargs`` values a flag (an int, or ``"append"``: the flag given once a value) and their
    ``metavar``."""
    meta = {"help": help, "kind": kind, "required": required, "nargs": nargs, "metavar": metavar}
    return field(default=default, metadata=meta, **field_kw)


def partial_setting():
    """The ``--partial`` setting of every command that reads a study."""
    return setting(
        False,
        "read a study that is not whole (a killed or unfinished sweep), labelling the output as "
        "partial; without it such a study is refused with what is missing",
        boolean(),
    )


def declared(cls_or_obj) -> list:
    """The fields of a settings class that are settings (made by ``setting``)."""
    return [f for f in dataclasses.fields(cls_or_obj) if "kind" in f.metadata]


def plain(name: str) -> str:
    return name


def check(obj, name_of: Callable[[str], str] = plain) -> None:
    """ConfigError naming the first setting of ``obj`` whose value its kind does not accept."""
    for f in declared(obj):
        value = getattr(obj, f.name)
        if not f.metadata["kind"](value):
            raise ConfigError(
                f"{name_of(f.name)} must be {f.metadata['kind'].expects}, got {value!r}"
            )


def refuse_unknown(given: dict, known, where: str) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(f"{where}unknown key {unknown[0]!r}; expected {', '.join(sorted(known))}")


def build(cls, given: dict, where: str = "", name_of: Callable[[str], str] = plain):
    """``cls(**given)``, every key known and every value checked; errors start with ``where``."""
    if not isinstance(given, dict):
        raise ConfigError(f"{where}must be a table of settings, got {given!r}")
    refuse_unknown(given, [f.name for f in dataclasses.fields(cls) if f.init], where)
    try:
        obj = cls(**given)
        check(obj, name_of)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
    return obj


def read_toml(path, what: str) -> dict:
    """A settings file's table; ConfigError naming ``what`` (e.g. 'study file') if unreadable."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None


def key_of(name: str) -> str:
    """A setting's name as users write it: the field's, less a trailing underscore (a field
    ``lambda_`` is the key ``lambda``, its flag ``--lambda``)."""
    return name.rstrip("_")


def flag(name: str) -> str:
    return "--" + key_of(name).replace("_", "-")


def add_flags(parser, cls, positional=()) -> None:
    """One argparse flag per setting of ``cls`` (``positional`` names become arguments), each with
    its help, type and choices; defaults are None so that only what was given is passed on."""
    for f in declared(cls):
        kind, help_text = f.metadata["kind"], f.metadata["help"].replace("%", "%%")
        if f.name in positional:
            metavar = f.metadata.get("metavar")
            action = parser.add_argument(
                f.name, help=help_text, choices=kind.choices, metavar=metavar
            )
        elif kind.parse is bool:
            action = parser.add_argument(
                flag(f.name), dest=f.name, action="store_true", default=None, help=help_text
            )
        else:
            nargs, metavar = f.metadata.get("nargs"), f.metadata.get("metavar")
            many = {"action": "append"} if nargs == "append" else {"nargs": nargs} if nargs else {}
            action = parser.add_argument(
                flag(f.name),
                dest=f.name,
                metavar=metavar or (None if kind.choices else key_of(f.name).upper()),
                type=kind.parse or str,
                choices=kind.choices,
                required=f.metadata["required"],
                default=None,
                help=help_text
                if f.default is None
                else f"{help_text} (default {shown(f.default)})",
                **many,
            )
        action.declared_by = cls  # what tests/test_settings.py checks every flag has


def given(args, cls) -> dict:
    """The settings of ``cls`` that the command line gave (add_flags leaves the others None)."""
    return {
        f.name: getattr(args, f.name) for f in declared(cls) if getattr(args, f.name) is not None
    }


def from_flags(args, cls, **values):
    """``cls`` built from the flags given (and ``values``), every value checked and refused as its
    flag is written (``--max-points must be ...``)."""
    return build(cls, {**given(args, cls), **values}, name_of=flag)


def shown(value) -> str:
    """A default as a flag's help shows it (lists comma-separated)."""
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def toml_value(value) -> str:
    """A default as a settings file writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def describe(cls, section: str | None = None) -> str:
    """The settings of ``cls`` as a commented settings-file template: each key with its default,
    its help and what it accepts (a key without a default is shown commented out)."""
    lines = [f"[{section}]"] if section else []
    for f in declared(cls):
        meta = f.metadata
        entry = f"{f.name} = {toml_value(f.default)}"
        if f.default is None:
            entry = f"# {f.name} =" + (" (required)" if meta["required"] else "")
        lines.append(f"{entry:32s} # {meta['help']}; {meta['kind'].expects}")
    return "\n".join(lines)
