"""Validate a policy document against ``policy.schema.json``, with every error located.

jsonschema gives readable messages and the path of each failure; the source
map turns that path into ``file:line:col``. All errors are reported at once.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from cycleflow.errors import Problem
from cycleflow.load.source_map import SourceMap

SCHEMA_FILE = "policy.schema.json"


@lru_cache(maxsize=4)
def policy_schema(name: str = SCHEMA_FILE) -> Mapping[str, Any]:
    """The shipped policy JSON Schema (read once; the result is never mutated)."""
    text = resources.files("cycleflow").joinpath("schemas", name).read_text("utf-8")
    schema: Mapping[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=4)
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(policy_schema(name))


def validate_document(
    data: Any, source_map: SourceMap, *, schema: str = SCHEMA_FILE
) -> list[Problem]:
    """Every schema violation in ``data`` as a located problem, in document order."""
    problems = [_to_problem(err, source_map, data)
                for err in _leaf_errors(_validator(schema), data)]
    problems.sort(key=lambda p: (p.location.line, p.location.column))
    unique: dict[tuple[int, int, str], Problem] = {}
    for p in problems:
        unique.setdefault((p.location.line, p.location.column, p.message), p)
    return list(unique.values())


def _leaf_errors(validator: Draft202012Validator, data: Any) -> Iterator[ValidationError]:
    """Errors, descending into ``oneOf``/``anyOf`` to the branch that got furthest."""
    for err in validator.iter_errors(data):
        yield _deepest(err)


def _deepest(err: ValidationError) -> ValidationError:
    if not err.context:
        return err
    best = max(err.context, key=lambda e: (len(e.absolute_path), -len(e.schema_path)))
    if len(best.absolute_path) > len(err.absolute_path):
        return _deepest(best)
    return err


def _to_problem(err: ValidationError, source_map: SourceMap, data: Any = None) -> Problem:
    path: Sequence[str | int] = list(err.absolute_path)
    suggestion: str | None = None
    if _is_checkpoint(path) and err.validator == "pattern" and isinstance(err.instance, str):
        return _checkpoint_problem(err.instance, path, source_map, data)
    if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        schema = err.schema if isinstance(err.schema, Mapping) else {}
        allowed = sorted(_allowed_keys(schema))
        patterns = _key_patterns(schema)
        extras = [k for k in err.instance if k not in allowed and not str(k).startswith("x-")
                  and not any(p.search(str(k)) for p, _ in patterns)]
        if extras:
            key = str(extras[0])
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            more = [about for _, about in patterns if about]
            suggestion = (
                f"did you mean '{close[0]}'?"
                if close
                else ("allowed keys: " + ", ".join(allowed) + "".join(f"; or {m}" for m in more)
                      if allowed else None)
            )
            return Problem(
                source_map.locate_key([*path, key]),
                "schema-unknown-key",
                f"unknown key '{key}'" + (f" in {_where(path)}" if path else ""),
                suggestion,
            )
    if err.validator == "required":
        return Problem(
            source_map.locate(path),
            "schema-required",
            f"{err.message}" + (f" in {_where(path)}" if path else ""),
            _required_hint(err),
        )
    if err.validator == "enum":
        options = [str(o) for o in list(err.validator_value or ())]  # type: ignore[arg-type]
        close = difflib.get_close_matches(str(err.instance), options, n=1, cutoff=0.5)
        suggestion = f"did you mean '{close[0]}'?" if close else "one of: " + ", ".join(options)
    if err.validator == "pattern" and isinstance(err.instance, str):
        suggestion = _pattern_hint(path, err.instance)
    if _constant_condition(err, path):
        return _constant_problem(err, path, source_map)
    message = f"{_where(path)}: {_yaml_words(err)}" if path else _yaml_words(err)
    named = err.instance if "propertyNames" in err.relative_schema_path else None
    where = source_map.locate_key([*path, named]) if isinstance(named, str) else None
    return Problem(
        where or source_map.locate(path),
        f"schema-{err.validator}",
        message,
        suggestion or _value_hint(err),
    )


def _constant_condition(err: ValidationError, path: Sequence[str | int]) -> bool:
    """Whether YAML read a ``when:`` expression as a boolean (``when: True`` unquoted)."""
    return (err.validator == "type" and err.validator_value == "string"
            and bool(path) and path[-1] == "when" and isinstance(err.instance, bool))


def _constant_problem(err: ValidationError, path: Sequence[str | int],
                      source_map: SourceMap) -> Problem:
    """``when: True``: the rule is a constant, not an expression. "write text" did not say
    that a condition was wanted, nor that a constant is taken only quoted (and warned about)."""
    spelled = "True" if err.instance else "False"
    return Problem(
        source_map.locate(path),
        "schema-type",
        f"{_where(path)}: {_yaml(err.instance)} is a constant (YAML read it as a yes/no "
        "value): a rule's condition must be an expression",
        f"write the condition the rule stands for, e.g. deal.budget > 0; a rule that is "
        f'always {spelled.lower()} is taken only quoted, when: "{spelled}", and lint warns '
        "about it",
    )


_CHECKPOINT = re.compile(r"always|(?:enter|leave|on) [a-z][a-z0-9_]*")
_CHECKPOINT_FORMS = "at: takes 'always', 'enter <stage>', 'leave <stage>' or 'on <trigger>'"


def _is_checkpoint(path: Sequence[str | int]) -> bool:
    """Whether ``path`` is one item of a risk's ``at:`` list (``risks[1].at[0]``)."""
    return len(path) >= 2 and path[-2] == "at" and isinstance(path[-1], int)


