"""cycleflow.validate.compiled: agreement with jsonschema, every keyword, fallback, safety."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from cycleflow.validate.compiled import MAX_DEPTH, compile_validator

rfc3339_validator = pytest.importorskip("rfc3339_validator")  # jsonschema checks date-time with it

ROOT = Path(__file__).resolve().parent.parent
DEAL_SCHEMA = json.loads((ROOT / "schemas" / "deal.schema.json").read_text(encoding="utf-8"))
PARTNER_SCHEMA = json.loads(
    (ROOT / "tests" / "data" / "policies" / "partner-deal.schema.json").read_text(encoding="utf-8")
)
EXAMPLES = [
    json.loads(line)
    for line in (ROOT / "examples" / "deals.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]


def _strict_datetime(value: object) -> bool:
    """jsonschema's date-time check, minus the one leniency compiled.py refuses on purpose.

    rfc3339-validator anchors its regex with ``$``, which also matches before a
    final newline, so ``"2026-11-01T15:00:00Z\\n"`` passes it; strict RFC 3339 does not.
    """
    if not isinstance(value, str):
        return True
    return bool(rfc3339_validator.validate_rfc3339(value.upper())) and not value.endswith("\n")


def _format_checker() -> FormatChecker:
    checker: FormatChecker = copy.copy(Draft202012Validator.FORMAT_CHECKER)
    checker.checkers = dict(checker.checkers)
    checker.checkers["date-time"] = (_strict_datetime, ())
    return checker


def reference(schema: Any) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=_format_checker())


DEAL_CHECK = compile_validator(DEAL_SCHEMA)
DEAL_REFERENCE = reference(DEAL_SCHEMA)
PARTNER_CHECK = compile_validator(PARTNER_SCHEMA)
PARTNER_REFERENCE = reference(PARTNER_SCHEMA)


def agree(check: Any, ref: Draft202012Validator, instance: Any) -> None:
    before = copy.deepcopy(instance)
    message = check(instance)
    assert instance == before, "the validator changed the instance"
    expected = ref.is_valid(instance)
    assert (message is None) == expected, (instance, message, expected)
    if message is not None:
        assert isinstance(message, str) and message.startswith("deal")


# --------------------------------------------------------------------------- real schemas


def test_real_schemas_are_compiled_not_delegated() -> None:
    assert DEAL_CHECK.fallback_reason is None
    assert PARTNER_CHECK.fallback_reason is None
    assert "def validate" in DEAL_CHECK.source


def test_every_example_deal_agrees() -> None:
    for deal in EXAMPLES:
        agree(DEAL_CHECK, DEAL_REFERENCE, deal)
        agree(PARTNER_CHECK, PARTNER_REFERENCE, deal)
    assert all(DEAL_CHECK(deal) is None for deal in EXAMPLES)


def test_schema_itself_is_not_mutated() -> None:
    schema = copy.deepcopy(DEAL_SCHEMA)
    compile_validator(schema)
    assert schema == DEAL_SCHEMA


def _names(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                found.update(value)
            found |= _names(value)
            if key == "enum":
                found.update(x for x in value if isinstance(x, str))
    elif isinstance(schema, list):
        for value in schema:
            found |= _names(value)
    return found


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)] + [value]
    return [value]


NAMES = sorted(_names(DEAL_SCHEMA) | _names(PARTNER_SCHEMA))
REAL_LEAVES = [x for deal in EXAMPLES for x in _leaves(deal) if not isinstance(x, list)]

_dates = st.builds(
    lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
    st.integers(0, 2100),
    st.integers(0, 13),
    st.integers(0, 32),
)
_times = st.builds(
    lambda day, sep, h, mi, s, frac, tz: f"{day}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{tz}",
    _dates,
    st.sampled_from(["T", "t", " ", "_"]),
    st.integers(0, 24),
    st.integers(0, 60),
    st.integers(0, 61),
    st.sampled_from(["", ".5", ".123456", "."]),
    st.sampled_from(["Z", "z", "+01:00", "-23:59", "+24:00", "+0100", "", "Z\n", "+05:30\n"]),
)
_tricky = st.sampled_from(
    [
        "2026-11-01T15:00:00Z",
        "2026-11-01",
        "2024-02-29",
        "2023-02-29",
        "2024-02-29T12:00:00+02:00",
        "2026-11-01\n",
        "0000-01-01T00:00:00Z",
        "2026-11-01T15:00Z",
        "２０２６-11-01",
        "",
        "US",
        "usa",
        "US\n",
        "EUR",
        "a@b",
        "no-at-sign",
        "discount_desk",
        "Discount",
        "customer_visit",
        "won",
        "cleared",
    ]
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, 0.0, 1.0, -0.5, 100, 100.5, 30.0, -100, -101])
    | st.text(max_size=10)
    | _dates
    | _times
    | _tricky
    | st.sampled_from(REAL_LEAVES)
)
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=5), children, max_size=4),
    max_leaves=10,
)


def _mutate(data: st.DataObject, node: Any, depth: int = 0) -> None:
    action = data.draw(st.sampled_from(["replace", "replace", "descend", "descend", "delete"]))
    if isinstance(node, dict):
        key = data.draw(st.sampled_from(sorted(set(node) | set(NAMES))))
        child = node.get(key)
        if action == "descend" and isinstance(child, (dict, list)) and depth < 4:
            _mutate(data, child, depth + 1)
        elif action == "delete":
            node.pop(key, None)
        else:
            node[key] = data.draw(_json)
    elif isinstance(node, list):
        if not node or data.draw(st.booleans()) and action != "descend":
            node.append(data.draw(_json))
            return
        index = data.draw(st.integers(0, len(node) - 1))
        if action == "descend" and isinstance(node[index], (dict, list)) and depth < 4:
            _mutate(data, node[index], depth + 1)
        elif action == "delete":
            del node[index]
        else:
            node[index] = data.draw(_json)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_deals_agree_with_jsonschema(data: st.DataObject) -> None:
    deal = copy.deepcopy(data.draw(st.sampled_from(EXAMPLES)))
    for _ in range(data.draw(st.integers(1, 4))):
        _mutate(data, deal)
    agree(DEAL_CHECK, DEAL_REFERENCE, deal)
    agree(PARTNER_CHECK, PARTNER_REFERENCE, deal)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_arbitrary_json_agrees(value: Any) -> None:
    agree(DEAL_CHECK, DEAL_REFERENCE, value)


def test_trailing_newline_in_date_time_is_refused_on_purpose() -> None:
    deal = dict(EXAMPLES[0], stage_entered_at="2026-11-01T15:00:00Z\n")
    plain = Draft202012Validator(DEAL_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert plain.is_valid(deal)  # rfc3339-validator's `$` lets it through
    assert DEAL_CHECK(deal) == (
        "deal.stage_entered_at: '2026-11-01T15:00:00Z\\n' is not a 'date-time'"
    )


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": "lots"}, "deal.amount: 'lots' is not of type 'number'"),
        ({"amount": -1}, "deal.amount: -1 is less than the minimum of 0"),
        ({"stage": "maybe"}, "deal.stage: 'maybe' is not one of "),
        ({"customer": {"country": "usa"}}, "deal.customer.country: 'usa' does not match"),
        ({"steps": ["customer_visit", "nope"]}, "deal.steps[1]: 'nope' is not one of"),
        ({"steps": ["customer_visit", "customer_visit"]}, "deal.steps: ['customer_visit', "),
        (
            {"steps": {"customer_visit": {"at": "2026-02-30T10:00:00Z"}}},
            "deal.steps.customer_visit.at: '2026-02-30T10:00:00Z' is not a 'date-time'",
        ),
        (
            {"approvals": [{"gate": "g", "by": "b", "role": "r"}]},
            "deal.approvals[0]: 'at' is a required property",
        ),
        ({"close_date": "2026-13-01"}, "deal.close_date: '2026-13-01' is not a 'date'"),
        ({"payment_terms_days": True}, "deal.payment_terms_days: True is not of type 'integer'"),
        ({"decision_maker": 3}, "deal.decision_maker: 3 is not of type 'string', 'null'"),
    ],
)
def test_messages_name_the_path(change: dict[str, Any], message: str) -> None:
    deal = dict(EXAMPLES[0], **change)
    got = DEAL_CHECK(deal)
    assert got is not None and got.startswith(message), got
    assert not DEAL_REFERENCE.is_valid(deal)


def test_missing_required_and_wrong_root() -> None:
    deal = dict(EXAMPLES[0])
    del deal["owner"]
    assert DEAL_CHECK(deal) == "deal: 'owner' is a required property"
    assert DEAL_CHECK([]) == "deal: [] is not of type 'object'"
    odd = compile_validator({"type": "object", "additionalProperties": {"type": "integer"}})
    assert odd({"not an id": "x"}) == "deal['not an id']: 'x' is not of type 'integer'"
    named = compile_validator({"type": "string"}, root="record")
    assert named(1) == "record: 1 is not of type 'string'"


def test_success_path_builds_no_strings() -> None:
    # messages are built only in `return` statements, after a check failed
    for line in DEAL_CHECK.source.splitlines():
        if "_r(" in line or "+ ' " in line or '+ "' in line:
            assert line.lstrip().startswith("return"), line
    assert ".format(" not in DEAL_CHECK.source and "f'" not in DEAL_CHECK.source


# --------------------------------------------------------------------------- each keyword

CASES: list[tuple[str, dict[str, Any] | bool, list[Any], list[Any]]] = [
    ("type string", {"type": "string"}, ["", "x"], [1, None, 1.5, [], {}]),
    ("type integer", {"type": "integer"}, [0, -3, 1.0, 10**30], [True, False, 1.5, "1", None]),
    ("type number", {"type": "number"}, [0, 1.5, -2], [True, "1", None, [1]]),
    ("type boolean", {"type": "boolean"}, [True, False], [0, 1, "true", None]),
    ("type null", {"type": "null"}, [None], [0, False, "", []]),
    ("type array", {"type": "array"}, [[], [1]], [{}, "[]", None]),
    ("type object", {"type": "object"}, [{}, {"a": 1}], [[], "{}", None]),
    ("type list", {"type": ["integer", "null"]}, [None, 3, 2.0], [True, 2.5, "x"]),
    ("type number+integer", {"type": ["number", "integer"]}, [1, 1.5], [True, None]),
    ("enum strings", {"enum": ["a", "b"]}, ["a", "b"], ["c", 1, None, ["a"]]),
    (
        "enum mixed",
        {"enum": [1, "1", None, [1, 2], {"a": True}]},
        [1, 1.0, "1", None, [1, 2], [1.0, 2], {"a": True}],
        [True, 2, [2, 1], {"a": 1}, [True, 2], "x"],
    ),
    ("enum with bool", {"enum": [True, 0]}, [True, 0, 0.0], [1, False, 1.0]),
    ("const str", {"const": "x"}, ["x"], ["y", None, ["x"]]),
    ("const number", {"const": 1}, [1, 1.0], [True, 2, "1"]),
    ("const bool", {"const": False}, [False], [0, 0.0, None]),
    ("const null", {"const": None}, [None], [0, False, ""]),
    ("const object", {"const": {"a": [1]}}, [{"a": [1]}, {"a": [1.0]}], [{"a": [True]}, {}]),
    ("required", {"required": ["a", "b"]}, [{"a": 1, "b": 2}, [], "x"], [{"a": 1}, {}]),
    (
        "properties",
        {"properties": {"a": {"type": "string"}, "b": True, "c": False}},
        [{}, {"a": "x"}, {"b": 1}, {"z": 1}, 3],
        [{"a": 1}, {"c": None}],
    ),
    (
        "additionalProperties false",
        {"properties": {"a": {}}, "patternProperties": {"^x-": {}}, "additionalProperties": False},
        [{}, {"a": 1}, {"x-y": 2}],
        [{"b": 1}, {"a": 1, "xy": 2}],
    ),
    (
        "additionalProperties schema",
        {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}},
        [{"a": "s", "b": 1}],
        [{"b": "s"}],
    ),
    (
        "patternProperties",
        {"patternProperties": {"^n_": {"type": "number"}, "_s$": {"type": "string"}}},
        [{"n_1": 1, "x_s": "a", "other": None}],
        [{"n_1": "1"}, {"y_s": 2}, {"n_s": 1}],
    ),
    (
        "propertyNames",
        {"propertyNames": {"pattern": "^[a-z]+$", "maxLength": 3}},
        [{}, {"abc": 1}, "not an object"],
        [{"ABC": 1}, {"abcd": 1}],
    ),
    ("propertyNames false", {"propertyNames": False}, [{}], [{"a": 1}]),
    (
        "items",
        {"items": {"type": "integer"}},
        [[], [1, 2], "x", {"a": "b"}],
        [[1, "2"], [None], [True]],
    ),
    (
        "prefixItems",
        {"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": {"type": "null"}},
        [[], ["a"], ["a", 1], ["a", 1, None, None]],
        [[1], ["a", "b"], ["a", 1, 2]],
    ),
    (
        "items false",
        {"prefixItems": [{"type": "string"}], "items": False},
        [[], ["a"]],
        [["a", 1], [1]],
    ),
    ("minItems/maxItems", {"minItems": 1, "maxItems": 2}, [[1], [1, 2]], [[], [1, 2, 3]]),
    (
        "uniqueItems",
        {"uniqueItems": True},
        [[], [1, True], [0, False], [1, "1"], [[1], [True]], [{"a": 1}, {"a": True}], "xx"],
        [[1, 1.0], ["a", "a"], [[1], [1.0]], [{"a": [1]}, {"a": [1]}], [None, None], [1, 2, 1]],
    ),
    (
        "numeric bounds",
        {"minimum": 0, "maximum": 10.5, "exclusiveMinimum": -1, "exclusiveMaximum": 10.5},
        [0, 5, 10, 10.4, "x", True],
        [-0.1, 10.5, 11],
    ),
    ("exclusiveMinimum", {"exclusiveMinimum": 0}, [0.001, 1], [0, -1]),
    ("multipleOf int", {"multipleOf": 3}, [0, 9, -3, 9.0, "x"], [1, 9.5]),
    ("multipleOf float", {"multipleOf": 0.5}, [1, 1.5, 0], [0.3, 1.25]),
    # float division as jsonschema does it: 0.07 / 0.01 == 7.000000000000001, so not a multiple
    ("multipleOf 0.01", {"multipleOf": 0.01}, [0.5, 3], [0.001, 0.07, 1e308]),
    (
        "minLength/maxLength",
        {"minLength": 2, "maxLength": 3},
        ["ab", "abc", "😀😀", "日本語", 1],
        ["a", "abcd", "😀", ""],
    ),
    ("pattern", {"pattern": "^[A-Z]{2}$"}, ["US", "US\n", 12], ["usa", "U", "USA"]),
    ("pattern unanchored", {"pattern": "b+"}, ["abba", "b"], ["aaa", ""]),
    (
        "format date-time",
        {"format": "date-time"},
        [
            "2026-11-01T15:00:00Z",
            "2026-11-01t15:00:00z",
            "2024-02-29T23:59:59.123+05:30",
            "2026-12-31T00:00:00-23:59",
            5,
        ],
        [
            "2026-11-01 15:00:00Z",
            "2026-11-01T15:00Z",
            "2026-11-01T15:00:00",
            "2023-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "2026-11-01T24:00:00Z",
            "2026-11-01T15:00:60Z",
            "2026-11-01T15:00:00+0100",
            "2026-11-01T15:00:00Z\n",
            "2026-11-01",
        ],
    ),
    (
        "format date",
        {"format": "date"},
        ["2026-11-01", "2024-02-29", "0001-01-01", None],
        ["2023-02-29", "2026-13-01", "2026-00-10", "2026-1-1", "2026-11-01\n", "0000-01-01"],
    ),
    ("format email", {"format": "email"}, ["a@b", "x@y.example", 3], ["ab", ""]),
    (
        "$ref $defs",
        {"$defs": {"pos": {"type": "integer", "minimum": 1}}, "items": {"$ref": "#/$defs/pos"}},
        [[1, 2]],
        [[0], ["1"]],
    ),
    (
        "$ref definitions with siblings",
        {
            "definitions": {"s": {"type": "string"}},
            "properties": {"a": {"$ref": "#/definitions/s", "minLength": 2}},
        },
        [{"a": "ab"}],
        [{"a": "a"}, {"a": 1}],
    ),
    (
        "$ref recursive",
        {
            "$defs": {
                "node": {
                    "type": "object",
                    "required": ["v"],
                    "properties": {"v": {"type": "integer"}, "kids": {"items": {"$ref": "#"}}},
                }
            },
            "$ref": "#/$defs/node",
        },
        [{"v": 1}, {"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]}],
        [{"v": 1, "kids": [{"v": 2, "kids": [{}]}]}, {"v": 1, "kids": [{"v": "x"}]}],
    ),
    (
        "$ref escaped pointer",
        {"$defs": {"a/b": {"type": "null"}, "c~d": {"type": "boolean"}},
         "prefixItems": [{"$ref": "#/$defs/a~1b"}, {"$ref": "#/$defs/c~0d"}]},
        [[None, True]],
        [[1], [None, 1]],
    ),
    (
        "allOf",
        {"allOf": [{"type": "integer"}, {"minimum": 2}]},
        [2, 5],
        [1, 2.5, "x"],
    ),
    (
        "anyOf",
        {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]},
        ["x", 3],
        [-1, None, 1.5],
    ),
    (
        "oneOf",
        {"oneOf": [{"type": "integer"}, {"minimum": 2}]},
        [1, 2.5],
        [3, 0.5],
    ),
    ("not", {"not": {"type": "string"}}, [1, None], ["x"]),
    (
        "minProperties/maxProperties",
        {"minProperties": 1, "maxProperties": 2},
        [{"a": 1}, {"a": 1, "b": 2}, []],
        [{}, {"a": 1, "b": 2, "c": 3}],
    ),
    (
        "dependentRequired",
        {"dependentRequired": {"a": ["b", "c"]}},
        [{}, {"b": 1}, {"a": 1, "b": 2, "c": 3}],
        [{"a": 1}, {"a": 1, "b": 2}],
    ),
    (
        "dependentSchemas",
        {"dependentSchemas": {"a": {"required": ["b"]}}},
        [{}, {"a": 1, "b": 2}],
        [{"a": 1}],
    ),
    (
        "if/then/else",
        {"if": {"type": "integer"}, "then": {"minimum": 0}, "else": {"type": "string"}},
        [0, 5, "x"],
        [-1, None, 1.5],
    ),
    (
        "contains",
        {"contains": {"type": "integer"}, "minContains": 2, "maxContains": 3},
        [[1, 2], ["a", 1, 2, 3], {}],
        [[1], [1, 2, 3, 4], []],
    ),
    ("true schema", True, [1, None, {}], []),
    ("false schema", False, [], [1, None, {}]),
    (
        "annotations ignored",
        {
            "title": "t",
            "description": "d",
            "examples": [1],
            "default": 5,
            "$comment": "c",
            "deprecated": True,
            "readOnly": True,
            "writeOnly": False,
            "x-crm": "ext",
            "type": "integer",
        },
        [1],
        ["x"],
    ),
]


@pytest.mark.parametrize(("name", "schema", "valid", "invalid"), CASES, ids=[c[0] for c in CASES])
def test_keyword(name: str, schema: Any, valid: list[Any], invalid: list[Any]) -> None:
    check = compile_validator(schema) if isinstance(schema, dict) else None
    if check is None:  # a boolean root schema, wrapped
        check = compile_validator({"allOf": [schema]})
    assert check.fallback_reason is None, check.fallback_reason
    ref = reference(schema)
    for instance in valid:
        assert ref.is_valid(instance), ("bad case", name, instance)
        assert check(instance) is None, (name, instance, check(instance))
    for instance in invalid:
        assert not ref.is_valid(instance), ("bad case", name, instance)
        message = check(instance)
        assert isinstance(message, str) and message.startswith("deal"), (name, instance)


_COMPILED_CASES = [
    (schema, compile_validator(schema), reference(schema))
    for _, schema, _, _ in CASES
    if isinstance(schema, dict)
]


@settings(max_examples=300, deadline=None)
@given(_json)
def test_keyword_schemas_agree_on_arbitrary_values(value: Any) -> None:
    for schema, check, ref in _COMPILED_CASES:
        assert (check(value) is None) == ref.is_valid(value), (schema, value)


# --------------------------------------------------------------------------- fallback


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"type": "object", "unevaluatedProperties": False}, "unevaluatedProperties"),
        ({"properties": {"a": {"type": "string", "format": "uri"}}}, "format 'uri'"),
        ({"type": "integer", "minimun": 3}, "minimun"),
        ({"$anchor": "x", "type": "integer"}, "$anchor"),
        (
            {"$schema": "http://json-schema.org/draft-07/schema#", "type": "integer"},
            "draft-07",
        ),
    ],
)
def test_unsupported_keyword_falls_back_to_fastjsonschema(
    schema: dict[str, Any], reason: str
) -> None:
    check = compile_validator(schema)
    assert check.fallback_reason is not None and reason in check.fallback_reason
    assert check.source == ""
    assert check.engine in ("fastjsonschema", "jsonschema")


def test_anchor_is_checked_by_jsonschema() -> None:
    # neither this generator nor fastjsonschema resolves $anchor: jsonschema does
    check = compile_validator({"$defs": {"a": {"$anchor": "n", "type": "integer"}}, "$ref": "#n"})
    assert check.engine == "jsonschema"
    assert check(3) is None
    assert check("x") == "deal: 'x' is not of type 'integer'"


def test_invalid_schema_raises_schema_error() -> None:
    with pytest.raises(SchemaError):
        compile_validator({"type": "integr"})
    with pytest.raises(SchemaError):
        compile_validator({"minimum": "0"})


def test_fallback_to_fastjsonschema_names_the_path() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "ip": {"format": "ipv4"}},
    }
    check = compile_validator(schema)
    assert check.engine == "fastjsonschema" and check.fallback_reason == "format 'ipv4'"
    assert check({"a": 1, "ip": "10.0.0.1"}) is None
    assert check({"a": "x"}) == "deal.a: must be integer"
    assert check({"ip": "10.0.0.300"}) is not None
    assert schema["properties"]["a"] == {"type": "integer"}  # the caller's schema is untouched


def test_fallback_to_jsonschema_when_fastjsonschema_would_misread() -> None:
    # fastjsonschema 2.22 reads 2020-12 as draft 7: it ignores unevaluatedProperties and
    # prefixItems, and applies `items` to every item; jsonschema checks these exactly
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "t": {"prefixItems": [{}], "items": False}},
        "unevaluatedProperties": False,
    }
    check = compile_validator(schema)
    assert check.engine == "jsonschema"
    assert check.fallback_reason is not None
    assert "unevaluatedProperties" in check.fallback_reason
    assert check({"a": 1, "t": ["x"]}) is None
    assert check({"a": "x"}) == "deal.a: 'x' is not of type 'integer'"
    assert check({"t": ["x", 1]}) is not None
    deal = {"a": 1, "b": 2}
    assert check(deal) is not None  # b is unevaluated
    assert deal == {"a": 1, "b": 2}
    ref_siblings = {
        "$defs": {"s": {"type": "string"}, "u": {"format": "uri"}},
        "properties": {"a": {"$ref": "#/$defs/s", "minLength": 2}, "u": {"$ref": "#/$defs/u"}},
    }
    check = compile_validator(ref_siblings)
    assert check.engine == "jsonschema"  # fastjsonschema drops a $ref's siblings
    assert check({"a": "x"}) is not None


def test_defaults_are_never_written() -> None:
    schema = {"properties": {"flag": {"type": "boolean", "default": False}}}
    for check in (compile_validator(schema), compile_validator({**schema, "if": True})):
        deal: dict[str, Any] = {}
        assert check(deal) is None
        assert deal == {}


# --------------------------------------------------------------------------- hostile input

NESTED = {"$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}, "$ref": "#/$defs/n"}


def _nest(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_recursion_depth_is_bounded() -> None:
    check = compile_validator(NESTED)
    assert check.fallback_reason is None
    assert check(_nest(50)) is None
    message = check(_nest(MAX_DEPTH + 50))
    assert message is not None and message.endswith("nested too deeply")
    assert check(_nest(100_000)) is not None  # no RecursionError escapes


def test_ref_cycle_without_progress_does_not_crash() -> None:
    check = compile_validator({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})
    assert check(1) == "deal: nested too deeply"


def test_items_depth_follows_the_schema() -> None:
    check = compile_validator({"items": {"items": {"type": "integer"}}})
    assert check(_nest(1000)) is not None  # [[[...]]]: the inner list is not an integer
    assert check([[1, 2], []]) is None


def test_deeply_nested_schema_compiles() -> None:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(60):
        schema = {"type": "array", "items": schema}
    check = compile_validator(schema)
    assert check.fallback_reason is None
    assert check(_nest(60)) is not None
    value: Any = 1
    for _ in range(60):
        value = [value]
    assert check(value) is None


def test_thread_safe() -> None:
    deals = [copy.deepcopy(d) for d in EXAMPLES] * 20
    bad = dict(EXAMPLES[0], amount="x")
    failures: list[str] = []

    def work() -> None:
        for deal in deals:
            if DEAL_CHECK(deal) is not None:
                failures.append("valid deal refused")
            if DEAL_CHECK(bad) != "deal.amount: 'x' is not of type 'number'":
                failures.append("wrong message")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


_ENUM_ITEMS = [
    {"type": "array", "items": {"type": "string", "enum": ["a", "b", "ab"]}},
    {"type": "array", "uniqueItems": True, "items": {"$ref": "#/$defs/x"},
     "$defs": {"x": {"type": "string", "enum": ["a", "b"], "description": "d"}}},
    {"type": "array", "prefixItems": [{"type": "integer"}],
     "items": {"type": "string", "enum": ["a"]}},
    {"type": "array", "items": {"type": "string", "enum": ["a"], "minLength": 2}},
]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_ENUM_ITEMS), st.lists(st.one_of(
    st.sampled_from(["a", "b", "ab", "c", "", 1, True, 1.0, None]), _json), max_size=6))
def test_lists_of_text_choices_agree_with_jsonschema(schema: Any, items: list[Any]) -> None:
    """Arrays of a string enum are checked with one set operation first (a fast path);
    every list must still get jsonschema's verdict and the first bad item's message."""
    from cycleflow.validate.compiled import compile_validator

    agree(compile_validator(schema), reference(schema), items)


@pytest.mark.parametrize(("pattern", "suspect"), [
    ("^(a+)+$", True), ("(a|aa)*", True), ("(.*a){20}", True), ("(a*)*", True),
    (r"^(\w+\s?)+$", True), ("^([a-z]+-)*[a-z]+$", True),  # safe, but matched by RE2 anyway
    # a second re-review: a polynomial of high degree is as bad as an exponential
    ("^(a+){10}$", True), ("(.*a){10}", True), (r"^\d*\d*\d*\d*\d*\d*\d*\d*\d*\d*$", True),
    # searched for, one unbounded repetition is quadratic (40,000 characters: 2 s)
    ("a*b", True), (r"[a-z]+@[a-z]+\.[a-z]{2,}", True), ("(ab)+", True), ("(?:x|y)+", True),
    # a third look: bounded repetitions nest too, an atomic group hides one, and (?m)^
    # anchors every line, not the text
    ("^(a{1,10}){1,10}$", True), (r"^\d{0,9}\d{0,9}\d{0,9}x", True), (r"(?m)^[\s\S]*b", True),
    ("^(?>(a+)+$)", True),
    ("^[A-Z]{3}$", False), ("^[a-z][a-z0-9_]*$", False), ("^a*b", False), ("^(ab)+$", False),
    (r"^\d{4}-\d{2}$", False), ("^(ab|cd){2}$", False), ("abc", False),
])
def test_patterns_that_could_backtrack_are_recognised(pattern: str, suspect: bool) -> None:
    from cycleflow.validate.regex_safety import may_backtrack

    assert may_backtrack(pattern) is suspect


@pytest.mark.parametrize("where", ["pattern", "patternProperties"])
def test_a_deal_cannot_make_a_schema_pattern_run_for_minutes(where: str) -> None:
    """^(a+)+$ on 26 a's and a '!' took 7 s with re, each 2 more characters 4 times as long
    (a security review): RE2 matches such patterns in linear time, with the same answers."""
    import re

    pattern = "^(a+)+$"
    schema: dict[str, Any] = (
        {"type": "object", "properties": {"sku": {"type": "string", "pattern": pattern}}}
        if where == "pattern" else
        {"type": "object", "patternProperties": {pattern: {"type": "integer"}}})
    validate = compile_validator(schema)
    hostile = "a" * 5000 + "!"
    for text in ("aaa", "", "ab", hostile, "a" * 5000):
        record = {"sku": text} if where == "pattern" else {text: "x"}
        matched = re.search(pattern, text) is not None if len(text) < 100 else text[-1] == "a"
        problem = validate(record)
        # a value must match "pattern"; a key matching a patternProperties pattern needs
        # an integer value, and "x" is not one
        assert (problem is None) == (matched if where == "pattern" else not matched), (
            text[:10], problem)


def test_a_suspect_pattern_re2_cannot_take_is_refused_when_the_schema_loads() -> None:
    with pytest.raises(ValueError, match="exponential time"):
        compile_validator({"type": "object", "properties": {
            "x": {"type": "string", "pattern": r"^((a)\2+)+$"}}})
    with pytest.raises(ValueError, match="exponential time"):  # the fallback path too
        compile_validator({"type": "object", "unevaluatedProperties": True,
                           "properties": {"x": {"type": "string", "pattern": "(a|aa)*$"}}})
