"""The registry of the emulator's patches: each patch names the moto attributes it replaces,
so applying it saves what was there and restoring it puts exactly that back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


class Replacement(NamedTuple):
    """`owner.attribute = value`: owner is a moto class or module."""

    owner: Any
    attribute: str
    value: Any


@dataclass(frozen=True)
class Patch:
    """One change to moto, with why it exists (`build`'s docstring). `build(**dependencies)`
    returns the replacements (what the emulator passes in: its clock, a handler, ...)."""

    name: str
    service: str
    build: Callable[..., Sequence[Replacement]]

    @property
    def why(self) -> str:
        return (self.build.__doc__ or "").strip()


class _Saved(NamedTuple):
    owner: Any
    attribute: str
    had: bool  # an attribute of the owner itself, not inherited or absent
    original: Any


_applied: dict[str, list[_Saved]] = {}
_lock = threading.Lock()


def apply(patch: Patch, **dependencies: Any) -> None:
    """Install `patch` (a no-op when it is installed already)."""
    with _lock:
        if patch.name in _applied:
            return
        saved = []
        for owner, attribute, value in patch.build(**dependencies):
            own = vars(owner)
            saved.append(_Saved(owner, attribute, attribute in own, own.get(attribute)))
            setattr(owner, attribute, value)
        _applied[patch.name] = saved


def restore(patch: Patch) -> None:
    """Put back what `patch` replaced, in reverse order (a no-op when it is not installed)."""
    with _lock:
        saved = _applied.pop(patch.name, [])
        for owner, attribute, had, original in reversed(saved):
            if had:
                setattr(owner, attribute, original)
            else:
                delattr(owner, attribute)


def applied() -> list[str]:
    """The names of the patches installed now."""
    with _lock:
        return sorted(_applied)
