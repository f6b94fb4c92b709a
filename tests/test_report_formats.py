"""Check reports: JSON Lines, JSON, text, JUnit XML and SARIF 2.1.0, and the exit-code rule."""

from __future__ import annotations

import importlib
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cycleflow.batch.readers import iter_records
from cycleflow.report import (
    FORMATS,
    INPUT_ERROR_RULE,
    Summary,
    exit_code,
    summarize,
    write_json,
    write_jsonl,
    write_junit,
    write_report,
    write_sarif,
    write_text,
)
from cycleflow.report._common import scrub

jsonschema: Any = importlib.import_module("jsonschema")  # untyped; stubs may be absent

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif" / "sarif-schema-2.1.0.json"
DEALS = Path(__file__).parent / "data" / "deals"
POLICY = {"id": "b2b-standard", "version": "2026.11", "sha256": "0f" * 32,
          "path": "policies/standard.yaml"}
RULES: list[dict[str, Any]] = [
    {"id": "budget_known", "kind": "entry", "severity": "high",
     "message": "Budget must be confirmed before qualification."},
    {"id": "deep_discount", "kind": "risk", "severity": "low",
     "message": {"en": "Discount above 20% needs director approval", "zh": "折扣"}},
    {"id": "discount_desk", "kind": "approval", "severity": "high", "message": "approval gate"},
]
NASTY = 'Budget <b>&amp;</b> "quoted" \'single\' \x00\x01\x0b\x1b[31mred\x1b[0m \ud800 \ufffe end'


def violation(deal: str | None, line: int, *, source: str = "deals/batch.csv",
              message: str = "Budget must be confirmed", rule: str = "budget_known",
              warnings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "deal": deal, "record": line, "source": source, "stage": "qualified",
        "verdict": "violation",
        "violations": [{"rule": rule, "kind": "entry", "severity": "high", "message": message,
                        "values": {"deal.budget": None}}],
        "warnings": warnings or [],
        "approvals_needed": [{"gate": "discount_desk", "roles": ["sales_director"], "count": 1,
                              "have": 0, "missing": 1, "reasons": ["discount 25% > 20%"]}],
    }


def compliant(deal: str, line: int, *, warnings: list[dict[str, Any]] | None = None,
              source: str = "deals/batch.csv") -> dict[str, Any]:
    return {"deal": deal, "record": line, "source": source, "stage": "qualified",
            "verdict": "compliant", "violations": [], "warnings": warnings or [],
            "approvals_needed": []}


def error(line: int, message: str, *, source: str = "deals/batch.csv",
          deal: str | None = None) -> dict[str, Any]:
    return {"deal": deal, "record": line, "source": source, "stage": None, "verdict": "error",
            "violations": [], "warnings": [], "approvals_needed": [], "error": message}


WARN = {"rule": "deep_discount", "kind": "risk", "severity": "low",
        "message": "Discount above 20%", "values": {"deal.discount_pct": 25}}


def sample() -> list[dict[str, Any]]:
    return [
        compliant("D-1", 2),
        violation("D-2", 3, warnings=[WARN]),
        error(4, "row has 3 fields, header has 8"),
        violation("D-<&\"4>", 5, message=NASTY),
        compliant("D-5", 6, warnings=[dict(WARN, message=NASTY)]),
        error(0, "cannot open: No such file or directory", source="missing.jsonl"),
        violation(None, 7, source="deals/other file.jsonl"),
        error(8, NASTY, deal="D-\x07bell"),
    ]


