"""cycleflow: policy-as-code for the sales cycle.

Load a policy, build an engine, and ask it questions::

    import cycleflow
    policy = cycleflow.load_policy("policies/standard-sales-cycle.yaml")
    engine = cycleflow.Engine(policy)
    decision = engine.decide(deal, "advance", {"id": "ann", "roles": ["sales_rep"]})
    verdict = engine.check(deal)

Public API: :func:`load_policy`, :class:`Engine`, :class:`Decision`,
:class:`Verdict`, :class:`Violation`, :class:`ApprovalNeeded`, the policy
model (:class:`Policy`), and the errors under :class:`CycleflowError`.
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

if TYPE_CHECKING:  # the names below load on first use, so `import cycleflow` stays fast
    from cycleflow.api import load_policy
    from cycleflow.compile.compiled import CompiledPolicy, compile_policy
    from cycleflow.decide.decision import (
        ApprovalNeeded,
        Decision,
        RuleCheck,
        Verdict,
        Violation,
    )
    from cycleflow.decide.engine import Engine
    from cycleflow.model.policy import Policy

_LAZY = {
    "load_policy": "cycleflow.api",
    "CompiledPolicy": "cycleflow.compile.compiled",
    "compile_policy": "cycleflow.compile.compiled",
    "ApprovalNeeded": "cycleflow.decide.decision",
    "Decision": "cycleflow.decide.decision",
    "RuleCheck": "cycleflow.decide.decision",
    "Verdict": "cycleflow.decide.decision",
    "Violation": "cycleflow.decide.decision",
    "Engine": "cycleflow.decide.engine",
    "Policy": "cycleflow.model.policy",
}


#: Subpackages reachable as attributes (``cycleflow.audit.JsonlSink``), imported on first use.
_SUBPACKAGES = frozenset({"analytics", "audit", "batch", "report", "toolkit"})


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
    "ApprovalNeeded",
    "AuditError",
    "CompiledPolicy",
    "CycleflowError",
    "DealError",
    "Decision",
    "Engine",
    "GraphvizMissing",
    "Location",
    "MissingField",
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
