"""The hash chain's canonical encoding: how a record becomes bytes and a SHA-256.

A stored record is the event plus ``seq`` (0-based position) and ``prev`` (the
previous record's hash, ``GENESIS`` for the first). Its ``hash`` is the SHA-256
hex of ``orjson.dumps(record_without_hash, option=OPT_SORT_KEYS)``. A JSON
Lines record is that canonical body with ``,"hash":"<hex>"`` spliced in before
the closing brace, so writing costs one encoding and verifying one decode and
one re-encode.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Final, NamedTuple

import orjson

from cycleflow.audit.base import CHAIN_FIELDS, GENESIS, AuditError
from cycleflow.jsonsafe import scrub

_SORT: Final = orjson.OPT_SORT_KEYS
_HASH_KEY: Final = b',"hash":"'


def _default(value: Any) -> Any:
    """Turn the few non-JSON values an engine may put in ``values`` into JSON ones, stably."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return list(value)
    return str(value)


def canonical(record: Mapping[str, Any]) -> bytes:
    """The canonical bytes of ``record``: orjson, keys sorted, compact, UTF-8.

    A value orjson refuses (an integer beyond 64 bits, a lone surrogate) is written as
    reading JSON would give it back (a float, U+FFFD), so an odd deal still gets its
    events; what cannot be encoded at all raises AuditError.
    """
    try:
        return orjson.dumps(record, default=_default, option=_SORT)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _scrubbed(record)


def _scrubbed(record: Mapping[str, Any]) -> bytes:
    """The canonical bytes of ``record`` after :func:`scrub`; the slow path of odd values."""
    try:
        return orjson.dumps(scrub(record), default=_default, option=_SORT)
    except (TypeError, RecursionError) as exc:
        raise AuditError(f"audit event cannot be encoded as JSON: {exc}") from exc


def digest(body: bytes) -> str:
    """SHA-256 hex of a canonical body."""
    return hashlib.sha256(body).hexdigest()


class Sealed(NamedTuple):
    """One chained record: position, predecessor, canonical body (without hash) and hash."""

    seq: int
    prev: str
    body: bytes
    hash: str

    @property
    def line(self) -> bytes:
        """The JSON Lines form: the body with the hash spliced in, newline-terminated."""
        return self.body[:-1] + _HASH_KEY + self.hash.encode() + b'"}\n'


def join_lines(sealed: Sequence[Sealed]) -> bytes:
    """The JSON Lines of ``sealed`` in one piece: each body copied once (``line`` copies it
    four times), on the JSON Lines sink's hot path."""
    parts: list[bytes] = []
    for record in sealed:
        parts += (record.body[:-1], _HASH_KEY, record.hash.encode(), b'"}\n')
    return b"".join(parts)


def _refuse_reserved(event: Mapping[str, Any]) -> None:
    for key in CHAIN_FIELDS:
        if key in event:
            raise AuditError(
                f"audit event carries the reserved field {key!r}; "
                f"{', '.join(CHAIN_FIELDS)} belong to the hash chain"
            )


def seal(event: Mapping[str, Any], seq: int, prev: str) -> Sealed:
    """Chain one event after ``prev`` at position ``seq`` (the event is not modified)."""
    return seal_batch([event], seq, prev)[0][0]


def seal_batch(
    events: Sequence[Mapping[str, Any]], seq: int, prev: str
) -> tuple[list[Sealed], int, str]:
    """Chain a batch after (seq, prev); returns the sealed records and the new head.

    The hot path of every chained sink. ``events`` are not modified: each record is a
    fresh dict of the event plus ``seq`` and ``prev``, so a sink needs no copy of its own.
    """
    sealed: list[Sealed] = []
    dumps, sha256 = orjson.dumps, hashlib.sha256
    for event in events:
        if "seq" in event or "prev" in event or "hash" in event:
            _refuse_reserved(event)
        record = dict(event)  # cheaper than {**event, ...} (a hot path: ~13 events a decision)
        record["seq"] = seq
        record["prev"] = prev
        try:
            body = dumps(record, default=_default, option=_SORT)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            body = _scrubbed(record)
        record_hash = sha256(body).hexdigest()
        sealed.append(Sealed(seq, prev, body, record_hash))
        seq += 1
        prev = record_hash
    return sealed, seq, prev


def check_record(obj: Any) -> str | None:
    """Why a parsed record is not self-consistent (None when its hash matches its content)."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    stored = obj.pop("hash", None)
    try:
        if not isinstance(stored, str) or len(stored) != 64:
            return "no hash field"
        if not isinstance(obj.get("seq"), int) or isinstance(obj.get("seq"), bool):
            return "no seq field"
        if not isinstance(obj.get("prev"), str):
            return "no prev field"
        if digest(orjson.dumps(obj, option=_SORT)) != stored:
            return "hash mismatch: the record was edited after it was written"
        return None
    finally:
        if stored is not None:
            obj["hash"] = stored


__all__ = [
    "GENESIS",
    "Sealed",
    "canonical",
    "check_record",
    "digest",
    "join_lines",
    "seal",
    "seal_batch",
]
