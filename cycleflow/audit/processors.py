"""Small structlog-style steps applied to audit events before they are stored.

Each is ``(logger, method_name, event_dict) -> event_dict``, so they compose with
structlog's own processors and can be handed to any sink's ``processors=[...]``.
None reads the wall clock: the engine stamps ``at`` with the decision's fixed time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from cycleflow.audit.base import Processor
from cycleflow.audit.masking import REDACTED, Masker, mask_event, mask_value


def mask_sensitive(paths: Iterable[str], *, salt: bytes | str | None = None) -> Processor:
    """A processor masking the policy's ``sensitive`` fields (see ``masking.mask_event``).

    Without ``salt`` values become ``***``: an unsalted hash of an email is reversible by
    guessing, so we do not pretend it protects anything. With a secret ``salt`` they
    become ``sha256:<first 16 hex of HMAC-SHA256(salt, value)>``, stable and comparable.
    """
    masker = Masker(paths, salt=salt, keep_masked=True)  # the engine has masked already

    def mask(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
        return masker(event)

    mask.__name__ = "mask_sensitive"
    return mask


def add_fields(**fields: Any) -> Processor:
    """A processor adding constant fields (app name, host); never overrides engine fields."""

    def add(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
        for name, value in fields.items():
            event.setdefault(name, value)
        return event

    add.__name__ = "add_fields"
    return add


def keep_events(
    names: Iterable[str] | None = None,
    *,
    where: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Processor:
    """A processor dropping events whose name is not in ``names`` or for which ``where`` is false.

    Dropping uses ``structlog.DropEvent``, so a filtered event never reaches the chain.
    """
    from structlog import DropEvent  # imported here: structlog is slow to import

    wanted = frozenset(names) if names is not None else None

    def keep(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
        if wanted is not None and event.get("event") not in wanted:
            raise DropEvent
        if where is not None and not where(event):
            raise DropEvent
        return event

    keep.__name__ = "keep_events"
    return keep


def drop_none(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """Remove fields whose value is None, to keep logs of mostly-empty events small."""
    for name in [k for k, v in event.items() if v is None]:
        del event[name]
    return event


__all__ = [
    "REDACTED", "Masker", "add_fields", "drop_none", "keep_events", "mask_event", "mask_sensitive",
    "mask_value",
]
