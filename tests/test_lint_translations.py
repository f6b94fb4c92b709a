"""lint warns about texts a bilingual policy left in one language, and about template
placeholders in messages (policy-evolution review: a new criterion's en-only message
showed in English under --lang zh, and '{discount_pct}' was printed as written in every
violation, explanation and audit event, while lint was clean)."""

from __future__ import annotations

import re
from pathlib import Path

from cycleflow.errors import Problem
from cycleflow.toolkit.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"
BUDGET = ("message:\n          en: The customer's budget must be confirmed before qualification.\n"
          "          zh: 确认意向前必须确认客户预算。")


def _lint(tmp_path: Path, old: str, new: str) -> tuple[list[Problem], str]:
    text = SHIPPED.read_text("utf-8")
    assert text.count(old) == 1, old
    text = text.replace(old, new).replace("../schemas/", str(ROOT / "schemas") + "/")
    path = tmp_path / "p.yaml"
    path.write_text(text, "utf-8")
    return lint_file(str(path)), text


def _at(text: str, needle: str) -> tuple[int, int]:
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


def test_a_message_without_the_chinese_text_is_a_warning_at_it(tmp_path: Path) -> None:
    problems, text = _lint(tmp_path, BUDGET, "message: {en: The customer's budget must be known.}")
    [p] = problems
    assert (p.code, p.severity) == ("label-missing-language", "warning")
    assert (p.location.line, p.location.column) == _at(text, "{en: The customer's budget")
    assert "this message has no 'zh'" in p.message and "--lang zh shows its English" in p.message
    assert p.suggestion == "write it as a language map: {en: ..., zh: ...}"


def test_a_plain_text_label_in_a_translated_policy_is_a_warning(tmp_path: Path) -> None:
    problems, text = _lint(tmp_path, BUDGET, "message: The customer's budget must be known.")
    [p] = problems
    assert p.code == "label-missing-language" and "this message is plain text" in p.message
    assert (p.location.line, p.location.column) == _at(text, "The customer's budget must be")


def test_an_english_only_policy_is_not_asked_for_translations(tmp_path: Path) -> None:
    text = SHIPPED.read_text("utf-8")
    english = "\n".join(line for line in text.split("\n") if not line.strip().startswith("zh:"))
    english = re.sub(r", zh: [^,}]*\}", "}", english)
    assert "zh:" not in english
    path = tmp_path / "en.yaml"
    path.write_text(english.replace("../schemas/", str(ROOT / "schemas") + "/"), "utf-8")
    assert [p.code for p in lint_file(str(path))] == []


def test_a_misspelt_language_is_one_warning_not_two(tmp_path: Path) -> None:
    problems, _ = _lint(tmp_path, "label: {en: Qualified, zh: 意向客户}",
                        "label: {en: Qualified, ch: 意向客户}")
    assert [p.code for p in problems] == ["label-language"]


def test_a_placeholder_in_a_message_is_a_warning_at_the_text_that_holds_it(
        tmp_path: Path) -> None:
    new = ("message: {en: 'The budget ({budget}) must be confirmed.', "
           "zh: '确认意向前必须确认客户预算（{budget}）。'}")
    problems, text = _lint(tmp_path, BUDGET, new)
    [p] = problems  # one per message, not one per language
    assert (p.code, p.severity) == ("label-placeholder", "warning")
    assert (p.location.line, p.location.column) == _at(text, "'The budget ({budget})")
    assert p.message == ("{budget} is shown as written: labels and messages are not "
                         "templates")
    assert "values" in (p.suggestion or "")


def test_braces_that_are_no_placeholder_are_left_alone(tmp_path: Path) -> None:
    new = ("message: {en: 'Confirm the budget {in writing, please}.', "
           "zh: 确认意向前必须确认客户预算。}")
    problems, _ = _lint(tmp_path, BUDGET, new)
    assert problems == []


def test_extension_keys_are_not_labels(tmp_path: Path) -> None:
    """x- keys are ignored by format 1: their texts were counted and warned about (QA pass)."""
    problems, _ = _lint(tmp_path, "version: \"2026.11\"\n",
                        "version: \"2026.11\"\nx-notes: {message: 'see {page_id}'}\n"
                        "x-owner: {label: Compliance team}\n")
    assert problems == []
