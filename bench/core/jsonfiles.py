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
