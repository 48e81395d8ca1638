"""Credentials the lab generates: made at run time, kept in the lab dir (mode 0600), never
printed. Diagnostics and reports name a secret, never show it."""

from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path
from typing import Callable


def password(length: int = 24) -> str:
    return secrets.token_urlsafe(length)[:length]


def access_key() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


def secret_key() -> str:
    return secrets.token_urlsafe(30)[:40]


class SecretStore:
    def __init__(self, lab_dir: Path):
        self.path = Path(lab_dir) / "secrets.json"

    def _load(self) -> dict:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text())

    def get(self, name: str, make: Callable[[], str] = password) -> str:
        """The secret called ``name``, generated (and kept) the first time it is asked for."""
        data = self._load()
        if name not in data:
            data[name] = make()
            fd = os.open(self.path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
            os.replace(self.path.with_suffix(".tmp"), self.path)
        return data[name]

    def __repr__(self) -> str:  # never show values, even by accident
        return f"SecretStore({self.path}, {len(self._load())} secrets)"
