"""Spreadsheet and Salesforce formula habits get a suggestion, not only "unknown function".

An admin writing NOT(ISBLANK(deal.x)), ISPICKVAL(...), TODAY() or LEN(...) was told only
that the function is unknown (Salesforce-migration review).
"""

from __future__ import annotations

import pytest

from cycleflow.errors import Location
from cycleflow.expr import check_expression


def only_problem(source: str) -> tuple[str, str, str | None]:
    [problem] = check_expression(source, Location("p.yaml", 3, 11))
    return problem.code, problem.message, problem.suggestion


@pytest.mark.parametrize(("source", "name", "suggestion"), [
    ("NOT(deal.won)", "NOT", "write 'not x': not is an operator"),
    ("AND(deal.a, deal.b)", "AND", "write 'a and b': and is an operator"),
    ("Or(deal.a, deal.b)", "Or", "write 'a or b': or is an operator"),
    ("ISBLANK(deal.x)", "ISBLANK",
     "write 'not has(deal.x)': has is true for a present, non-null field"),
    ("BLANKVALUE(deal.x, 0) > 1", "BLANKVALUE", "write 'default(deal.x, value)'"),
    ('ISPICKVAL(deal.region, "APAC")', "ISPICKVAL",
     "write 'deal.x == \"value\"': a picklist value is text"),
    ('INCLUDES(deal.products, "crm")', "INCLUDES",
     "write '\"value\" in deal.x': a multi-select value is a list"),
    ("TODAY() > date(deal.close_date)", "TODAY", "write 'today', a name without ()"),
    ("ISCHANGED(deal.amount)", "ISCHANGED", None),
    ("LEN(deal.name) > 3", "LEN", "write 'len(...)': function names are lower case"),
    ('Contains(deal.tags, "x")', "Contains",
     "write 'contains(...)': function names are lower case"),
])
def test_a_formula_habit_names_what_to_write(source: str, name: str,
                                             suggestion: str | None) -> None:
    code, message, hint = only_problem(source)
    assert code == "expr-unknown-function"
    assert message == f"unknown function {name!r}"
    if suggestion is None:
        assert hint is not None and "keep the earlier value in a field" in str(hint)
    else:
        assert hint == suggestion


def test_other_unknown_functions_still_get_did_you_mean() -> None:
    assert only_problem("lenn(deal.name) > 3")[2] == "did you mean 'len'?"
