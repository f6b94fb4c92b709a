"""cycleflow report: figures checked against values computed by hand on a small log.

tests/data/analytics/small-audit.jsonl tells this story (times 09:00 UTC unless noted):

D1 (owner ann, from deal.created values)
  03-02 created in prospect · 03-03 advance blocked by budget_known
  03-04 → qualified · 03-11 → negotiation
  03-16 win needs_approval (deep_discount fired, discount_desk failed: request opened)
  03-17 21:00 approval.granted discount_desk · 03-18 win allowed → won
D2 (owner ben, only in small-deals.jsonl)
  03-03 created · 03-07 → qualified · 03-20 lose blocked by require.lost_reason · 03-21 → lost
D3 (owner ann)
  03-10 created · 03-12 → qualified · 03-20 → negotiation
  03-25 win needs_approval (request from the failing check and an explicit
  approval.requested at the same time: one request) · 03-27 approval.refused
  05-06 weekly check: max_days.negotiation fired (the last event of the log)
plus one line that is not JSON (skipped and counted).
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from cycleflow.analytics.report import ReportOptions, build_report, percentile, read_owners
from cycleflow.api import load_policy
from cycleflow.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "analytics"
LOG = DATA / "small-audit.jsonl"
DEALS = DATA / "small-deals.jsonl"
POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    policy = load_policy(POLICY)
    return build_report(str(LOG), ReportOptions(policy=policy, owners=read_owners([str(DEALS)])))


def _by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


def test_percentile_is_nearest_rank() -> None:
    assert percentile([2, 4, 2], 90) == 4     # rank ceil(0.9*3) = 3 of [2, 2, 4]
    assert percentile([7], 90) == 7
    assert percentile(list(range(1, 11)), 90) == 9  # rank ceil(0.9*10) = 9
    assert percentile([], 90) is None


def test_header(report: dict[str, Any]) -> None:
    meta = report["generated_from"]
    assert meta["events"] == 72 and meta["unreadable_lines"] == 1
    assert meta["period"] == {"from": "2026-03-02T09:00:00Z", "to": "2026-05-06T09:00:00Z"}


def test_stages(report: dict[str, Any]) -> None:
    stages = _by(report["stages"], "stage")
    assert list(stages) == ["prospect", "qualified", "negotiation", "won", "closed", "lost"]
    p, q, n = stages["prospect"], stages["qualified"], stages["negotiation"]
    # prospect: D1, D2, D3 entered; all three reached qualified → 3/3
    assert (p["entered"], p["converted"], p["conversion"]) == (3, 3, 1.0)
    # stays: D1 03-02→03-04 = 2 d, D2 03-03→03-07 = 4 d, D3 03-10→03-12 = 2 d
    # sorted [2, 2, 4]: median 2, p90 = rank ceil(2.7) = 3 → 4
    assert (p["exits_timed"], p["median_days"], p["p90_days"]) == (3, 2.0, 4.0)
    # qualified: 3 entered; D1 and D3 reached negotiation → 2/3; D2 lost from here
    assert (q["entered"], q["converted"], q["conversion"], q["lost_from"]) == (3, 2, 0.6667, 1)
    # stays: D1 03-04→03-11 = 7, D2 03-07→03-21 = 14, D3 03-12→03-20 = 8 → median 8, p90 14
    assert (q["median_days"], q["p90_days"]) == (8.0, 14.0)
    assert (q["max_days"], q["over_max_days"]) == (30, 0)
    # negotiation: D1, D3 entered; D1 won → 1/2; D1 stayed 03-11→03-18 = 7 d
    assert (n["entered"], n["converted"], n["conversion"]) == (2, 1, 0.5)
    assert (n["median_days"], n["p90_days"]) == (7.0, 7.0)
    # D3 still in negotiation at the end of the log: 03-20 → 05-06 = 11 + 30 + 6 = 47 d > 45
    assert (n["over_max_days"], n["over_max_days_closed"], n["over_max_days_open"]) == (1, 0, 1)
    assert stages["won"]["entered"] == 1 and stages["lost"]["entered"] == 1


def test_rules(report: dict[str, Any]) -> None:
    rules = _by(report["rules"], "rule")

    def row(rule: str) -> tuple[int, int, int, int]:
        r = rules[rule]
        return r["evaluated"], r["fired"], r["blocked"], r["led_to_approval"]

    # budget_known: D1 03-03 (fail), D1 03-04, D2 03-07, D3 03-12 → 4 evaluated, 1 fired+blocked
    assert row("budget_known") == (4, 1, 1, 0)
    # deep_discount: D1 03-11 pass, 03-16 fail, 03-18 fail; D3 03-20 pass, 03-25 fail → 5, 3;
    # it fired in two needs_approval decisions (D1 03-16, D3 03-25) and one allowed (03-18)
    assert row("deep_discount") == (5, 3, 0, 2)
    # discount_desk: D1 03-16 fail, 03-18 pass, D3 03-25 fail
    assert row("discount_desk") == (3, 2, 0, 2)
    # require.lost_reason: D2 03-20 fail (blocked), 03-21 pass
    assert row("require.lost_reason") == (2, 1, 1, 0)
    # max_days.negotiation: the at-rest check only — fired, blocked no move
    assert row("max_days.negotiation") == (1, 1, 0, 0)
    assert row("customer_development") == (4, 0, 0, 0)
    assert rules["deep_discount"]["effect"] == "approve discount_desk"
    assert rules["deep_discount"]["fire_rate"] == 0.6   # 3 / 5


def test_never_fired(report: dict[str, Any]) -> None:
    policy = load_policy(POLICY)
    never = {r["rule"] for r in report["never_fired"]}
    fired = {"budget_known", "deep_discount", "discount_desk", "require.lost_reason",
             "max_days.negotiation"}
    assert never == set(policy.rule_ids()) - fired
    assert {"extreme_discount", "large_deal", "deal_review", "stalled_deal"} <= never
    evaluated = {r["rule"]: r["evaluated"] for r in report["never_fired"]}
    assert evaluated["customer_visit"] == 4 and evaluated["large_deal"] == 0


def test_gates(report: dict[str, Any]) -> None:
    gates = _by(report["gates"], "gate")
    d = gates["discount_desk"]
    # D1: request 03-16 09:00 (failing check) → granted 03-17 21:00 = 1.5 d
    # D3: request 03-25 09:00 (check + explicit request, counted once) → refused 03-27 = 2.0 d
    assert (d["requests"], d["grants"], d["refusals"], d["pending"]) == (2, 1, 1, 0)
    assert d["grant_rate"] == 0.5
    assert d["median_days_to_decision"] == 1.75    # (1.5 + 2.0) / 2
    assert d["p90_days_to_decision"] == 2.0        # rank ceil(1.8) = 2 of [1.5, 2.0]
    assert gates["deal_review"]["requests"] == 0


def test_owners(report: dict[str, Any]) -> None:
    owners = _by(report["owners"], "owner")
    assert set(owners) == {"ann", "ben"}          # ben comes from the deals file only
    ann, ben = owners["ann"], owners["ben"]
    # ann: D1 won, D3 open; one blocked move (D1 03-03); win rate won/(won+lost) = 1/1
    assert (ann["deals"], ann["won"], ann["lost"], ann["open"]) == (2, 1, 0, 1)
    assert (ann["blocked_decisions"], ann["deals_with_violations"], ann["conversion"]) == (
        1, 1, 1.0)
    assert (ben["deals"], ben["won"], ben["lost"], ben["blocked_decisions"],
            ben["conversion"]) == (1, 0, 1, 1, 0.0)


def test_weeks(report: dict[str, Any]) -> None:
    weeks = _by(report["weeks"], "week")
    assert list(weeks) == ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23",
                           "2026-05-04"]
    w1, w3, w4 = weeks["2026-03-02"], weeks["2026-03-16"], weeks["2026-03-23"]
    # week of 03-02: D1, D2 created; D1 03-03 blocked, 03-04 allowed; D2 03-07 allowed
    assert (w1["created"], w1["requested"], w1["blocked"], w1["allowed"], w1["rule_fired"]) == (
        2, 3, 1, 2, 1)
    assert w1["blocked_rate"] == 0.3333
    # week of 03-16: D1 03-16 needs_approval, 03-18 allowed (won); D2 03-20 blocked,
    # 03-21 allowed (lost); D3 03-20 allowed; fired: 2 + 1 + 1 = 4
    assert (w3["requested"], w3["allowed"], w3["blocked"], w3["needs_approval"]) == (5, 3, 1, 1)
    assert (w3["won"], w3["lost"], w3["rule_fired"], w3["win_rate"]) == (1, 1, 4, 0.5)
    assert (w3["approval_requests"], w3["approval_grants"]) == (1, 1)
    assert (w4["approval_requests"], w4["approval_refusals"]) == (1, 1)
    assert weeks["2026-05-04"]["checked"] == 1


def test_period_filter() -> None:
    policy = load_policy(POLICY)
    report = build_report(str(LOG), ReportOptions(policy=policy, start="2026-03-16T00:00:00",
                                                  end="2026-03-23T00:00:00"))
    stages = _by(report["stages"], "stage")
    # entries inside: D3 → negotiation 03-20, D1 → won 03-18, D2 → lost 03-21
    assert [stages[s]["entered"] for s in stages] == [0, 0, 1, 1, 0, 1]  # nobody closed
    # exits inside: qualified D3 (8 d, 03-20) and D2 (14 d, 03-21) → median 11
    assert stages["qualified"]["median_days"] == 11.0
    assert stages["negotiation"]["median_days"] == 7.0
    gates = _by(report["gates"], "gate")
    assert (gates["discount_desk"]["requests"], gates["discount_desk"]["grants"]) == (1, 1)


def test_without_policy_the_log_alone_is_enough() -> None:
    report = build_report(str(LOG), ReportOptions())
    stages = _by(report["stages"], "stage")
    assert stages["prospect"]["entered"] == 3 and stages["lost"]["outcome"] == "lost"
    assert report["never_fired"] is None
    owners = _by(report["owners"], "owner")
    assert owners["(unknown)"]["deals"] == 1      # D2's owner is only in the deals file


def test_sqlite_log_gives_the_same_figures(tmp_path: Path, report: dict[str, Any]) -> None:
    from cycleflow.audit import SqliteSink

    sink = SqliteSink(tmp_path / "audit.db")
    for line in LOG.read_bytes().splitlines():
        try:
            sink.emit([orjson.loads(line)])
        except orjson.JSONDecodeError:
            continue
    sink.close()
    again = build_report(f"sqlite:{tmp_path / 'audit.db'}", ReportOptions(
        policy=load_policy(POLICY), owners=read_owners([str(DEALS)])))
    assert again["stages"] == report["stages"]
    assert again["rules"] == report["rules"]
    assert again["gates"] == report["gates"]


def test_cli_writes_html_json_csv(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, [
        "report", str(LOG), "-p", str(POLICY), "--deals", str(DEALS), "-o", str(out),
        "--json", str(tmp_path / "report.json"), "--csv", str(tmp_path / "csv")])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src\s*=\s*[\"']?https?:", page, re.I)
    assert "Plotly" in page and 'id="cf-render-status"' in page
    data = orjson.loads((tmp_path / "report.json").read_bytes())
    assert _by(data["gates"], "gate")["discount_desk"]["median_days_to_decision"] == 1.75
    with open(tmp_path / "csv" / "stages.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["stage"] for r in rows] == ["prospect", "qualified", "negotiation", "won", "closed",
                                                "lost"]
    assert rows[1]["conversion"] == "0.6667"



def test_deal_text_cannot_break_the_pages_script(tmp_path: Path) -> None:
    """An owner named "<!--<script>" left the page's data script unterminated: no chart
    rendered (a security review). Only "</" was escaped in the embedded JSON."""
    deals = tmp_path / "deals.jsonl"
    lines = [orjson.loads(x) for x in DEALS.read_bytes().splitlines()]
    evil = "<!--<script>&"
    deals.write_bytes(b"".join(orjson.dumps({**d, "owner": evil}) + b"\n" for d in lines))
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(LOG), "-p", str(POLICY), "--deals",
                                      str(deals), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert evil not in page  # in the tables it is HTML-escaped, in the data JSON-escaped
    assert "\\u003c!--\\u003cscript\\u003e\\u0026" in page or "&lt;!--" in page

def test_cli_errors_are_messages(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["report", str(tmp_path / "missing.jsonl"), "-o",
                                 str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(cli, ["report", str(LOG), "--from", "soon", "-o",
                                 str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason="headless Chromium not installed (/usr/bin/chromium): "
                           "apt-get install -y chromium")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    from cycleflow.analytics.simulate import SimOptions, simulate

    simulate(load_policy(POLICY), str(tmp_path / "sim"), SimOptions(deals=150, days=120,
                                                                    seed=4))
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "sim" / "audit.jsonl"), "-p",
                                      str(POLICY), "-o", str(out)])
    assert result.exit_code == 0, result.output
    cmd = [shutil.which("chromium") or CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
           "--dump-dom", out.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="cf-render-status"[^>]*data-done="1"[^>]*>([^<]*)</pre>',
                      proc.stdout)
    assert found, f"no render status in the DOM; stderr: {proc.stderr[-2000:]}"
    status = orjson.loads(found.group(1).replace("&quot;", '"'))
    assert status["errors"] == [], status
    assert status["charts"] == 9 and status["rendered"] == 9, status
    assert status["svgs"] >= 9


def test_unreadable_lines_are_named(tmp_path: Path, report: dict[str, Any]) -> None:
    assert report["generated_from"]["first_unreadable_lines"] == [73]
    lines = LOG.read_bytes().splitlines()
    bad = [b"not json", b'{"event": 1, "at": 2}', b'{"event": "deal.created", "at": "soon"}',
           b'{"event": "rule.evaluated", "at": "2026-03-02T09:00:00Z"}',
           b'{"event": "rule.evaluated", "at": "2026-03-02T09:00:00Z", "rule": ["r"], '
           b'"outcome": "fail", "trigger": "win", "kind": "approval", "deal": "D1"}',
           b'{"event": "rule.evaluated", "at": "2026-03-02T09:00:00Z", "rule": "r", '
           b'"outcome": "fail", "trigger": "win", "kind": "approval"}', b"[1]"]
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"\n".join(lines[:3] + bad + lines[3:]) + b"\n")
    result = CliRunner().invoke(cli, ["report", str(log), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert "skipped 8 unreadable lines (first at lines 4, 5, 6, 7, 8, …)" in result.stderr
    one = tmp_path / "one.jsonl"
    one.write_bytes(b"\n".join([*lines[:2], b"{oops", *lines[2:5]]) + b"\n")
    result = CliRunner().invoke(cli, ["report", str(one), "-o", str(tmp_path / "r.html")])
    assert "skipped 1 unreadable line (line 3)" in result.stderr


def test_a_gzip_log_gives_the_same_figures(tmp_path: Path, report: dict[str, Any]) -> None:
    import gzip

    packed = tmp_path / "audit.jsonl.gz"
    packed.write_bytes(gzip.compress(LOG.read_bytes()))
    out = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["report", str(packed), "-p", str(POLICY), "--deals",
                                      str(DEALS), "-o", str(tmp_path / "r.html"),
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = orjson.loads(out.read_bytes())
    assert data["generated_from"]["events"] == 72
    assert data["stages"] == report["stages"] and data["rules"] == report["rules"]
    torn = tmp_path / "torn.jsonl.gz"
    torn.write_bytes(packed.read_bytes()[:-20])
    result = CliRunner().invoke(cli, ["report", str(torn), "-o", str(tmp_path / "t.html")])
    assert result.exit_code == 2 and f"cannot read audit log {torn}" in result.stderr
    assert not (tmp_path / "t.html").exists()


@pytest.mark.parametrize("content", [b"", b"\n\n", b"garbage\nmore garbage\n",
                                     b"\x00\x01\x02\xff\n"])
def test_a_log_with_no_readable_event_is_exit_2(tmp_path: Path, content: bytes) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(content)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(log), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert f"audit log {log} holds no readable event" in result.stderr
    if content.strip():
        assert "unreadable line" in result.stderr and "(line" in result.stderr
    assert not out.exists()


def test_a_directory_is_not_a_log(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(tmp_path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_csv_cells_never_run_as_spreadsheet_formulas(tmp_path: Path) -> None:
    """An owner named '=HYPERLINK(...)' went into owners.csv as a live formula."""
    from cycleflow.analytics.report import write_csv

    report = {"owners": [{"owner": '=HYPERLINK("http://x","y")', "deals": 1},
                         {"owner": "+1 555", "deals": 2}, {"owner": "@sum", "deals": 3},
                         {"owner": "-x", "deals": -4}, {"owner": "ann", "deals": 5}]}
    [_, _, _, _, owners, _, _] = write_csv(report, str(tmp_path))
    with open(owners, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["owner"] for r in rows] == [
        "'=HYPERLINK(\"http://x\",\"y\")", "'+1 555", "'@sum", "'-x", "ann"]
    assert [r["deals"] for r in rows] == ["1", "2", "3", "-4", "5"]  # numbers stay numbers


def test_periods_and_weeks_are_in_utc_whatever_offset_the_log_used(tmp_path: Path) -> None:
    """'at' of 2026-11-30T07:00:00+08:00 is 2026-11-29 23:00 UTC: --to 23:30Z excluded it
    and its week came out as 2026-11-30 (the ISO week of the local date)."""
    policy = load_policy(ROOT / "policies" / "standard-sales-cycle.yaml")
    events = [{"event": "deal.checked", "at": at, "deal": f"D-{n}", "decision_id": f"{n:032x}",
               "from": "prospect", "to": None, "outcome": "compliant", "values": {}}
              for n, at in enumerate(["2026-11-30T07:00:00+08:00", "2026-11-29T23:00:00Z",
                                      "2026-11-29T18:00:00-05:00"])]
    lines = [orjson.dumps(e) for e in events]
    from cycleflow.analytics.report import Collector, parse_bound

    for start, end, inside in ((None, "2026-11-29T23:30:00Z", 3),
                               ("2026-11-29T23:30:00Z", None, 0)):
        opts = ReportOptions(policy=policy, start=parse_bound(start, "--from"),
                             end=parse_bound(end, "--to"))
        collector = Collector(opts)
        collector.feed(lines)
        assert collector.in_period == inside, (start, end)
    collector = Collector(ReportOptions(policy=policy))
    collector.feed(lines)
    assert {w["week"] for w in collector.result()["weeks"]} == {"2026-11-23"}


def test_a_time_limit_on_an_outcome_stage_that_is_not_final_is_reported(
        tmp_path: Path) -> None:
    """'won' (outcome: won, not final: deals leave it for 'closed') always showed 0 over its
    180-day limit and max_days.won sat among 'never fired': the report skipped outcome
    stages, and the simulator's weekly review stopped checking deals it had given up on."""
    policy = ROOT / "policies" / "standard-sales-cycle.yaml"
    out = tmp_path / "sim"
    sim = CliRunner().invoke(cli, ["simulate", "-p", str(policy), "--deals", "300", "--days",
                                   "365", "--seed", "7", "-o", str(out)])
    assert sim.exit_code == 0, sim.output
    rep = CliRunner().invoke(cli, ["report", str(out / "audit.jsonl"), "-p", str(policy),
                                   "--deals", str(out / "deals.jsonl"), "-o",
                                   str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")])
    assert rep.exit_code == 0, rep.output
    report = orjson.loads((tmp_path / "r.json").read_bytes())
    won = next(s for s in report["stages"] if s["stage"] == "won")
    assert won["over_max_days"] > 0
    assert "max_days.won" not in {r["rule"] for r in report["never_fired"]}


def test_owners_open_excludes_deals_a_check_saw_won_or_lost(tmp_path: Path) -> None:
    """With a log from check --audit (no moves logged), every deal counted as open, the won
    and lost ones included."""
    policy = ROOT / "policies" / "standard-sales-cycle.yaml"
    log = tmp_path / "a.jsonl"
    deals = ROOT / "examples" / "deals.jsonl"
    CliRunner().invoke(cli, ["check", "-p", str(policy), str(deals), "--now",
                             "2026-11-26T12:00:00Z", "--audit", str(log), "-o",
                             str(tmp_path / "x.txt")])
    rep = CliRunner().invoke(cli, ["report", str(log), "-p", str(policy), "--deals", str(deals),
                                   "-o", str(tmp_path / "r.html"), "--json",
                                   str(tmp_path / "r.json")])
    assert rep.exit_code == 0, rep.output
    owners = orjson.loads((tmp_path / "r.json").read_bytes())["owners"]
    assert sum(o["won"] + o["lost"] for o in owners) > 0
    for o in owners:
        assert o["open"] + o["won"] + o["lost"] == o["deals"], o