def _checkpoints(data: Any) -> list[str]:
    """Every checkpoint the document's own stages and triggers make (stages or triggers of
    other fragments are not known here)."""
    out = ["always"]
    if isinstance(data, Mapping):
        stages = data.get("stages")
        for sid in stages if isinstance(stages, Mapping) else ():
            out += [f"enter {sid}", f"leave {sid}"]
        transitions = data.get("transitions")
        for t in transitions if isinstance(transitions, list) else ():
            if isinstance(t, Mapping) and isinstance(t.get("trigger"), str):
                out.append(f"on {t['trigger']}")
    return list(dict.fromkeys(out))


def _checkpoint_problem(value: str, path: Sequence[str | int], source_map: SourceMap,
                        data: Any) -> Problem:
    """``at: [enter Legal_review]``: named as no checkpoint, with the nearest valid one
    (a stage id in the wrong case or misspelt), rather than the schema's raw pattern."""
    written = " ".join(value.split()).lower()
    options = _checkpoints(data)
    close = difflib.get_close_matches(written, options, n=1, cutoff=0.6)
    if written in options:
        near = written
    elif close:
        near = close[0]
    else:  # a stage or trigger of another fragment, in the wrong case: its lower case
        near = written if _CHECKPOINT.fullmatch(written) else ""
    return Problem(
        source_map.locate(path),
        "schema-pattern",
        f"{_where(path)}: {value!r} is not a checkpoint",
        (f"did you mean '{near}'? " if near else "") + _CHECKPOINT_FORMS,
    )


#: How to write a value of each JSON type in YAML, for "is not of type" problems.
_TYPE_WORDS = {
    "string": "text", "number": "a number", "integer": "a whole number",
    "boolean": "true or false", "object": "a mapping (key: value lines)",
    "array": "a list ([a, b] or '- ' lines)", "null": "nothing (null)",
}


def _required_hint(err: ValidationError) -> str:
    """``add 'transitions:'`` and, where the schema says, what the key holds."""
    wanted = [str(k) for k in list(err.validator_value or ())]  # type: ignore[arg-type]
    have = err.instance if isinstance(err.instance, Mapping) else {}
    absent = [k for k in wanted if k not in have]
    # jsonschema gives one error per missing key, "'version' is a required property"
    missing = next((k for k in absent if err.message.startswith(repr(k))),
                   absent[0] if absent else wanted[0] if wanted else "")
    props = err.schema.get("properties", {}) if isinstance(err.schema, Mapping) else {}
    about = props.get(missing, {}).get("description") if isinstance(props, Mapping) else None
    return f"add '{missing}:'" + (f": {_first_sentence(about)}" if isinstance(about, str) else "")


