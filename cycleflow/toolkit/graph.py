"""``cycleflow graph``: the stage machine as Mermaid (stateDiagram-v2), DOT or SVG.

Renderers read only the policy model (never the engine): stages with their
entry criteria, steps and ``max_days``; transitions labelled with their
trigger, extra criteria, required fields and the approval gates they always
or possibly need (gates asked by risks checked on that move).
"""

from __future__ import annotations

import shutil
import subprocess

from cycleflow.compile.compiled import standing
from cycleflow.errors import CycleflowError
from cycleflow.errors import GraphvizMissing as GraphvizMissing  # re-exported: it lived here
from cycleflow.model.policy import Policy, Stage, Transition
from cycleflow.textsafe import visible

_MERMAID_RESERVED = frozenset({"end", "state", "note", "direction", "class", "classDef"})


def _sid(stage: str) -> str:
    return f"s_{stage}" if stage in _MERMAID_RESERVED else stage


def _risk_gates(policy: Policy, t: Transition, source: str) -> list[str]:
    """Gates that risks checked on this move may ask for (``risk → gate``)."""
    wanted = {f"enter {t.target}", f"leave {source}", f"on {t.trigger}"} | standing(
        policy.stage(t.target))
    out: list[str] = []
    for r in policy.risks:
        if r.gate and any(str(cp) in wanted for cp in r.at):
            out.append(f"{r.gate} if {r.id}")
    return out


def edge_label(policy: Policy, t: Transition, source: str, lang: str = "en") -> list[str]:
    """The lines that describe one move: trigger, criteria, required fields, gates."""
    lines = [t.trigger + (f" ({t.label.get(lang)})" if t.label else "")]
    if t.when:
        lines.append("when " + ", ".join(c.id for c in t.when))
    if t.require:
        lines.append("requires " + ", ".join(t.require))
    if t.approve:
        lines.append("needs approval " + ", ".join(t.approve))
    maybe = _risk_gates(policy, t, source)
    if maybe:
        lines.append("may need " + ", ".join(maybe))
    return lines


def stage_notes(stage: Stage, lang: str = "en") -> list[str]:
    """The lines that describe one stage: entry criteria, steps, time limit."""
    lines = [f"entry {c.id}: {c.when.source}" for c in stage.entry]
    if stage.steps:
        lines.append("steps: " + ", ".join(s.id for s in stage.steps))
    if stage.max_days is not None:
        lines.append(f"max_days: {stage.max_days.days:g}"
                     + (" (warn)" if stage.max_days.action == "warn" else ""))
    return lines


def _mermaid_text(text: str) -> str:
    # ';' ends a statement and ':' starts a label in Mermaid; keep the text readable;
    # control characters (ESC in a label) are shown, never sent to a terminal
    return visible(text.replace(";", ",").replace("\n", " "))


def to_mermaid(policy: Policy, lang: str = "en") -> str:
    """A Mermaid ``stateDiagram-v2`` of the policy."""
    out = ["stateDiagram-v2", "    direction LR"]
    for s in policy.stages:
        name = _mermaid_text(s.label.get(lang)).replace('"', "'")
        out.append(f'    state "{name}" as {_sid(s.id)}')
    out.append(f"    [*] --> {_sid(policy.initial_stage.id)}")
    for t in policy.transitions:
        for src in t.sources:
            label = " / ".join(edge_label(policy, t, src, lang))
            out.append(f"    {_sid(src)} --> {_sid(t.target)}: {_mermaid_text(label)}")
    for s in policy.stages:
        if s.final:
            out.append(f"    {_sid(s.id)} --> [*]")
    for s in policy.stages:
        notes = stage_notes(s, lang)
        if notes:
            out.append(f"    note right of {_sid(s.id)}")
            out.extend(f"        {_mermaid_text(n)}" for n in notes)
            out.append("    end note")
    return "\n".join(out) + "\n"


def _dot(text: str) -> str:
    return visible(text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))


def to_dot(policy: Policy, lang: str = "en") -> str:
    """A Graphviz DOT digraph of the policy."""
    out = [f'digraph "{_dot(policy.id)}" {{',
           "  rankdir=LR;",
           '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
           '  edge [fontname="Helvetica", fontsize=9];',
           '  "__start" [shape=point, label=""];',
           f'  "__start" -> "{policy.initial_stage.id}";']
    for s in policy.stages:
        head = s.label.get(lang) + (f" [{s.outcome}]" if s.outcome else "")
        body = "".join(_dot(n) + "\\l" for n in stage_notes(s, lang))
        label = _dot(head) + "\\n" + body if body else _dot(head)
        extra = ", peripheries=2" if s.final else ""
        out.append(f'  "{s.id}" [label="{label}"{extra}];')
    for t in policy.transitions:
        for src in t.sources:
            label = "\\n".join(_dot(x) for x in edge_label(policy, t, src, lang))
            out.append(f'  "{src}" -> "{t.target}" [label="{label}"];')
    out.append("}")
    return "\n".join(out) + "\n"


def to_svg(policy: Policy, lang: str = "en", *, dot_program: str = "dot") -> bytes:
    """SVG rendered by Graphviz; raises GraphvizMissing when ``dot`` is not installed."""
    exe = shutil.which(dot_program)
    if exe is None:
        raise GraphvizMissing(
            "SVG needs Graphviz, and its 'dot' program is not on PATH: install graphviz "
            "(e.g. 'apt-get install graphviz' or 'brew install graphviz'), or use "
            "--format mermaid or --format dot")
    done = subprocess.run([exe, "-Tsvg"], input=to_dot(policy, lang).encode("utf-8"),
                          capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise CycleflowError("graphviz failed: " + done.stderr.decode("utf-8", "replace"))
    return done.stdout
