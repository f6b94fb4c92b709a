"""cycleflow lint on real policy files: broken ones at their marked line, warnings, formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from cycleflow.cli.main import cli
from cycleflow.errors import Problem
from cycleflow.toolkit.lint import lint_file, lint_paths

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "data" / "policies" / "broken"
SUITES = ROOT / "tests" / "data" / "suites" / "policies"
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"

# The code each broken policy must report at its "# <- defect" line.
EXPECTED = {
    "include-fragment-with-forbidden-key.yaml": "schema-unknown-key",
    "lint-binds-field-typo.yaml": "unknown-field",
    "lint-bad-expression.yaml": "expr-syntax",
    "lint-duplicate-rule-id.yaml": "duplicate-id",
    "lint-reserved-rule-id.yaml": "reserved-id",
    "lint-duplicate-transition.yaml": "duplicate-transition",
    "lint-field-not-in-deal-schema.yaml": "expr-unknown-field",
    "lint-huge-expression.yaml": "expr-constant-error",
    "lint-missing-initial-stage.yaml": "no-initial-stage",
    "lint-transition-from-final.yaml": "from-final-stage",
    "lint-unknown-function.yaml": "expr-unknown-function",
    "lint-unknown-gate.yaml": "unknown-gate",
    "lint-unknown-stage-in-at.yaml": "unknown-stage",
    "lint-unknown-stage-near-miss.yaml": "unknown-stage",
    "lint-unsafe-expression.yaml": "expr-method-call",
    "schema-bad-then-value.yaml": "schema-pattern",
    "schema-missing-version.yaml": "schema-required",
    "schema-unknown-key-entery.yaml": "schema-unknown-key",
    "schema-wrong-type-max-days.yaml": "schema-type",
    "yaml-duplicate-key.yaml": "yaml-duplicate-key",
    "yaml11-norway-label.yaml": "yaml11-boolean",
    "yaml11-octal-max-days.yaml": "yaml11-number",
}

# Where the reported line differs from the marker, for a stated reason: (line, reason).
DIFFERENT_LINE = {
    # The marker is on `stages:`; lint points at the first stage, where `initial: true` goes.
    "lint-missing-initial-stage.yaml": (8, "points at the stage that should be initial"),
    # The schema's dependentSchemas reports the missing `final` at the stage, not at `outcome`.
}


def marker_line(path: Path, pattern: str = r"#\s*<-\s*defect") -> int:
    for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if re.search(pattern, line):
            return n
    raise AssertionError(f"{path} has no defect marker")


def test_every_broken_policy_is_covered() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_policy_reports_code_at_marked_line(name: str) -> None:
    path = BROKEN / name
    problems = lint_file(str(path))
    assert problems, f"{name}: lint found nothing"
    assert all(p.location.line > 0 and p.location.column > 0 for p in problems)
    code = EXPECTED[name]
    if name == "include-fragment-with-forbidden-key.yaml":
        # the defect is in the fragment, which carries its own marker
        fragment = BROKEN / "fragments" / "fragment-with-deal-schema.yaml"
        want_file, want_line = str(fragment), marker_line(fragment)
    else:
        want_file = str(path)
        want_line = DIFFERENT_LINE.get(name, (marker_line(path), ""))[0]
    hits = [p for p in problems if p.code == code and p.location.line == want_line
            and Path(p.location.file).resolve() == Path(want_file).resolve()]
    assert hits, f"{name}: want {code} at line {want_line}, got " + "; ".join(
        p.render() for p in problems)
    assert hits[0].severity == "error"


def test_near_miss_has_did_you_mean() -> None:
    problems = lint_file(str(BROKEN / "lint-unknown-stage-near-miss.yaml"))
    assert problems[0].suggestion == "did you mean 'qualified'?"
    gate = lint_file(str(BROKEN / "lint-unknown-gate.yaml"))
    assert gate[0].suggestion == "did you mean 'discount_desk'?"
    # binds takes deal.<field>: the suggestion is what to write there
    binds = lint_file(str(BROKEN / "lint-binds-field-typo.yaml"))
    assert binds[0].suggestion == "did you mean 'deal.discount_pct'?"


def _markers(path: Path, kind: str) -> set[tuple[int, str]]:
    out: set[tuple[int, str]] = set()
    for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        m = re.search(rf"#\s*<-\s*{kind}:\s*(.+)$", line)
        if m:
            out.update((n, code.strip()) for code in m.group(1).split(","))
    return out


def test_all_errors_at_once() -> None:
    path = SUITES / "many-errors.yaml"
    problems = lint_file(str(path))
    assert {(p.location.line, p.code) for p in problems} == _markers(path, "error")
    assert [p.location.line for p in problems] == sorted(p.location.line for p in problems)


def test_semantic_warnings_at_marked_lines() -> None:
    path = SUITES / "lint-warnings.yaml"
    problems = lint_file(str(path))
    # its stages limbo and orphan are not in the stage enum of the deal schema it names,
    # and the enum's negotiation, closed and lost are no stages of it
    stage_enum = {"stage-not-in-deal-schema", "deal-schema-unknown-stage"}
    assert {(p.code, p.message.split("'")[1]) for p in problems if p.code in stage_enum} == {
        ("stage-not-in-deal-schema", "limbo"), ("stage-not-in-deal-schema", "orphan"),
        ("deal-schema-unknown-stage", "negotiation"), ("deal-schema-unknown-stage", "closed"),
        ("deal-schema-unknown-stage", "lost")}
    problems = [p for p in problems if p.code not in stage_enum]
    assert {(p.location.line, p.code) for p in problems} == _markers(path, "warn")
    assert not [p for p in problems if p.severity == "error"]
    sev = {p.code: p.severity for p in problems}
    assert sev["gate-count-exceeds-roles"] == "info"
    assert sev["expr-type-mismatch"] == "warning"


def test_type_mismatch_reported_even_when_policy_fails_to_load(tmp_path: Path) -> None:
    text = (SUITES / "lint-warnings.yaml").read_text("utf-8")
    text = text.replace("../../../../cycleflow", str(ROOT / "cycleflow"))
    text = text.replace("to: qualified}", "to: qualifed}")
    path = tmp_path / "p.yaml"
    path.write_text(text, "utf-8")
    codes = {p.code for p in lint_file(str(path))}
    assert {"unknown-stage", "expr-type-mismatch"} <= codes


def test_valid_policies() -> None:
    shipped = lint_file(str(SHIPPED))
    assert shipped == []  # the shipped policy lints clean
    data = ROOT / "tests" / "data" / "policies"
    assert lint_paths([str(data / "partner-channel.yaml"), str(data / "with-include.yaml")]) == []


def test_cli_text_and_exit_codes() -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["lint", str(SHIPPED)])
    assert ok.exit_code == 0, ok.output
    assert ok.output == ""
    bad = runner.invoke(cli, ["lint", str(BROKEN / "lint-unknown-gate.yaml"), str(SHIPPED)])
    assert bad.exit_code == 1
    assert re.search(r"lint-unknown-gate\.yaml:32:11: unknown-gate: .*did you mean", bad.output)
    assert "Traceback" not in bad.output
    missing = runner.invoke(cli, ["lint", "no/such/policy.yaml"])
    assert missing.exit_code == 1
    assert "file-not-found" in missing.output


def test_cli_json() -> None:
    res = CliRunner().invoke(cli, ["lint", "--format", "json", str(SUITES / "many-errors.yaml")])
    assert res.exit_code == 1
    doc = json.loads(res.output)
    assert doc["summary"] == {"errors": 4, "warnings": 0, "notes": 0}
    assert {p["code"] for p in doc["problems"]} == {
        "duplicate-id", "expr-unknown-function", "unknown-stage", "unknown-gate"}


def test_sarif_is_valid_2_1_0() -> None:
    schema = json.loads((ROOT / "tests" / "data" / "sarif" / "sarif-schema-2.1.0.json")
                        .read_text("utf-8"))
    paths = [str(SUITES / "lint-warnings.yaml"), str(BROKEN / "lint-unknown-gate.yaml"),
             str(BROKEN / "include-fragment-with-forbidden-key.yaml")]
    res = CliRunner().invoke(cli, ["lint", "--format", "sarif", *paths])
    assert res.exit_code == 1
    log = json.loads(res.output)
    jsonschema.validate(log, schema)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    for result in run["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["unknown-gate"] == "error"
    assert levels["unused-gate"] == "warning"
    assert levels["gate-count-exceeds-roles"] == "note"


def test_problem_render_is_stable() -> None:
    p = lint_file(str(BROKEN / "lint-unknown-gate.yaml"))[0]
    assert isinstance(p, Problem)
    assert p.render().startswith(f"{BROKEN / 'lint-unknown-gate.yaml'}:32:11: unknown-gate:")


PARTNER = ROOT / "tests" / "data" / "policies" / "partner-channel.yaml"


@pytest.mark.parametrize(("schema", "code", "words"), [
    ('{"type": "object", "properties": {"a": {"$ref": "#/definitions/nope"}}}',
     "deal-schema-bad-ref", "points nowhere"),
    ('{"type": "object", "$defs": {"money": {"type": "number"}},'
     ' "properties": {"a": {"$ref": "#/$defs/mony"}}}', "deal-schema-bad-ref", "#/$defs/money"),
    ('{"type": "object", "properties": {"a": {"type": "string", "pattern": "(["}}}',
     "deal-schema-invalid", "#/properties/a/pattern"),
    ('{"type": "object", "properties": {"a": {"type": 3}}}', "deal-schema-invalid",
     "#/properties/a/type"),
    ('{"$ref": "#/definitions/a", "definitions": {"a": {"$ref": "#/definitions/b"},'
     ' "b": {"$ref": "#/definitions/a"}}}', "deal-schema-ref-loop", "loops"),
    ('{"type": "object", "properties": {"a": {"$ref": "https://example.com/x.json"}}}',
     "deal-schema-remote-ref", "not local"),
    ('{"a": ' * 3000 + "1" + "}" * 3000, "deal-schema-too-deep", "nests too deeply"),
    # a draft-07 schema whose nested "id" moved the base URI: fastjsonschema fetched
    # http://127.0.0.1:8765/evil.json for "#/definitions/x" (file:///dev/zero ate 2.6 GB)
    ('{"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"x": {}},'
     ' "properties": {"a": {"id": "http://127.0.0.1:8765/evil.json#foo",'
     ' "properties": {"b": {"$ref": "#/definitions/x"}}}}}', "deal-schema-remote-ref",
     "changes the base URI"),
    ('{"properties": {"a": {"$id": "other.json", "$ref": "#/$defs/x"}}, "$defs": {"x": {}}}',
     "deal-schema-remote-ref", "changes the base URI"),
    # a loop through allOf/anyOf never steps into the value: every deal was "nested too
    # deeply" while lint passed (a security review)
    ('{"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "type": "object",'
     ' "properties": {"budget": {"$ref": "#/$defs/a"}}}', "deal-schema-ref-loop", "loops"),
    ('{"$defs": {"a": {"anyOf": [{"type": "string"}, {"not": {"$ref": "#/$defs/b"}}]},'
     ' "b": {"if": {"$ref": "#/$defs/a"}}}, "properties": {"x": {"$ref": "#/$defs/a"}}}',
     "deal-schema-ref-loop", "#/$defs/a → #/$defs/b → #/$defs/a"),
    # a pattern re could backtrack on and RE2 cannot match (a back-reference): located
    ('{"properties": {"x": {"type": "string", "pattern": "^((a)\\\\2+)+$"}}}',
     "deal-schema-pattern-unsafe", "#/properties/x/pattern"),
], ids=["bad-ref", "near-miss-ref", "bad-pattern", "bad-type", "ref-loop", "remote-ref",
        "too-deep", "nested-id-url", "nested-id-relative", "loop-through-allof",
        "loop-through-anyof-not-if", "pattern-re2-cannot-take"])
def test_a_deal_schema_no_deal_could_be_checked_against_is_a_located_policy_error(
    tmp_path: Path, schema: str, code: str, words: str
) -> None:
    """Each once passed lint and surfaced only when an Engine was built (a raw
    fastjsonschema error, a location at the first stage) or on every deal (a $ref loop)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(PARTNER.read_text("utf-8"), "utf-8")
    (tmp_path / "partner-deal.schema.json").write_text(schema, "utf-8")
    line = next(n for n, text in enumerate(PARTNER.read_text("utf-8").splitlines(), 1)
                if text.startswith("deal_schema:"))
    problems = [p for p in lint_file(str(policy)) if p.severity == "error"]
    assert [p.code for p in problems] == [code]
    problem = problems[0]
    assert (problem.location.file, problem.location.line) == (str(policy), line)
    assert problem.location.column > 0 and problem.suggestion
    assert words in problem.message or words in (problem.suggestion or "")
    result = CliRunner().invoke(cli, ["lint", str(policy)])
    assert result.exit_code == 1 and code in result.output


