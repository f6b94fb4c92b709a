"""A field suggestion is written the way its key takes it (officer review: `binds:
[deal.amout]` said "did you mean 'amount'?", which binds refuses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycleflow import PolicyError, load_policy
from cycleflow.toolkit.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"


def _lint(tmp_path: Path, old: str, new: str, schema_extra: str = "") -> list[tuple[int, str, str]]:
    """Lint the shipped policy with one line changed; (line, code, suggestion) of each error."""
    schema = (ROOT / "schemas" / "deal.schema.json").read_text("utf-8")
    if schema_extra:
        schema = schema.replace('"properties": {', '"properties": {' + schema_extra, 1)
    (tmp_path / "deal.schema.json").write_text(schema, "utf-8")
    text = SHIPPED.read_text("utf-8").replace("../schemas/deal.schema.json", "deal.schema.json")
    assert old in text
    text = text.replace(old, new, 1)
    path = tmp_path / "policy.yaml"
    path.write_text(text, "utf-8")
    return [(p.location.line, p.code, p.suggestion or "") for p in lint_file(str(path))
            if p.severity == "error"]


@pytest.mark.parametrize(("old", "new", "code", "want"), [
    ("binds: [deal.discount_pct, deal.amount]", "binds: [deal.discount_pct, deal.amout]",
     "unknown-field", "did you mean 'deal.amount'?"),
    ("  - deal.customer.contact_phone", "  - deal.customer.contact_phon",
     "unknown-field", "did you mean 'deal.customer.contact_phone'?"),
    ("    separate_from: [owner]\n", "    separate_from: [owner, deal.legal_ownr]\n",
     "unknown-field", "did you mean 'deal.legal_owner'?"),
    # require takes bare field names: the suggestion stays bare
    ("require: [lost_reason]", "require: [lost_reasn]", "unknown-field",
     "did you mean 'lost_reason'?"),
    # a bare name in separate_from that is a declared field: write it as deal.<field>
    ("    separate_from: [owner]\n", "    separate_from: [owner, legal_owner]\n",
     "schema-pattern", "did you mean 'deal.legal_owner'?"),
    ("    separate_from: [owner]\n", "    separate_from: [ownr]\n",
     "schema-pattern", "did you mean 'owner'?"),
], ids=["binds", "sensitive", "separate_from", "require", "separate_from-bare",
        "separate_from-owner"])
def test_the_suggestion_is_what_the_key_takes(tmp_path: Path, old: str, new: str, code: str,
                                              want: str) -> None:
    errors = _lint(tmp_path, old, new, '"legal_owner": {"type": "string"},')
    [(_, got_code, suggestion)] = errors
    assert got_code == code
    assert suggestion.startswith(want), suggestion


def test_a_bare_name_that_is_no_field_keeps_the_schema_hint(tmp_path: Path) -> None:
    [(_, code, suggestion)] = _lint(tmp_path, "    separate_from: [owner]\n",
                                    "    separate_from: [owner, zzzzzz]\n")
    assert code == "schema-pattern" and "did you mean" not in suggestion


@pytest.mark.parametrize(("old", "new", "want"), [
    ("binds: [deal.discount_pct, deal.amount]", "binds: [deal.discount_pct, deal.amout]",
     "did you mean 'deal.amount'?"),
    ("  - deal.customer.contact_phone", "  - deal.customer.contact_phon",
     "did you mean 'deal.customer.contact_phone'?"),
    ("require: [lost_reason]", "require: [lost_reasn]", "did you mean 'lost_reason'?"),
], ids=["binds", "sensitive", "require"])
def test_load_policy_itself_suggests_what_the_key_takes(tmp_path: Path, old: str, new: str,
                                                        want: str) -> None:
    """The loader (which the API, check and test use, not only lint) said 'amount' for binds."""
    schema = (ROOT / "schemas" / "deal.schema.json").read_text("utf-8")
    (tmp_path / "deal.schema.json").write_text(schema, "utf-8")
    text = SHIPPED.read_text("utf-8").replace("../schemas/deal.schema.json", "deal.schema.json")
    assert old in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(old, new, 1), "utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    [problem] = err.value.problems
    assert (problem.code, problem.suggestion) == ("unknown-field", want)
