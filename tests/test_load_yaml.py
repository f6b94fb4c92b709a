"""The safe YAML reader: hostile files are refused with located problems, fast; positions are exact.

Every file in tests/data/yaml/ (copies of ../shared/adversarial-sample/yaml plus our own) must
be refused with its expected code, a line, and within a hang-guard time bound.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cycleflow.errors import Location, PolicyError, Problem
from cycleflow.load import Document, Limits, SourceMap, read_yaml_file, read_yaml_text, yaml_reader

DATA = Path(__file__).parent / "data" / "yaml"
DataPath = list[str | int]  # a path into a document's data
HANG_GUARD = 2.0  # seconds; the reader should take well under one

EXPECTED = {
    # from ../shared/adversarial-sample/yaml
    "alias-bomb.yaml": "yaml-alias-limit",
    "deep-nesting-map.yaml": "yaml-too-deep",
    "duplicate-keys-rule.yaml": "yaml-duplicate-key",
    "empty.yaml": "yaml-empty",
    "encoding-invalid-utf8.yaml": "yaml-encoding",
    "python-object-apply.yaml": "yaml-tag",
    "tabs.yaml": "yaml-syntax",
    "yaml11-stage-no.yaml": "yaml11-boolean",
    # our own
    "alias-bomb-mappings.yaml": "yaml-alias-limit",
    "alias-too-many.yaml": "yaml-alias-limit",
    "alias-recursive.yaml": "yaml-alias-limit",
    "alias-undefined.yaml": "yaml-syntax",
    "deep-nesting-seq.yaml": "yaml-too-deep",
    "deep-nesting-unclosed.yaml": "yaml-too-deep",
    "deep-nesting-block.yaml": "yaml-too-deep",
    "deep-nesting-dashes.yaml": "yaml-too-deep",
    "python-name.yaml": "yaml-tag",
    "python-object-new.yaml": "yaml-tag",
    "custom-tag.yaml": "yaml-tag",
    "tag-directive.yaml": "yaml-tag",
    "verbatim-tag.yaml": "yaml-tag",
    "binary-tag.yaml": "yaml-tag",
    "duplicate-keys-quoted.yaml": "yaml-duplicate-key",
    "duplicate-keys-flow.yaml": "yaml-duplicate-key",
    "duplicate-stage.yaml": "yaml-duplicate-key",
    "yaml11-on-key.yaml": "yaml11-boolean",
    "yaml11-flow-bools.yaml": "yaml11-boolean",
    "yaml11-octal.yaml": "yaml11-number",
    "yaml11-sexagesimal.yaml": "yaml11-number",
    "yaml11-underscore.yaml": "yaml11-number",
    "key-int.yaml": "yaml-key-type",
    "key-null.yaml": "yaml-key-type",
    "key-collection.yaml": "yaml-key-type",
    "merge-key.yaml": "yaml-merge-key",
    "multiple-documents.yaml": "yaml-multiple-documents",
    "not-mapping-list.yaml": "yaml-not-mapping",
    "not-mapping-scalar.yaml": "yaml-not-mapping",
    "comments-only.yaml": "yaml-empty",
    "document-marker-only.yaml": "yaml-empty",
    "nul-byte.yaml": "yaml-encoding",
    "control-character.yaml": "yaml-encoding",
    "utf16.yaml": "yaml-encoding",
    "binary-garbage.yaml": "yaml-encoding",
    "invalid-utf8-overlong.yaml": "yaml-encoding",
    "tabs-after-dash.yaml": "yaml-syntax",
    "tabs-mixed.yaml": "yaml-syntax",
    "unclosed-quote.yaml": "yaml-syntax",
    "unclosed-bracket.yaml": "yaml-syntax",
    "bad-indentation.yaml": "yaml-syntax",
    "colon-in-value.yaml": "yaml-syntax",
}


@pytest.fixture(params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with libyaml's event parser (when built) and with PyYAML's pure-Python one."""
    if request.param == "libyaml":
        if yaml_reader._CParser is None:
            pytest.skip("PyYAML built without libyaml")
        monkeypatch.setattr(yaml_reader, "_USE_LIBYAML", True)
    else:
        monkeypatch.setattr(yaml_reader, "_USE_LIBYAML", False)
    return str(request.param)


def refuse(read: Callable[[], Document]) -> tuple[PolicyError, float]:
    """Call a reader that must refuse; return the error and the seconds it took."""
    start = time.perf_counter()
    with pytest.raises(PolicyError) as info:
        read()
    return info.value, time.perf_counter() - start


def refuse_text(text: str | bytes, limits: Limits = Limits()) -> PolicyError:  # noqa: B008
    """Read text that must be refused, under the hang guard."""
    err, took = refuse(lambda: read_yaml_text(text, file="p.yaml", limits=limits))
    assert took < HANG_GUARD
    for problem in err.problems:
        assert problem.location.file == "p.yaml"
        assert problem.location.line > 0 and problem.location.column > 0, problem.render()
        assert problem.message
    return err


def codes(err: PolicyError) -> list[str]:
    """The problem codes of an error, in order."""
    return [p.code for p in err.problems]


def only(err: PolicyError, code: str) -> Problem:
    """The single problem of an error, which must have ``code``."""
    assert codes(err) == [code], err
    return err.problem


