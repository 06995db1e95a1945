"""moto's server itself."""

from __future__ import annotations

from moto import backends as moto_backends

from pablo.local.moto_patches.registry import Patch, Replacement


def _module_list_cached() -> list[Replacement]:
    """moto's server lists its own package directory once, not on every request.

    Why: `DomainDispatcherApplication.get_backend_for_host` asks
    `moto.backends.list_of_moto_modules()` on every request, which lists moto's folder and
    stats each of its ~190 entries: measured at about 6% of the emulator's CPU in the demo.
    The folder does not change while the server runs, so the answer is computed once.
    """
    modules = frozenset(moto_backends.list_of_moto_modules())
    return [Replacement(moto_backends, "list_of_moto_modules", lambda: modules)]


MODULE_LIST_CACHED = Patch("moto-module-list-cached", "core", _module_list_cached)