def _bad_policies(tmp_path: Path) -> list[Path]:
    """Every broken policy the tests hold, and the partner policy with each hostile rule."""
    files = sorted(BROKEN.glob("*.yaml")) + sorted((ROOT / "tests" / "data" / "yaml").glob("*"))
    text = PARTNER.read_text("utf-8")
    (tmp_path / "partner-deal.schema.json").write_bytes(
        (PARTNER.parent / "partner-deal.schema.json").read_bytes())
    hostile = (ROOT / "tests" / "data" / "expressions" / "adversarial.txt").read_text("utf-8")
    extra = ["deal.amount << 2", "{'a': 1}", "b'x'", "len(x=deal.steps)", "(lambda: 1)()",
             "deal.nope > 1", "'x' * 100000 == deal.id", "now.tzinfo", ""]
    for n, rule in enumerate([*hostile.splitlines(), *extra]):
        policy = tmp_path / f"rule-{n}.yaml"
        policy.write_text(text.replace("when: has(deal.partner.name)",
                                       "when: " + json.dumps(rule)), "utf-8")
        files.append(policy)
    return files


def test_every_policy_problem_says_what_to_do(tmp_path: Path) -> None:
    """Each error a policy can get carries a suggestion, not only its place."""
    codes: set[str] = set()
    for path in _bad_policies(tmp_path):
        for problem in lint_file(str(path)):
            codes.add(problem.code)
            assert problem.suggestion, (path.name, problem.render())
    assert len(codes) > 40  # the corpus reaches most of the codes there are