def read(text: str | bytes) -> Any:
    """The data of a text that must be accepted."""
    return read_yaml_text(text, file="p.yaml").data


# ---------------------------------------------------------------------------------------
# the adversarial files


def test_every_data_file_has_an_expectation() -> None:
    names = {p.name for p in DATA.iterdir()}
    assert names == set(EXPECTED), (names ^ set(EXPECTED))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_adversarial_file_is_refused_with_a_located_problem(name: str, parser: str) -> None:
    path = DATA / name
    err, took = refuse(lambda: read_yaml_file(path))
    assert took < HANG_GUARD, f"{name} took {took:.2f}s"
    assert EXPECTED[name] in codes(err), err
    for problem in err.problems:
        assert problem.location.file == str(path)
        assert problem.location.line > 0, problem.render()
        assert problem.message and problem.suggestion, problem.render()
        assert "Traceback" not in problem.render()


def test_shared_samples_where_present_match_the_copies() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "adversarial-sample" / "yaml"
    if not shared.is_dir():
        pytest.skip("../shared not present")
    for original in shared.iterdir():
        copy = DATA / original.name
        assert copy.read_bytes() == original.read_bytes(), original.name


# ---------------------------------------------------------------------------------------
# positions: a realistic policy

POLICY = """\
# yaml-language-server: $schema=../schemas/policy.schema.json
cycleflow: 1
id: b2b-standard
version: "2026.11"
title: 'Standard B2B sales cycle, it''s ours'
description: a long plain description
  that continues on a second line
stages:
  prospect:
    label: {en: Prospect, zh: 潜在客户}
    initial: true
    steps:
      - id: first_contact
        label: {en: First contact logged}
      - needs_analysis
  qualified:
    entry:
      - id: budget_known
        when: deal.budget > 0
        message: {en: "Budget must be \\"confirmed\\" first.\\tNow."}
      - id: big_enough
        when: |
          deal.amount > 100
            and deal.budget > 0
        message: >
          Folded text
          continues here.
    max_days: 30
x-shared: &common {severity: high, then: block}
risks:
  - id: deep_discount
    x-defaults: *common
    when: deal.discount_pct > 20
"""


def at(text: str, needle: str, nth: int = 0, delta: int = 0) -> tuple[int, int]:
    """1-based line and column of the ``nth`` occurrence of ``needle`` (plus ``delta`` chars)."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    index += delta
    before = text[:index]
    line = before.count("\n") + 1
    return line, index - (before.rfind("\n") + 1) + 1


def pos(location: Location) -> tuple[int, int]:
    """A location's line and column."""
    return location.line, location.column


def policy_variants() -> Iterator[tuple[str, str | bytes]]:
    """The policy with LF, CRLF and a UTF-8 BOM: positions must not change."""
    yield "lf", POLICY
    yield "crlf", POLICY.replace("\n", "\r\n")
    yield "bom", b"\xef\xbb\xbf" + POLICY.encode("utf-8")


@pytest.fixture(params=["lf", "crlf", "bom"])
def policy(request: pytest.FixtureRequest, parser: str) -> Document:
    """The realistic policy, read in each variant and with each parser."""
    text = dict(policy_variants())[request.param]
    return read_yaml_text(text, file="policy.yaml")


def test_policy_data_is_plain(policy: Document) -> None:
    data = policy.data
    assert data["cycleflow"] == 1 and data["version"] == "2026.11"
    assert data["title"] == "Standard B2B sales cycle, it's ours"
    assert data["description"] == "a long plain description that continues on a second line"
    assert data["stages"]["prospect"]["label"] == {"en": "Prospect", "zh": "潜在客户"}
    assert data["stages"]["prospect"]["steps"][1] == "needs_analysis"
    entry = data["stages"]["qualified"]["entry"]
    assert entry[0]["message"]["en"] == 'Budget must be "confirmed" first.\tNow.'
    assert entry[1]["when"] == "deal.amount > 100\n  and deal.budget > 0\n"
    assert entry[1]["message"] == "Folded text continues here.\n"
    assert data["risks"][0]["x-defaults"] == {"severity": "high", "then": "block"}
    assert list(data) == ["cycleflow", "id", "version", "title", "description", "stages",
                          "x-shared", "risks"]


def test_locate_values_and_keys(policy: Document) -> None:
    sm = policy.source_map
    assert sm.file == "policy.yaml"
    assert pos(sm.locate([])) == (2, 1)
    assert pos(sm.locate(["id"])) == at(POLICY, "b2b-standard")
    assert pos(sm.locate_key(["id"])) == at(POLICY, "id: b2b")
    assert pos(sm.locate(["version"])) == at(POLICY, '"2026.11"')
    assert pos(sm.locate(["title"])) == at(POLICY, "'Standard")
    assert pos(sm.locate(["stages"])) == at(POLICY, "prospect:")
    assert pos(sm.locate(["stages", "prospect", "label", "zh"])) == at(POLICY, "潜在客户")
    assert pos(sm.locate_key(["stages", "prospect", "label", "zh"])) == at(POLICY, "zh:")
    assert pos(sm.locate(["stages", "prospect", "steps"])) == at(POLICY, "- id: first_contact")
    assert pos(sm.locate(["stages", "prospect", "steps", 0])) == at(POLICY, "id: first_contact")
    assert pos(sm.locate(["stages", "prospect", "steps", 1])) == at(POLICY, "needs_analysis")
    when: DataPath = ["stages", "qualified", "entry", 0, "when"]
    assert pos(sm.locate(when)) == at(POLICY, "deal.budget > 0")
    assert pos(sm.locate_key(when)) == at(POLICY, "when: deal.budget")
    assert pos(sm.locate(["stages", "qualified", "entry", 1, "when"])) == at(POLICY, "|")
    assert pos(sm.locate(["stages", "qualified", "max_days"])) == at(POLICY, "30")
    assert pos(sm.locate_key(["stages", "qualified", "max_days"])) == at(POLICY, "max_days")


