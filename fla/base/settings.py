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
    """An integer (numpy's too), not a bool.

    Args:
        value: a value.

    Returns:
        True for an integer.
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A finite int or float (not a bool): what every numeric setting takes.

    Args:
        value: a value.

    Returns:
        True for a finite number.
    """
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
    """The kind of an integer within bounds.

    Args:
        at_least: the smallest allowed.
        above: a bound it must exceed.
        at_most: the largest allowed.
        below: a bound it must stay under.
        optional: None allowed too.
        words: the words of errors, instead of the bounds' own.

    Returns:
        The ``Kind``.
    """
    words = words or _range_words("an integer", at_least, above, at_most=at_most, below=below)
    ok = lambda v: is_int(v) and _bounds(v, at_least, above, at_most=at_most, below=below)
    return Kind(lambda v: (optional and v is None) or ok(v), words, int)


def number(at_least=None, above=None, at_most=None, *, below=None, optional=False) -> Kind:
    """The kind of a finite number within bounds.

    Args:
        at_least: the smallest allowed.
        above: a bound it must exceed.
        at_most: the largest allowed.
        below: a bound it must stay under.
        optional: None allowed too.

    Returns:
        The ``Kind``.
    """
    words = _range_words("a finite number", at_least, above, at_most=at_most, below=below)
    ok = lambda v: is_number(v) and _bounds(v, at_least, above, at_most=at_most, below=below)
    return Kind(lambda v: (optional and v is None) or ok(v), words, float)


SEED = integer(at_least=0, below=2**32, words="an integer in [0, 2^32)")  # what every seed takes


def choice(*names: str, optional=False) -> Kind:
    """The kind of one of several names (argparse's choices on the command line).

    Args:
        *names: the names.
        optional: None allowed too.

    Returns:
        The ``Kind``.
    """
    ok = lambda v: (optional and v is None) or (isinstance(v, str) and v in names)
    return Kind(ok, f"one of {', '.join(names)}", str, names)


def boolean() -> Kind:
    """The kind of true or false (a flag without a value on the command line).

    Returns:
        The ``Kind``.
    """
    return Kind(lambda v: isinstance(v, bool), "true or false", bool)


def text(optional=False) -> Kind:
    """The kind of a non-empty string.

    Args:
        optional: None allowed too.

    Returns:
        The ``Kind``.
    """
    return Kind(
        lambda v: (optional and v is None) or (isinstance(v, str) and v != ""), "a text", str
    )


def values_of(kind: Kind, words: str, *, count: tuple[int, int], optional=False) -> Kind:
    """The kind of a list of ``count`` (lowest, highest) values of ``kind``, as a flag given several
    values or several times takes them; parsed as ``kind`` parses one.

    Args:
        kind: each value's kind.
        words: the words of errors.
        count: (lowest, highest) number of values.
        optional: None allowed too.

    Returns:
        The ``Kind``.
    """

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
    """The kind of a non-empty list of distinct values of ``kind`` (numbers compared as floats),
    each parsed from the command line as ``kind`` parses one.

    Args:
        kind: each value's kind.
        plural: the values' name, for errors.

    Returns:
        The ``Kind``.
    """

    def ok(values) -> bool:
        if not isinstance(values, (list, tuple)) or not values or not all(map(kind, values)):
            return False
        seen = [float(v) if is_number(v) else v for v in values]
        return len(set(seen)) == len(seen)

    return Kind(ok, f"a non-empty list of distinct {plural}", kind.parse)


def comma_separated(kind: Kind) -> Kind:
    """``kind`` (a list) written on the command line as one comma-separated value.

    Args:
        kind: the list's kind.

    Returns:
        The ``Kind``.
    """
    split = lambda text: tuple(t.strip() for t in text.split(",") if t.strip())
    return dataclasses.replace(kind, parse=split)


def custom(check: Callable, expects: str, parse: type | None = str) -> Kind:
    """A kind of one's own.

    Args:
        check: value -> whether it is accepted.
        expects: the words of errors ("must be ...").
        parse: the command line's type (None: not a flag of its own).

    Returns:
        The ``Kind``.
    """
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
    """A dataclass field that is a setting: its default, help and kind, whether it must be given,
    and on the command line how many values its flag takes.

    Args:
        default: the default.
        help: what it sets (the flag's help, the settings template's comment).
        kind: what it accepts (``integer``, ``number``, ``choice``, ...).
        required: it must be given.
        nargs: values a flag takes: an int, or ``"append"`` (the flag given once a value).
        metavar: the values' names in the help.
        **field_kw: passed to ``dataclasses.field``.

    Returns:
        The field.
    """
    meta = {"help": help, "kind": kind, "required": required, "nargs": nargs, "metavar": metavar}
    return field(default=default, metadata=meta, **field_kw)


