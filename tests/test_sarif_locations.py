"""Where SARIF results point, as GitHub code scanning resolves them.

A CI review found relative URIs with no ``uriBaseId`` (``../`` passing through),
``stdin`` written as if it were a file, and ``region.startLine`` on ``.jsonl.gz``
results, a line no viewer can show inside a gzip file.
"""

from __future__ import annotations

import gzip
import importlib
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from click.testing import CliRunner
from sarif_files import BROKEN, DEALS, NOW, POLICY, ROOT, SCHEMA

from cycleflow.cli.main import cli
from cycleflow.report import write_sarif

jsonschema: Any = importlib.import_module("jsonschema")  # untyped; stubs may be absent



def error(source: str, record: int, deal: str | None = None) -> dict[str, Any]:
    return {"deal": deal, "record": record, "source": source, "stage": None,
            "verdict": "error", "violations": [], "warnings": [], "approvals_needed": [],
            "error": "bad record"}


def violation(source: str, record: int, deal: str) -> dict[str, Any]:
    return {"deal": deal, "record": record, "source": source, "stage": "qualified",
            "verdict": "violation", "warnings": [], "approvals_needed": [],
            "violations": [{"rule": "budget_known", "kind": "entry", "severity": "high",
                            "message": "Budget must be confirmed"}]}


def sarif(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    out = io.BytesIO()
    write_sarif(iter(verdicts), out, {"id": "b2b-standard"})
    log: dict[str, Any] = json.loads(out.getvalue())
    jsonschema.validate(log, SCHEMA)
    return log


def resolve(run: dict[str, Any], artifact: dict[str, Any]) -> str:
    """An artifactLocation as the absolute URI a viewer resolves it to."""
    base = artifact.get("uriBaseId")
    if base is None:
        return str(artifact["uri"])
    return urljoin(run["originalUriBaseIds"][base]["uri"], artifact["uri"])


def test_relative_paths_carry_srcroot_and_resolve_to_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "repo dir"
    (work / "deals").mkdir(parents=True)
    monkeypatch.chdir(work)
    log = sarif([violation("deals/a b.jsonl", 3, "D-1"), error("./deals/../deals/c.csv", 4),
                 error("../outside.jsonl", 2), error(str(tmp_path / "abs.jsonl"), 5)])
    [run] = log["runs"]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": work.as_uri() + "/"}}
    artifacts = [r["locations"][0]["physicalLocation"]["artifactLocation"]
                 for r in run["results"]]
    assert artifacts == [
        {"uri": "deals/a%20b.jsonl", "uriBaseId": "%SRCROOT%"},
        {"uri": "deals/c.csv", "uriBaseId": "%SRCROOT%"},
        {"uri": (tmp_path / "outside.jsonl").as_uri()},  # leaves the root: absolute
        {"uri": (tmp_path / "abs.jsonl").as_uri()},
    ]
    assert resolve(run, artifacts[0]) == (work / "deals" / "a b.jsonl").as_uri()
    assert all(not a["uri"].startswith("..") for a in artifacts)
    regions = [r["locations"][0]["physicalLocation"]["region"] for r in run["results"]]
    assert regions == [{"startLine": 3}, {"startLine": 4}, {"startLine": 2}, {"startLine": 5}]


def test_standard_input_is_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = sarif([violation("<stdin>", 7, "D-7"), error("<stdin>", 8)])
    locations = [r["locations"] for r in log["runs"][0]["results"]]
    assert all("physicalLocation" not in loc for locs in locations for loc in locs)
    assert locations[0] == [{"logicalLocations": [{"name": "stdin", "kind": "resource"},
                                                  {"name": "D-7", "kind": "object"}]}]
    assert locations[-1] == [{"logicalLocations": [{"name": "stdin", "kind": "resource"}]}]
    assert [r["properties"]["record"] for r in log["runs"][0]["results"]] == [7, 8]


def test_compressed_inputs_have_no_region_but_keep_the_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "packed.jsonl").write_bytes(gzip.compress(b'{"id": "x"}\n'))  # by its bytes
    (tmp_path / "plain.jsonl").write_bytes(b'{"id": "x"}\n')
    log = sarif([error("deals.jsonl.gz", 12), error("DEALS.JSON.GZ", 2),
                 error("packed.jsonl", 3), error("plain.jsonl", 4)])
    results = log["runs"][0]["results"]
    physical = [r["locations"][0]["physicalLocation"] for r in results]
    assert ["region" in p for p in physical] == [False, False, False, True]
    assert physical[0]["artifactLocation"] == {"uri": "deals.jsonl.gz", "uriBaseId": "%SRCROOT%"}
    assert [r["properties"]["record"] for r in results] == [12, 2, 3, 4]


def test_fingerprints_are_those_of_earlier_releases(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values written by the release before locations changed: alerts keep their identity."""
    monkeypatch.chdir(tmp_path)
    log = sarif([violation("./examples/deals.jsonl", 3, "D-1"), error("<stdin>", 4),
                 error("../x/y.jsonl.gz", 5)])
    prints = [r["partialFingerprints"]["cycleflowFinding/v1"] for r in log["runs"][0]["results"]]
    assert prints == ["a26e22c43f3eb72968c17ecffe95018f", "f59d3a43df73a23fd867628776479c05",
                      "d409f723139edf630856320784509e8c"]


def test_a_file_name_that_is_not_utf8_still_makes_a_valid_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = sarif([error("caf\udce9.jsonl", 2)])  # b"caf\xe9.jsonl" as the reader names it
    [result] = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "caf%E9.jsonl"


def test_check_end_to_end_from_a_checkout(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """As a CI job runs it: relative inputs, a gzip file, standard input; the log validates."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deals").mkdir()
    data = DEALS.read_bytes()
    (tmp_path / "deals" / "batch.jsonl").write_bytes(data)
    (tmp_path / "deals" / "batch.jsonl.gz").write_bytes(gzip.compress(data))
    res = CliRunner().invoke(cli, ["check", "-p", str(POLICY), "deals/batch.jsonl",
                                   "deals/batch.jsonl.gz", "-", "--now", NOW, "-j", "1",
                                   "--format", "sarif", "-o", "out.sarif"], input=data)
    assert res.exit_code == 1, res.output
    log = json.loads((tmp_path / "out.sarif").read_text("utf-8"))
    jsonschema.validate(log, SCHEMA)
    [run] = log["runs"]
    seen: dict[str, set[bool]] = {}
    for r in run["results"]:
        [loc] = r["locations"]
        physical = loc.get("physicalLocation")
        key = "stdin" if physical is None else resolve(run, physical["artifactLocation"])
        seen.setdefault(key, set()).add(physical is not None and "region" in physical)
    assert seen == {(tmp_path / "deals" / "batch.jsonl").as_uri(): {True},
                    (tmp_path / "deals" / "batch.jsonl.gz").as_uri(): {False},
                    "stdin": {False}}


def test_a_policy_that_does_not_load_is_located_like_check_results(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "r.sarif"
    res = CliRunner().invoke(cli, ["check", "-p", str(BROKEN.relative_to(ROOT)),
                                   str(DEALS), "--format", "sarif", "-o", str(out)])
    assert res.exit_code == 3
    log = json.loads(out.read_text("utf-8"))
    jsonschema.validate(log, SCHEMA)
    [run] = log["runs"]
    [result] = run["results"]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "tests/data/policies/broken/lint-unknown-gate.yaml",
                        "uriBaseId": "%SRCROOT%"}
    assert resolve(run, artifact) == BROKEN.as_uri()
