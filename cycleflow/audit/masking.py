"""Masking of the fields a policy marks ``sensitive``, wherever they appear in an event.

Called by the engine on each event it builds (``mask_values``) and available as a
sink processor (``processors.mask_sensitive``); both share this one implementation.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Final, TypeVar

import orjson

E = TypeVar("E", bound=MutableMapping[str, Any])

REDACTED: Final = "***"


def mask_value(value: Any, salt: bytes | None) -> str:
    """The masked form of one sensitive value: ``sha256:<16 hex>`` with a salt, ``***`` without.

    The hash is HMAC-SHA256 keyed by ``salt`` over the value's canonical JSON, so the same
    value masks the same way across events (an auditor can correlate) while a
    dictionary attack on low-entropy values (emails, phone numbers) needs the secret salt.
    """
    if salt is None:
        return REDACTED
    data = orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hmac.new(salt, data, hashlib.sha256).hexdigest()[:16]


def _mask_nested(container: Any, parts: list[str], salt: bytes | None, clear: list[str]) -> Any:
    """Mask the value at ``parts`` inside nested dicts; returns a masked copy (or the same)."""
    if not parts or not isinstance(container, Mapping):
        return container
    head, rest = parts[0], parts[1:]
    if head not in container:
        return container
    copy = dict(container)
    if rest:
        copy[head] = _mask_nested(copy[head], rest, salt, clear)
    else:
        if isinstance(copy[head], str):
            clear.append(copy[head])
        copy[head] = mask_value(copy[head], salt)
    return copy


def mask_event(event: E, paths: Iterable[str], *, salt: bytes | None = None) -> E:
    """Mask every sensitive path in ``event`` in place and return it.

    A path ``deal.customer.contact_email`` is masked wherever it can appear: as a key of
    ``values`` (or a key naming a parent or child of it), nested inside a ``values`` entry,
    nested in a top-level field that is a dict (``deal``, ``actor``), and as literal text
    of ``message`` when the clear value is a string of 4 or more characters.
    """
    values = event.get("values")
    clear: list[str] = []
    for path in paths:
        if isinstance(values, Mapping):
            new_values: dict[str, Any] | None = None
            for key, val in values.items():
                if key == path or key.startswith(path + "."):
                    if isinstance(val, str):
                        clear.append(val)
                    masked: Any = mask_value(val, salt)
                elif path.startswith(key + "."):
                    masked = _mask_nested(val, path[len(key) + 1:].split("."), salt, clear)
                else:
                    continue
                if masked is not val:
                    new_values = new_values if new_values is not None else dict(values)
                    new_values[key] = masked
            if new_values is not None:
                values = new_values
                event["values"] = values
        top, _, rest = path.partition(".")
        if rest and isinstance(event.get(top), Mapping):
            event[top] = _mask_nested(event[top], rest.split("."), salt, clear)
    message = event.get("message")
    if isinstance(message, str) and clear:
        for text in clear:
            if len(text) >= 4 and text in message:
                message = message.replace(text, mask_value(text, salt))
        event["message"] = message
    return event


def mask_values(event: E, paths: Iterable[str], *, salt: bytes | str | None = None) -> E:
    """The engine's entry point: mask ``paths`` in ``event`` (in place) and return it."""
    key = salt.encode() if isinstance(salt, str) else salt
    return mask_event(event, paths, salt=key)


__all__ = ["REDACTED", "mask_event", "mask_value", "mask_values"]
