"""Judge an approval gate against the approvals a deal carries.

An approval counts when its approver holds a gate role, is separate from the
parties the gate names, is not older than ``valid_days``, and approved the
values the gate binds. Every approval that does not count says why.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Final

import orjson

from cycleflow.decide.deal import lookup, parse_time
from cycleflow.decide.phrases import phrase
from cycleflow.errors import DealError, UsageError
from cycleflow.model.policy import Gate


@dataclass(frozen=True, slots=True)
class GateResult:
    """How far a gate is satisfied: distinct valid approvers, and why others were void."""

    gate: Gate
    approvers: tuple[str, ...]
    reasons: tuple[str, ...]
    #: the approvals given for the gate that did not count, and why (``reasons`` without
    #: the "no approval yet" a gate says when none was given at all)
    not_counted: tuple[str, ...] = ()
    #: when the gate had its ``count``-th valid approval (None while it has not)
    satisfied_at: datetime | None = None

    @property
    def satisfied(self) -> bool:
        """True when enough distinct, valid approvers signed."""
        return len(self.approvers) >= self.gate.count


def gate_name(gate: Gate, lang: str = "en", with_id: bool = False) -> str:
    """How engine sentences name a gate: its label in ``lang`` (the id when it has none).

    ``with_id`` adds the id in brackets, for sentences after which a user writes an
    approval record (``gate: discount_desk``) and so needs the id as well.
    """
    label = gate.label.get(lang) if gate.label else ""
    if not label or label == gate.id:
        return phrase(lang, "gate_id", id=gate.id)
    return phrase(lang, "gate_label_id" if with_id else "gate_label", label=label, id=gate.id)


def _canonical(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most values: as they are
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    # what a Python caller's deal holds, as JSON holds it: an approval record built from it
    # (approval_record) is stored as JSON and must still match the deal afterwards
    if isinstance(value, Decimal) and value.is_finite():
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return _canonical(value.value)
    if isinstance(value, str):  # a subclass: its text
        return str.__str__(value)
    return value


def bound_values(gate: Gate, deal: Mapping[str, Any]) -> dict[str, Any]:
    """The current values of the fields a gate binds (``None`` for a missing one)."""
    out: dict[str, Any] = {}
    plain = type(deal) is dict
    for path in gate.binds:
        bare = path.removeprefix("deal.")
        # a top-level field of a plain dict is read directly; anything else is walked
        value = deal.get(bare) if plain and "." not in bare else lookup(deal, bare)[1]
        out[bare] = _canonical(value)
    return out


def fingerprint(gate: Gate, deal: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the bound values: what an approval commits to."""
    values = bound_values(gate, deal)
    try:
        payload = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # values JSON numbers cannot carry (huge integers): fall back to repr
        payload = repr(sorted(values.items())).encode()
    return hashlib.sha256(payload).hexdigest()


def who(user: str) -> str:
    """The person a user id names, for separation of duties and distinct approvers: ids
    compared as CRMs and single sign-on compare them (case, width, spacing and invisible
    characters aside), so "Ann" or "ann\u200b" cannot approve the deal "ann" owns, nor
    count as a second approver."""
    if user.isascii() and user.isprintable():  # the common case: nothing wide or invisible
        return " ".join(user.split()).lower()
    shown = "".join(ch for ch in unicodedata.normalize("NFKC", user)
                    if ch.isspace() or (unicodedata.category(ch) not in _INVISIBLE
                                        and ch not in _BLANK_LETTERS))
    return " ".join(shown.split()).casefold()


#: Unicode categories that print nothing on their own: format characters (zero-width space,
#: BOM, soft hyphen), controls, line and paragraph separators, unassigned, private and
#: surrogate code points, and combining marks (variation selectors, the combining grapheme
#: joiner). Dropping a mark can only make two ids read as one person: it fails closed.
_INVISIBLE: Final = frozenset({"Cf", "Cc", "Cn", "Co", "Cs", "Zl", "Zp", "Mn", "Me"})
#: Letters and symbols that render blank (Hangul fillers, the Braille blank).
_BLANK_LETTERS: Final = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _same_person(by: str, party: Any) -> bool:
    """Whether approver ``by`` (already :func:`who`) is ``party``; a number names the same
    user as its text (an owner or requester id of 42 is approver "42": separation of duties
    must not fail open)."""
    if party is None or isinstance(party, bool):
        return False
    if (isinstance(party, float) and party.is_integer()) or (
            isinstance(party, Decimal) and party.is_finite()
            and party == party.to_integral_value()):
        party = int(party)  # an owner of 42.0 is user "42", as 42 is
    return by == who(party if isinstance(party, str) else str(party))


