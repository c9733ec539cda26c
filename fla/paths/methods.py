"""The registry of path methods, built by name with their settings checked.

Methods: ``autoneb`` and ``neb`` (``fla.paths.neb``), ``bezier`` and ``polychain``
(``fla.paths.curves``); each a frozen dataclass whose fields are its settings.

    >>> method = path_method("autoneb", {"climb": False})
    >>> path = method.connect(Energy(loss), a, b)
"""

from __future__ import annotations

import dataclasses

from fla.base.errors import ConfigError
from fla.paths.curves import Bezier, PolyChain
from fla.paths.neb import NEB, AutoNEB


def methods() -> dict:
    """Every path method by name.

    Returns:
        {"autoneb": AutoNEB, "neb": NEB, "bezier": Bezier, "polychain": PolyChain}.
    """
    return {m.name: m for m in (AutoNEB, NEB, Bezier, PolyChain)}


def path_method(name: str, settings: dict | None = None, where: str = ""):
    """The path method called ``name`` with ``settings``, each checked.

    Args:
        name: a key of ``methods()``.
        settings: the method's settings (its section of a connect settings file).
        where: the start of error messages.

    Returns:
        The method, a frozen dataclass.

    Raises:
        ConfigError: an unknown method or setting (listing the valid ones), or a bad value.
    """
    known = methods()
    if name not in known:
        raise ConfigError(f"{where}unknown path method {name!r}; valid: {', '.join(known)}")
    cls = known[name]
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = set(settings or {}) - set(names)
    if unknown:
        raise ConfigError(
            f"{where}[{name}] has no setting {', '.join(sorted(map(repr, unknown)))}; "
            f"it takes {', '.join(names)}"
        )
    try:
        return cls(**(settings or {}))
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
