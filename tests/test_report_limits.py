"""The limits a batch enforces, and ``check --max-record-bytes`` to raise the record cap.

A CI review found ``record over 1000000 bytes`` in a report with no word about the limit
in ``--help`` or the README, and no option to raise it although the batch had one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cycleflow.batch.readers import MAX_DEPTH, MAX_RECORD_BYTES, MAX_YAML_BYTES
from cycleflow.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
NOW = "2026-11-26T12:00:00Z"
BIG = 1_200_000  # over the default cap, under the raised one


def big_deal() -> dict[str, object]:
    """A compliant-or-violating (but judgeable) deal padded past the default record cap."""
    deal = json.loads((ROOT / "examples" / "deal-qualified.json").read_text("utf-8"))
    deal["notes"] = "x" * BIG
    return dict(deal)


def write_inputs(tmp_path: Path) -> list[Path]:
    deal = big_deal()
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text(json.dumps(deal) + "\n", "utf-8")
    array = tmp_path / "big.json"
    array.write_text(json.dumps([deal]), "utf-8")
    yml = tmp_path / "big.yaml"
    yml.write_text(json.dumps([deal]), "utf-8")  # JSON is YAML
    csv = tmp_path / "big.csv"
    csv.write_text(f"id,stage,notes\n{deal['id']},{deal['stage']},{deal['notes']}\n", "utf-8")
    return [jsonl, array, yml, csv]


def verdicts(*args: str) -> tuple[int, list[dict[str, object]]]:
    res = CliRunner().invoke(cli, ["check", "-p", str(POLICY), "--now", NOW,
                                   "--format", "jsonl", *args])
    return res.exit_code, [json.loads(line) for line in res.output.splitlines() if line]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_record_over_the_default_but_under_the_raised_cap_is_judged(
        tmp_path: Path, jobs: str) -> None:
    inputs = [str(p) for p in write_inputs(tmp_path)]
    _, capped = verdicts(*inputs, "-j", jobs)
    assert [v["error"] for v in capped] == [f"record over {MAX_RECORD_BYTES} bytes"] * 4
    _, raised = verdicts(*inputs, "-j", jobs, "--max-record-bytes", str(2 * BIG))
    assert len(raised) == 4
    assert not any("record over" in str(v.get("error")) for v in raised), raised
    # JSON Lines, JSON, YAML: judged; the CSV row lacks the nested fields the schema needs
    assert all(v["verdict"] in ("compliant", "violation") for v in raised[:3]), raised
    assert "deal_schema" in str(raised[3]["error"])
    _, still = verdicts(*inputs, "-j", jobs, "--max-record-bytes", str(BIG // 2))
    assert [v["error"] for v in still] == [f"record over {BIG // 2} bytes"] * 4


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1e6", "1MB", "", "99999999999999"])
def test_max_record_bytes_must_be_a_positive_whole_number(tmp_path: Path, value: str) -> None:
    deals = tmp_path / "d.jsonl"
    deals.write_text('{"id": "a", "stage": "qualified"}\n', "utf-8")
    res = CliRunner().invoke(cli, ["check", "-p", str(POLICY), str(deals),
                                   "--max-record-bytes", value])
    assert res.exit_code == 2, res.output
    assert "--max-record-bytes" in res.output and "whole number of bytes" in res.output
    assert "Traceback" not in res.output


def test_help_points_to_the_limits_and_names_the_option() -> None:
    res = CliRunner().invoke(cli, ["check", "--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert "--max-record-bytes N" in text
    assert f"default {MAX_RECORD_BYTES}" in text
    assert "README.md" in text and "Limits" in text


def test_the_readme_documents_every_limit_with_its_value() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    start = readme.index("## A tour for CI pipelines")
    section = readme[start:readme.index("\n## ", start + 1)]
    assert "### Limits" in section
    limits = section[section.index("### Limits"):]
    assert f"{MAX_RECORD_BYTES:,}" in limits and "--max-record-bytes" in limits
    assert f"{MAX_DEPTH} levels" in limits
    assert f"{MAX_YAML_BYTES // 2**20} MiB" in limits
    assert "1,000 levels" in limits  # YAML [ and { (MAX_FLOW_DEPTH)
    assert "1,000 findings" in limits  # the text table
    assert "outranks" in section  # exit 1 over exit 2
