"""Name -> method class. Built-ins are listed here; third parties register through the
``noise_mask_bench.methods`` entry-point group (value: ``module:Class``).

Method names are Python identifiers (``[a-z_][a-z0-9_]*``): the run folder keeps its own
entries (such as the random-order baseline) under names no method can take.
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points

from common.errors import UnknownNameError

from .base import SaliencyMethod

ENTRY_POINT_GROUP = "noise_mask_bench.methods"
NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")

BUILTIN: dict[str, str] = {
    # name: "module:Class" (imported lazily so a broken method cannot break the others);
    # in the order of the thesis's tables
    "deeplift": "methods.deeplift:DeepLIFTRescale",
    "intgrad": "methods.intgrad:IntegratedGradients",
    "elrp": "methods.elrp:EpsilonLRP",
    "sensitivity": "methods.sensitivity:Sensitivity",
    "occlusion": "methods.occlusion:Occlusion",
    "noise_mask": "methods.noise_mask:NoiseMask",
}

ALIASES: dict[str, str] = {"perturbation": "occlusion"}
"""Other names of built-ins: the thesis calls occlusion "perturbation" (its tables and the
profiles use that name; a run records the name it was given)."""


def _load(ref: str) -> type[SaliencyMethod]:
    module, cls = ref.split(":")
    return getattr(importlib.import_module(module), cls)


def _plugins() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Names of every registered method, built-in first, then plug-ins (aliases not listed)."""
    return list(BUILTIN) + sorted(set(_plugins()) - set(BUILTIN) - set(ALIASES))


def get_method(name: str) -> type[SaliencyMethod]:
    """The method class registered as ``name`` (an alias, a built-in or a plug-in)."""
    name = ALIASES.get(name, name)
    if name in BUILTIN:
        return _load(BUILTIN[name])
    plugins = _plugins()
    if name in plugins:
        if not NAME_PATTERN.fullmatch(name):
            raise UnknownNameError(f"entry point {name!r} in {ENTRY_POINT_GROUP}: method names must match {NAME_PATTERN.pattern}")
        cls = plugins[name].load()
        if not (isinstance(cls, type) and issubclass(cls, SaliencyMethod)):
            raise TypeError(f"entry point {name!r} in {ENTRY_POINT_GROUP} must name a SaliencyMethod subclass, got {cls!r}")
        return cls
    raise UnknownNameError(f"unknown method {name!r}; available: {', '.join(available())} (and the alias 'perturbation')")


def build_method(name: str, params: dict | None = None) -> SaliencyMethod:
    """The method ``name`` built with ``params`` (validated now), named as asked: an alias
    keeps its name in the results (``perturbation`` stays ``perturbation``)."""
    method = get_method(name)(**(params or {}))
    if method.name != name:
        method.name = name
    return method
