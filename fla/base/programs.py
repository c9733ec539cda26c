"""Compiled programs kept for reuse, a bounded number of them.

A compiled TensorFlow program costs seconds to trace and compile and holds its graph and buffers
while it is kept; a sweep's worker reuses one program across the configurations of an
architecture. ``Kept`` holds at most ``limit`` of them, dropping the one used longest ago, and
keeps alive the objects its keys name by ``id()``, so that no id is reused while its entry lives.

    >>> programs = Kept(16)
    >>> program = programs.get(("hessians", id(objective)), build, holds=objective)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable


class Kept:
    """At most ``limit`` values by key, least recently used dropped first."""

    def __init__(self, limit: int):
        """A bounded cache of compiled programs.

        Args:
            limit: the most entries kept (the least recently used goes).
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self._entries: OrderedDict = OrderedDict()

    def get(self, key, make: Callable[[], Any], *, holds: Any = None):
        """The value kept for ``key``, else ``make()`` kept for it.

        Args:
            key: the entry's key.
            make: builds the value.
            holds: kept alive with the entry (the objects ``key`` names by id).

        Returns:
            The value.
        """
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key][1]
        value = make()
        self._entries[key] = (holds, value)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key) -> bool:
        return key in self._entries

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