def test_a_criterion_written_with_a_thousands_comma_is_an_error(tmp_path: Path) -> None:
    """`deal.budget > 100,000` is a tuple, true for every deal: lint was clean, and
    explain and check let every deal past the criterion."""
    source = (ROOT / "policies" / "standard-sales-cycle.yaml").read_text("utf-8")
    assert "        when: deal.budget > 0\n" in source
    policy = tmp_path / "policy.yaml"
    policy.write_text(source.replace("        when: deal.budget > 0\n",
                                     "        when: deal.budget > 100,000\n")
                      .replace("../schemas/", str(ROOT / "schemas") + "/"), "utf-8")
    line = source[: source.index("        when: deal.budget > 0\n")].count("\n") + 1
    result = CliRunner().invoke(cli, ["lint", str(policy)])
    assert result.exit_code == 1
    assert f"policy.yaml:{line}:33: expr-not-a-condition" in result.output
    assert "thousands separator" in result.output
    deal = tmp_path / "deal.json"
    deal.write_text(json.dumps({"id": "T", "stage": "prospect", "owner": "ann",
                                "stage_entered_at": "2026-11-20T00:00:00Z"}))
    checked = CliRunner().invoke(cli, ["check", "-p", str(policy), str(deal), "-j", "1"])
    assert checked.exit_code == 3, checked.output  # an invalid policy, not a clean pass


