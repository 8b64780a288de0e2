"""CreateProcess request bodies, checked as the platform checks them: what is refused with a
400 INVALID_ARGUMENT, and why, for each of the two integration methods."""

from __future__ import annotations

import base64
import binascii
from typing import Any, cast


class Invalid(Exception):
    """A request body the platform refuses; the message says which field and why."""


def json_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"{where} must be a JSON object")
    return cast(dict[str, Any], value)


def _text(body: dict[str, Any], key: str, where: str, *, required: bool) -> None:
    if key not in body:
        if required:
            raise Invalid(f"{where}{key} is required")
        return
    if not isinstance(body[key], str) or not body[key]:
        raise Invalid(f"{where}{key} must be a non-empty string")


def validate_unico_create(raw: Any) -> dict[str, Any]:
    body = json_object(raw, "the body")
    _text(body, "flow", "", required=True)
    for key in ("callbackUri", "purpose"):
        _text(body, key, "", required=False)
    person = json_object(body.get("person"), "person")
    for key in ("duiType", "duiValue"):
        _text(person, key, "person.", required=True)
    for key in ("friendlyName", "phone", "email"):
        _text(person, key, "person.", required=False)
    channels = person.get("notifications", [])
    if not isinstance(channels, list):
        raise Invalid("person.notifications must be a list")
    for i, channel in enumerate(channels):
        _text(json_object(channel, f"person.notifications[{i}]"), "notificationChannel",
              f"person.notifications[{i}].", required=True)  # fmt: skip
    if "expiresIn" in body and not isinstance(body["expiresIn"], str | int):
        raise Invalid('expiresIn must be a duration such as "3600s"')
    return body


def validate_client_create(raw: Any) -> dict[str, Any]:
    body = json_object(raw, "the body")
    subject = json_object(body.get("subject"), "subject")
    for key in ("code", "name"):
        _text(subject, key, "subject.", required=True)
    for key in ("gender", "birthDate", "email", "phone"):
        _text(subject, key, "subject.", required=False)
    _text(body, "imageBase64", "", required=True)
    try:
        base64.b64decode(body["imageBase64"], validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("imageBase64 is not base64") from None
    return body
