"""Name -> method class. Built-ins are listed here; third parties register through the
``noise_mask_bench.methods`` entry-point group (value: ``module:Class``), or are named
directly as ``module:Class`` (importable from ``sys.path``; the method keeps its class's
``name``).

Method names are Python identifiers (``[a-z_][a-z0-9_]*``): the run folder keeps its own
entries (such as the random-order baseline) under names no method can take.
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import EntryPoint, entry_points
from typing import Any

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
    module, name = ref.split(":")
    cls: type[SaliencyMethod] = getattr(importlib.import_module(module), name)
    return cls


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Names of every registered method, built-in first, then plug-ins (aliases not listed)."""
    return list(BUILTIN) + sorted(set(_plugins()) - set(BUILTIN) - set(ALIASES))


def get_method(name: str) -> type[SaliencyMethod]:
    """The method class registered as ``name`` (an alias, a built-in or a plug-in), or the
    class ``name`` = ``module:Class`` names."""
    name = ALIASES.get(name, name)
    if name in BUILTIN:
        return _load(BUILTIN[name])
    if ":" in name:
        return _import_class(name)
    plugins = _plugins()
    if name in plugins:
        if not NAME_PATTERN.fullmatch(name):
            raise UnknownNameError(f"entry point {name!r} in {ENTRY_POINT_GROUP}: method names must match {NAME_PATTERN.pattern}")
        cls = plugins[name].load()
        if not (isinstance(cls, type) and issubclass(cls, SaliencyMethod)):
            raise TypeError(f"entry point {name!r} in {ENTRY_POINT_GROUP} must name a SaliencyMethod subclass, got {cls!r}")
        return cls
    raise UnknownNameError(
        f"unknown method {name!r}; available: {', '.join(available())} (and the alias 'perturbation'), "
        "or module:Class for a class importable from the current path"
    )


def _import_class(ref: str) -> type[SaliencyMethod]:
    """``module:Class``; a name that cannot be imported, or a class that is no method, is the
    user's input error (exit 2), named; an error raised inside the module keeps its traceback."""
    module_name, _, class_name = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is None or not module_name.startswith(err.name):
            raise  # the module exists and itself imports something missing: a bug to show whole
        raise UnknownNameError(f"method {ref!r}: no module {module_name!r} importable from the current path") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, SaliencyMethod)):
        raise UnknownNameError(f"method {ref!r}: {module_name} has no SaliencyMethod subclass named {class_name!r}")
    if not NAME_PATTERN.fullmatch(getattr(cls, "name", "")):
        raise UnknownNameError(f"method {ref!r}: its class attribute name must match {NAME_PATTERN.pattern}")
    return cls


def method_name(name: str) -> str:
    """The name a method is stored under: its class's ``name`` for ``module:Class``, else as given."""
    return get_method(name).name if ":" in name else name


def build_method(name: str, params: dict[str, Any] | None = None) -> SaliencyMethod:
    """The method ``name`` built with ``params`` (validated now), named as asked: an alias
    keeps its name in the results (``perturbation`` stays ``perturbation``); ``module:Class``
    takes its class's ``name``."""
    method = get_method(name)(**(params or {}))
    name = method_name(name)
    if method.name != name:
        method.name = name
    return method