def test_locate_unknown_paths_fall_back_to_the_nearest_ancestor(policy: Document) -> None:
    sm = policy.source_map
    qualified = sm.locate(["stages", "qualified"])
    assert sm.locate(["stages", "qualified", "nope", "deeper"]) == qualified
    assert sm.locate(["stages", "qualified", 0]) == qualified
    assert sm.locate_key(["stages", "qualified", "nope"]) == qualified
    steps = sm.locate(["stages", "prospect", "steps"])
    assert sm.locate(["stages", "prospect", "steps", 9]) == steps
    assert sm.locate(["stages", "prospect", "steps", "0"]) == steps
    assert sm.locate(["stages", "prospect", "steps", True]) == steps
    # a list item has no key: locate_key falls back to the value
    assert sm.locate_key(["stages", "prospect", "steps", 1]) == sm.locate(
        ["stages", "prospect", "steps", 1]
    )
    assert sm.locate_key([]) == sm.locate([])


def test_locate_through_an_alias(policy: Document) -> None:
    sm = policy.source_map
    defaults: DataPath = ["risks", 0, "x-defaults"]
    assert pos(sm.locate(defaults)) == at(POLICY, "*common")
    assert pos(sm.locate_key(defaults)) == at(POLICY, "x-defaults")
    # inside the alias, positions are those of the anchored node
    assert pos(sm.locate([*defaults, "then"])) == at(POLICY, "block}")
    assert pos(sm.locate_key([*defaults, "then"])) == at(POLICY, "then: block")
    assert pos(sm.locate_in_scalar([*defaults, "severity"], 2)) == at(POLICY, "high", delta=2)


def test_locate_in_plain_scalars(policy: Document) -> None:
    sm = policy.source_map
    when: DataPath = ["stages", "qualified", "entry", 0, "when"]
    value = policy.data["stages"]["qualified"]["entry"][0]["when"]
    assert pos(sm.locate_in_scalar(when, 0)) == at(POLICY, "deal.budget > 0")
    assert pos(sm.locate_in_scalar(when, value.index(">"))) == at(POLICY, "> 0")
    assert pos(sm.locate_in_scalar(when, len(value))) == at(POLICY, "deal.budget > 0", delta=15)
    assert pos(sm.locate_in_scalar(["stages", "prospect", "label", "zh"], 2)) == at(
        POLICY, "客户"
    )
    description = policy.data["description"]
    offset = description.index("continues")
    assert pos(sm.locate_in_scalar(["description"], offset)) == at(POLICY, "that continues",
                                                                    delta=5)
    assert pos(sm.locate_in_scalar(["description"], description.index("plain"))) == at(
        POLICY, "plain description"
    )


def test_locate_in_quoted_scalars(policy: Document) -> None:
    sm = policy.source_map
    title = policy.data["title"]
    assert pos(sm.locate_in_scalar(["title"], 0)) == at(POLICY, "Standard")
    assert pos(sm.locate_in_scalar(["title"], title.index("B2B"))) == at(POLICY, "B2B")
    # after a doubled '' the source runs one character ahead of the value
    assert pos(sm.locate_in_scalar(["title"], title.index("s ours"))) == at(POLICY, "s ours")
    message: DataPath = ["stages", "qualified", "entry", 0, "message", "en"]
    text = policy.data["stages"]["qualified"]["entry"][0]["message"]["en"]
    assert pos(sm.locate_in_scalar(message, text.index('"'))) == at(POLICY, '\\"confirmed')
    assert pos(sm.locate_in_scalar(message, text.index("confirmed"))) == at(POLICY, "confirmed")
    assert pos(sm.locate_in_scalar(message, text.index("first"))) == at(POLICY, "first.")
    assert pos(sm.locate_in_scalar(message, text.index("Now"))) == at(POLICY, "Now.")
    assert pos(sm.locate_in_scalar(["version"], 4)) == at(POLICY, ".11")


def test_locate_in_block_scalars(policy: Document) -> None:
    sm = policy.source_map
    when: DataPath = ["stages", "qualified", "entry", 1, "when"]
    value = policy.data["stages"]["qualified"]["entry"][1]["when"]
    assert pos(sm.locate_in_scalar(when, 0)) == at(POLICY, "deal.amount")
    assert pos(sm.locate_in_scalar(when, value.index("100"))) == at(POLICY, "100")
    assert pos(sm.locate_in_scalar(when, value.index("and"))) == at(POLICY, "and deal")
    assert pos(sm.locate_in_scalar(when, value.index("deal.budget"))) == at(
        POLICY, "deal.budget > 0", nth=1
    )
    message: DataPath = ["stages", "qualified", "entry", 1, "message"]
    folded = policy.data["stages"]["qualified"]["entry"][1]["message"]
    assert pos(sm.locate_in_scalar(message, 0)) == at(POLICY, "Folded")
    offset = folded.index("continues")
    assert pos(sm.locate_in_scalar(message, offset)) == at(POLICY, "continues here")


