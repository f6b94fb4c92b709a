"""What a policy's ``deal_schema`` declares: field types for expressions, and a fast validator.

The jsonschema library stays for policy files; per-record validation uses a
validator generated once from the schema (see the costs in DESIGN.md and
:mod:`cycleflow.validate.compiled`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cycleflow.errors import Location, PolicyError

RESERVED = frozenset({"id", "stage", "stage_entered_at", "steps", "approvals"})
_MAX_DEPTH = 8


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local ``#/...`` references; remote ones are refused when the schema loads."""
    seen = 0
    while "$ref" in schema and seen < 32:
        ref = str(schema["$ref"])
        node: Any = root
        for part in ref.removeprefix("#/").split("/") if ref != "#" else []:
            node = (
                node.get(part.replace("~1", "/").replace("~0", "~"), {})
                if isinstance(node, Mapping)
                else {}
            )
        schema = node if isinstance(node, Mapping) else {}
        seen += 1
    return schema


def _types(schema: Mapping[str, Any], root: Mapping[str, Any]) -> frozenset[str]:
    schema = _resolve(schema, root)
    found: set[str] = set()
    t = schema.get("type")
    if isinstance(t, str):
        found.add(t)
    elif isinstance(t, list):
        found.update(str(x) for x in t)
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key, ()) or ():
            found |= _types(sub, root)
    if "enum" in schema and not found:
        for v in schema["enum"]:
            found.add(_json_type(v))
    if "const" in schema and not found:
        found.add(_json_type(schema["const"]))
    return frozenset(found)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def known_fields(schema: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Every dotted field path the schema declares, mapped to its JSON types.

    Reserved deal keys are included too, since expressions may read them.
    """
    out: dict[str, frozenset[str]] = {}

    def walk(node: Mapping[str, Any], prefix: str, depth: int) -> None:
        node = _resolve(node, schema)
        if depth > _MAX_DEPTH:
            return
        props = node.get("properties") or {}
        for name, sub in props.items():
            path = f"{prefix}{name}"
            sub_r = _resolve(sub, schema) if isinstance(sub, Mapping) else {}
            out[path] = _types(sub_r, schema) if sub_r else frozenset()
            if isinstance(sub_r, Mapping):
                walk(sub_r, path + ".", depth + 1)
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in node.get(key, ()) or ():
                if isinstance(sub, Mapping):
                    walk(sub, prefix, depth + 1)

    walk(schema, "", 0)
    for name in RESERVED:
        out.setdefault(name, frozenset())
    return out


def compile_deal_validator(
    schema: Mapping[str, Any], where: Location
) -> Callable[[Any], str | None]:
    """A validator compiled once from the deal schema: None for a valid deal, else the reason.

    See :mod:`cycleflow.validate.compiled`: generated code for the keywords it knows,
    an exact fallback for the rest; it never writes defaults into a deal.
    """
    from jsonschema.exceptions import SchemaError

    from cycleflow.validate.compiled import compile_validator

    try:
        return compile_validator(schema, finite=True)  # NaN would let a rule fail open
    except SchemaError as err:
        raise PolicyError.at(
            where, "deal-schema-invalid", f"deal_schema is not a valid JSON Schema: {err.message}"
        ) from None