def _party(name: str, deal: Mapping[str, Any], actor: Mapping[str, Any] | None) -> Any:
    if name == "owner":
        return deal.get("owner")
    if name == "requester":
        return actor.get("id") if actor else None
    return lookup(deal, name.removeprefix("deal."))[1]


def named_approvers(gate: Gate, deal: Mapping[str, Any]) -> dict[str, str]:
    """The people a gate's ``approvers`` fields name on this deal (who() → as written): a
    field holds a user id or a list of them; a number is the user of its text, as in
    separation of duties."""
    named: dict[str, str] = {}
    for field in gate.approvers:
        value = lookup(deal, field.removeprefix("deal."))[1]
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if item is None or isinstance(item, (bool, dict, list)):
                continue
            text = str(int(item)) if isinstance(item, float) and item.is_integer() else str(item)
            if person := who(text):
                named.setdefault(person, text)
    return named


def _approved(status: Any) -> bool:
    """Whether an approval record's optional ``status`` says it was given: ``approved``
    in any case or spacing (Salesforce's "Approved"); anything else is not an approval."""
    return isinstance(status, str) and status.strip().casefold() == "approved"


def evaluate_gate(
    gate: Gate,
    deal: Mapping[str, Any],
    actor: Mapping[str, Any] | None,
    now: datetime,
    valid_at: datetime | None = None,
    lang: str = "en",
    hidden: tuple[str, ...] = (),
    moving: bool = False,
    gates: Mapping[str, Gate] | None = None,
) -> GateResult:
    """Which of the deal's approvals count for this gate, and why the others do not.

    ``gates`` (the policy's, by id) lets a gate with ``after`` judge the gates it follows:
    its approvals count only once they are satisfied, and only when given after.

    ``valid_at`` is the moment an approval had to be fresh (default ``now``): for a
    deal at rest whose gate was needed to *enter* its stage, that is when it entered.
    ``moving``: judged for a move, whose requester is the actor; a gate kept separate
    from the requester then counts no approval when the move names no actor (at rest
    the requester of the past move is not known, and is not judged).
    """
    as_of = valid_at or now
    blind = moving and "requester" in gate.separate_from and not (
        actor and actor.get("id") and who(str(actor["id"])))
    raw = deal.get("approvals") or []
    if not isinstance(raw, (list, tuple)):
        raise DealError("approvals must be a list of {gate, by, role, at}")
    approvers: list[str] = []
    people: dict[str, str] = {}  # who the approvers are (see who()) -> their first 'by'
    reasons: list[str] = []
    current: dict[str, Any] | None = None
    times: list[datetime] = []
    order: tuple[list[str], datetime | None] | None = None  # both read once, when needed
    named: dict[str, str] | None = None
    for n, item in enumerate(raw, start=1):
        if (type(item) is not dict and not isinstance(item, Mapping)) or item.get(
            "gate"
        ) != gate.id:
            continue
        by, role = item.get("by"), item.get("role")
        if not by or not isinstance(by, str) or not (person := who(by)):
            reasons.append(phrase(lang, "ap_no_by", n=n))
            continue
        if "status" in item and not _approved(item["status"]):  # a CRM's rejected,
            status = json.dumps(item["status"], default=str, ensure_ascii=False)  # pending, or
            reasons.append(phrase(lang, "ap_status", by=by, status=status))  # recalled step
            continue
        if role not in gate.roles:
            reasons.append(
                phrase(lang, "ap_role", by=by, role=role, gate=gate_name(gate, lang),
                       roles=", ".join(gate.roles))
            )
            continue
        if gate.approvers:
            named = named if named is not None else named_approvers(gate, deal)
            if person not in named:
                fields = ", ".join(gate.approvers)
                reasons.append(phrase(
                    lang, "ap_not_named", by=by, fields=fields,
                    named=", ".join(sorted(named.values())) if not any(
                        f in hidden for f in gate.approvers) else "***")
                    if named else phrase(lang, "ap_nobody_named", by=by, fields=fields))
                continue
        if blind:  # fail closed: anyone could be the requester
            reasons.append(phrase(lang, "ap_no_requester", by=by))
            continue
        party = next((p for p in gate.separate_from
                      if _same_person(person, _party(p, deal, actor))), None)
        if party is not None:
            reasons.append(phrase(lang, "ap_separation", by=by, party=party))
            continue
        try:
            at = parse_time(item.get("at"), f"approval #{n} 'at'")
        except DealError as err:
            reasons.append(str(err))
            continue
        if at > now:
            reasons.append(phrase(lang, "ap_future", by=by, at=item.get("at")))
            continue
        if gate.valid_days is not None and (as_of - at).total_seconds() > gate.valid_days * 86400:
            reasons.append(
                phrase(lang, "ap_expired", by=by, at=item.get("at"), days=gate.valid_days)
            )
            continue
        if gate.after and gates is not None:
            if order is None:
                order = _first_gates(gate, gates, deal, actor, now, valid_at, lang, hidden,
                                     moving)
            waiting, ready = order
            if waiting:
                reasons.append(phrase(lang, "ap_after_missing", by=by,
                                      first=", ".join(waiting)))
                continue
            if ready is not None and at < ready:
                reasons.append(phrase(lang, "ap_after_early", by=by, at=item.get("at"),
                                      first=", ".join(gate_name(gates[g], lang)
                                                      for g in gate.after),
                                      when=ready.isoformat().replace("+00:00", "Z")))
                continue
        if gate.binds:
            current = current if current is not None else bound_values(gate, deal)
            changed = _binding_broken(item, gate, deal, current, lang, hidden)
            if changed:
                reasons.append(phrase(lang, "ap_void", by=by, why=changed))
                continue
        if person in people:  # "Fred " after "fred": one person, counted once, and said so
            reasons.append(phrase(lang, "ap_again", by=by, first=people[person]))
            continue
        people[person] = by
        approvers.append(by)
        times.append(at)
    not_counted = tuple(reasons)
    if not approvers and not reasons:
        reasons.append(phrase(lang, "ap_none", gate=gate_name(gate, lang, with_id=True)))
    done = sorted(times)[gate.count - 1] if len(times) >= gate.count else None
    return GateResult(gate, tuple(approvers), tuple(reasons), not_counted, done)


def _first_gates(
    gate: Gate, gates: Mapping[str, Gate], deal: Mapping[str, Any],
    actor: Mapping[str, Any] | None, now: datetime, valid_at: datetime | None, lang: str,
    hidden: tuple[str, ...], moving: bool,
) -> tuple[list[str], datetime | None]:
    """The gates ``gate`` follows that are not yet satisfied (by name), and the moment the
    last of them was: its approvals must come after (the policy has no circles: load)."""
    waiting: list[str] = []
    ready: datetime | None = None
    for gid in gate.after:
        first = evaluate_gate(gates[gid], deal, actor, now, valid_at, lang, hidden, moving,
                              gates)
        if first.satisfied_at is None:
            waiting.append(gate_name(gates[gid], lang))
        elif ready is None or first.satisfied_at > ready:
            ready = first.satisfied_at
    return waiting, ready


def _binding_broken(
    item: Mapping[str, Any],
    gate: Gate,
    deal: Mapping[str, Any],
    current: dict[str, Any],
    lang: str = "en",
    hidden: tuple[str, ...] = (),
) -> str | None:
    values = item.get("values")
    if type(values) is dict or isinstance(values, Mapping):
        for field, now_value in current.items():
            approved = _canonical(values.get(field, values.get(f"deal.{field}")))
            if approved != now_value:
                path = f"deal.{field}"
                if any(path == h or path.startswith(h + ".") or h.startswith(path + ".")
                       for h in hidden):  # a sensitive field: say it changed, not to what
                    return phrase(lang, "ap_changed_hidden", field=field)
                return phrase(lang, "ap_changed", field=field, approved=approved, now=now_value)
        return None
    fp = item.get("fingerprint")
    if isinstance(fp, str):
        return (
            None
            if fp == fingerprint(gate, deal)
            else phrase(lang, "ap_fingerprint", fields=", ".join(gate.binds))
        )
    return phrase(lang, "ap_unbound", fields=", ".join(gate.binds))