def test_locate_in_scalar_clamps_and_falls_back(policy: Document) -> None:
    sm = policy.source_map
    assert sm.locate_in_scalar(["id"], -5) == sm.locate(["id"])
    assert pos(sm.locate_in_scalar(["id"], 999)) == at(POLICY, "b2b-standard", delta=12)
    assert sm.locate_in_scalar(["stages"], 3) == sm.locate(["stages"])
    assert sm.locate_in_scalar(["nope"], 3) == sm.locate([])


def test_locate_in_scalar_with_anchor_and_tag_and_explicit_indent() -> None:
    text = "a: &x !!str plain text\nb: !!str 'quoted'\nc: |2\n    indented\n  second\n"
    sm = read_yaml_text(text, file="p.yaml").source_map
    assert pos(sm.locate_in_scalar(["a"], 6)) == at(text, "text")
    assert pos(sm.locate_in_scalar(["b"], 1)) == at(text, "uoted")
    assert pos(sm.locate_in_scalar(["c"], 2)) == at(text, "indented")
    assert pos(sm.locate_in_scalar(["c"], len("  indented\n"))) == at(text, "second")


def test_source_map_is_a_frozen_value() -> None:
    sm = read_yaml_text("a: 1\n", file="p.yaml").source_map
    assert isinstance(sm, SourceMap)
    with pytest.raises(AttributeError):
        sm.file = "other"  # type: ignore[misc]
    assert SourceMap("x").locate(["a"]) == Location("x", 1, 1)


# ---------------------------------------------------------------------------------------
# the document


def test_document_fields_and_digest_of_raw_bytes() -> None:
    raw = b"\xef\xbb\xbfid: x\r\nlabel: \xe6\xbd\x9c\r\n"
    doc = read_yaml_text(raw, file="p.yaml")
    assert doc.data == {"id": "x", "label": "潜"}
    assert doc.sha256 == hashlib.sha256(raw).hexdigest()
    assert doc.file == "p.yaml" and doc.source_map.file == "p.yaml"
    assert doc.text == "id: x\r\nlabel: 潜\r\n"
    same = read_yaml_text("id: x\n", file="p.yaml")
    assert same.sha256 == hashlib.sha256(b"id: x\n").hexdigest()


def test_read_yaml_file_keeps_the_path_as_given(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"id: x\n")
    assert read_yaml_file(path).file == str(path)
    assert read_yaml_file(str(path)).source_map.file == str(path)


def test_unreadable_files_are_policy_errors(tmp_path: Path) -> None:
    err, _ = refuse(lambda: read_yaml_file(tmp_path / "missing.yaml"))
    assert codes(err) == ["yaml-unreadable"]
    err, _ = refuse(lambda: read_yaml_file(tmp_path))
    assert codes(err) == ["yaml-unreadable"]


# ---------------------------------------------------------------------------------------
# scalars: YAML 1.2 core, YAML 1.1 readings refused


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("true", True), ("False", False), ("TRUE", True), ("tRuE", True),
        ("null", None), ("Null", None), ("~", None), ("", None),
        ("0", 0), ("12", 12), ("-3", -3), ("+5", 5), ("0o17", 15), ("0x1F", 31),
        ("1.5", 1.5), ("-0.25", -0.25), ("1e3", 1000.0), ("1.", 1.0), (".5", 0.5),
        (".inf", math.inf), ("-.Inf", -math.inf),
        ("2024-01-01", "2024-01-01"), ("12:30pm", "12:30pm"), ("1.2.3", "1.2.3"),
        ("'no'", "no"), ('"0030"', "0030"), ("!!str 0030", "0030"), ("!!str no", "no"),
        ("!!int 12", 12), ("!!int '12'", 12), ("!!float 1", 1.0), ("!!bool true", True),
        ("!!null ''", None), ("! 12", "12"), ("deal.budget > 0", "deal.budget > 0"),
        ("nope", "nope"), ("yesterday", "yesterday"), ("onboarding", "onboarding"),
        ("'<<'", "<<"), ("0b", "0b"), ("-x", "-x"), ("---x", "---x"),
    ],
)
def test_scalars_resolve_by_the_yaml_1_2_core_schema(literal: str, value: Any) -> None:
    got = read(f"v: {literal}\n")["v"]
    assert got == value and type(got) is type(value)


def test_nan() -> None:
    assert math.isnan(read("v: .nan\n")["v"])


@pytest.mark.parametrize(
    "word", ["y", "Y", "yes", "Yes", "YES", "yEs", "n", "N", "no", "No", "NO",
             "on", "On", "ON", "off", "Off", "OFF", "oFf"],
)
@pytest.mark.parametrize("shape", ["v: {w}\n", "{w}: v\n", "v: [a, {w}]\n", "v:\n  - {w}\n",
                                   "v: {{k: {w}}}\n", "v: !!bool {w}\n"])
