"""Reading the suite's JSON files: a missing file is None, an unreadable one is named."""

from __future__ import annotations

import json
from pathlib import Path

from common.errors import CorruptFileError


def read_json_file(path: Path) -> dict | None:
    """A JSON file's content, None when it does not exist; an unreadable one is named."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CorruptFileError(f"{path} is unreadable ({err}); delete it (or the folder) and run again") from None


def read_json_object(path: Path) -> dict:
    """A JSON file that must exist and hold an object; a missing or unreadable one is named."""
    content = read_json_file(path)
    if not isinstance(content, dict):
        raise CorruptFileError(f"{path} is {'missing' if content is None else 'not a JSON object'}; it was not written whole")
    return content