def partial_setting():
    """The ``--partial`` setting of every command that reads a study.

    Returns:
        The field (default False).
    """
    return setting(
        False,
        "read a study that is not whole (a killed or unfinished sweep), labelling the output as "
        "partial; without it such a study is refused with what is missing",
        boolean(),
    )


def declared(cls_or_obj) -> list:
    """The fields of a settings class that are settings (made by ``setting``).

    Args:
        cls_or_obj: a settings class or instance.

    Returns:
        Their dataclass fields.
    """
    return [f for f in dataclasses.fields(cls_or_obj) if "kind" in f.metadata]


def plain(name: str) -> str:
    """A setting's name as itself.

    Args:
        name: the field's name.

    Returns:
        The name.
    """
    return name


def check(obj, name_of: Callable[[str], str] = plain) -> None:
    """Check every setting of an object against its kind.

    Args:
        obj: a settings instance.
        name_of: how errors name a setting (``flag``, ``plain``, ...).

    Raises:
        ConfigError: naming the first setting whose value its kind does not accept.
    """
    for f in declared(obj):
        value = getattr(obj, f.name)
        if not f.metadata["kind"](value):
            raise ConfigError(
                f"{name_of(f.name)} must be {f.metadata['kind'].expects}, got {value!r}"
            )


def refuse_unknown(given: dict, known, where: str) -> None:
    """Refuse keys no setting has.

    Args:
        given: the keys given.
        known: the settings' names.
        where: the start of the error (the file).

    Raises:
        ConfigError: naming the first unknown key and listing the known ones.
    """
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(f"{where}unknown key {unknown[0]!r}; expected {', '.join(sorted(known))}")


def build(cls, given: dict, where: str = "", name_of: Callable[[str], str] = plain):
    """``cls(**given)``, every key known and every value checked.

    Args:
        cls: a settings class.
        given: {name: value}.
        where: the start of errors (the file or section).
        name_of: how errors name a setting.

    Returns:
        The settings.

    Raises:
        ConfigError: an unknown key, a value its kind refuses, or not a table.
    """
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
    """A settings file's table.

    Args:
        path: the TOML file.
        what: what it is, for errors (e.g. ``"study file"``).

    Returns:
        The table as a dict.

    Raises:
        ConfigError: a missing or unreadable file, or invalid TOML.
    """
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None


def key_of(name: str) -> str:
    """A setting's name as users write it: the field's, less a trailing underscore (a field
    ``lambda_`` is the key ``lambda``, its flag ``--lambda``).

    Args:
        name: the field's name.

    Returns:
        The key.
    """
    return name.rstrip("_")


def flag(name: str) -> str:
    """A setting's flag.

    Args:
        name: the field's name.

    Returns:
        E.g. ``--hessian-at`` for ``hessian_at``.
    """
    return "--" + key_of(name).replace("_", "-")


def add_flags(parser, cls, positional=()) -> None:
    """One argparse flag per setting of ``cls``, each with its help, type and choices; defaults are
    None so that only what was given is passed on. Every flag is tagged with ``declared_by``.

    Args:
        parser: the argparse parser.
        cls: the settings class.
        positional: settings that are positional arguments.
    """
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
    """The settings of ``cls`` that the command line gave (``add_flags`` leaves the others None).

    Args:
        args: argparse's namespace.
        cls: the settings class.

    Returns:
        {name: value}.
    """
    return {
        f.name: getattr(args, f.name) for f in declared(cls) if getattr(args, f.name) is not None
    }


def from_flags(args, cls, **values):
    """``cls`` built from the flags given, every value checked and refused as its flag is written
    (``--max-points must be ...``).

    Args:
        args: argparse's namespace.
        cls: the settings class.
        **values: settings given besides the flags.

    Returns:
        The settings.

    Raises:
        ConfigError: a value its kind refuses.
    """
    return build(cls, {**given(args, cls), **values}, name_of=flag)


def shown(value) -> str:
    """A default as a flag's help shows it.

    Args:
        value: the default.

    Returns:
        It in words, lists comma-separated.
    """
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def toml_value(value) -> str:
    """A default as a settings file writes it.

    Args:
        value: the default.

    Returns:
        Its TOML.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def describe(cls, section: str | None = None) -> str:
    """The settings of ``cls`` as a commented settings-file template: each key with its default, its
    help and what it accepts (a key without a default is shown commented out).

    Args:
        cls: the settings class.
        section: the template's [section], if any.

    Returns:
        The template.
    """
    lines = [f"[{section}]"] if section else []
    for f in declared(cls):
        meta = f.metadata
        entry = f"{f.name} = {toml_value(f.default)}"
        if f.default is None:
            entry = f"# {f.name} =" + (" (required)" if meta["required"] else "")
        lines.append(f"{entry:32s} # {meta['help']}; {meta['kind'].expects}")
    return "\n".join(lines)
