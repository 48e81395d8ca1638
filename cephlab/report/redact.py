"""Secret values out of every text a report shows: the lab's generated secrets (its
secrets.json) and any value a step registers (e.g. a short-lived token)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

MASK = "***"
#: Shorter values are not secrets the lab made (it generates 20+ characters); masking them
#: would blank out ordinary words.
MIN_LENGTH = 8


class Redactor:
    def __init__(self, values: Iterable[str] = ()):
        self._values: set[str] = set()
        self.add(*values)

    def add(self, *values: str) -> None:
        for value in values:
            if isinstance(value, str) and len(value) >= MIN_LENGTH:
                self._values.add(value)

    def add_secrets_file(self, path: Path) -> None:
        """Every string value in a secrets.json (missing or unreadable: nothing to add)."""
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return
        self.add(*_strings(doc))

    def __len__(self) -> int:
        return len(self._values)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for value in sorted(self._values, key=len, reverse=True):  # longest first
            text = text.replace(value, MASK)
        return text


def _strings(doc) -> list[str]:
    if isinstance(doc, str):
        return [doc]
    if isinstance(doc, dict):
        return [s for v in doc.values() for s in _strings(v)]
    if isinstance(doc, list):
        return [s for v in doc for s in _strings(v)]
    return []
