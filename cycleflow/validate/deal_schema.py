"""What a policy's ``deal_schema`` declares: field types for expressions, and a fast validator.

The jsonschema library stays for policy files; per-record validation uses a
validator generated once from the schema (see the costs in DESIGN.md and
:mod:`cycleflow.validate.compiled`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from cycleflow.errors import Location, PolicyError

RESERVED = frozenset({"id", "stage", "stage_entered_at", "steps", "approvals"})
_MAX_DEPTH = 8


def resolve_ref(node: Any, root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local ``#/...`` references (remote ones are refused when the schema loads);
    anything that is not a schema reads as the empty one."""
    for _ in range(32):
        if not isinstance(node, Mapping) or not isinstance(node.get("$ref"), str):
            break
        target: Any = root
        ref = str(node["$ref"])
        for part in ref.removeprefix("#").removeprefix("/").split("/") if ref != "#" else []:
            key = part.replace("~1", "/").replace("~0", "~")
            target = target.get(key, {}) if isinstance(target, Mapping) else {}
        node = target
    return node if isinstance(node, Mapping) else {}



def _types(schema: Mapping[str, Any], root: Mapping[str, Any]) -> frozenset[str]:
    schema = resolve_ref(schema, root)
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
        node = resolve_ref(node, schema)
        if depth > _MAX_DEPTH:
            return
        props = node.get("properties") or {}
        for name, sub in props.items():
            path = f"{prefix}{name}"
            sub_r = resolve_ref(sub, schema) if isinstance(sub, Mapping) else {}
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


