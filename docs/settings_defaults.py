"""A griffe extension for the reference pages: a setting's default as its dataclass field holds
it, not the ``setting(...)`` call that declares it (``fla.base.settings.setting``)."""

from __future__ import annotations

import griffe

DECLARATIONS = ("setting", "partial_setting")


class SettingDefaults(griffe.Extension):
    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs) -> None:
        value = attr.value
        if isinstance(value, griffe.ExprCall) and str(value.function) in DECLARATIONS:
            attr.value = value.arguments[0] if value.arguments else "False"