def test_yaml11_booleans_are_refused_everywhere(word: str, shape: str) -> None:
    problem = only(refuse_text(shape.format(w=word)), "yaml11-boolean")
    assert pos(problem.location) == at(shape.format(w=word), word, delta=0) or shape.startswith(
        "v: !!bool"
    )
    assert f'"{word}"' in (problem.suggestion or "")
    assert ("true" if word.lower() in ("y", "yes", "on") else "false") in (problem.suggestion or "")


@pytest.mark.parametrize(
    "literal", ["0030", "0777", "09", "+010", "-007", "00", "1:20", "190:20:30", "-1:20",
                "1:20.5", "1_000", "1_000.5", "-1_0", "0b1010", "-0b1", "0x_1F", "+0x1F", "._5"],
)
def test_yaml11_numbers_are_refused(literal: str) -> None:
    text = f"v: {literal}\n"
    problem = only(refuse_text(text), "yaml11-number")
    assert pos(problem.location) == (1, 4)
    assert f'"{literal}"' in (problem.suggestion or "")


def test_yaml11_octal_message_says_both_readings() -> None:
    problem = only(refuse_text("max_days: 0030\n"), "yaml11-number")
    assert "24" in problem.message and "30" in problem.message


def test_quoted_yaml11_words_and_numbers_are_text() -> None:
    data = read("'no': \"yes\"\n\"on\": '0030'\nv: ['1:20', \"1_000\", 'off']\n")
    assert data == {"no": "yes", "on": "0030", "v": ["1:20", "1_000", "off"]}


def test_very_long_numbers_are_refused_not_crashed() -> None:
    only(refuse_text("v: " + "7" * 5000 + "\n"), "yaml-number")
    only(refuse_text("v: 0" + "7" * 5000 + "\n"), "yaml-number")
    assert read("v: '" + "7" * 5000 + "'\n")["v"] == "7" * 5000


# ---------------------------------------------------------------------------------------
# keys


@pytest.mark.parametrize(
    "text", ["1: x\n", "null: x\n", "~: x\n", "true: x\n", "1.5: x\n", "0x10: x\n",
             "[a, b]: x\n", "{a: 1}: x\n", "? [a]\n: x\n", "a: {2: x}\n", "? \n: x\n"],
)
def test_non_string_keys_are_refused(text: str) -> None:
    problem = only(refuse_text(text), "yaml-key-type")
    assert problem.location.line == text.count("\n", 0, text.index(": x")) + 1 or "?" in text


def test_quoted_keys_are_strings() -> None:
    assert read('"1": a\n\'null\': b\n"true": c\n') == {"1": "a", "null": "b", "true": "c"}


def test_merge_keys_are_refused() -> None:
    text = "base: &b {a: 1}\nx:\n  <<: *b\n  c: 2\nz: {<<: [*b]}\n"
    err = refuse_text(text)
    assert codes(err) == ["yaml-merge-key", "yaml-merge-key"]
    assert pos(err.problems[0].location) == (3, 3)
    assert read('x: {"<<": 1}\n') == {"x": {"<<": 1}}


def test_duplicate_keys_name_the_key_and_the_first_line() -> None:
    text = "a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n\"a\": 2\nb: {}\n"
    err = refuse_text(text)
    assert codes(err) == ["yaml-duplicate-key"] * 3
    first, second, third = err.problems
    assert pos(first.location) == (5, 3) and "'c'" in first.message and "line 3" in first.message
    assert pos(second.location) == (6, 1) and "'a'" in second.message
    assert "line 1" in second.message
    assert pos(third.location) == (7, 1) and "line 2" in third.message


def test_same_key_in_different_mappings_is_fine() -> None:
    assert read("a: {id: 1}\nb: {id: 2}\nc: [{id: 1}, {id: 1}]\n")["c"] == [{"id": 1}, {"id": 1}]


def test_all_problems_of_a_file_are_reported_together() -> None:
    text = (
        "id: x\nstages:\n  no: {final: yes}\n  won: {}\n  won: {}\nx: !foo 1\n"
        "max_days: 0030\n1: z\nid: z\n"
    )
    err = refuse_text(text)
    assert codes(err) == [
        "yaml11-boolean", "yaml11-boolean", "yaml-duplicate-key", "yaml-tag", "yaml11-number",
        "yaml-key-type", "yaml-duplicate-key",
    ]
    assert [p.location.line for p in err.problems] == [3, 3, 5, 6, 7, 8, 9]


def test_problems_found_before_a_fatal_one_are_kept() -> None:
    err = refuse_text("a: no\nb: [1, 2\n")
    assert codes(err) == ["yaml11-boolean", "yaml-syntax"]


# ---------------------------------------------------------------------------------------
# tags


