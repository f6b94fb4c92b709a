"""What the SARIF tests read: the SARIF 2.1.0 schema, the shipped policy and deals, and a
policy that does not load (for the report ``check`` writes when it cannot judge)."""

from __future__ import annotations

import json
from typing import Any

from shipped import NOW, POLICY, ROOT

SCHEMA: dict[str, Any] = json.loads(
    (ROOT / "tests" / "data" / "sarif" / "sarif-schema-2.1.0.json").read_text("utf-8"))
BROKEN = ROOT / "tests" / "data" / "policies" / "broken" / "lint-unknown-gate.yaml"
DEALS = ROOT / "examples" / "deals.jsonl"

__all__ = ["BROKEN", "DEALS", "NOW", "POLICY", "ROOT", "SCHEMA"]
