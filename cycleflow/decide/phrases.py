"""The engine's own sentences (steps, approvals, time limits, required fields) in each language.

Rule messages come from the policy in its own words; these are the few
messages the engine writes itself. English is the fallback for any language
without a phrasebook.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

_EN: Final = MappingProxyType(
    {
        "step_missing": "required step '{step}' of stage '{stage}' is not done",
        "approval_missing": "needs {missing} more approval(s) from {gate} ({roles}): {reasons}",
        "roles_joiner": " or ",
        "over_limit": "{days:.0f} days in stage '{stage}', over the limit of {limit:g}",
        "field_required": "'{trigger}' requires deal.{field}",
        "entered_later": "deal.stage_entered_at ({at}) is later than the time of the check "
                         "({now}): a deal cannot have entered stage '{stage}' in the future; "
                         "correct the entry time",
        "ap_no_by": "approval #{n} names no approver ('by')",
        "ap_role": "{by} approved as {role!r}; {gate} needs one of {roles}",
        "ap_separation": "{by} cannot approve: they are the deal's {party} (separation of duties)",
        "party_owner": "owner",
        "party_requester": "requester",
        "party_other": "{party}",
        "ap_no_requester": "approval by {by} cannot count: the request names no acting user "
                           "(actor id), so separation from the requester cannot be checked",
        "ap_future": "approval by {by} is dated in the future ({at})",
        "ap_status": "approval by {by} has status {status}, not approved",
        "ap_not_named": "approval by {by} does not count: the gate takes the approval of the "
                        "person named in {fields} ({named})",
        "ap_nobody_named": "approval by {by} does not count: nobody is named in {fields} to "
                           "approve this deal",
        "ap_after_missing": "approval by {by} does not count yet: {first} must approve first",
        "ap_after_early": "approval by {by} of {at} came before {first} approved ({when}): "
                          "it counts only when given after",
        "ap_expired": "approval by {by} of {at} expired after {days:g} days",
        "ap_void": "approval by {by} is void: {why}",
        "ap_again": "approval by {by} is by {first} again: a person counts once",
        "ap_none": "no approval for {gate} yet",
        "gate_id": "{id}",
        "gate_label": "{label}",
        "gate_label_id": "{label} ({id})",
        "ap_changed": "it approved deal.{field} = {approved!r}, now {now!r}",
        "ap_changed_hidden": "deal.{field} (a sensitive field) changed since it was approved",
        "ap_fingerprint": "the bound fields ({fields}) changed since it was given",
        "ap_unbound": "it records neither 'values' nor a 'fingerprint' of {fields}",
        "checked_step": "step '{step}' done",
        "checked_gate": "{count} approval(s) from {roles}",
        "checked_time": "at most {limit:g} days in {stage}",
        "checked_field": "deal.{field} is given",
        "missing_field": "missing field {field}",
        "not_permitted": "'{trigger}' is not permitted from stage '{stage}'; from here: {allowed}",
        "not_permitted_final": "'{trigger}' is not permitted from stage '{stage}'; "
                               "no trigger leaves this stage",
        "no_trigger": "the policy has no trigger '{trigger}'",
        "list_joiner": ", ",
    }
)

_ZH: Final = MappingProxyType(
    {
        "step_missing": "阶段“{stage}”的必需步骤“{step}”尚未完成",
        "approval_missing": "还需 {missing} 个“{gate}”审批（{roles}）：{reasons}",
        "roles_joiner": " 或 ",
        "over_limit": "已在“{stage}”阶段停留 {days:.0f} 天，超过 {limit:g} 天的上限",
        "field_required": "操作“{trigger}”要求填写 deal.{field}",
        "entered_later": "deal.stage_entered_at（{at}）晚于本次检查的时间（{now}）："
                         "交易不可能在未来进入“{stage}”阶段，请更正进入时间",
        "ap_no_by": "第 {n} 条审批未写明审批人（by）",
        "ap_role": "{by} 以 {role!r} 身份审批；{gate}需要以下角色之一：{roles}",
        "ap_separation": "{by} 不能审批：其为该交易的{party}（职责分离）",
        "party_owner": "负责人",
        "party_requester": "申请人",
        "party_other": " {party} ",
        "ap_no_requester": "{by} 的审批不能计入：本次请求未指明操作人（actor id），"
                           "无法核对与请求人的职责分离",
        "ap_future": "{by} 的审批日期在未来（{at}）",
        "ap_status": "{by} 的审批状态为 {status}，不是已批准（approved）",
        "ap_not_named": "{by} 的审批不计：此审批须由 {fields} 所指定的人（{named}）作出",
        "ap_nobody_named": "{by} 的审批不计：{fields} 未指定本交易的审批人",
        "ap_after_missing": "{by} 的审批暂不计：须先由{first}审批",
        "ap_after_early": "{by} 于 {at} 的审批早于{first}的审批（{when}）：须在其后作出方才计入",
        "ap_expired": "{by} 于 {at} 的审批已超过 {days:g} 天有效期",
        "ap_void": "{by} 的审批已失效：{why}",
        "ap_again": "{by} 的审批与 {first} 的审批是同一人：每人只计一次",
        "ap_none": "尚无{gate}的审批",
        "gate_id": " {id} ",
        "gate_label": "“{label}”",
        "gate_label_id": "“{label}”（{id}）",
        "ap_changed": "审批时 deal.{field} = {approved!r}，现为 {now!r}",
        "ap_changed_hidden": "deal.{field}（敏感字段）在审批后已更改",
        "ap_fingerprint": "审批后绑定字段（{fields}）已变更",
        "ap_unbound": "审批未记录绑定字段 {fields} 的 values 或 fingerprint",
        "checked_step": "步骤“{step}”已完成",
        "checked_gate": "{count} 个审批（{roles}）",
        "checked_time": "在 {stage} 阶段最多 {limit:g} 天",
        "checked_field": "已填写 deal.{field}",
        "missing_field": "缺少字段 {field}",
        "not_permitted": "不能从阶段“{stage}”执行操作“{trigger}”；此处可用：{allowed}",
        "not_permitted_final": "不能从阶段“{stage}”执行操作“{trigger}”；此阶段没有可用操作",
        "no_trigger": "策略中没有操作“{trigger}”",
        "list_joiner": "、",
    }
)

_BOOKS: Final = MappingProxyType({"en": _EN, "zh": _ZH})
#: The languages the engine's own sentences are written in.
LANGUAGES: Final = frozenset(_BOOKS)


Books = Mapping[str, Mapping[str, str]]


def lookup(books: Books, lang: str, key: str, **values: object) -> str:
    """Sentence ``key`` of ``books`` in ``lang`` (``zh-CN`` reads ``zh``), formatted.

    English stands in for a language without a book, or a book without the key.
    """
    book = books.get(lang) or books.get(lang.split("-")[0]) or books["en"]
    text = book.get(key) or books["en"][key]
    return text.format(**values) if values else text


def phrase(lang: str, key: str, **values: object) -> str:
    """The engine sentence ``key`` in ``lang``.

    A ``party`` of separation of duties is named in ``lang``: the built-in ``owner`` and
    ``requester`` are translated, a ``deal.<field>`` is shown as it is written.
    """
    book = _BOOKS.get(lang)
    if book is not None and "party" not in values:  # the common case, without a second call
        text = book.get(key) or _EN[key]
        return text.format_map(values) if values else text
    party = values.get("party")
    if isinstance(party, str):
        known = party in ("owner", "requester")
        values = {**values, "party": lookup(_BOOKS, lang, f"party_{party}") if known
                  else lookup(_BOOKS, lang, "party_other", party=party)}
    return lookup(_BOOKS, lang, key, **values)
