"""Name -> method class. Built-ins are listed here; third parties register through the
``noise_mask_bench.methods`` entry-point group (value: ``module:Class``)."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from .base import SaliencyMethod

ENTRY_POINT_GROUP = "noise_mask_bench.methods"

BUILTIN: dict[str, str] = {
    # name: "module:Class" (imported lazily so a broken method cannot break the others);
    # in the order of the thesis's tables
    "deeplift": "methods.deeplift:DeepLIFTRescale",
    "intgrad": "methods.intgrad:IntegratedGradients",
    "elrp": "methods.elrp:EpsilonLRP",
    "sensitivity": "methods.sensitivity:Sensitivity",
    "perturbation": "methods.occlusion:Occlusion",
    "noise_mask": "methods.noise_mask:NoiseMask",
}


def _load(ref: str) -> type[SaliencyMethod]:
    module, cls = ref.split(":")
    return getattr(importlib.import_module(module), cls)


def _plugins() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Names of every registered method, built-in first, then plug-ins."""
    return list(BUILTIN) + sorted(set(_plugins()) - set(BUILTIN))


def get_method(name: str) -> type[SaliencyMethod]:
    if name in BUILTIN:
        return _load(BUILTIN[name])
    plugins = _plugins()
    if name in plugins:
        cls = plugins[name].load()
        if not (isinstance(cls, type) and issubclass(cls, SaliencyMethod)):
            raise TypeError(f"entry point {name!r} in {ENTRY_POINT_GROUP} must name a SaliencyMethod subclass, got {cls!r}")
        return cls
    raise KeyError(f"unknown method {name!r}; available: {', '.join(available())}")