def _yaml(value: Any) -> str:
    """How YAML spells a value: true, false, null; text quoted; anything else as Python."""
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value)


def _yaml_words(err: ValidationError) -> str:
    """jsonschema's message in a policy author's words: no Python dump of a whole entry,
    and a leading ``True``/``False``/``None`` spelled as YAML spells it."""
    message = str(err.message)
    if err.validator in ("oneOf", "anyOf") and isinstance(err.instance, (Mapping, list)):
        if "is valid under each of" in message:
            return "this entry fits more than one of the allowed forms"
        return "this entry fits none of the allowed forms"
    for value in (err.instance, err.validator_value):
        if value is None or value is True or value is False:
            word = repr(value)
            if message.startswith(word + " "):
                spelled = "nothing (null)" if value is None else _yaml(value)
                return spelled + message[len(word):]
    return message


def _value_hint(err: ValidationError) -> str | None:
    """What a value that broke a type, bound, length or pattern rule should look like."""
    kind, limit = err.validator, err.validator_value
    if kind == "type":
        types = [limit] if isinstance(limit, str) else list(limit or ())  # type: ignore[arg-type]
        return "write " + " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in types)
    if kind == "const":
        return f"write {_yaml(limit)}"
    bounds = {"minimum": "at least", "exclusiveMinimum": "more than",
              "maximum": "at most", "exclusiveMaximum": "less than"}
    if kind in bounds:
        return f"use a number {bounds[str(kind)]} {limit}"
    if kind in ("minLength", "minItems", "minProperties"):
        return "it may not be empty: write at least one" + (
            " character" if kind == "minLength" else " entry")
    if kind in ("maxLength", "maxItems", "maxProperties"):
        return f"shorten it to at most {limit}"
    about = err.schema.get("description") if isinstance(err.schema, Mapping) else None
    if isinstance(about, str):
        return _first_sentence(about)
    if kind == "pattern":
        return f"the value must match {limit}"
    return None


def _first_sentence(text: str) -> str:
    """A schema description as a hint: its first sentence ('e.g.' does not end one)."""
    found = re.search(r"\.\s+(?=[A-Z])", text.strip())
    head = (text.strip()[: found.start()] if found else text.strip()).rstrip(".")
    return head[:1].lower() + head[1:] if head else head


def _allowed_keys(schema: Mapping[str, Any]) -> set[str]:
    return {str(k) for k in schema.get("properties", {})}


def _key_patterns(schema: Mapping[str, Any]) -> list[tuple[re.Pattern[str], str | None]]:
    """The schema's ``patternProperties`` (besides ``x-`` extensions), each with what its
    description says such a key is, for "allowed keys" hints."""
    out: list[tuple[re.Pattern[str], str | None]] = []
    for pattern, sub in dict(schema.get("patternProperties") or {}).items():
        if str(pattern).startswith("^x-"):
            continue
        try:
            compiled = re.compile(str(pattern))
        except re.error:
            continue
        about = sub.get("description") if isinstance(sub, Mapping) else None
        out.append((compiled, _key_words(about) if isinstance(about, str) else None))
    return out


def _key_words(description: str) -> str:
    """'Text in the language with this code (`zh`, `de`, ...).' -> a hint's words."""
    found = re.search(r"\(([^)]*)\)", description)
    return f"a key like {found.group(1)}" if found else _first_sentence(description)


def _where(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pattern_hint(path: Sequence[str | int], value: str) -> str | None:
    last = path[-1] if path else ""
    if last == "then" or (len(path) >= 2 and path[-2] == "then"):
        return "write 'block', 'warn' or 'approve <gate>'"
    if value and (value[0].isupper() or "-" in value or " " in value):
        return "ids are lower_snake_case: letters, digits and '_'"
    return None