@pytest.mark.parametrize(
    "value",
    [
        '!!python/object/apply:os.system ["echo pwned"]',
        "!!python/name:os.system",
        "!!python/name:os.system ''",
        "!!python/object:collections.OrderedDict {}",
        "!!python/object/new:subprocess.Popen [[id]]",
        "!!python/module:os",
        "!!python/tuple [1, 2]",
        "!foo x",
        "!include other.yaml",
        "!!binary aGk=",
        "!!timestamp 2024-01-01",
        "!!set {a}",
        "!!omap [{a: 1}]",
        "!!merge x",
        "!<tag:example.com,2000:x> y",
        "!<tag:yaml.org,2002:python/none> ''",
        "!!map [1]",
        "!!seq {a: 1}",
        "!!int abc",
        "!!float yes_really",
        "!!null 0",
        "!!bool 1",
    ],
)
def test_tags_are_refused(value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    err = refuse_text(f"id: x\nv: {value}\n")
    assert codes(err) == ["yaml-tag"]
    assert pos(err.problem.location) == (2, 4)
    assert list(tmp_path.iterdir()) == []  # nothing was executed


def test_tag_directive_cannot_smuggle_a_python_tag() -> None:
    text = "%TAG !e! tag:yaml.org,2002:python/\n---\nv: !e!name:os.system x\n"
    assert codes(refuse_text(text)) == ["yaml-tag"]


def test_core_tags_on_collections_are_allowed() -> None:
    assert read("v: !!map {a: !!seq [1]}\nw: ! [x]\n") == {"v": {"a": [1]}, "w": ["x"]}


# ---------------------------------------------------------------------------------------
# aliases


def billion_laughs(levels: int, width: int, *, mapping: bool = False) -> str:
    """A classic alias bomb: ``width``**``levels`` leaves from a few hundred bytes."""
    lines = ["a0: &a0 lol"]
    for i in range(1, levels + 1):
        items = [f"*a{i - 1}"] * width
        body = ", ".join(f"k{j}: {item}" for j, item in enumerate(items)) if mapping else ", ".join(
            items
        )
        lines.append(f"a{i}: &a{i} {'{' if mapping else '['}{body}{'}' if mapping else ']'}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("levels", "width", "mapping"), [(9, 9, False), (30, 2, False), (8, 10, True), (4, 24, False)]
)
def test_alias_bombs_are_refused_without_expanding(levels: int, width: int, mapping: bool) -> None:
    text = billion_laughs(levels, width, mapping=mapping)
    problem = only(refuse_text(text), "yaml-alias-limit")
    assert problem.location.line > 1


def test_alias_bomb_inside_the_alias_budget_is_caught_by_the_node_budget() -> None:
    text = billion_laughs(6, 10)  # 60 aliases (< 100) but 1,111,111 expanded nodes
    problem = only(refuse_text(text), "yaml-alias-limit")
    assert "200,000" in problem.message


def test_too_many_alias_uses() -> None:
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * 101) + "]\n"
    problem = only(refuse_text(text), "yaml-alias-limit")
    assert problem.location.line == 2
    assert read("a: &a 1\nb: [" + ", ".join(["*a"] * 100) + "]\n")["b"] == [1] * 100


def test_alias_limits_are_configurable() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"
    only(refuse_text(text, Limits(max_aliases=1)), "yaml-alias-limit")
    only(refuse_text(text, Limits(max_nodes=10)), "yaml-alias-limit")
    only(refuse_text(text, Limits(max_nodes=15)), "yaml-alias-limit")
    assert read_yaml_text(text, file="p", limits=Limits(max_nodes=16)).data["b"] == [[1, 2, 3]] * 2


def test_recursive_and_undefined_aliases() -> None:
    only(refuse_text("a: &a [1, *a]\n"), "yaml-alias-limit")
    only(refuse_text("a: &a {b: {c: *a}}\n"), "yaml-alias-limit")
    only(refuse_text("a: *missing\n"), "yaml-syntax")


def test_aliases_within_limits_are_independent_copies() -> None:
    data = read("base: &b {roles: [a]}\nx: *b\nz: *b\n")
    assert data["x"] == data["z"] == data["base"] == {"roles": ["a"]}
    data["x"]["roles"].append("mutated")
    assert data["z"] == {"roles": ["a"]} and data["base"] == {"roles": ["a"]}


def test_alias_to_a_string_can_be_a_key() -> None:
    assert read("a: &k name\n*k : value\n") == {"a": "name", "name": "value"}


# ---------------------------------------------------------------------------------------
# depth


