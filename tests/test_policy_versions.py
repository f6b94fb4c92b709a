"""A log, a report and an impact analysis that span two versions of a policy must say which
version judged what (policy-evolution review: `audit show` titled a history judged by two
versions with the first one only, and `impact` showed a schema hash no tool could match)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cycleflow import Engine, load_policy
from cycleflow.audit import JsonlSink
from cycleflow.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"
DEAL = json.loads((ROOT / "examples" / "deal-discount.json").read_text("utf-8"))
REP = {"id": "ann", "roles": ["sales_rep"]}


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    """The shipped policy as version 2027.01, with the discount desk from 15% instead of 20%."""
    text = SHIPPED.read_text("utf-8").replace('version: "2026.11"', 'version: "2027.01"')
    text = text.replace("default(deal.discount_pct, 0) > 20", "default(deal.discount_pct, 0) > 15")
    path = tmp_path / "policies" / "v2.yaml"
    path.parent.mkdir()
    path.write_text(text.replace("../schemas/", str(ROOT / "schemas") + "/"), "utf-8")
    return path


def _decide_under_both(log: Path, v2: Path) -> tuple[str, str]:
    old, new = load_policy(str(SHIPPED)), load_policy(str(v2))
    assert old.version != new.version and old.sha256 != new.sha256
    with JsonlSink(log) as sink:
        Engine(old, audit=sink).decide(DEAL, "advance", REP, now="2026-11-20T10:00:00Z")
        for day in (21, 22):
            Engine(new, audit=sink).decide(DEAL, "advance", REP, now=f"2026-11-{day}T10:00:00Z")
    return old.sha256, new.sha256


def test_audit_show_names_every_policy_that_judged_the_deal(tmp_path: Path, v2: Path) -> None:
    log = tmp_path / "audit.jsonl"
    old, new = _decide_under_both(log, v2)
    result = CliRunner().invoke(cli, ["audit", "show", str(log), "--deal", DEAL["id"]])
    assert result.exit_code == 0, result.output
    title = " ".join(result.output.split("\n")[0:3])
    assert (f"policies standard-sales-cycle 2026.11 ({old[:8]}) in 1 decision, "
            f"standard-sales-cycle 2027.01 ({new[:8]}) in 2 decisions") in " ".join(title.split())
    # each decision's first row names its version
    assert result.output.count(f"2026.11 ({old[:8]})") == 2  # title and its decision
    assert result.output.count(f"2027.01 ({new[:8]})") == 3


def test_audit_show_of_one_version_keeps_the_short_title(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    policy = load_policy(str(SHIPPED))
    with JsonlSink(log) as sink:
        Engine(policy, audit=sink).decide(DEAL, "advance", REP, now="2026-11-20T10:00:00Z")
    result = CliRunner().invoke(cli, ["audit", "show", str(log), "--deal", DEAL["id"]])
    assert f"(policy standard-sales-cycle 2026.11 ({policy.sha256[:8]}))" in result.output
    assert result.output.count("2026.11") == 1  # no per-decision version when there is one
