"""Quoting a user's value inside a one-line message: escaped, and cut to a readable length."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_SHOWN = 60


def shown(value: Any) -> str:
    """A user's value quoted for a one-line message: escaped, and cut at 60 characters."""
    if isinstance(value, Path):
        text = repr(str(value))
        # A file's name is at its end, so a long path keeps its end.
        return text if len(text) <= MAX_SHOWN else "'..." + text[-(MAX_SHOWN - 4) :]
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."