def stream(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A one-shot iterator, as the runner gives: writers must not need a list."""
    yield from items


# --------------------------------------------------------------------------- summary, exit


def test_summary_counts_incrementally() -> None:
    s = Summary()
    seen = list(s.track(stream(sample())))
    assert len(seen) == 8
    assert (s.total, s.compliant, s.violation, s.error) == (8, 2, 3, 3)
    assert (s.warnings, s.with_warnings) == (2, 2)
    assert s.top_rules() == [("budget_known", 3)]
    assert s.top_warning_rules() == [("deep_discount", 2)]
    assert summarize(sample()).to_dict() == s.to_dict()


def test_exit_code_rule() -> None:
    assert exit_code(summarize([compliant("a", 1)])) == 0
    assert exit_code(summarize([])) == 0
    assert exit_code(summarize([compliant("a", 1), violation("b", 2)])) == 1
    # A policy failure outranks an input error; an input error alone is 2.
    assert exit_code(summarize([violation("b", 2), error(3, "bad")])) == 1
    assert exit_code(summarize([compliant("a", 1), error(3, "bad")])) == 2
    warned = summarize([compliant("a", 1, warnings=[WARN])])
    assert exit_code(warned) == 0
    assert exit_code(warned, "warning") == 1
    assert exit_code(summarize([compliant("a", 1, warnings=[WARN]), error(2, "x")]),
                     "warning") == 1
    with pytest.raises(ValueError):
        exit_code(warned, "sometimes")


# --------------------------------------------------------------------------- JSON Lines, JSON


def test_jsonl_round_trip_in_order() -> None:
    out = io.BytesIO()
    assert write_jsonl(stream(sample()), out) == 8
    lines = out.getvalue().splitlines()
    assert len(lines) == 8
    expected = [orjson.loads(orjson.dumps(scrub(v))) for v in sample()]
    assert [orjson.loads(line) for line in lines] == expected
    assert "\ufffd" in orjson.loads(lines[3])["violations"][0]["message"]  # lone surrogate


def test_jsonl_writes_many_in_batches() -> None:
    many = [compliant(f"D{i}", i + 2) for i in range(5000)]
    out = io.BytesIO()
    write_jsonl(stream(many), out)
    back = [orjson.loads(x) for x in out.getvalue().splitlines()]
    assert back == many


def test_json_document_with_and_without_a_summary() -> None:
    out = io.BytesIO()
    counted = write_json(stream(sample()), out, POLICY)
    doc = orjson.loads(out.getvalue())
    assert set(doc) == {"policy", "summary", "verdicts"}
    assert doc["policy"] == POLICY and doc["verdicts"] == [scrub(v) for v in sample()]
    assert doc["summary"] == counted.to_dict() and doc["summary"]["total"] == 8

    out = io.BytesIO()
    given_summary = summarize(sample())
    write_json(stream(sample()), out, POLICY, given_summary)
    text = out.getvalue()
    assert text.index(b'"summary"') < text.index(b'"verdicts"')
    assert orjson.loads(text)["summary"] == given_summary.to_dict()

    out = io.BytesIO()
    write_json(stream([]), out, POLICY)
    assert orjson.loads(out.getvalue())["verdicts"] == []


# --------------------------------------------------------------------------- text

ANSI = re.compile(r"\x1b\[")


def test_text_has_no_ansi_without_color_and_shows_the_findings() -> None:
    out = io.StringIO()
    write_text(stream(sample()), out, POLICY, color=False)
    text = out.getvalue()
    assert not ANSI.search(text) and "\x1b" not in text and "\x00" not in text
    assert "D-2" in text and "deals/batch.csv:3" in text and "budget_known" in text
    assert "row has 3 fields, header has 8" in text and "deals/batch.csv:4" in text
    assert "D-1" not in text.split("Policy")[0]  # compliant records are not in the table
    assert "\\x1b[31mred" in text  # control characters from data are shown, not obeyed
    assert "Records: 8" in text and "compliant 2" in text and "violation 3" in text
    assert "error 3" in text and "b2b-standard 2026.11" in text
    assert "Rules most often violated" in text
    assert text.isascii() or all(ord(c) < 0x2500 or ord(c) > 0x257F for c in text)


def test_text_with_color_uses_ansi() -> None:
    out = io.StringIO()
    write_text(stream(sample()), out, POLICY, color=True, width=120)
    assert ANSI.search(out.getvalue())


def test_text_caps_the_table_and_counts_the_rest() -> None:
    many = [violation(f"D{i}", i + 2) for i in range(50)]
    out = io.StringIO()
    s = write_text(stream(many), out, POLICY, color=False, max_rows=10)
    assert s.violation == 50
    assert "... and 90 more findings not shown" in out.getvalue()


def test_text_rich_markup_in_data_is_not_interpreted() -> None:
    out = io.StringIO()
    write_text(stream([violation("[bold]D[/bold]", 2, message="[red]x[/red] [link=evil]")]),
               out, POLICY, color=False, width=200)
    assert "[bold]D[/bold]" in out.getvalue() and "[red]x[/red]" in out.getvalue()


def test_text_empty_run() -> None:
    out = io.StringIO()
    write_text(stream([]), out, POLICY, color=False)
    assert "No records were read." in out.getvalue()


# --------------------------------------------------------------------------- JUnit


def parse_junit(data: bytes) -> ET.Element:
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(data)


def test_junit_one_testcase_per_record_and_well_formed() -> None:
    out = io.BytesIO()
    write_junit(stream(sample()), out, POLICY)
    root = parse_junit(out.getvalue())
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 8
    assert suite.get("tests") == "8" and suite.get("failures") == "3"
    assert suite.get("errors") == "3"
    assert all(c.get("classname") == "b2b-standard" for c in cases)
    names = [c.get("name") for c in cases]
    assert names[:2] == ["D-1", "D-2"] and names[3] == 'D-<&"4>'
    assert names[6] == "deals/other file.jsonl:7"
    assert cases[1].get("file") == "deals/batch.csv" and cases[1].get("line") == "3"
    fail = cases[1].find("failure")
    assert fail is not None and "budget_known" in (fail.get("message") or "")
    assert "discount_desk" in (fail.text or "")
    assert "deep_discount" in (cases[1].findtext("system-out") or "")
    err = cases[2].find("error")
    assert err is not None and err.get("message") == "row has 3 fields, header has 8"
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    # Markup characters survive as text; characters XML cannot hold are escaped visibly.
    body = cases[3].find("failure")
    assert body is not None and "<b>&amp;</b>" in (body.text or "")
    assert "\\x00" in (body.text or "") and "\\x1b[31m" in (body.text or "")
    assert "\\ud800" in (body.text or "") and "\\ufffe" in (body.text or "")
    assert cases[7].find("error") is not None and cases[7].get("name") == "D-\\x07bell"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["policy.sha256"] == "0f" * 32


def test_junit_from_the_ragged_sample_has_a_case_per_record() -> None:
    items = list(iter_records([str(DEALS / "batch-ragged.csv"), str(DEALS / "mixed.jsonl")]))
    verdicts = [
        compliant(str(i.record.get("id", "")), i.position, source=i.source) if i.record
        else error(i.position, i.error or "", source=i.source)
        for i in items
    ]
    out = io.BytesIO()
    write_junit(stream(verdicts), out, POLICY)
    root = parse_junit(out.getvalue())
    assert len(root.findall("./testsuite/testcase")) == len(items)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_junit_any_text_stays_well_formed(deal: str, message: str) -> None:
    out = io.BytesIO()
    write_junit([violation(deal or None, 2, message=message), error(3, message)], out,
                {"id": message or "p"})
    root = parse_junit(out.getvalue())
    assert len(root.findall("./testsuite/testcase")) == 2


# --------------------------------------------------------------------------- SARIF


@pytest.fixture(scope="module")
def sarif_validator() -> Any:
    schema = orjson.loads(SCHEMA_PATH.read_bytes())
    assert schema["id"].endswith("sarif-schema-2.1.0.json")
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def sarif_of(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    out = io.BytesIO()
    write_sarif(stream(verdicts), out, POLICY, RULES)
    doc: dict[str, Any] = orjson.loads(out.getvalue())
    return doc


def test_sarif_validates_and_locates_every_result(sarif_validator: Any) -> None:
    doc = sarif_of(sample())
    errors = sorted(sarif_validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert doc["version"] == "2.1.0"
    [run] = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "cycleflow"
    ids = [r["id"] for r in driver["rules"]]
    assert ids == ["budget_known", "deep_discount", "discount_desk", INPUT_ERROR_RULE]
    assert driver["rules"][1]["shortDescription"]["text"].startswith("Discount above 20%")
    assert driver["rules"][0]["properties"] == {"kind": "entry", "severity": "high"}
    results = run["results"]
    # Per record: D-2 has a violation, an approval and a warning; D-<&"4> a violation and an
    # approval; D-5 a warning; three errors; the id-less violation a violation and an approval.
    assert len(results) == 3 + 1 + 2 + 1 + 2 + 1 + 1
    by_line: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    for r in results:
        loc = r["locations"][0]["physicalLocation"]
        key = (loc["artifactLocation"]["uri"], loc.get("region", {}).get("startLine"))
        by_line.setdefault(key, []).append(r)
    d2 = by_line[("deals/batch.csv", 3)]
    assert [(r["ruleId"], r["level"]) for r in d2] == [
        ("budget_known", "error"), ("discount_desk", "error"), ("deep_discount", "note")]
    assert d2[0]["ruleIndex"] == 0 and d2[1]["ruleIndex"] == 2
    assert d2[0]["locations"][0]["logicalLocations"] == [{"name": "D-2", "kind": "object"}]
    assert d2[0]["properties"]["values"] == {"deal.budget": None}
    [bad_row] = by_line[("deals/batch.csv", 4)]
    assert bad_row["ruleId"] == INPUT_ERROR_RULE and bad_row["level"] == "error"
    assert "row has 3 fields" in bad_row["message"]["text"]
    [missing] = by_line[("missing.jsonl", None)]  # position 0: no region
    assert "region" not in missing["locations"][0]["physicalLocation"]
    assert ("deals/other%20file.jsonl", 7) in by_line


def test_sarif_results_carry_the_records_file_and_line(sarif_validator: Any,
                                                       tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    a.write_bytes(b'{"id": "x"}\n\n{"id": "y"}\n{"id": \n')
    items = list(iter_records([str(a), str(DEALS / "bom-header.csv")]))
    verdicts = [
        violation(str(i.record["id"]), i.position, source=i.source) if i.record
        else error(i.position, i.error or "", source=i.source)
        for i in items
    ]
    doc = sarif_of(verdicts)
    assert not list(sarif_validator.iter_errors(doc))
    located = {
        (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
         r["locations"][0]["physicalLocation"]["region"]["startLine"])
        for r in doc["runs"][0]["results"]
    }
    assert located == {(f"file://{a}", 1), (f"file://{a}", 3), (f"file://{a}", 4),
                       (f"file://{DEALS}/bom-header.csv", 2),
                       (f"file://{DEALS}/bom-header.csv", 3)}


def test_sarif_empty_run(sarif_validator: Any) -> None:
    doc = sarif_of([])
    assert not list(sarif_validator.iter_errors(doc))
    assert doc["runs"][0]["results"] == []


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30), st.integers(min_value=0, max_value=10**9),
       st.sampled_from(["<stdin>", "d.jsonl.gz", "../up.csv", "/abs/d.json", "", "./a/../b"]))
def test_sarif_any_text_validates(deal: str, message: str, line: int, where: str) -> None:
    schema_validator = jsonschema.Draft4Validator(orjson.loads(SCHEMA_PATH.read_bytes()))
    doc = sarif_of([violation(deal or None, line, message=message, source=deal or "x"),
                    error(line, message), error(line, message, source=where),
                    violation(deal or None, line, source=where)])
    assert not list(schema_validator.iter_errors(doc))


# --------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_report_dispatch_to_a_binary_stream(fmt: str) -> None:
    out = io.BytesIO()
    s = write_report(fmt, stream(sample()), out, POLICY, rules=RULES, color=False)
    assert s.total == 8 and s.violation == 3
    data = out.getvalue()
    assert data
    if fmt == "text":
        assert b"\x1b[" not in data
    elif fmt == "jsonl":
        assert len(data.splitlines()) == 8
    elif fmt == "junit":
        assert len(parse_junit(data).findall("./testsuite/testcase")) == 8
    else:
        orjson.loads(data)


def test_write_report_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        write_report("html", [], io.BytesIO(), POLICY)


def test_sarif_declares_every_rule_a_result_names(sarif_validator: Any) -> None:
    """'transition', 'duplicate_id' and 'require.<field>' results had no rule in
    tool.driver.rules and no ruleIndex, so code scanning showed no description or level."""
    engine_found = [
        {"rule": "transition", "kind": "transition", "severity": "high",
         "message": "'advance' is not permitted from stage 'won'", "values": {}},
        {"rule": "require.lost_reason", "kind": "field", "severity": "high",
         "message": "'lose' requires deal.lost_reason", "values": {}},
    ]
    dup = {"rule": "duplicate_id", "kind": "field", "severity": "medium",
           "message": "duplicate deal id 'D-2'", "values": {"deal.id": "D-2"}}
    verdicts = [{**violation("D-8", 2), "violations": engine_found},
                compliant("D-2", 3, warnings=[dup]),
                {**violation("D-9", 4), "violations": engine_found}]
    doc = sarif_of(verdicts)
    assert not list(sarif_validator.iter_errors(doc))
    [run] = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"], result["ruleId"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    assert {"transition", "require.lost_reason", "duplicate_id"} <= set(ids)
    described = {r["id"]: r["shortDescription"]["text"] for r in rules}
    assert "not permitted" in described["transition"]
    assert "deal.lost_reason" in described["require.lost_reason"]
