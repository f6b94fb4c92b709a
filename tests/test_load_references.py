"""What a policy may make cycleflow read: its fragments, deal schema and (for a suite) policy.

A policy comes from many authors through pull requests, and CI runs `lint` and `check`
on it. A security review made `include: ["../../run/secrets/db_password"]` print the
secret in lint's error ("the document is the single value 'S3cr3t...'"), and
`deal_schema: /dev/zero` report "not found".
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cycleflow import PolicyError, load_policy
from cycleflow.toolkit.testing import load_suite

POLICY = """cycleflow: 1
id: t
version: "1"
title: T
{extra}
stages:
  a: {{label: {{en: A, zh: 甲}}, initial: true}}
  b: {{label: {{en: B, zh: 乙}}, final: true}}
transitions:
  - {{trigger: go, from: a, to: b}}
"""
SECRET = "S3cr3t-DB-Passw0rd!"  # never in an error


def _repo(tmp_path: Path) -> Path:
    """A repository holding policies/, with a secret file beside the repository."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "policies").mkdir()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "db_password").write_text(SECRET, "utf-8")
    (tmp_path / "secrets" / "db.yaml").write_text(f"password: {SECRET}\n", "utf-8")
    (tmp_path / "secrets" / "creds.json").write_text(f'{{"enum": ["{SECRET}"]}}', "utf-8")
    return repo


def _load_error(policy: Path, extra: str) -> str:
    policy.write_text(POLICY.format(extra=extra), "utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(policy)
    text = str(info.value) + "".join(p.render() for p in info.value.problems)
    assert SECRET not in text  # never quoted, whatever the error
    return text


@pytest.mark.parametrize(("extra", "words"), [
    ('include: ["../../secrets/db_password"]', "is not a .yaml or .yml file"),
    ('include: ["../../secrets/db.yaml"]', "is outside the repository"),
    ('include: ["/etc/passwd"]', "is not a .yaml or .yml file"),
    ('deal_schema: "../../secrets/creds.json"', "is outside the repository"),
    ('deal_schema: "/proc/self/environ"', "is not a .json file"),
])
def test_a_policy_cannot_read_files_outside_its_repository(
        tmp_path: Path, extra: str, words: str) -> None:
    policy = _repo(tmp_path) / "policies" / "p.yaml"
    assert words in _load_error(policy, extra)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks and FIFOs")
def test_a_symlink_out_of_the_repository_is_followed_before_judging(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "policies" / "shared.yaml").symlink_to(tmp_path / "secrets" / "db.yaml")
    assert "is outside the repository" in _load_error(
        repo / "policies" / "p.yaml", 'include: ["shared.yaml"]')


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs")
def test_a_device_or_pipe_is_not_a_regular_file_and_nothing_hangs(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    os.mkfifo(repo / "policies" / "schema.json")
    text = _load_error(repo / "policies" / "p.yaml", 'deal_schema: "schema.json"')
    assert "is not a regular file" in text and "not found" not in text


def test_files_inside_the_repository_still_load(tmp_path: Path) -> None:
    """The shipped layout: policies/ beside schemas/, a fragment beside the policy."""
    repo = _repo(tmp_path)
    (repo / "schemas").mkdir()
    (repo / "schemas" / "deal.schema.json").write_text('{"type": "object"}', "utf-8")
    (repo / "policies" / "risks.yaml").write_text("risks: []\n", "utf-8")
    policy = repo / "policies" / "p.yaml"
    policy.write_text(POLICY.format(
        extra='deal_schema: ../schemas/deal.schema.json\ninclude: ["risks.yaml"]'), "utf-8")
    assert load_policy(policy).deal_schema == {"type": "object"}


def test_a_suite_cannot_name_a_policy_outside_its_repository(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    suite = repo / "policies" / "p.test.yaml"
    suite.write_text("policy: ../../secrets/db.yaml\nnow: 2026-01-01T00:00:00Z\ncases:\n"
                     "  - {name: one, deal: {id: D, stage: a}, check: true,\n"
                     "     expect: {verdict: compliant}}\n",
                     "utf-8")
    with pytest.raises(PolicyError) as info:
        load_suite(str(suite))
    assert "is outside the repository" in str(info.value.problems[0].message)
    assert SECRET not in str(info.value)


def test_an_included_file_is_never_quoted_even_outside_a_repository(tmp_path: Path) -> None:
    """Outside a git checkout (an archive, a Docker build context) includes are not
    confined to a repository, so an error about one must not print what it holds."""
    (tmp_path / "token.yaml").write_text("ghp_SECRETTOKEN1234567890abcdef\n", "utf-8")
    policy = tmp_path / "p.yaml"
    text = _load_error(policy, 'include: ["token.yaml"]')
    assert "ghp_" not in text and "a single value of 31 characters" in text


def test_a_valid_long_expression_is_not_located_node_by_node(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every name, constant and attribute of an expression was located in the file as it
    was checked, each walk costing the text before it: a 9 KB rule took 2 s to lint, and
    a policy of a hundred such rules minutes. A location is now computed for a problem."""
    import cycleflow.load.source_map as source_map

    calls = []
    real = source_map.scalar_char_index
    monkeypatch.setattr(source_map, "scalar_char_index",
                        lambda *a: calls.append(a[-1]) or real(*a))
    rule = " or ".join(["max(deal.a, 3) > 1"] * 400)
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY.format(extra="").replace(
        "  a: {label: {en: A, zh: 甲}, initial: true}",
        f'  a:\n    label: {{en: A, zh: 甲}}\n    initial: true\n    entry:\n'
        f'      - id: r\n        when: "{rule}"\n        message: {{en: m, zh: m}}'), "utf-8")
    load_policy(policy)
    assert len(calls) < 5
