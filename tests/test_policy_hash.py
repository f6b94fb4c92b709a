"""Policy.sha256 (the policy_sha256 of every audit event) covers every file of the policy.

It was the main file's hash alone: editing an included fragment or the deal schema changed
what the policy enforced while the audit log kept recording the same hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cycleflow.api import load_policy
from cycleflow.audit import capture_audit
from cycleflow.decide.engine import Engine
from cycleflow.model.policy import SourceFile, policy_digest

MAIN = """cycleflow: 1
id: hashed
version: "1"
deal_schema: ../schemas/deal.schema.json
include: [fragments/risks.yaml]
stages:
  a: {initial: true}
  b: {final: true}
transitions:
  - {trigger: go, from: a, to: b}
"""

FRAGMENT = """cycleflow: 1
risks:
  - id: big
    when: deal.amount > 100
    at: [enter b]
    then: block
"""

SCHEMA = {"type": "object", "properties": {"amount": {"type": "number"}}}


def make_policy(root: Path) -> Path:
    """A policy with one include and a deal schema in another folder, inside a git repo."""
    (root / ".git").mkdir(parents=True)
    (root / "policies" / "fragments").mkdir(parents=True)
    (root / "schemas").mkdir()
    (root / "policies" / "p.yaml").write_text(MAIN, encoding="utf-8")
    (root / "policies" / "fragments" / "risks.yaml").write_text(FRAGMENT, encoding="utf-8")
    (root / "schemas" / "deal.schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    return root / "policies" / "p.yaml"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hash_is_documented_combination_of_every_file(tmp_path: Path) -> None:
    path = make_policy(tmp_path)
    policy = load_policy(path)
    lines = (f"policy p.yaml {sha(path)}\n"
             f"include fragments/risks.yaml {sha(path.parent / 'fragments' / 'risks.yaml')}\n"
             f"deal_schema ../schemas/deal.schema.json "
             f"{sha(tmp_path / 'schemas' / 'deal.schema.json')}\n")
    assert policy.sha256 == hashlib.sha256(lines.encode()).hexdigest()
    assert [(s.role, s.name) for s in policy.sources] == [
        ("policy", "p.yaml"), ("include", "fragments/risks.yaml"),
        ("deal_schema", "../schemas/deal.schema.json")]
    assert policy.sha256 == policy_digest(policy.sources)
    assert policy.sources[0].sha256 == sha(path)  # per-file hashes stay available


@pytest.mark.parametrize("changed", ["policies/fragments/risks.yaml", "schemas/deal.schema.json"])
def test_changing_an_include_or_the_schema_changes_the_hash(tmp_path: Path, changed: str) -> None:
    path = make_policy(tmp_path)
    before = load_policy(path).sha256
    target = tmp_path / changed
    if target.suffix == ".json":
        target.write_text(json.dumps({**SCHEMA, "required": ["amount"]}), encoding="utf-8")
    else:
        target.write_text(FRAGMENT.replace("100", "50"), encoding="utf-8")
    after = load_policy(path)
    assert after.sha256 != before
    with capture_audit() as captured:
        Engine(after, audit=captured).check({"id": "d1", "stage": "a", "amount": 1},
                                            now="2026-11-20T10:00:00Z")
    assert {e["policy_sha256"] for e in captured.events} == {after.sha256}


def test_hash_is_the_same_from_any_folder_and_any_checkout(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_policy(tmp_path / "one")
    first = load_policy(path).sha256
    shutil.copytree(tmp_path / "one", tmp_path / "elsewhere" / "two")
    monkeypatch.chdir(tmp_path / "one" / "schemas")
    assert load_policy(os.path.relpath(path)).sha256 == first
    assert load_policy(tmp_path / "elsewhere" / "two" / "policies" / "p.yaml").sha256 == first


def test_digest_changes_with_role_name_or_order() -> None:
    a = SourceFile("x", "0" * 64, "policy", "p.yaml")
    b = SourceFile("y", "1" * 64, "include", "f.yaml")
    assert policy_digest([a, b]) != policy_digest([b, a])
    assert policy_digest([a, b]) != policy_digest([a, SourceFile("y", "1" * 64, "include", "g")])


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cycleflow", *args], capture_output=True,
                          text=True, check=False)


def test_hash_command_prints_the_combined_hash_and_each_file(tmp_path: Path) -> None:
    path = make_policy(tmp_path)
    policy = load_policy(path)
    out = run_cli("hash", str(path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[0] == policy.sha256
    assert len(lines) == 4
    for line, source in zip(lines[1:], policy.sources, strict=True):
        assert line.split() == [source.role, source.sha256, source.name]
    data = json.loads(run_cli("hash", "--format", "json", str(path)).stdout)
    assert data["sha256"] == policy.sha256
    assert [f["path"] for f in data["files"]] == [s.name for s in policy.sources]


def test_hash_command_on_a_broken_policy_exits_3(tmp_path: Path) -> None:
    out = run_cli("hash", str(tmp_path / "missing.yaml"))
    assert out.returncode == 3
    assert "Traceback" not in out.stderr and "missing.yaml" in out.stdout + out.stderr
