"""Reading a command's flags: the settings they set, by settings key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..settings import FLAG_KEYS

Flags = Mapping[str, Any]


def settings_flags(flags: Flags) -> dict[str, Any]:
    """The settings a command's flags set, by settings key. Unset flags (None, or an unset
    --insecure) are left to the file."""
    picked = {key: flags[name] for name, key in FLAG_KEYS.items() if flags.get(name) is not None}
    if picked.get("insecure") is False:  # a plain switch: off means "not given"
        del picked["insecure"]
    return picked
