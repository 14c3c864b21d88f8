"""One small registry type, instantiated once per kind (datasets, extractors,
metrics, models, suites). It lives in zoo because zoo registers models and
must not import gbench; gbench uses the same type (``gbench.registry``).

Names are validated (lower-case letters, digits, ``-`` and ``_``), duplicates
are errors, and an unknown name suggests the closest registered one.
"""

from __future__ import annotations

import difflib
import re
from typing import Generic, Iterator, TypeVar


T = TypeVar("T")


class UnknownNameError(LookupError):
    """An unknown registry name; the message suggests the closest one.

    The gbench CLI reports it like any user error (one line, exit code 2).
    """

    def __str__(self) -> str:  # KeyError-style quoting would garble the message
        return str(self.args[0])

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


class Registry(Generic[T]):
    """A name → object mapping for one kind of thing.

    >>> colors = Registry("color")
    >>> colors.register("red", 1)
    1
    >>> colors.get("red")
    1
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None):
        """Register ``obj`` under ``name``; without ``obj``, act as a decorator."""
        if obj is None:
            def decorator(o: T) -> T:
                self.register(name, o)
                return o
            return decorator
        if not _NAME.match(name):
            raise ValueError(f"invalid {self.kind} name {name!r}: use lower-case letters, digits, '-' and '_'")
        if name in self._items:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        self._items[name] = obj
        return obj

    def get(self, name: str) -> T:
        """Return the object registered as ``name``; unknown names raise a
        :class:`UnknownNameError` that suggests the closest registered name."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str, also: tuple[str, ...] = ()) -> str:
        """One line naming the closest known name; ``also`` adds names that
        are valid beside the registered ones (e.g. meta-suites)."""
        known = sorted([*self._items, *also])
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown {self.kind} {name!r}: {hint}choose one of {', '.join(known)} (see `gbench list`)"

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
