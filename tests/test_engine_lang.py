"""``lang`` as a locale writes it (``zh_CN``) is the same language as ``zh-CN``; a ``lang``
that is not text is a UsageError, not an AttributeError deep in a lookup."""

from __future__ import annotations

from typing import Any

import pytest
from shipped import NOW, POLICY, REP, deal

from cycleflow import Engine, UsageError, load_policy


def test_an_underscored_language_code_is_its_hyphenated_form() -> None:
    policy = load_policy(POLICY)
    under, hyphen = Engine(policy, lang="zh_CN"), Engine(policy, lang="zh-CN")
    assert under.lang == "zh-CN"
    blocked = deal(amount=0)
    said = under.decide(blocked, "advance", REP, now=NOW).violations
    expected = hyphen.decide(blocked, "advance", REP, now=NOW).violations
    assert [v.message for v in said] == [v.message for v in expected]
    assert said[0].message != Engine(policy).decide(blocked, "advance", REP,
                                                     now=NOW).violations[0].message
    assert under._stage_label("won") == "成交"


@pytest.mark.parametrize("lang", [5, b"zh", ["zh"]])
def test_a_language_that_is_not_text_is_a_usage_error(lang: Any) -> None:
    with pytest.raises(UsageError, match="lang must be a language code"):
        Engine(load_policy(POLICY), lang=lang)


def test_an_unknown_language_is_still_taken() -> None:
    """A policy may carry labels in languages the engine's own sentences lack."""
    assert Engine(load_policy(POLICY), lang="fr").lang == "fr"
    assert Engine(load_policy(POLICY), lang=None).lang == "en"  # type: ignore[arg-type]
