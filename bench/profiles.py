"""Run profiles: versioned TOML files in bench/profiles/ (or any path), plus CLI overrides.

A profile whose ``[run]`` says ``protocol = "thesis"`` takes the model, the image count,
the methods and the curve steps from :mod:`common.thesis` (the ``paper`` profile), so it
cannot disagree with the thesis; it must not set them itself.
"""

from __future__ import annotations

import ast
import copy
import tomllib
from importlib.resources import files
from pathlib import Path

from common import thesis
from common.errors import InputError, UnknownNameError

PROFILE_DIR = files("bench") / "profiles"


def available_profiles() -> list[str]:
    return sorted(p.name[:-5] for p in PROFILE_DIR.iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str) -> dict:
    """A profile by name (``quick``) or by path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.is_file():
        text, source = path.read_text(), str(path)
    else:
        resource = PROFILE_DIR / f"{name_or_path}.toml"
        if not resource.is_file():
            raise UnknownNameError(
                f"unknown profile {name_or_path!r}; available: {', '.join(available_profiles())} (or a path to a .toml file)"
            )
        text, source = resource.read_text(), f"bench/profiles/{name_or_path}.toml"
    try:
        profile = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{source}: invalid TOML ({err})") from None
    for section in ("run", "metrics"):
        if section not in profile:
            raise InputError(f"{source}: missing [{section}] section")
    profile.setdefault("methods", {})
    protocol = profile["run"].get("protocol")
    if protocol is not None:
        apply_protocol(profile, protocol, source)
    profile["name"] = path.stem if path.suffix == ".toml" else name_or_path
    profile["source"] = source
    return profile


PROTOCOL_KEYS = {"run": ("model", "images", "methods"), "metrics": ("steps", "pixels_per_step")}


def apply_protocol(profile: dict, protocol: str, source: str) -> None:
    if protocol != "thesis":
        raise InputError(f'{source}: [run] protocol must be "thesis"; got {protocol!r}')
    for section, keys in PROTOCOL_KEYS.items():
        clash = [k for k in keys if k in profile[section]]
        if clash:
            raise InputError(f'{source}: protocol = "thesis" sets [{section}] {", ".join(clash)}; remove them from the profile')
        profile[section].update({k: copy.deepcopy(thesis.PROTOCOL[k]) for k in keys})


def parse_value(text: str):
    """CLI values: Python literals (numbers, True/False/None, lists), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_overrides(profile: dict, params: list[str] | None = None, **run_overrides) -> dict:
    """Return a copy with ``--param method.key=value`` settings and non-None run overrides."""
    profile = copy.deepcopy(profile)
    for key, value in run_overrides.items():
        if value is not None:
            profile["run"][key] = value
    for item in params or []:
        target, sep, value = item.partition("=")
        section, dot, key = target.partition(".")
        if not (sep and dot and section and key):
            raise InputError(
                f"--param {item!r}: expected METHOD.KEY=VALUE (e.g. noise_mask.max_iterations=5000) or metrics.KEY=VALUE"
            )
        where = profile["metrics"] if section == "metrics" else profile["methods"].setdefault(section, {})
        where[key] = parse_value(value)
    return profile