@pytest.mark.parametrize(
    "make",
    [
        lambda n: "a: " + "[" * n + "]" * n + "\n",
        lambda n: "a: " + "{a: " * n + "1" + "}" * n + "\n",
        lambda n: "a: " + "[" * n + "\n",
        lambda n: "a: " + "{" * n + "\n",
        lambda n: "a:\n  " + "- " * n + "x\n",
        lambda n: "a: " + "[{a: " * (n // 2) + "\n",
    ],
    ids=["flow-seq", "flow-map", "unclosed-seq", "unclosed-map", "dashes", "mixed"],
)
@pytest.mark.parametrize("n", [65, 10_000, 100_000])
def test_deep_nesting_is_refused_cleanly(make: Callable[[int], str], n: int, parser: str) -> None:
    problem = only(refuse_text(make(n)), "yaml-too-deep")
    assert problem.location.line in (1, 2)


def test_deep_block_nesting_is_refused() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "leaf: 1\n"
    problem = only(refuse_text(text), "yaml-too-deep")
    assert problem.location.line == 65


def test_depth_limit_is_exact_and_configurable() -> None:
    assert read("a: " + "[" * 63 + "]" * 63 + "\n")  # 64 levels with the root mapping
    only(refuse_text("a: " + "[" * 64 + "]" * 64 + "\n"), "yaml-too-deep")
    only(refuse_text("a: [[1]]\n", Limits(max_depth=2)), "yaml-too-deep")


def test_alias_expansion_counts_towards_depth() -> None:
    deep = "[" * 40 + "]" * 40
    only(refuse_text(f"a: &d {deep}\nb: {'[' * 30}*d{']' * 30}\n"), "yaml-too-deep")


def test_the_composer_never_recurses() -> None:
    n = 5000  # far past Python's recursion limit
    limits = Limits(max_depth=n + 1)
    data = read_yaml_text("a: " + "[" * n + "]" * n + "\n", file="p", limits=limits).data["a"]
    depth = 0
    while data:
        data, depth = data[0], depth + 1
    assert depth == n - 1


# ---------------------------------------------------------------------------------------
# size, encoding, emptiness, documents, syntax


def test_huge_text_is_refused_before_parsing() -> None:
    huge = "a: " + "x" * 3_000_000 + "\n"
    only(refuse_text(huge), "yaml-too-large")
    only(refuse_text(huge.encode()), "yaml-too-large")
    # a multi-byte text whose characters fit but whose bytes do not
    only(refuse_text("a: " + "潜" * 700_000 + "\n"), "yaml-too-large")


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(10 * 1024**3)  # sparse: reading it would take far too long
    err, took = refuse(lambda: read_yaml_file(path))
    assert codes(err) == ["yaml-too-large"] and took < HANG_GUARD


def test_too_many_nodes_is_refused_fast() -> None:
    problem = only(refuse_text("a: [" + "1," * 600_000 + "1]\n"), "yaml-too-large")
    assert "200,000" in problem.message


def test_size_limit_is_configurable() -> None:
    only(refuse_text("a: 12345\n", Limits(max_bytes=5)), "yaml-too-large")
    assert read_yaml_text("a: 1\n", file="p", limits=Limits(max_bytes=5)).data == {"a": 1}


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b"a: 1\nb: \xff\n", (2, 4)),
        (b"a: \xe6\xbd\x9c \xe6\xbd\n", (1, 6)),  # truncated after a good multi-byte char
        (b"a: \xc0\xaf\n", (1, 4)),  # overlong '/'
        (b"a: \xed\xa0\x80\n", (1, 4)),  # encoded surrogate
        (b"a: 1\r\nb: 2\r\nc: \x80", (3, 4)),
        (b"\xef\xbb\xbfa: \xff", (1, 4)),  # the BOM is not a column
        (b"a: ok\n" * 3 + b"\xf8\x88\x80\x80\x80", (4, 1)),
    ],
)
def test_invalid_utf8_is_located_at_the_first_bad_byte(raw: bytes, where: tuple[int, int]) -> None:
    problem = only(refuse_text(raw), "yaml-encoding")
    assert pos(problem.location) == where


def test_utf16_gets_a_hint() -> None:
    problem = only(refuse_text("a: 1\n".encode("utf-16")), "yaml-encoding")
    assert "UTF-16" in (problem.suggestion or "")


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x9b", "\ufffe"])
def test_control_characters_are_refused(char: str) -> None:
    problem = only(refuse_text(f"a: 1\nb: x{char}y\n"), "yaml-encoding")
    assert pos(problem.location) == (2, 5)


def test_lone_surrogate_in_str_input() -> None:
    only(refuse_text("a: \ud800\n"), "yaml-encoding")


def test_binary_garbage_is_refused() -> None:
    import random

    rng = random.Random(7)
    for _ in range(50):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
        with pytest.raises(PolicyError):
            read_yaml_text(blob, file="p.yaml")


def test_bom_is_accepted() -> None:
    assert read(b"\xef\xbb\xbfid: x\n") == {"id": "x"}
    assert read("\ufeffid: x\n") == {"id": "x"}


def test_crlf_and_old_mac_line_endings() -> None:
    assert read("a: 1\r\nb:\r\n  - x\r\n  - |\r\n    t\r\n    u\r\n") == {
        "a": 1, "b": ["x", "t\nu\n"]
    }
    assert read("a: 1\rb: 2\r") == {"a": 1, "b": 2}
    problem = only(refuse_text("a: 1\r\nb: 2\r\na: 3\r\n"), "yaml-duplicate-key")
    assert pos(problem.location) == (3, 1)


@pytest.mark.parametrize(
    "text", ["", "\n\n", "   \n", "# only\n# comments\n", "---\n", "---\n...\n", "--- # c\n",
             "\ufeff"],
)
def test_empty_files(text: str) -> None:
    problem = only(refuse_text(text), "yaml-empty")
    assert problem.message == "the policy file is empty"
    assert pos(problem.location) == (1, 1)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n", "null\n", "[a]\n", "'x'\n"])
