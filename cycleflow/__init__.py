"""cycleflow: policy-as-code for the sales cycle.

Load a policy, build an engine, and ask it questions::

    import cycleflow
    policy = cycleflow.load_policy("policies/standard-sales-cycle.yaml")
    engine = cycleflow.Engine(policy)
    decision = engine.decide(deal, "advance", {"id": "ann", "roles": ["sales_rep"]})
    verdict = engine.check(deal)

Public API: :func:`load_policy`, :class:`Engine`, :class:`Decision`,
:class:`Verdict`, :class:`Violation`, :class:`ApprovalNeeded`, the policy
model (:class:`Policy`), the type names ``Actor``, ``Outcome`` and ``Kind``, and
the errors under :class:`CycleflowError`; the subpackages ``cycleflow.audit``,
``analytics``, ``batch``, ``report`` and ``toolkit`` load on first use.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from cycleflow.errors import (
    AuditError,
    CycleflowError,
    DealError,
    GraphvizMissing,
    Location,
    MissingField,
    PolicyError,
    Problem,
    RuleError,
    TransitionBlocked,
    UsageError,
)

if TYPE_CHECKING:
    # What type checkers see: the real modules and names. At run time they load on first
    # use through __getattr__ below, so `import cycleflow` stays fast.
    from cycleflow import analytics as analytics
    from cycleflow import audit as audit
    from cycleflow import batch as batch
    from cycleflow import report as report
    from cycleflow import toolkit as toolkit
    from cycleflow.api import load_policy
    from cycleflow.compile.compiled import CompiledPolicy, compile_policy
    from cycleflow.decide.decision import (
        ApprovalNeeded,
        Decision,
        Kind,
        Outcome,
        RuleCheck,
        Verdict,
        Violation,
    )
    from cycleflow.decide.engine import Actor, Engine
    from cycleflow.model.policy import Policy

_LAZY = {
    "load_policy": "cycleflow.api",
    "CompiledPolicy": "cycleflow.compile.compiled",
    "compile_policy": "cycleflow.compile.compiled",
    "ApprovalNeeded": "cycleflow.decide.decision",
    "Decision": "cycleflow.decide.decision",
    "Kind": "cycleflow.decide.decision",
    "Outcome": "cycleflow.decide.decision",
    "RuleCheck": "cycleflow.decide.decision",
    "Verdict": "cycleflow.decide.decision",
    "Violation": "cycleflow.decide.decision",
    "Actor": "cycleflow.decide.engine",
    "Engine": "cycleflow.decide.engine",
    "Policy": "cycleflow.model.policy",
}


#: Subpackages reachable as attributes (``cycleflow.audit.JsonlSink``), imported on first use.
_SUBPACKAGES = frozenset({"analytics", "audit", "batch", "report", "toolkit"})


if not TYPE_CHECKING:  # hidden from type checkers, or they would accept any name at all

    def __getattr__(name: str) -> Any:
        """Import the heavier parts of the public API on first use (PEP 562)."""
        if name in _SUBPACKAGES:
            return import_module(f"cycleflow.{name}")
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'cycleflow' has no attribute {name!r}")
        return getattr(import_module(module), name)


__version__ = "0.1.0"

__all__ = [
    "Actor",
    "ApprovalNeeded",
    "AuditError",
    "CompiledPolicy",
    "CycleflowError",
    "DealError",
    "Decision",
    "Engine",
    "GraphvizMissing",
    "Kind",
    "Location",
    "MissingField",
    "Outcome",
    "Policy",
    "PolicyError",
    "Problem",
    "RuleCheck",
    "RuleError",
    "TransitionBlocked",
    "UsageError",
    "Verdict",
    "Violation",
    "__version__",
    "compile_policy",
    "load_policy",
]
