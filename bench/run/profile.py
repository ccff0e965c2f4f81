"""Run profiles: versioned TOML files in bench/run/profiles/ (or any path), plus CLI overrides.

A profile whose ``[run]`` says ``protocol = "thesis"`` takes the model, the image count,
the methods and the curve steps from :mod:`common.thesis` (the ``paper`` profile), so it
cannot disagree with the thesis; it must not set them itself.
"""

from __future__ import annotations

import ast
import copy
import difflib
import tomllib
from importlib.resources import files
from pathlib import Path

from common import thesis
from common.errors import InputError, ParameterError, UnknownNameError
from metrics.perturbation import DEFAULT_REPLACEMENT, REPLACEMENTS

PROFILE_DIR = files("bench.run") / "profiles"


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
        text, source = resource.read_text(), f"bench/run/profiles/{name_or_path}.toml"
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


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value) -> bool:
    return _int(value) and value >= 1


def _count(high: int) -> tuple:
    """A positive int up to ``high``: a larger count is a typo that would start days of work
    or allocate for it, so it is refused before anything runs."""
    return (lambda v: _positive_int(v) and v <= high, f"a positive int at most {high:,}")


METRIC_SETTINGS = {
    "steps": _count(100_000),  # 125x the thesis's 800 steps
    "pixels_per_step": (lambda v: v == "auto" or (_positive_int(v) and v <= 10_000_000), '"auto" or a positive int'),
    "road_steps": _count(100_000),
    "road_pixels_per_step": (lambda v: v == "auto" or (_positive_int(v) and v <= 10_000_000), '"auto" or a positive int'),
    "png_compress_level": (lambda v: _int(v) and 0 <= v <= 9, "an int in 0..9"),
    "bootstrap_samples": _count(1_000_000),  # 500x the default; each resample is a mean over the images
    "batch_size": _count(4096),
    "grid_images": _count(64),
    "replacement": (
        lambda v: bool(_named_replacements(v)) and all(r in REPLACEMENTS for r in _named_replacements(v)),
        f"one of {', '.join(map(repr, REPLACEMENTS))}, or several as a list or joined by commas",
    ),
}
REQUIRED_METRICS = ("steps", "pixels_per_step", "png_compress_level", "batch_size")
RUN_SETTINGS = {
    "model": (lambda v: isinstance(v, str), "a model name"),
    "images": _count(1_000_000),  # images.csv's own row cap
    "selection": (lambda v: v in ("first", "random"), '"first" or "random"'),
    "image_ids": (lambda v: isinstance(v, list) and v and all(isinstance(i, str) for i in v), "a non-empty list of image ids"),
    "methods": (lambda v: isinstance(v, list) and v and all(isinstance(m, str) for m in v), "a non-empty list of method names"),
    "seed": (lambda v: _int(v) and v >= 0, "a non-negative int"),
    "requires_nips": (lambda v: isinstance(v, bool), "true or false"),
    "protocol": (lambda v: v == "thesis", '"thesis"'),
}
"""Each setting's check and what it must be. ``[run] images`` is what ``--limit`` sets;
``image_ids`` picks those images, in that order (then ``images`` and ``selection`` apply to them)."""


def _named_replacements(value) -> list:
    if isinstance(value, str):
        return [r.strip() for r in value.split(",")]
    return list(value) if isinstance(value, list) and all(isinstance(r, str) for r in value) else []


def replacements(metric_settings: dict) -> list[str]:
    """The pixel replacements a run's curves use (``metrics.replacement``: a name, a list, or names
    joined by commas: ``random-colour,road``), in :data:`metrics.perturbation.REPLACEMENTS` order;
    the thesis's random colours when unset."""
    chosen = set(_named_replacements(metric_settings.get("replacement", DEFAULT_REPLACEMENT)))
    return [r for r in REPLACEMENTS if r in chosen]


def with_replacements(metric_settings: dict, chosen: list[str]) -> dict:
    """``metric_settings`` with ``replacement`` set to ``chosen`` in its one written form: absent
    for the default alone (as every run made before ROAD), else the list."""
    out = {k: v for k, v in metric_settings.items() if k != "replacement"}
    if chosen != [DEFAULT_REPLACEMENT]:
        out["replacement"] = list(chosen)
    return out


def curve_grid(metric_settings: dict, replacement: str) -> tuple[int, int]:
    """(steps, pixels_per_step) of the curves under ``replacement`` in a run's (or a reference's)
    resolved metric settings. ROAD's curves have their own (``road_steps``,
    ``road_pixels_per_step``; by default ROAD's own protocol, 9 fractions of 10 % to 90 %:
    :data:`metrics.perturbation.ROAD_PROTOCOL_STEPS`); settings written before those keys existed
    (format of issue 24) gave ROAD the random-colour curve's steps, and still mean that."""
    if replacement == "road" and "road_steps" in metric_settings:
        return int(metric_settings["road_steps"]), int(metric_settings["road_pixels_per_step"])
    return int(metric_settings["steps"]), int(metric_settings["pixels_per_step"])


def with_explicit_road_grid(metric_settings: dict) -> dict:
    """``metric_settings`` with ROAD's curve grid written out: what settings stored before
    ``road_steps`` existed meant (ROAD on the random-colour curve's grid), so that a check of such
    a reference computes the same curves instead of the newer default."""
    if "road_steps" in metric_settings:
        return dict(metric_settings)
    steps, pixels = curve_grid(metric_settings, DEFAULT_REPLACEMENT)
    return {**metric_settings, "road_steps": steps, "road_pixels_per_step": pixels}


DEFAULT_BOOTSTRAP_SAMPLES = 2000
"""Bootstrap resamples of the images for every CI and claim, when ``metrics.bootstrap_samples`` is unset."""


def bootstrap_samples(metric_settings: dict) -> int:
    """``metrics.bootstrap_samples`` of a run's (or a reference's) metric settings, or the default."""
    return int(metric_settings.get("bootstrap_samples", DEFAULT_BOOTSTRAP_SAMPLES))


def empty_profile() -> dict:
    """A profile with no settings: the sections that commands without a profile fill from ``--param``."""
    return {"run": {}, "metrics": {}, "methods": {}}


def validate_profile(profile: dict) -> None:
    """Check every ``[run]`` and ``[metrics]`` setting before a run does any work, naming each bad
    one (a misspelt metrics key would otherwise be ignored; a bad value fail minutes in)."""
    problems = [f"metrics.{key} is not set" for key in REQUIRED_METRICS if key not in profile["metrics"]]
    problems += [f"run.{key} is not set" for key in ("model", "methods") if key not in profile["run"]]
    for section, known in (("run", RUN_SETTINGS), ("metrics", METRIC_SETTINGS)):
        for key, value in profile[section].items():
            if key not in known:
                problems.append(f"{section}.{key} is not a setting{_did_you_mean(key, known)}; settings: {', '.join(known)}")
            elif value is not None and not known[key][0](value):
                limit = " (--limit)" if (section, key) == ("run", "images") else ""
                problems.append(f"{section}.{key}{limit} must be {known[key][1]}; got {value!r}")
    if problems:
        raise ParameterError(f"profile {profile['name']!r} ({profile['source']} and --param/--limit): " + "; ".join(problems))


def _did_you_mean(key: str, known) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""
