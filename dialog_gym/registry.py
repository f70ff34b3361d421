"""One lazy registry mechanism, shared by scorers and agents.

Entries map a name to a factory given either as an object or as a ``"module:Attr"``
string that is imported only when the entry is first used. Third-party packages add
entries through an entry-point group; plugins are discovered on the first ``make`` or
``names`` call, never at ``import dialog_gym``. A plugin that fails to load is named in a
warning by listings and re-raised (``from`` the original error) when asked for by name.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Any, Generic, TypeVar

from dialog_gym.error import PluginError, RegistryError, did_you_mean

T = TypeVar("T")


def load_attr(spec: str) -> Any:
    """Import ``"package.module:Attr.sub"`` and return the attribute."""
    if ":" not in spec:
        raise ValueError(f"expected 'module:Attr', got {spec!r}")
    mod_name, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(mod_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """A name -> factory table with lazy imports and entry-point plugins.

    Args:
        kind: Human name of what is registered (``"scorer"``, ``"agent"``), used in errors.
        group: Entry-point group scanned for plugins (e.g. ``"dialog_gym.scorers"``).
    """

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, Any] = {}
        self._origin: dict[str, str] = {}
        self._broken: dict[str, BaseException] = {}
        self._discovered = False

    def register(self, name: str, factory: Any, *, origin: str = "builtin",
                 override: bool = False) -> None:
        """Add ``name``; ``factory`` is a callable or a ``"module:Attr"`` string."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} name must be a non-empty str, got {name!r}")
        if name in self._entries and not override and self._entries[name] is not factory:
            raise RegistryError(
                f"{self.kind} {name!r} is already registered (from {self._origin[name]}); "
                "pass override=True to replace it."
            )
        self._entries[name] = factory
        self._origin[name] = origin
        self._broken.pop(name, None)

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator("name")`` registers the decorated class or function."""

        def wrap(obj: T) -> T:
            self.register(name, obj, origin=getattr(obj, "__module__", "user"))
            return obj

        return wrap

    def discover(self, *, force: bool = False) -> None:
        """Scan the entry-point group once (or again with ``force``)."""
        if self._discovered and not force:
            return
        self._discovered = True
        try:
            eps = metadata.entry_points(group=self.group)
        except Exception as e:  # a broken installation must not break listing
            warnings.warn(f"could not read entry points of {self.group!r}: {e}", stacklevel=2)
            return
        for ep in eps:
            if ep.name in self._entries and self._origin[ep.name] == "builtin":
                warnings.warn(
                    f"plugin {self.kind} {ep.name!r} from {ep.value} is shadowed by the "
                    "built-in of the same name", stacklevel=2,
                )
                continue
            self._entries.setdefault(ep.name, ep.value)
            self._origin.setdefault(ep.name, f"plugin {ep.value}")

    def resolve(self, name: str) -> Any:
        """Return the factory for ``name``, importing it if needed.

        Raises:
            RegistryError: unknown name (with a close match suggested).
            PluginError: the entry exists but failed to import.
        """
        self.discover()
        if name not in self._entries:
            raise RegistryError(
                f"Unknown {self.kind} {name!r}; registered: {', '.join(self.names())}."
                + did_you_mean(name, self._entries)
            )
        factory = self._entries[name]
        if isinstance(factory, str):
            try:
                factory = load_attr(factory)
            except Exception as e:
                self._broken[name] = e
                raise PluginError(
                    f"{self.kind} {name!r} ({self._origin[name]}) failed to load: "
                    f"{type(e).__name__}: {e}"
                ) from e
            self._entries[name] = factory
        return factory

    def make(self, name: str, **kwargs: Any) -> Any:
        """Resolve ``name`` and call its factory with ``kwargs``."""
        return self.resolve(name)(**kwargs)

    def names(self, *, check: bool = False) -> list[str]:
        """Registered names, sorted.

        With ``check=True`` every entry is imported; broken ones are left out of the list
        and named in a warning.
        """
        self.discover()
        if not check:
            return sorted(self._entries)
        ok = []
        for name in sorted(self._entries):
            try:
                self.resolve(name)
                ok.append(name)
            except PluginError as e:
                warnings.warn(f"skipping {self.kind} {name!r}: {e}", stacklevel=2)
        return ok

    def origin(self, name: str) -> str:
        """Where an entry came from (``builtin``, ``plugin module:Attr`` or a module name)."""
        self.discover()
        return self._origin[name]

    @property
    def broken(self) -> dict[str, BaseException]:
        """Entries that failed to load, with their errors."""
        return dict(self._broken)

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries
