"""approval_record: an approval built from a verified actor, and what it refuses.

The engine trusts an approval's ``by`` and ``role`` as recorded (the deal carries its own
state), so an app builds approval records from its authenticated user with
``approval_record`` instead of by hand. Each record it returns must count for the gate;
each actor the gate would not count must be refused before a record exists.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from shipped import NOW, POLICY, REP, ROOT

from cycleflow import Engine, UsageError, load_policy
from cycleflow.decide.approvals import approval_record, evaluate_gate

DIRECTOR = {"id": "grace", "roles": ["sales_director"]}
APPROVED_AT = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)  # a day before NOW


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_policy(POLICY))


def discount_deal() -> dict[str, Any]:
    """examples/deal-discount.json (28% discount, owner ann) without approvals."""
    deal: dict[str, Any] = json.loads((ROOT / "examples" / "deal-discount.json").read_text())
    deal.pop("approvals", None)
    return deal


def record(engine: Engine, deal: dict[str, Any], actor: dict[str, Any],
           gate: str = "discount_desk", **kw: Any) -> dict[str, Any]:
    return approval_record(engine.compiled.gates[gate], deal, actor, APPROVED_AT, **kw)


def test_win_of_the_discount_deal_needs_approval_without_one(engine: Engine) -> None:
    d = engine.decide(discount_deal(), "win", REP, now=NOW)
    assert d.outcome == "needs_approval"
    assert [a.gate for a in d.approvals_needed] == ["discount_desk"]


def test_a_directors_record_makes_the_win_allowed(engine: Engine) -> None:
    deal = discount_deal()
    deal["approvals"] = [record(engine, deal, DIRECTOR)]
    d = engine.decide(deal, "win", REP, now=NOW)
    assert d.outcome == "allowed", d.to_dict()


def test_the_record_holds_gate_approver_role_time_and_bound_values(engine: Engine) -> None:
    deal = discount_deal()
    got = record(engine, deal, DIRECTOR, comment="Strategic account")
    assert got == {
        "gate": "discount_desk",
        "by": "grace",
        "role": "sales_director",
        "at": "2026-11-25T10:00:00Z",
        "values": {"discount_pct": 28, "amount": 240000},
        "comment": "Strategic account",
    }
    assert json.loads(json.dumps(got)) == got  # JSON as it is: it goes into the deal record
    assert "comment" not in record(engine, deal, DIRECTOR)


def test_the_time_is_written_in_utc_with_z(engine: Engine) -> None:
    gate = engine.compiled.gates["discount_desk"]
    shanghai = timezone(timedelta(hours=8))
    at = approval_record(gate, discount_deal(), DIRECTOR,
                         datetime(2026, 11, 25, 18, 0, tzinfo=shanghai))["at"]
    assert at == "2026-11-25T10:00:00Z"
    naive = approval_record(gate, discount_deal(), DIRECTOR, datetime(2026, 11, 25, 10, 0))
    assert naive["at"] == "2026-11-25T10:00:00Z"  # naive is UTC, as everywhere in the engine


def test_the_record_also_counts_for_the_deal_at_rest(engine: Engine) -> None:
    deal = discount_deal()
    assert "discount_desk" in {v.rule for v in engine.check(deal, now=NOW).violations}
    deal["approvals"] = [record(engine, deal, DIRECTOR)]
    assert engine.check(deal, now=NOW).verdict == "compliant"


def test_an_actor_with_only_sales_rep_is_refused(engine: Engine) -> None:
    with pytest.raises(UsageError) as err:
        record(engine, discount_deal(), {"id": "bob", "roles": ["sales_rep"]})
    message = str(err.value)
    assert "'bob'" in message and "discount_desk" in message
    assert "sales_director" in message and "sales_rep" in message


def test_an_actor_with_no_roles_is_refused(engine: Engine) -> None:
    with pytest.raises(UsageError, match="holds none"):
        record(engine, discount_deal(), {"id": "bob"})


@pytest.mark.parametrize("roles", ["sales_director", [1], None])
def test_roles_that_are_not_a_list_of_names_are_refused(engine: Engine, roles: Any) -> None:
    # one string would pass a membership test by substring: refuse it outright
    with pytest.raises(UsageError, match="roles must be a list"):
        record(engine, discount_deal(), {"id": "bob", "roles": roles})


@pytest.mark.parametrize("owner", ["ann", "Ann", " ANN ", "ａｎｎ", "ann\u200b"])
def test_the_deals_owner_is_refused_however_the_id_is_written(engine: Engine, owner: str) -> None:
    with pytest.raises(UsageError) as err:
        record(engine, discount_deal(), {"id": owner, "roles": ["sales_director"]})
    assert "separate from owner" in str(err.value) and "discount_desk" in str(err.value)


def test_a_numeric_owner_is_the_same_person_as_its_text(engine: Engine) -> None:
    deal = {**discount_deal(), "owner": "42"}
    with pytest.raises(UsageError, match="separate from owner"):
        record(engine, deal, {"id": 42, "roles": ["sales_director"]})
    assert record(engine, deal, {"id": 43, "roles": ["sales_director"]})["by"] == "43"


def test_a_party_named_by_a_deal_field_is_refused(engine: Engine) -> None:
    gate = replace(engine.compiled.gates["discount_desk"],
                   separate_from=("owner", "deal.customer.account_manager"))
    deal = discount_deal()
    deal["customer"]["account_manager"] = "grace"
    with pytest.raises(UsageError, match="separate from deal.customer.account_manager"):
        approval_record(gate, deal, DIRECTOR, APPROVED_AT)
    other = approval_record(gate, deal, {"id": "zoe", "roles": ["sales_director"]}, APPROVED_AT)
    assert evaluate_gate(gate, {**deal, "approvals": [other]}, REP,
                         APPROVED_AT + timedelta(hours=1), moving=True).satisfied


@pytest.mark.parametrize("ident", [None, "", "   ", "\u200b", True, 4.5])
def test_an_actor_without_an_id_is_refused(engine: Engine, ident: Any) -> None:
    with pytest.raises(UsageError, match="without an id"):
        record(engine, discount_deal(), {"id": ident, "roles": ["sales_director"]})
    with pytest.raises(UsageError, match="without an id"):
        record(engine, discount_deal(), {"roles": ["sales_director"]})


def test_the_role_is_the_first_the_gate_lists_unless_one_is_asked_for(engine: Engine) -> None:
    deal = json.loads((ROOT / "examples" / "deal-large.json").read_text())
    both = {"id": "jun", "roles": ["ceo", "finance_director"]}  # deal_review: finance_director, ceo
    assert record(engine, deal, both, "deal_review")["role"] == "finance_director"
    assert record(engine, deal, both, "deal_review", role="ceo")["role"] == "ceo"
    with pytest.raises(UsageError, match="as 'sales_director'"):
        record(engine, deal, {"id": "jun", "roles": ["ceo", "sales_director"]}, "deal_review",
               role="sales_director")  # a role the actor holds but the gate does not accept
    with pytest.raises(UsageError, match="as 'finance_director'"):
        record(engine, deal, {"id": "jun", "roles": ["ceo"]}, "deal_review",
               role="finance_director")  # a role the gate accepts but the actor lacks


def test_two_records_satisfy_a_two_approver_gate(engine: Engine) -> None:
    deal = json.loads((ROOT / "examples" / "deal-large.json").read_text())
    deal.pop("approvals", None)
    assert engine.decide(deal, "win", REP, now=NOW).outcome == "needs_approval"
    deal["approvals"] = [record(engine, deal, {"id": "ivan", "roles": ["finance_director"]},
                                "deal_review"),
                         record(engine, deal, {"id": "jun", "roles": ["ceo"]}, "deal_review")]
    assert engine.decide(deal, "win", REP, now=NOW).outcome == "allowed"


def test_a_changed_discount_voids_the_approval(engine: Engine) -> None:
    deal = discount_deal()
    deal["approvals"] = [record(engine, deal, DIRECTOR)]
    changed = {**copy.deepcopy(deal), "discount_pct": 30}
    d = engine.decide(changed, "win", REP, now=NOW)
    assert d.outcome == "needs_approval"
    assert any("discount_pct" in r and "void" in r for r in d.approvals_needed[0].reasons), d


def test_an_expired_record_does_not_count(engine: Engine) -> None:
    deal = discount_deal()
    deal["approvals"] = [record(engine, deal, DIRECTOR)]
    later = (APPROVED_AT + timedelta(days=31)).isoformat()
    d = engine.decide(deal, "win", REP, now=later)
    assert d.outcome == "needs_approval"
    assert any("expired" in r for r in d.approvals_needed[0].reasons)


def test_the_requester_is_judged_when_the_move_is_decided(engine: Engine) -> None:
    # approval_record cannot know who will ask for the move: the engine checks it then
    deal = discount_deal()
    deal["approvals"] = [record(engine, deal, DIRECTOR)]
    d = engine.decide(deal, "win", DIRECTOR, now=NOW)
    assert d.outcome == "needs_approval"
    assert any("requester" in r for r in d.approvals_needed[0].reasons), d.approvals_needed


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((discount_deal(), ["grace"], APPROVED_AT), "actor must be a mapping"),
        (("OPP-1", DIRECTOR, APPROVED_AT), "needs the deal"),
        ((discount_deal(), DIRECTOR, "2026-11-25T10:00:00Z"), "now must be a datetime"),
    ],
)
def test_wrong_arguments_are_usage_errors(engine: Engine, args: Any, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        approval_record(engine.compiled.gates["discount_desk"], *args)
    with pytest.raises(UsageError, match="gate of the policy"):
        approval_record("discount_desk", discount_deal(), DIRECTOR, APPROVED_AT)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="comment must be text"):
        approval_record(engine.compiled.gates["discount_desk"], discount_deal(), DIRECTOR,
                        APPROVED_AT, comment=42)  # type: ignore[arg-type]


def test_the_engine_builds_the_record_by_gate_id(engine: Engine) -> None:
    """Engine.approval: the same record, the gate named by id, now as text or datetime."""
    deal = discount_deal()
    got = engine.approval(deal, "discount_desk", DIRECTOR, now="2026-11-25T10:00:00Z",
                          comment="Strategic account")
    assert got == record(engine, deal, DIRECTOR, comment="Strategic account")
    deal["approvals"] = [got]
    assert engine.decide(deal, "win", REP, now=NOW).outcome == "allowed"
    with pytest.raises(UsageError, match="did you mean 'discount_desk'"):
        engine.approval(deal, "discount_dsk", DIRECTOR)
    with pytest.raises(UsageError, match="sales_director"):  # the refusals stay
        engine.approval(deal, "discount_desk", REP)


def test_a_record_from_python_values_is_json_and_still_counts(engine: Engine) -> None:
    """The record kept a Decimal (json.dumps failed on it, so an app could not store it);
    it holds the JSON form and counts for the deal as given and as read back (QA pass)."""
    lax = Engine(engine.compiled, validate_deals=False)
    deal = {**discount_deal(), "discount_pct": Decimal("28.1")}
    got = lax.approval(deal, "discount_desk", DIRECTOR, now="2026-11-25T10:00:00Z")
    stored = json.loads(json.dumps(got))
    assert stored["values"]["discount_pct"] == 28.1
    for judged in ({**deal, "approvals": [stored]},
                   {**deal, "discount_pct": 28.1, "approvals": [stored]}):
        assert lax.decide(judged, "win", REP, now=NOW).outcome == "allowed"


def test_an_owner_written_as_a_whole_float_is_still_the_owner(engine: Engine) -> None:
    """Owner 42.0 and approver "42" are one person (QA pass: str(42.0) is '42.0')."""
    lax = Engine(engine.compiled, validate_deals=False)
    deal = {**discount_deal(), "owner": 42.0}
    with pytest.raises(UsageError, match="separate"):
        lax.approval(deal, "discount_desk", {"id": 42, "roles": ["sales_director"]})
    forged = {"gate": "discount_desk", "by": "42", "role": "sales_director",
              "at": "2026-11-25T10:00:00Z", "fingerprint": lax.fingerprint(deal, "discount_desk")}
    d = lax.decide({**deal, "approvals": [forged]}, "win", {"id": "bob", "roles": []}, now=NOW)
    assert d.outcome == "needs_approval"
