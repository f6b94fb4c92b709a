"""`cycleflow explain --lang zh` reads as Chinese: labels and Chinese words, ids only to type.

An officer review found the Chinese output mixing in English fragments and bare ids: stage
and trigger ids in the header, `[entry]`/`[risk]`, `→ approve discount_desk`, "其为该交易的
owner", "原因：big_discount", one stage as both id and label, and "不计入的已有审批：尚无
discount_desk 审批" where there simply were no approvals.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cycleflow.cli.main import cli
from cycleflow.decide.phrases import phrase

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
PARTNER = ROOT / "tests" / "data" / "policies" / "partner-channel.yaml"
EX = ROOT / "examples"
REP = str(EX / "actors" / "sales_rep.json")
NOW = "2026-11-26T12:00:00Z"
#: English words of the fixed phrasebooks that must not show in Chinese output
ENGLISH = re.compile(r"\b(passed|failed|fired|did not fire|skipped|approve|warn|block|owner|"
                     r"requester|stage|trigger|entry|step|risk|approval|time|transition|"
                     r"needed because|Existing approvals|missing)\b")


def _explain(tmp_path: Path, policy: Path = POLICY, trigger: str | None = None,
             lang: str = "zh", **over: Any) -> str:
    base = over.pop("base", "deal-negotiation.json")
    deal = json.loads((EX / base).read_text("utf-8"))
    deal.update(over)
    path = tmp_path / "deal.json"
    path.write_text(json.dumps(deal, ensure_ascii=False), "utf-8")
    args = ["explain", "-p", str(policy), "--deal", str(path), "--actor", REP, "--now", NOW,
            "--lang", lang]
    res = CliRunner().invoke(cli, args + (["--trigger", trigger] if trigger else []))
    assert res.exit_code in (0, 1), res.output
    return res.output


def _prose(out: str) -> str:
    """The output without its expression lines (rules are code) and without `ids`."""
    lines = [ln for ln in out.splitlines() if not ln.lstrip().startswith(("条件：", "读取："))]
    text = re.sub(r"`[^`]*`", "", "\n".join(lines))
    return re.sub(r"（[a-z0-9_.]+）", "", text)   # an id in brackets after its label


def test_needs_approval_in_chinese_names_labels_parties_and_reasons(tmp_path: Path) -> None:
    own = [{"gate": "discount_desk", "by": "ann", "role": "sales_director",
            "at": "2026-11-20T00:00:00Z", "values": {"discount_pct": 25, "amount": 180000}}]
    out = _explain(tmp_path, trigger="win", discount_pct=25, approvals=own)
    head = out.splitlines()[0]
    assert head.startswith("决策：需要审批 — 交易 OPP-2026-0901，操作“成交”（`win`），谈判 → 成交")
    assert "negotiation" not in head and "won" not in head
    assert ("[风险] 大幅折扣：折扣超过20%需销售总监审批。 — 触发，需“折扣审批”审批"
            "（deep_discount）") in out
    assert "其为该交易的负责人（职责分离）" in out
    assert "原因：“大幅折扣”（deep_discount）。" in out
    assert "且不能是交易负责人（ann）或申请人（ann）" in out
    assert not ENGLISH.search(_prose(out)), ENGLISH.search(_prose(out))


def test_no_approval_at_all_is_said_so_not_listed_as_void(tmp_path: Path) -> None:
    zh = _explain(tmp_path, trigger="win", discount_pct=25)
    assert "目前尚无任何审批。" in zh
    assert "不计入" not in zh and "尚无 discount_desk 审批" not in zh
    en = _explain(tmp_path, trigger="win", lang="en", discount_pct=25)
    assert "     No approval has been given yet." in en
    assert "Existing approvals that do not count" not in en
    assert "needed because of: 'Deep discount' (deep_discount)" in en


def test_not_permitted_shows_the_stage_once_by_its_label(tmp_path: Path) -> None:
    out = _explain(tmp_path, trigger="win", base="deal-qualified.json")
    assert out.splitlines()[0].startswith("决策：不允许 — 交易 OPP-2026-0904，操作 `win`，"
                                          "当前阶段“意向客户”")
    assert "qualified" not in out
    assert "不能从阶段“意向客户”执行操作 `win`" in out
    assert "可用操作：`advance`（进入谈判）、`lose`（输单）。" in out
    assert not ENGLISH.search(_prose(out))
    en = _explain(tmp_path, trigger="win", lang="en", base="deal-qualified.json")
    assert "transition: 'win' is not permitted from stage 'Qualified'" in en
    assert "'win' cannot be used from stage 'Qualified'. From here: advance, lose." in en


def test_blocked_move_and_check_use_chinese_kinds_effects_and_labels(tmp_path: Path) -> None:
    out = _explain(tmp_path, trigger="advance", stage="qualified", amount=0,
                   steps=["customer_development"])
    assert "操作“进入谈判”（`advance`），意向客户 → 谈判" in out.splitlines()[0]
    assert "[步骤] 步骤“产品介绍”已完成 — 未通过（product_introduction）" in out
    assert "[准入条件] 进入谈判前必须填写交易金额。 — 未通过（amount_positive）" in out
    assert "需满足：进入谈判前必须填写交易金额（规则 amount_positive" in out
    assert not ENGLISH.search(_prose(out)), ENGLISH.search(_prose(out))
    check = _explain(tmp_path, margin_pct=10)
    assert check.splitlines()[0].startswith("检查：合规 — 交易 OPP-2026-0901，阶段“谈判”")
    assert "[风险] 低毛利：预计毛利率低于15%。 — 触发，仅警告（low_margin）" in check
    assert "警告（不阻止）：" in check
    assert not ENGLISH.search(_prose(check)), ENGLISH.search(_prose(check))


def test_a_required_field_and_a_stage_of_another_policy(tmp_path: Path) -> None:
    out = _explain(tmp_path, trigger="lose", base="deal-qualified.json")
    assert "操作“输单”（`lose`）需要填写 deal.lost_reason" in out
    assert "填写 deal.lost_reason。" in out
    partner = {"id": "P-1", "stage": "discovery", "stage_entered_at": "2026-11-20T00:00:00Z",
               "owner": "ann", "partner": {"name": "Acme"}, "end_customer": "Zed"}
    path = tmp_path / "partner.json"
    path.write_text(json.dumps(partner), "utf-8")
    res = CliRunner().invoke(cli, ["explain", "-p", str(PARTNER), "--deal", str(path),
                                   "--trigger", "sign", "--now", NOW, "--lang", "zh"])
    assert "当前阶段“需求发现”" in res.output and "discovery" not in res.output
    assert "可用操作：`propose`（方案报价）、`drop`（已放弃）。" in res.output


def test_engine_names_the_separated_party_in_the_language() -> None:
    assert phrase("zh", "ap_separation", by="bo", party="requester") == \
        "bo 不能审批：其为该交易的申请人（职责分离）"
    assert phrase("zh", "ap_separation", by="bo", party="deal.account_manager") == \
        "bo 不能审批：其为该交易的 deal.account_manager （职责分离）"
    assert phrase("en", "ap_separation", by="bo", party="owner") == \
        "bo cannot approve: they are the deal's owner (separation of duties)"
    assert phrase("en", "ap_separation", by="bo", party="deal.account_manager") == \
        "bo cannot approve: they are the deal's deal.account_manager (separation of duties)"
