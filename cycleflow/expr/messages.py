"""Why a rule could not be evaluated, in words a policy author reads, in each language.

A :class:`RuleError` raised while evaluating carries a code and its values; its
``reason`` is the English sentence, and :func:`reason_in` renders it again in a
run's language. Python's own ``TypeError`` texts ("'>' not supported between
instances of 'str' and 'int'") are turned into the language's type names here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from cycleflow.errors import RuleError

_EN: Final = MappingProxyType({
    "rt_compare": "cannot compare {left} and {right} values with {op}",
    "rt_operands": "cannot apply {op} to {left} and {right} values",
    "rt_unary": "cannot apply {op} to a {operand} value",
    "rt_not_list": "cannot look inside a {kind} value with 'in' (it takes a list, text or object)",
    "rt_in_text": "only text can be looked for in text with 'in', not a {kind} value",
    "rt_unhashable": "a {kind} value cannot be looked for in an object or a set",
    "rt_repeat": "text or a list can only be repeated (*) a whole number of times, "
                 "not by a {kind} value",
    "rt_compare_kinds": "cannot compare {left} and {right} values",
    "rt_div_zero": "division by zero",
    "rt_range": "a number out of range",
    "rt_read_index": "cannot read [{key}] of {parent}: it is a {kind}",
    "rt_deep": "data nested too deeply",
    "rt_too_large": "{what} would be too large",
    "rt_exponent": "exponent {exponent} is too large (limit {limit})",
    "rt_power_real": "power has no real result",
    "rt_round_digits": "round() digits must be within ±{limit}",
    "rt_inputs_large": "{func}() inputs are too large",
    "rt_date_long": "date text is too long",
    "rt_index": "index {key} is out of range for {parent}",
    "rt_not_object": "cannot read .{key} of {parent}: it is a {kind}, not an object",
    "rt_type": "a value of the wrong type ({detail})",
    "rt_arg": "{func}() needs {what}, got {kind}",
    "rt_empty": "{func}() of an empty list",
    "rt_not_date": "not an ISO-8601 date: {text}",
    "rt_not_datetime": "not an ISO-8601 date-time: {text}",
})
_ZH: Final = MappingProxyType({
    "rt_compare": "无法用 {op} 比较{left}值和{right}值",
    "rt_operands": "无法对{left}值和{right}值使用 {op}",
    "rt_unary": "无法对{operand}值使用 {op}",
    "rt_not_list": "无法用 in 在{kind}值中查找（in 需要列表、文本或对象）",
    "rt_in_text": "in 只能在文本中查找文本，不能查找{kind}值",
    "rt_unhashable": "{kind}值不能在对象或集合中查找",
    "rt_repeat": "文本或列表只能重复（*）整数次，不能乘以{kind}值",
    "rt_compare_kinds": "无法比较{left}值和{right}值",
    "rt_div_zero": "除数为零",
    "rt_range": "数值超出范围",
    "rt_read_index": "无法读取 {parent} 的 [{key}]：它是{kind}",
    "rt_deep": "数据嵌套过深",
    "rt_too_large": "{what}将会过大",
    "rt_exponent": "指数 {exponent} 过大（上限 {limit}）",
    "rt_power_real": "乘方没有实数结果",
    "rt_round_digits": "round() 的位数须在 ±{limit} 以内",
    "rt_inputs_large": "{func}() 的输入过大",
    "rt_date_long": "日期文本过长",
    "rt_index": "下标 {key} 超出 {parent} 的范围",
    "rt_not_object": "无法读取 {parent} 的 .{key}：它是{kind}，不是对象",
    "rt_type": "值的类型不对（{detail}）",
    "rt_arg": "{func}() 需要{what}，得到的是{kind}",
    "rt_empty": "{func}() 的列表为空",
    "rt_not_date": "不是 ISO-8601 日期：{text}",
    "rt_not_datetime": "不是 ISO-8601 日期时间：{text}",
})
#: What a function argument must be (``rt_arg``'s ``what``), in Chinese.
_WHAT_ZH: Final = MappingProxyType({
    "a number": "数字", "a string": "文本", "a string or list": "文本或列表",
    "a list or several values": "一个列表或多个值", "whole digits": "整数位数",
    "a string or a list of strings": "文本或文本列表", "a list of strings": "文本列表",
    "a string to look for in a string": "要在文本中查找的文本",
    "strings to look for in a string": "要在文本中查找的文本",
    "a list as first argument": "列表作为第一个参数",
    "a list as second argument": "列表作为第二个参数",
    "an ISO-8601 date text, date or datetime": "ISO-8601 日期文本、日期或日期时间",
    "number": "数字", "result": "结果", "power": "乘方结果",
    "joined text or list": "连接后的文本或列表", "repeated text or list": "重复后的文本或列表",
    "other": "其他类型",
})
_TYPES_ZH: Final = MappingProxyType({
    "string": "文本", "number": "数字", "boolean": "布尔", "null": "空（null）",
    "object": "对象", "list": "列表", "date": "日期", "datetime": "日期时间",
    "duration": "时长",
})
_BOOKS: Final = MappingProxyType({
    "en": (_EN, None),
    "zh": (_ZH, MappingProxyType({**_TYPES_ZH, **_WHAT_ZH})),
})
_WORD_PARAMS: Final = frozenset({"left", "right", "operand", "kind", "what"})
_TYPE_PARAMS: Final = frozenset({"left", "right", "operand", "kind"})
_TYPE_WORDS: Final = frozenset(_TYPES_ZH) | {"other"}

#: Python's type names, as its TypeError texts spell them, in the language's words.
_PY_TYPES: Final = MappingProxyType({
    "str": "string", "int": "number", "float": "number", "Decimal": "number",
    "Fraction": "number", "bool": "boolean", "NoneType": "null", "dict": "object",
    "mappingproxy": "object", "list": "list", "tuple": "list", "set": "list",
    "frozenset": "list", "datetime.date": "date", "date": "date",
    "datetime.datetime": "datetime", "datetime": "datetime",
    "datetime.timedelta": "duration", "timedelta": "duration",
})
_T = r"'?([\w.]+)'?"
_COMPARE: Final = re.compile(rf"'(.+?)' not supported between instances of {_T} and {_T}")
_OPERANDS: Final = re.compile(rf"unsupported operand type\(s\) for (.+?): {_T} and {_T}")
_CONCAT: Final = re.compile(r'can only concatenate ([\w.]+) \(not "([\w.]+)"\) to [\w.]+')
_UNARY: Final = re.compile(rf"bad operand type for unary (.+?): {_T}")
_NOT_CONTAINER: Final = re.compile(rf"argument of type {_T} is not iterable")
_IN_TEXT: Final = re.compile(r"'in <string>' requires string as left operand, not ([\w.]+)")
_UNHASHABLE: Final = re.compile(rf"unhashable type: {_T}")
_REPEAT: Final = re.compile(rf"can't multiply sequence by non-int of type {_T}")
_COMPARE_KINDS: Final = re.compile(r"can't compare ([\w.]+) to ([\w.]+)")


def rule_error(code: str, **params: str) -> RuleError:
    """A RuleError for ``code``: its reason in English, its code and values kept."""
    return RuleError(render("en", code, params), code=code, params=params)


def render(lang: str, code: str, params: Mapping[str, str]) -> str:
    """The sentence ``code`` with ``params`` in ``lang`` (English for a language without one)."""
    book, types = _BOOKS.get(lang) or _BOOKS.get(lang.split("-")[0]) or _BOOKS["en"]
    params = {k: (v if v in _TYPE_WORDS else "other") if k in _TYPE_PARAMS else v
              for k, v in params.items()}  # an app's class name (UUID, Tier) is 'other'
    if types is not None:
        params = {k: types.get(v, v) if k in _WORD_PARAMS else v for k, v in params.items()}
    return book[code].format(**params)


def reason_in(err: RuleError, lang: str) -> str:
    """Why ``err``'s rule could not be evaluated, in ``lang`` where its code has a sentence."""
    if err.code is None or err.code not in _EN:
        return err.reason
    return render(lang, err.code, err.params)


