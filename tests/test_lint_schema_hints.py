"""Two schema errors that did not say what to write.

``when: True`` unquoted said "true is not of type 'string' (write text)": YAML read
the condition as a yes/no value; the rule is a constant and must be an expression (a
constant is taken only quoted, and lint warns about it). ``at: [enter Legal_review]``
showed the schema's raw regex and no "did you mean" for the checkpoint meant.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cycleflow import PolicyError, load_policy
from cycleflow.errors import Problem
from cycleflow.toolkit.lint import lint_file

POLICY = """\
cycleflow: 1
id: hints
version: "1"
stages:
  lead:
    initial: true
    entry:
      - id: named
        when: {when}
  legal_review: {{}}
  won: {{final: true}}
transitions:
  - {{trigger: review, from: lead, to: legal_review}}
  - {{trigger: win, from: legal_review, to: won}}
risks:
  - id: big
    when: {risk}
    at: [{at}]
    then: warn
"""


def _problems(tmp_path: Path, when: str = "has(deal.name)", risk: str = "deal.amount > 10",
              at: str = "always") -> list[Problem]:
    path = tmp_path / "hints.yaml"
    path.write_text(POLICY.format(when=when, risk=risk, at=at), "utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert [p.render() for p in lint_file(str(path)) if p.severity == "error"] == [
        p.render() for p in err.value.problems]
    return list(err.value.problems)


def test_the_fixture_loads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(POLICY.format(when="has(deal.name)", risk="deal.amount > 10",
                                  at="enter legal_review"), "utf-8")
    assert load_policy(path).id == "hints"


def test_an_unquoted_true_condition_is_named_a_constant(tmp_path: Path) -> None:
    [p] = _problems(tmp_path, when="True")
    assert (p.code, p.location.line, p.location.column) == ("schema-type", 9, 15)
    assert p.message == ("stages.lead.entry[0].when: true is a constant (YAML read it as a "
                         "yes/no value): a rule's condition must be an expression")
    assert p.suggestion is not None
    assert "write text" not in p.suggestion
    assert 'when: "True"' in p.suggestion and "lint warns" in p.suggestion


def test_an_unquoted_false_risk_condition_is_named_a_constant(tmp_path: Path) -> None:
    [p] = _problems(tmp_path, risk="false")
    assert p.message.startswith("risks[0].when: false is a constant")
    assert p.suggestion is not None and 'when: "False"' in p.suggestion


def test_the_quoted_constant_the_hint_offers_loads_with_a_warning(tmp_path: Path) -> None:
    """The hint promises that a quoted constant is taken and warned about: it is."""
    path = tmp_path / "quoted.yaml"
    path.write_text(POLICY.format(when='"True"', risk="deal.amount > 10", at="always"), "utf-8")
    load_policy(path)
    assert [p.code for p in lint_file(str(path))] == ["criterion-always-true"]


@pytest.mark.parametrize(("written", "meant"), [
    ("enter Legal_review", "enter legal_review"),
    ("Always", "always"),
    ("entr won", "enter won"),
    ("on Review", "on review"),
])
def test_a_checkpoint_typo_suggests_the_nearest_valid_one(tmp_path: Path, written: str,
                                                          meant: str) -> None:
    [p] = _problems(tmp_path, at=written)
    assert (p.code, p.location.line) == ("schema-pattern", 18)
    assert p.message == f"risks[0].at[0]: {written!r} is not a checkpoint"
    assert "^(" not in p.message  # no raw regex
    assert p.suggestion is not None and p.suggestion.startswith(f"did you mean '{meant}'?")
    assert "'enter <stage>'" in p.suggestion


def test_a_well_formed_checkpoint_typo_is_the_loaders_unknown_stage(tmp_path: Path) -> None:
    [p] = _problems(tmp_path, at="enter legal_reveiw")
    assert p.code == "unknown-stage" and "did you mean 'legal_review'?" in (p.suggestion or "")


def test_a_checkpoint_of_no_known_form_keeps_the_forms_hint(tmp_path: Path) -> None:
    [p] = _problems(tmp_path, at="whenever")
    assert p.suggestion is not None and "did you mean" not in p.suggestion
    assert p.suggestion.startswith("at: takes 'always', 'enter <stage>'")