def test_root_must_be_a_mapping(text: str) -> None:
    only(refuse_text(text), "yaml-not-mapping")


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: 1\n---\nb: 2\n", 2), ("--- \na: 1\n--- \n", 3), ("a: 1\n...\n---\nb: 1\n", 3),
     ("a: 1\n--- text\n", 2)],
)
def test_several_documents_are_refused(text: str, line: int) -> None:
    problem = only(refuse_text(text), "yaml-multiple-documents")
    assert problem.location.line == line


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a:\n\tb: 1\n", (2, 1)),
        ("a: 1\n\tb: 2\n", (2, 1)),
        ("a:\n  b:\n  \tc: 1\n", (3, 3)),
        ("a:\n  -\tx\n", (2, 4)),
    ],
)
def test_tabs_used_for_indentation(text: str, where: tuple[int, int], parser: str) -> None:
    problem = only(refuse_text(text), "yaml-syntax")
    assert pos(problem.location) == where
    assert problem.suggestion == "indent with spaces, not tabs"
    assert "tab" in problem.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('a: "unclosed\n', 2),
        ("a: [1, 2\n", 2),
        ("a: {b: 1\n", 2),
        ("a: b: c\n", 1),
        ("a:\n  b: 1\n c: 2\n", 3),
        ("- a\nb: 1\n", 2),
        ("a: @x\n", 1),
        ("a: `x\n", 1),
        ('a: "\\q"\n', 1),
        ("a: *\n", 1),
        ("a: !x!y z\n", 1),
        ("%YAML 2.0\n---\na: 1\n", 1),
        ("a\nb: 1\n", 2),
        ("k" * 1100 + ": 1\n", 1),
    ],
)
def test_syntax_errors_are_located_and_readable(text: str, line: int, parser: str) -> None:
    err = refuse_text(text)
    assert codes(err)[-1] == "yaml-syntax"
    problem = err.problems[-1]
    assert abs(problem.location.line - line) <= 1
    for jargon in ("<block end>", "scalar", "token", "\\x00"):
        assert jargon not in problem.message, problem.message


# ---------------------------------------------------------------------------------------
# property: nothing but PolicyError, ever

YAMLISH = st.text(
    alphabet=st.sampled_from(
        list("{}[]:,-?&*!|>'\"#%@`\\\n\r\t ~.0123456789abyesnoxU\ufeff\x00潜")
    ),
    max_size=200,
)


def read_or_refuse(text: str | bytes, limits: Limits = Limits()) -> None:  # noqa: B008
    """Read text; anything but a Document or a located PolicyError fails the test."""
    try:
        doc = read_yaml_text(text, file="p.yaml", limits=limits)
    except PolicyError as err:
        for problem in err.problems:
            assert problem.location.line >= 1 and problem.location.column >= 1, problem.render()
            assert problem.code.startswith(("yaml-", "yaml11-"))
        return
    assert isinstance(doc.data, dict)
    sm = doc.source_map
    for key in doc.data:
        sm.locate([key])
        sm.locate_key([key])
        for offset in range(0, 5):
            sm.locate_in_scalar([key], offset)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
def test_random_yamlish_text_never_raises_anything_else(text: str) -> None:
    read_or_refuse(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_random_text_never_raises_anything_else(text: str) -> None:
    read_or_refuse(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_else(raw: bytes) -> None:
    read_or_refuse(raw)


@settings(max_examples=200, deadline=None)
@given(YAMLISH, st.integers(1, 5), st.integers(0, 3), st.integers(1, 20))
def test_random_text_under_tight_limits(text: str, depth: int, aliases: int, nodes: int) -> None:
    limits = Limits(max_bytes=150, max_depth=depth, max_aliases=aliases, max_nodes=nodes)
    read_or_refuse(text, limits)


@settings(max_examples=200, deadline=None)
@given(YAMLISH)
def test_python_parser_never_raises_anything_else(text: str) -> None:
    saved = yaml_reader._USE_LIBYAML
    yaml_reader._USE_LIBYAML = False
    try:
        read_or_refuse(text)
    finally:
        yaml_reader._USE_LIBYAML = saved


# ---------------------------------------------------------------------------------------
# full-width (Chinese input mode) punctuation: located at the character, named


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        # reported as "a key here is missing its ':'" on the next line, never naming '：'
        ("stages:\n  qualified:\n    label: Q\n    max_days： 20\n\n  won:\n    final: true\n",
         (4, 13),
         "full-width colon '：' (U+FF1A): write ':'"),
        # reported as "a ': ' is not allowed here" on the next line
        ("steps:\n  - id：first_call\n    label: x\n", (2, 7),
         "full-width colon '：' (U+FF1A): write ':'"),
        ("label: {en: Qualified， zh: 意向客户}\n", (1, 22),
         "full-width comma '，' (U+FF0C): write ','"),
        ("message: “Discount: ask”\nb: 1\n", (1, 10), "full-width opening quote '“'"),
    ],
    ids=["colon-value", "colon-list-item", "comma-in-flow", "quote"],
)
def test_full_width_punctuation_is_named_where_it_is(
    text: str, where: tuple[int, int], words: str, parser: str
) -> None:
    problem = only(refuse_text(text), "yaml-syntax")
    assert pos(problem.location) == where, problem.render()
    assert words in problem.message
    assert "half-width" in (problem.suggestion or "")


def test_full_width_text_that_is_not_the_cause_is_not_blamed(parser: str) -> None:
    """Chinese quotes in a label on the line before an unclosed list: the list is the fault."""
    text = "label: {en: Qualified, zh: “意向客户”}\nbad: [1, 2\n"
    problem = only(refuse_text(text), "yaml-syntax")
    assert "full-width" not in problem.message
    assert "missing a ','" in problem.message or "ends before" in problem.message
    assert read("zh: “意向客户”，须确认\n") == {"zh": "“意向客户”，须确认"}
