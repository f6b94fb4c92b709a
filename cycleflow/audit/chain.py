"""The hash chain's encoding: how a record becomes bytes and a SHA-256.

A stored record is the event plus ``seq`` (0-based position) and ``prev`` (the
previous record's hash, ``GENESIS`` for the first). Its ``hash`` is the SHA-256
hex of the record's body: the record without its hash, as compact UTF-8 JSON.

Format 2 (written since 0.1): the body is ``{"seq":N,"prev":"<hex>",`` followed
by the event's fields in the order the event holds them, exactly the bytes of
``orjson.dumps({"seq": N, "prev": H, **event})``. The hash covers those bytes as
written, so a verifier hashes the line itself and never re-encodes it: no sort,
no copy, and no dependence on a JSON library encoding a value the same way years
later. Format 1 (the first logs) sorted the keys and is still verified, by
re-encoding. A format 2 body starts with ``{"seq":``; a format 1 body never can
(``prev`` sorts before ``seq``), so each record says which it is, and a log
written in format 1 continues in format 2.

A JSON Lines record is its body with ``,"hash":"<hex>"`` spliced in before the
closing brace, one per line.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Final, NamedTuple

import orjson

from cycleflow.audit.base import CHAIN_FIELDS, GENESIS, AuditError
from cycleflow.jsonsafe import scrub

_SORT: Final = orjson.OPT_SORT_KEYS
_HASH_KEY: Final = b',"hash":"'
_V2: Final = b'{"seq":'
_HASH_TAIL: Final = len(_HASH_KEY) + 64 + len(b'"}')  # what follows the body's last field


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
    """The format 1 body of ``record``: orjson, keys sorted, compact, UTF-8.

    Format 2 records are hashed as written; this stays for format 1 logs and for
    anyone who wants a key-order-independent encoding of an event.

    A value orjson refuses (an integer beyond 64 bits, a lone surrogate) is written as
    reading JSON would give it back (a float, U+FFFD), so an odd deal still gets its
    events; what cannot be encoded at all raises AuditError.
    """
    try:
        return orjson.dumps(record, default=_default, option=_SORT)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _scrubbed(record)


def _scrubbed(record: Mapping[str, Any], option: int = _SORT) -> bytes:
    """The bytes of ``record`` after :func:`scrub` (sorted for format 1, as given for
    format 2); the slow path of values orjson refuses."""
    try:
        return orjson.dumps(scrub(record), default=_default, option=option)
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

    The hot path of the SQLite sink. ``events`` are not modified and not copied.
    """
    sealed: list[Sealed] = []
    sha256 = hashlib.sha256
    for event in events:
        body = _body(event, seq, prev.encode())
        record_hash = sha256(body).hexdigest()
        sealed.append(Sealed(seq, prev, body, record_hash))
        seq += 1
        prev = record_hash
    return sealed, seq, prev


def seal_lines(
    events: Sequence[Mapping[str, Any]], seq: int, prev: str
) -> tuple[bytes, int, str]:
    """:func:`seal_batch` and :func:`join_lines` in one pass: the JSON Lines of ``events``
    chained after (seq, prev), and the new head.

    The JSON Lines sink's hot path (~13 events a decision): the same bytes as the two
    together, without a record object or a second copy of each body per event.
    """
    parts: list[bytes] = []
    body_of, sha256 = _body, hashlib.sha256
    hexed = prev.encode()
    for event in events:
        body = body_of(event, seq, hexed)
        hexed = sha256(body).hexdigest().encode()
        parts += (body[:-1], _HASH_KEY, hexed, b'"}\n')
        seq += 1
    return b"".join(parts), seq, hexed.decode()


def _body(event: Mapping[str, Any], seq: int, prev: bytes) -> bytes:
    """The format 2 body of ``event`` at (seq, prev): its encoding with seq and prev in
    front, spliced in rather than encoding a copy of the event that holds them."""
    if "seq" in event or "prev" in event or "hash" in event:
        _refuse_reserved(event)
    try:
        fields = orjson.dumps(event, default=_default)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        fields = _scrubbed(event, 0)
    if fields == b"{}":
        return b'{"seq":%d,"prev":"%s"}' % (seq, prev)
    return b'{"seq":%d,"prev":"%s",%s' % (seq, prev, fields[1:])


def check_record(obj: Any, line: bytes | None = None) -> str | None:
    """Why a parsed record is not self-consistent (None when its hash matches its content).

    ``line`` is the JSON Lines record ``obj`` was parsed from: a format 2 record is
    hashed over those bytes. Without it, or for format 1, the record is re-encoded.
    """
    if not isinstance(obj, dict):
        return "not a JSON object"
    stored = obj.get("hash")
    if not isinstance(stored, str) or len(stored) != 64:
        return "no hash field"
    if not isinstance(obj.get("seq"), int) or isinstance(obj.get("seq"), bool):
        return "no seq field"
    if not isinstance(obj.get("prev"), str):
        return "no prev field"
    if line is not None and line.startswith(_V2):
        return _check_v2(line[:-1] if line.endswith(b"\n") else line, stored)
    del obj["hash"]
    try:
        body = orjson.dumps(obj, option=_SORT)
    finally:
        obj["hash"] = stored
    if digest(body) != stored and (
        b"e+" not in body or digest(_LEGACY_EXPONENT.sub(_unsigned, body)) != stored
    ):
        return "hash mismatch: the record was edited after it was written"
    return None


#: A JSON string (kept as it is) or the ``e+`` of a number's exponent.
_LEGACY_EXPONENT: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|e\+')


def _unsigned(match: re.Match[bytes]) -> bytes:
    """Format 1 was written by orjson < 3.10, which wrote 1e16 where 3.10 writes 1e+16:
    a record holding such a float is re-encoded both ways before it is called edited."""
    found = match.group()
    return found if found.startswith(b'"') else b"e"


def _check_v2(line: bytes, stored: str) -> str | None:
    """A format 2 line: its hash must be the last field and cover every byte before it."""
    if line.endswith(b"\r"):
        return ("the line ends in CR LF, not LF: its line endings were converted after it "
                "was written (an edit)")
    tail = line[-_HASH_TAIL:]
    if not (tail.startswith(_HASH_KEY) and tail.endswith(b'"}')) or tail[9:-2] != stored.encode():
        return "hash field is not where the writer puts it: the record was edited"
    if digest(line[:-_HASH_TAIL] + b"}") != stored:
        return "hash mismatch: the record was edited after it was written"
    return None


__all__ = [
    "GENESIS",
    "Sealed",
    "canonical",
    "check_record",
    "digest",
    "join_lines",
    "seal",
    "seal_batch",
    "seal_lines",
]