def _lint_text(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "policy.yaml"
    path.write_text(text, "utf-8")
    return lint_file(str(path))


_TINY = ('cycleflow: 1\nid: demo\nversion: "1"\nstages:\n  prospect:\n    initial: true\n'
         "{label}  won: {{final: true, outcome: won}}\n"
         "transitions:\n  - {{trigger: win, from: prospect, to: won}}\n")


def test_each_missing_key_gets_its_own_hint(tmp_path: Path) -> None:
    """Every schema-required problem suggested the first missing key ('add id:')."""
    problems = _lint_text(tmp_path, "cycleflow: 1\nstages:\n  a: {initial: true}\n"
                          "  b: {final: true, outcome: won}\n"
                          "transitions:\n  - {trigger: go, from: a, to: b}\n")
    hints = {p.message.split("'")[1]: p.suggestion for p in problems
             if p.code == "schema-required"}
    assert set(hints) == {"id", "version"}
    assert all((s or "").startswith(f"add '{key}:'") for key, s in hints.items()), hints


def test_an_unknown_label_language_is_named_not_the_valid_one(tmp_path: Path) -> None:
    """'zh' (valid, by pattern) was reported as unknown, with 'allowed keys: en'."""
    problems = _lint_text(tmp_path, _TINY.format(
        label="    label: {en: Prospect, zh: 潜在客户, zh_TW: 潛在客戶}\n"))
    [p] = problems
    assert p.code == "schema-unknown-key" and "'zh_TW'" in p.message
    assert (p.location.line, p.location.column) == (7, 37)
    assert "zh" in (p.suggestion or "") and "pt-BR" in (p.suggestion or "")


def test_a_bad_stage_id_is_located_at_its_key(tmp_path: Path) -> None:
    """A stage key breaking the id pattern was reported at the first stage's line."""
    problems = _lint_text(tmp_path, _TINY.format(label="").replace("won", "Won"))
    located = [(p.location.line, p.location.column) for p in problems if "stages:" in p.message]
    assert located == [(7, 3)]


def test_schema_messages_use_yaml_words(tmp_path: Path) -> None:
    """'None is not of type', 'write True': Python spellings an officer never wrote."""
    problems = _lint_text(tmp_path, 'cycleflow: 1\nid: demo\nversion: "1"\nstages:\n'
                          "transitions: []\n")
    text = " ".join(f"{p.message} {p.suggestion}" for p in problems)
    assert "None" not in text and "nothing (null) is not of type 'object'" in text


def test_the_lint_example_in_the_authoring_guide_is_what_lint_prints(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The guide showed a warning and counts the shipped policy no longer gave."""
    guide = (ROOT / "docs" / "authoring.md").read_text("utf-8")
    block = guide.split("```console\n$ cycleflow lint ", 1)[1].split("```", 1)[0]
    command, *expected = block.strip("\n").split("\n")
    monkeypatch.chdir(ROOT)  # the guide's paths are relative to the repository
    result = CliRunner().invoke(cli, ["lint", *command.split()])
    assert result.output.strip("\n").split("\n") == expected, result.output


def test_a_label_language_typo_is_a_warning(tmp_path: Path) -> None:
    """`{en: Qualified, ch: 意向客户}` linted clean; with --lang zh the Chinese was never shown."""
    source = SHIPPED.read_text("utf-8")
    assert "label: {en: Qualified, zh: 意向客户}" in source
    text = source.replace("label: {en: Qualified, zh: 意向客户}",
                          "label: {en: Qualified, ch: 意向客户}")
    problems = _lint_text(tmp_path, text.replace("../schemas/", str(ROOT / "schemas") + "/"))
    [p] = problems
    assert p.code == "label-language" and p.severity == "warning"
    assert p.suggestion == "did you mean 'zh'?" and "'ch'" in p.message
    line = text[: text.index("ch: 意向客户")].count("\n") + 1
    assert p.location.line == line
    assert not lint_file(str(SHIPPED))  # the shipped policy, all zh, has none


def test_a_test_suite_given_to_lint_is_named_as_one() -> None:
    """`cycleflow lint policies/*.yaml` picked up the suite and printed six schema errors
    about a policy missing its id, version and stages."""
    suite = ROOT / "policies" / "standard-sales-cycle.test.yaml"
    [p] = lint_file(str(suite))
    assert p.code == "not-a-policy" and (p.location.line, p.location.column) == (1, 1)
    assert "cycleflow test" in (p.suggestion or "")
    broken = [str(q) for q in BROKEN.glob("schema-missing-version.yaml")]
    assert all(x.code != "not-a-policy" for x in lint_file(broken[0]))


def test_an_id_in_data_keywords_is_not_a_base_uri(tmp_path: Path) -> None:
    """Only schema positions move the base URI: an example record or a default with an
    "id" URL, beside a 2020-12 anchor, is accepted."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(PARTNER.read_text("utf-8"), "utf-8")
    (tmp_path / "partner-deal.schema.json").write_text(json.dumps({
        "$id": "https://example.com/deal.schema.json", "type": "object",
        "properties": {"link": {"$anchor": "link", "type": "string",
                                "examples": [{"id": "https://crm.example.com/deal/1"}],
                                "default": {"id": "http://x"}}}}), "utf-8")
    assert [p for p in lint_file(str(policy)) if p.code.startswith("deal-schema")] == []


def test_no_validator_ever_fetches_a_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the load-time check, both fallbacks refuse to fetch on their own: fastjsonschema
    (a handler for every scheme, refusing) and jsonschema (an empty registry)."""
    import urllib.request

    from cycleflow.validate.compiled import compile_validator

    def fetched(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"fetched {args}")

    monkeypatch.setattr(urllib.request, "urlopen", fetched)
    nested_id = {"$schema": "http://json-schema.org/draft-07/schema#",
                 "definitions": {"x": {"type": "string"}},
                 "properties": {"a": {"id": "http://127.0.0.1:9/evil.json#foo",
                                      "properties": {"b": {"$ref": "#/definitions/x"}}}}}
    with pytest.raises(Exception, match="nothing is fetched"):
        compile_validator(nested_id)
    remote = {"type": "object", "unevaluatedProperties": True,  # forces the jsonschema path
              "properties": {"a": {"$ref": "http://127.0.0.1:9/x.json"}}}
    validate = compile_validator(remote)
    problem = validate({"a": 1})
    assert problem is not None and "http://127.0.0.1:9/x.json" in problem


def test_a_number_python_cannot_read_in_the_deal_schema_is_located_there(tmp_path: Path) -> None:
    """A 5,000-digit minimum was 'internal error: ValueError: Exceeds the limit' (exit 70)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(PARTNER.read_text("utf-8"), "utf-8")
    schema = tmp_path / "partner-deal.schema.json"
    schema.write_text('{"type": "object",\n "properties": {"a": {"minimum": 1'
                      + "0" * 5000 + "}}}", "utf-8")
    problems = [p for p in lint_file(str(policy)) if p.severity == "error"]
    assert [(p.code, p.location.file, p.location.line, p.location.column)
            for p in problems] == [("deal-schema-syntax", str(schema), 2, 34)]
    assert "more than 4,300 digits" in problems[0].message
    result = CliRunner().invoke(cli, ["lint", str(policy)])
    assert result.exit_code == 1 and "internal error" not in result.output


def test_a_draft_07_schema_keeps_linear_patterns_and_refuses_nested_ones_located(
        tmp_path: Path) -> None:
    """Only a fallback validator reads a draft-07 schema, and it cannot hand patterns to
    RE2: an ordinary '^[A-Z]+-\\d+$' was refused there (unlocated, exit 3, lint silent),
    while '^(a{1,10}){1,10}$' went unnoticed. Now the first is fine and the second is a
    located lint error."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(PARTNER.read_text("utf-8"), "utf-8")
    schema = tmp_path / "partner-deal.schema.json"
    for pattern, codes in ((r"^[A-Z]+-\d+$", []),
                           ("^(a{1,10}){1,10}$", ["deal-schema-pattern-unsafe"])):
        schema.write_text(json.dumps({"$schema": "http://json-schema.org/draft-07/schema#",
                                      "type": "object",
                                      "properties": {"sku": {"type": "string",
                                                             "pattern": pattern}}}), "utf-8")
        found = [p for p in lint_file(str(policy)) if p.code.startswith("deal-schema")]
        assert [p.code for p in found] == codes
        assert all(p.location.file == str(policy) and p.location.line > 0 for p in found)