def approval_record(
    gate: Gate,
    deal: Mapping[str, Any],
    actor: Mapping[str, Any],
    now: datetime,
    *,
    role: str | None = None,
    comment: str | None = None,
    lang: str = "en",
) -> dict[str, Any]:
    """The record an approval of ``gate`` by ``actor`` on ``deal`` at ``now`` should carry:
    ``{gate, by, role, at, values[, comment]}``, to append to the deal's ``approvals``.

    The engine trusts an approval's ``by`` and ``role`` as recorded, so build records
    only with this function, from the actor your application has authenticated and the
    roles its identity provider grants (never from a client's payload). ``role`` is one of
    the actor's roles that the gate accepts: ``role=`` picks one when the actor holds
    several, else the first in the gate's order. ``at`` is ``now`` in UTC (``...Z``; a
    naive ``now`` is UTC). ``values`` are the fields the gate binds as they are now
    (:func:`bound_values`, what :func:`evaluate_gate` compares): a change to any of them
    voids the approval.

    Raises :class:`~cycleflow.errors.UsageError`, naming gate, actor and roles, for an actor
    without an id, an actor who holds none of the gate's roles (or not the ``role=`` asked
    for), and an actor the gate keeps separate from the deal (``separate_from``: its
    ``owner`` or a ``deal.<field>``, ids compared as :func:`who` compares them). The
    ``requester`` of the move the approval is for is not known yet when it is given, so
    it is not checked here: :func:`evaluate_gate` checks it when the move is decided.
    ``lang`` is the language the gate's label is named in, in those messages.
    """
    if not isinstance(gate, Gate):
        raise UsageError(f"approval_record needs a gate of the policy, not {type(gate).__name__}")
    if not isinstance(deal, Mapping):
        raise UsageError(f"approval_record needs the deal (a mapping), not {type(deal).__name__}")
    if not isinstance(actor, Mapping):
        raise UsageError(
            "actor must be a mapping such as {'id': 'grace', 'roles': ['sales_director']}, "
            f"not {type(actor).__name__}"
        )
    if not isinstance(now, datetime):
        raise UsageError(f"now must be a datetime, not {type(now).__name__} {now!r}")
    if comment is not None and not isinstance(comment, str):
        raise UsageError(f"comment must be text, not {type(comment).__name__}")
    name = gate_name(gate, lang, with_id=True)
    accepted = ", ".join(gate.roles)
    ident = actor.get("id")
    if isinstance(ident, int) and not isinstance(ident, bool):
        ident = str(ident)  # approvals name their approver as text
    if not isinstance(ident, str) or not (person := who(ident)):
        raise UsageError(
            f"cannot record an approval of {name} by an actor without an id ({ident!r}): "
            "pass the authenticated user as {'id': ..., 'roles': [...]}"
        )
    held = actor.get("roles", ())
    if not isinstance(held, (list, tuple, set, frozenset)) or not all(
        isinstance(r, str) for r in held
    ):
        raise UsageError(
            f"actor {ident!r}: roles must be a list of role names such as "
            f"['sales_director'], not {held!r}"
        )
    usable = [r for r in gate.roles if r in held]
    if not usable:
        shown = ", ".join(map(str, held)) or "none"
        raise UsageError(
            f"actor {ident!r} cannot approve {name}: it needs one of the roles {accepted}, "
            f"and the actor holds {shown}"
        )
    if role is None:
        role = usable[0]
    elif role not in usable:
        raise UsageError(
            f"actor {ident!r} cannot approve {name} as {role!r}: the roles the actor holds "
            f"that the gate accepts are {', '.join(usable)}"
        )
    for party in gate.separate_from:
        if party == "requester":  # the move is not asked yet: judged when it is decided
            continue
        if _same_person(person, _party(party, deal, None)):
            field = party if party.startswith("deal.") else f"deal.{party}"
            raise UsageError(
                f"actor {ident!r} cannot approve {name}: the gate keeps its approvers "
                f"separate from {party}, and {ident!r} is {field} of this deal; "
                f"another holder of {accepted} must approve"
            )
    moment = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    record: dict[str, Any] = {
        "gate": gate.id,
        "by": ident,
        "role": str.__str__(role),  # a StrEnum role: its text
        "at": moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
        "values": bound_values(gate, deal),
    }
    if comment is not None:
        record["comment"] = comment
    return record
