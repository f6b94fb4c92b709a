"""Masking of the fields a policy marks ``sensitive``, wherever they appear in an event.

Called by the engine on each event it builds (``mask_values``) and available as a
sink processor (``processors.mask_sensitive``); both share this one implementation.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any, Final, TypeVar

import orjson

from cycleflow.expr.runtime import MISSING_TEXT
from cycleflow.jsonsafe import scrub

E = TypeVar("E", bound=MutableMapping[str, Any])

REDACTED: Final = "***"
#: A value masked already: the engine's ``***`` or a salted hash ``sha256:<16 hex>``.
_MASKED: Final = re.compile(r"\*\*\*|sha256:[0-9a-f]{16}")


def _absent(value: Any) -> bool:
    """A field the deal does not carry (or null): shown as it is, its absence is no secret."""
    return value is None or (type(value) is str and value == MISSING_TEXT)


def mask_value(value: Any, salt: bytes | None, *, keep_masked: bool = False) -> str:
    """The masked form of one sensitive value: ``sha256:<16 hex>`` with a salt, ``***`` without.

    The hash is HMAC-SHA256 keyed by ``salt`` over the value's canonical JSON, so the same
    value masks the same way across events (an auditor can correlate) while a
    dictionary attack on low-entropy values (emails, phone numbers) needs the secret salt.
    ``keep_masked`` (a sink's processor: the engine masked before it runs) returns a value
    masked already (``***``, ``sha256:…``) as it is, since hashing the mask would make every
    value alike. The engine itself never keeps one: a deal could carry another contact's
    hash in a sensitive field, and the report would claim the same contact.
    """
    if salt is None:
        return REDACTED
    if keep_masked and type(value) is str and _MASKED.fullmatch(value):
        return value
    try:
        data = orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits, and other values orjson refuses
        try:
            data = repr(value).encode(errors="surrogatepass")
        except ValueError:  # an integer beyond Python's 4,300-digit limit for int → str
            data = orjson.dumps(scrub(value), default=str, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hmac.new(salt, data, hashlib.sha256).hexdigest()[:16]


_SCALARS: Final = (str, int, float, bool, list, tuple, type(None))


def _is_map(value: Any) -> bool:
    """``isinstance(value, Mapping)`` with the common cases answered without the slow ABC check."""
    return isinstance(value, dict) or (
        not isinstance(value, _SCALARS) and isinstance(value, Mapping)
    )


def _plain_object(value: Any) -> Any:
    """An object that is not JSON (a dataclass, a namespace, a model) as the dict it holds,
    or its text: what the log would otherwise write of it, unmasked."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        try:
            return to_dict()
        except Exception:  # noqa: BLE001 - an app's method; fall back to its attributes
            pass
    attributes = getattr(value, "__dict__", None)
    return dict(attributes) if isinstance(attributes, dict) else str(value)


def _mask_nested(container: Any, parts: list[str], mask: Callable[[Any], str],
                 clear: list[str]) -> Any:
    """Mask the value at ``parts`` inside nested dicts; returns a masked copy (or the same).

    An object on the way (a dataclass, a namespace) is read as the dict it holds, so its
    sensitive attribute is masked too; one that holds no dict is masked whole.
    """
    if not parts:
        return container
    if not _is_map(container):
        if isinstance(container, _SCALARS):
            return container
        container = _plain_object(container)
        if not _is_map(container):
            return mask(container)
    head, rest = parts[0], parts[1:]
    if head not in container:
        return container
    copy = dict(container)
    if rest:
        copy[head] = _mask_nested(copy[head], rest, mask, clear)
    else:
        if isinstance(copy[head], str):
            clear.append(copy[head])
        copy[head] = mask(copy[head])
    return copy


class Masker:
    """A compiled mask for one policy's ``sensitive`` paths: build once, call per event.

    Calling it masks the event in place and returns it (see :func:`mask_event` for
    where paths are looked for). Immutable after construction, so one masker can be
    shared by every thread of an engine.
    """

    __slots__ = ("_mask", "_parents", "_paths", "_prefixes", "_tops")

    def __init__(self, paths: Iterable[str], *, salt: bytes | str | None = None,
                 keep_masked: bool = False) -> None:
        self._paths: tuple[str, ...] = tuple(dict.fromkeys(p for p in paths if p))
        self._prefixes = self._paths  # str.startswith takes the whole tuple in one call
        parents: dict[str, list[str]] = {}
        for path in self._paths:
            parts = path.split(".")
            for i in range(1, len(parts)):
                parents.setdefault(".".join(parts[:i]), []).append(".".join(parts[i:]))
        self._parents = {k: tuple(v) for k, v in parents.items()}
        self._tops = tuple(
            (path[: path.find(".")], path[path.find(".") + 1:].split("."))
            for path in self._paths if path.find(".") > 0
        )
        self._mask: Callable[[Any], str] = functools.partial(
            mask_value, salt=salt.encode() if isinstance(salt, str) else salt,
            keep_masked=keep_masked)

    @property
    def paths(self) -> tuple[str, ...]:
        """The sensitive paths this masker hides."""
        return self._paths

    def _values(self, values: Mapping[str, Any], clear: list[str]) -> dict[str, Any] | None:
        new: dict[str, Any] | None = None
        mask = self._mask
        for key, val in values.items():
            if not isinstance(key, str):
                continue
            if _absent(val):
                continue
            masked: Any = val
            if key.startswith(self._prefixes):
                for path in self._paths:  # rare: confirm a whole-segment match
                    if key.startswith(path) and (len(key) == len(path) or key[len(path)] == "."):
                        if isinstance(val, str):
                            clear.append(val)
                        masked = mask(val)
                        break
            elif key in self._parents:
                for rest in self._parents[key]:
                    masked = _mask_nested(masked, rest.split("."), mask, clear)
            if masked is not val:
                new = new if new is not None else dict(values)
                new[key] = masked
        return new

    def __call__(self, event: E) -> E:
        """Mask ``event`` in place and return it."""
        if not self._paths:
            return event
        clear: list[str] = []
        values = event.get("values")
        if values and _is_map(values):
            masked = self._values(values, clear)
            if masked is not None:
                event["values"] = masked
        for top, rest in self._tops:
            container = event.get(top)
            if container is not None and _is_map(container):
                event[top] = _mask_nested(container, rest, self._mask, clear)
        if clear:
            _mask_message(event, clear, self._mask)
        return event


def mask_event(event: E, paths: Iterable[str], *, salt: bytes | None = None) -> E:
    """Mask every sensitive path in ``event`` in place and return it.

    A path ``deal.customer.contact_email`` is masked wherever it can appear: as a key of
    ``values`` (or a key naming a parent or child of it), nested inside a ``values`` entry,
    nested in a top-level field that is a dict (``deal``, ``actor``), and as literal text
    of ``message`` when the clear value is a string of 4 or more characters. Same result
    as :class:`Masker`, without its set-up cost; for a stream of events, build a Masker.
    """
    paths = paths if isinstance(paths, tuple) else tuple(paths)
    mask: Callable[[Any], str] = functools.partial(mask_value, salt=salt)
    clear: list[str] = []
    values = event.get("values")
    if values and _is_map(values):
        new: dict[str, Any] | None = None
        for key, val in values.items():
            if not isinstance(key, str) or _absent(val):
                continue
            masked: Any = val
            for path in paths:
                if key.startswith(path):
                    if len(key) == len(path) or key[len(path)] == ".":
                        if isinstance(val, str):
                            clear.append(val)
                        masked = mask(val)
                        break
                elif path.startswith(key) and path[len(key)] == ".":
                    masked = _mask_nested(masked, path[len(key) + 1:].split("."), mask, clear)
            if masked is not val:
                new = new if new is not None else dict(values)
                new[key] = masked
        if new is not None:
            event["values"] = new
    for path in paths:
        dot = path.find(".")
        if dot > 0:
            top = event.get(path[:dot])
            if top is not None and _is_map(top):
                event[path[:dot]] = _mask_nested(top, path[dot + 1:].split("."), mask, clear)
    if clear:
        _mask_message(event, clear, mask)
    return event


def _mask_message(event: MutableMapping[str, Any], clear: list[str],
                  mask: Callable[[Any], str]) -> None:
    """Replace clear sensitive strings (4+ characters) quoted in the event's message."""
    message = event.get("message")
    if isinstance(message, str):
        for text in clear:
            if len(text) >= 4 and text in message:
                message = message.replace(text, mask(text))
        event["message"] = message


def mask_values(event: E, paths: Iterable[str], *, salt: bytes | str | None = None) -> E:
    """The engine's entry point: mask ``paths`` in ``event`` (in place) and return it."""
    return mask_event(event, paths, salt=salt.encode() if isinstance(salt, str) else salt)


__all__ = ["REDACTED", "Masker", "mask_event", "mask_value", "mask_values"]