def _kind(py_name: str) -> str:
    """A Python type name in the language's words; an app's own class is just 'other'."""
    return _PY_TYPES.get(py_name, "other")


def from_type_error(exc: TypeError) -> RuleError:
    """Python's text for an operation on the wrong types, in the policy language's words."""
    text = str(exc)
    if m := _COMPARE.search(text):
        return rule_error("rt_compare", op=m[1], left=_kind(m[2]), right=_kind(m[3]))
    if m := _OPERANDS.search(text):
        op = "**" if m[1].startswith("**") else m[1]
        return rule_error("rt_operands", op=op, left=_kind(m[2]), right=_kind(m[3]))
    if m := _CONCAT.search(text):
        return rule_error("rt_operands", op="+", left=_kind(m[1]), right=_kind(m[2]))
    if m := _UNARY.search(text):
        return rule_error("rt_unary", op=m[1], operand=_kind(m[2]))
    if m := _NOT_CONTAINER.search(text):
        return rule_error("rt_not_list", kind=_kind(m[1]))
    if m := _IN_TEXT.search(text):
        return rule_error("rt_in_text", kind=_kind(m[1]))
    if m := _UNHASHABLE.search(text):
        return rule_error("rt_unhashable", kind=_kind(m[1]))
    if m := _REPEAT.search(text):
        return rule_error("rt_repeat", kind=_kind(m[1]))
    if m := _COMPARE_KINDS.search(text):
        return rule_error("rt_compare_kinds", left=_kind(m[1]), right=_kind(m[2]))
    return rule_error("rt_type", detail=text)