def field_enums(schema: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Every dotted field path whose values the schema lists as texts (a picklist: ``enum``
    or ``const``, through ``anyOf``/``oneOf``/``allOf``), mapped to those texts. Lint
    names a rule comparing such a field with a text the list lacks."""
    out: dict[str, tuple[str, ...]] = {}

    def walk(node: Mapping[str, Any], prefix: str, depth: int) -> None:
        node = resolve_ref(node, schema)
        if depth > _MAX_DEPTH:
            return
        props = node.get("properties") or {}
        for name, sub in props.items() if isinstance(props, Mapping) else ():
            if not isinstance(sub, Mapping):
                continue
            allowed = _allowed_texts(sub, schema, 0)
            if allowed is not None:
                out[f"{prefix}{name}"] = tuple(allowed)
            walk(sub, f"{prefix}{name}.", depth + 1)
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in node.get(key, ()) or ():
                if isinstance(sub, Mapping):
                    walk(sub, prefix, depth + 1)

    walk(schema, "", 0)
    return out


def stage_enum(schema: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The stage ids the schema allows (``properties.stage.enum`` or ``const``), or None.

    Lint compares them with the policy's stages: a stage the schema refuses makes every
    deal in it fail the deal schema.
    """
    root = resolve_ref(schema, schema)
    props = root.get("properties")
    stage = props.get("stage") if isinstance(props, Mapping) else None
    if not isinstance(stage, Mapping):
        return None
    allowed = _allowed_texts(stage, schema, 0)
    return None if allowed is None else tuple(allowed)


def step_enums(schema: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The step ids the schema allows in each form of ``steps`` that lists them: the list
    form (``items``) and the map form (``propertyNames``); a form that allows any text is
    left out. Lint compares them with the policy's steps, as :func:`stage_enum` the stages.
    """
    root = resolve_ref(schema, schema)
    props = root.get("properties")
    steps = props.get("steps") if isinstance(props, Mapping) else None
    if not isinstance(steps, Mapping):
        return {}
    steps = resolve_ref(steps, schema)
    out: dict[str, tuple[str, ...]] = {}
    for form in ("items", "propertyNames"):
        if isinstance(steps.get(form), Mapping):
            allowed = _allowed_texts(steps[form], schema, 0)
            if allowed is not None:
                out[form] = tuple(allowed)
    return out


def _allowed_texts(node: Any, root: Mapping[str, Any], depth: int) -> list[str] | None:
    """The texts a subschema allows when it lists them (``enum``, ``const``, and through
    ``anyOf``/``oneOf`` the union, through ``allOf`` the intersection), or None when it
    allows any text."""
    node = resolve_ref(node, root) if isinstance(node, Mapping) else {}
    if depth > _MAX_DEPTH:
        return None
    found: list[str] | None = None
    if isinstance(node.get("enum"), list):
        found = [v for v in node["enum"] if isinstance(v, str)]
    elif isinstance(node.get("const"), str):
        found = [node["const"]]
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if isinstance(branches, list) and branches:
            each = [_allowed_texts(b, root, depth + 1) for b in branches]
            if all(e is not None for e in each):
                union = list(dict.fromkeys(v for e in each if e for v in e))
                found = union if found is None else [v for v in found if v in union]
    for branch in node.get("allOf") or () if isinstance(node.get("allOf"), list) else ():
        narrowed = _allowed_texts(branch, root, depth + 1)
        if narrowed is not None:
            found = narrowed if found is None else [v for v in found if v in narrowed]
    return found


def enum_value_position(text: str, value: str) -> tuple[int, int] | None:
    """Best-effort 1-based (line, column) of ``value`` in the ``enum`` of the ``stage``
    property of a deal schema's JSON text, or None when it cannot be found plainly."""
    key = re.search(r'"stage"\s*:\s*\{', text)
    if key is None:
        return None
    enum = re.compile(r'"enum"\s*:\s*\[').search(text, key.end())
    if enum is None:
        return None
    end = text.find("]", enum.end())
    at = text.find(json.dumps(value), enum.end(), end if end >= 0 else len(text))
    if at < 0:
        return None
    line = text.count("\n", 0, at) + 1
    return line, at - text.rfind("\n", 0, at)


_SPEC_HINT = "see https://json-schema.org/draft/2020-12/json-schema-core for the keywords"


def _pointer(path: Any) -> str:
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _follow(root: Mapping[str, Any], ref: str) -> tuple[bool, Any]:
    """``(found, node)`` for a local reference ``#/a/b`` inside ``root``."""
    node: Any = root
    for part in ref.removeprefix("#").removeprefix("/").split("/") if ref not in ("#", "") else []:
        key = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return False, None
    return True, node


def _refs(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[str, tuple[Any, ...]]]:
    """Every ``$ref`` string in the schema, with the path of the object holding it."""
    out: list[tuple[str, tuple[Any, ...]]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(node, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, Mapping):
            if isinstance(item.get("$ref"), str):
                out.append((item["$ref"], where))
            stack.extend((v, (*where, k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(item))
    return out


#: Keywords that apply a subschema to the same value (no step into the instance).
_IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas")


def _in_place_refs(node: Any) -> list[str]:
    """The ``$ref``s a subschema applies to the very value it validates."""
    out: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if not isinstance(item, Mapping):
            continue
        if isinstance(item.get("$ref"), str):
            out.append(item["$ref"])
        for key in _IN_PLACE:
            sub = item.get(key)
            if isinstance(sub, list):
                stack.extend(sub)
            elif key == "dependentSchemas" and isinstance(sub, Mapping):
                stack.extend(sub.values())
            elif isinstance(sub, Mapping):
                stack.append(sub)
    return out


def _refuse_in_place_loop(
    schema: Mapping[str, Any], start: str, at: tuple[Any, ...], where: Location, file: str
) -> None:
    """A reference that comes back to itself through allOf/anyOf/oneOf/not/if... without
    stepping into the value never ends: every deal would be 'nested too deeply'."""
    path = [start]
    stack = [(start, iter(_in_place_refs(_follow(schema, start)[1])))]
    while stack:
        ref, pending = stack[-1]
        nxt = next(pending, None)
        if nxt is None:
            stack.pop()
            path.pop()
            continue
        if nxt in path:
            raise PolicyError.at(
                where, "deal-schema-ref-loop",
                f"deal_schema {file}: $ref at {_pointer(at)} loops: "
                + " → ".join([*path[path.index(nxt):], nxt]),
                "a reference must end at a schema, not lead back to itself (through allOf, "
                "anyOf, oneOf, not or if/then/else it never steps into the value)",
            )
        found, target = _follow(schema, nxt)
        if found and len(path) < 64:
            path.append(nxt)
            stack.append((nxt, iter(_in_place_refs(target))))


def _refuse_unmatchable_patterns(schema: Mapping[str, Any], where: Location, file: str) -> None:
    """A pattern that could backtrack is matched by RE2; one RE2 cannot take is refused
    here, located, rather than when an Engine is built."""
    from cycleflow.validate.compiled import compile_validator
    from cycleflow.validate.regex_safety import (
        UnsafePattern,
        exponential,
        may_backtrack,
        safe_compile,
        schema_patterns,
    )

    risky = False
    for pattern, pointer in schema_patterns(schema):
        risky = risky or exponential(pattern)
        if may_backtrack(pattern):
            try:
                safe_compile(pattern)
            except ValueError as err:
                raise PolicyError.at(
                    where, "deal-schema-pattern-unsafe",
                    f"deal_schema {file} at {_pointer(pointer)}: {err}",
                    "rewrite it without a back-reference or look-around, or so that "
                    "no repetition sits inside another",
                ) from None
    if not risky:
        return
    try:  # a schema only a fallback validator reads cannot hand such a pattern to RE2
        compile_validator(schema, finite=True)
    except UnsafePattern as err:
        raise PolicyError.at(where, "deal-schema-pattern-unsafe", f"deal_schema {file}: {err}",
                             "rewrite the pattern so that no repetition sits inside another"
                             ) from None
    except Exception:  # noqa: S110 - any other failure is reported where the engine is built
        pass


def check_deal_schema(schema: Mapping[str, Any], where: Location, file: str) -> None:
    """Refuse, at load time, a deal schema no deal could be validated against.

    Checks it against the JSON Schema meta-schema (types, regex patterns), and that
    every local ``$ref`` points somewhere and is not a loop of references: all of
    which would otherwise surface only when an Engine is built, or on every deal.
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        raise PolicyError.at(
            where,
            "deal-schema-invalid",
            f"deal_schema {file} is not a valid JSON Schema at {_pointer(err.path)}: "
            f"{err.message}",
            _SPEC_HINT,
        ) from None
    except RecursionError:
        raise PolicyError.at(where, "deal-schema-too-deep", f"deal_schema {file} nests too deeply",
                             "flatten it with $defs and $ref") from None
    _refuse_unmatchable_patterns(schema, where, file)
    for ref, at in _refs(schema):
        seen = [ref]
        found, node = _follow(schema, ref)
        while found and isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            nxt = node["$ref"]
            if nxt in seen:  # a chain of bare references that never reaches a schema
                raise PolicyError.at(
                    where,
                    "deal-schema-ref-loop",
                    f"deal_schema {file}: $ref at {_pointer(at)} loops: "
                    + " → ".join([*seen, nxt]),
                    "a reference must end at a schema, not lead back to itself",
                )
            seen.append(nxt)
            found, node = _follow(schema, nxt)
        if found and isinstance(node, Mapping):
            _refuse_in_place_loop(schema, ref, at, where, file)
        if not found:
            defs = [
                f"#/{key}/{name}"
                for key in ("$defs", "definitions")
                for name in (schema.get(key) or {})
            ]
            close = difflib.get_close_matches(seen[-1], defs, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else None
            raise PolicyError.at(
                where,
                "deal-schema-bad-ref",
                f"deal_schema {file}: $ref '{seen[-1]}' at {_pointer(at)} points nowhere",
                hint or "define the target under $defs, or fix the reference",
            )


def compile_deal_validator(
    schema: Mapping[str, Any], where: Location
) -> Callable[[Any], str | None]:
    """A validator compiled once from the deal schema: None for a valid deal, else the reason.

    See :mod:`cycleflow.validate.compiled`: generated code for the keywords it knows,
    an exact fallback for the rest; it never writes defaults into a deal. A schema that
    cannot be compiled is a PolicyError at ``where`` (``load_policy`` checks this first).
    """
    from cycleflow.validate.compiled import compile_validator

    try:
        return compile_validator(schema, finite=True)  # NaN would let a rule fail open
    except Exception as err:  # jsonschema SchemaError, a fastjsonschema error, re.error…
        message = getattr(err, "message", None) or str(err)
        raise PolicyError.at(
            where,
            "deal-schema-invalid",
            f"deal_schema is not a usable JSON Schema: {message}",
            _SPEC_HINT,
        ) from None
