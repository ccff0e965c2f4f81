"""Fingerprints: the settings that decide a folder's content, compared before a folder is
resumed or a reference is checked against, so that results made otherwise are never mixed.

Each kind of folder names its own keys once (``bench.run.runner.FINGERPRINT_KEYS``,
``bench.regression.references.FINGERPRINT_KEYS``, the studies' ``fingerprint`` functions);
this module only compares and hashes them."""

from __future__ import annotations

import hashlib
import json


def fingerprint_differences(old, new, name: str = "") -> list[str]:
    """What differs between two fingerprints, by setting name (``method_params.noise_mask.max_iterations``)."""
    if old == new:
        return []
    if name == "image_sha256":  # ids only in one of them show under image_ids
        changed = [i for i in new if i in old and old[i] != new[i]]
        return [f"the pixels of image ids {_few(changed)}"] if changed else []
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(old) + [k for k in new if k not in old]
        return [d for k in keys for d in fingerprint_differences(old.get(k), new.get(k), f"{name}.{k}".lstrip("."))]
    return [f"{name} {_few(old)} (this run: {_few(new)})"]


def fingerprint_sha256(fingerprint: dict) -> str:
    """One hash of a fingerprint (its JSON with sorted keys)."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()


def _few(value, count: int = 5) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value[:count])) + (f" and {len(value) - count} more" if len(value) > count else "")
    return repr(value)
