"""Stage and step ids a policy renamed (``formerly:``), read as the current ones.

A policy version that renames ``negotiation`` to ``negotiating`` ships while deals in the
CRM still say ``negotiation``. With ``formerly: [negotiation]`` on the new stage, such a
deal is judged as in ``negotiating`` (and a step listed under its former id counts as
done), and every verdict and decision carries a ``renamed`` warning naming the record's
old id, so the records get updated instead of failing as an unknown stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cycleflow.decide.decision import Violation
from cycleflow.model.policy import Policy

#: rule id of the warning; reserved, so no policy rule can take it (model.build.RESERVED_IDS)
RULE = "renamed"


@dataclass(frozen=True, slots=True)
class Renames:
    """Former id → current id, for stages and for steps."""

    stages: Mapping[str, str]
    steps: Mapping[str, str]

    @classmethod
    def of(cls, policy: Policy) -> Renames | None:
        """The policy's renames, or None when it has none (the engine then checks nothing)."""
        stages = {old: s.id for s in policy.stages for old in s.formerly}
        steps = {old: st.id for s in policy.stages for st in s.steps for old in st.formerly}
        return cls(stages, steps) if stages or steps else None

    def touches(self, deal: Mapping[str, Any]) -> bool:
        """Whether ``deal`` says a former id (its stage, or a step it lists as done)."""
        stage = deal.get("stage")
        if type(stage) is str and stage in self.stages:
            return True
        steps = deal.get("steps")
        if not self.steps or steps is None:
            return False
        keys = steps.keys() if isinstance(steps, Mapping) else steps
        try:
            return any(type(k) is str and k in self.steps for k in keys)
        except TypeError:  # not iterable: the engine reports the malformed steps
            return False

    def current(self, deal: Mapping[str, Any],
                lang: str) -> tuple[Mapping[str, Any], list[Violation]]:
        """``deal`` with its former ids as the current ones (a copy, when it has any), and
        the ``renamed`` warnings that say so."""
        if not self.touches(deal):
            return deal, []
        out = dict(deal)
        found: list[Violation] = []
        stage = deal.get("stage")
        if type(stage) is str and stage in self.stages:
            out["stage"] = self.stages[stage]
            found.append(_warning("stage", stage, self.stages[stage], lang))
        steps = deal.get("steps")
        olds: list[str] = []
        if isinstance(steps, Mapping):
            renamed: dict[Any, Any] = {}
            for key, value in steps.items():
                new = self.steps.get(key) if type(key) is str else None
                if new is None:
                    renamed.setdefault(key, value)
                    continue
                olds.append(key)
                if new not in steps and _undone(renamed.get(new)):  # listed under both ids:
                    renamed[new] = value  # the current one stands; else any former one done
            out["steps"] = renamed
        elif isinstance(steps, (list, tuple)):
            present = {k for k in steps if type(k) is str}
            listed: list[Any] = []
            for item in steps:
                new = self.steps.get(item) if type(item) is str else None
                if new is None:
                    listed.append(item)
                    continue
                olds.append(item)
                if new not in present:  # listed under both ids: the current one stands
                    present.add(new)
                    listed.append(new)
            out["steps"] = listed
        found += [_warning("step", k, self.steps[k], lang) for k in dict.fromkeys(olds)]
        return out, found


def _undone(value: Any) -> bool:
    """A steps-map value that does not mark the step done (absent, null, false, 0)."""
    return value is None or value is False or value == False  # noqa: E712


def _warning(kind: str, old: str, new: str, lang: str) -> Violation:
    """The ``renamed`` warning of one former id, in the engine's language."""
    if lang.split("-")[0] == "zh":
        message = (f"该交易的阶段“{old}”已更名为“{new}”：按“{new}”判定；请更新记录。"
                   if kind == "stage" else
                   f"该交易列出的步骤“{old}”已更名为“{new}”：按“{new}”读取；请更新记录。")
    elif kind == "stage":
        message = (f"The deal's stage '{old}' was renamed '{new}' (formerly): it is judged "
                   f"in '{new}'; update the record.")
    else:
        message = (f"The step '{old}' the deal lists was renamed '{new}' (formerly): it is "
                   f"read as '{new}'; update the record.")
    key = "deal.stage" if kind == "stage" else "deal.steps"
    return Violation(RULE, "field", "low", message, values={key: old})
