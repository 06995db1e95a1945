"""CloudFormation: a stack's resources are created once, whichever thread asks first."""

from __future__ import annotations

import threading
from typing import Any

from moto.cloudformation.parsing import ResourceMap

from pablo.local.moto_patches.registry import Patch, Replacement


def _resource_map_thread_safe() -> list[Replacement]:
    """A stack's resource is looked up (and created on first use) under one lock.

    Why: moto creates a stack's resources lazily, in `ResourceMap.__getitem__`, on the
    CreateStack request's thread; a DescribeStackResources or ListStackResources request
    (the CDK CLI polls them during a deploy) iterates the same map on another server thread
    and creates every resource not created yet. Two threads racing on one resource create
    it twice: a function can end up bound to a second copy of its role, one without the
    role's policy (unnoticed until IAM enforcement refuses its every call). The lock is
    re-entrant, as creating a resource looks up the ones it references.
    """
    original = ResourceMap.__getitem__
    lock = threading.RLock()

    def getitem(self: ResourceMap, key: str) -> Any:
        with lock:
            return original(self, key)

    return [Replacement(ResourceMap, "__getitem__", getitem)]


RESOURCE_MAP_THREAD_SAFE = Patch(
    "cloudformation-resource-map-thread-safe", "cloudformation", _resource_map_thread_safe
)
