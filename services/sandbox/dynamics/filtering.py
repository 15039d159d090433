"""`$filter` evaluation: a parsed filter checked against a table and run over its rows.

Semantics follow Dataverse (Filter rows using OData): string comparisons are
case-insensitive; `contains`/`startswith`/`endswith` take T-SQL wildcards (`%`, `_`, `[]`);
a column compared with a literal of another type is refused; comparing with a null column is
unknown (SQL three-valued logic), and a row is returned only where the filter is true.
"""

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.odata import (
    COMPARISONS,
    Call,
    Compare,
    ListLit,
    Lit,
    Logical,
    Node,
    Not,
    Prop,
    parse_filter,
)
from services.sandbox.dynamics.schema import AttrType, EntityDef, Row, parse_datetime

Predicate = Callable[[Row], bool | None]

_KIND_OF_TYPE = {
    AttrType.STRING: "string",
    AttrType.MEMO: "string",
    AttrType.GUID: "guid",
    AttrType.LOOKUP: "guid",
    AttrType.DATETIME: "datetime",
    AttrType.DATE: "datetime",
    AttrType.INT: "number",
    AttrType.BIGINT: "number",
    AttrType.PICKLIST: "number",
    AttrType.DECIMAL: "number",
    AttrType.MONEY: "number",
    AttrType.BOOL: "bool",
}
_EDM_OF_KIND = {
    "string": "Edm.String",
    "guid": "Edm.Guid",
    "datetime": "Edm.DateTimeOffset",
    "number": "Edm.Int32",
    "bool": "Edm.Boolean",
}
_STRING_FUNCTIONS = {"contains", "startswith", "endswith"}
_IN_FUNCTIONS = {"Microsoft.Dynamics.CRM.In": False, "Microsoft.Dynamics.CRM.NotIn": True}


def _norm(value: Any) -> Any:
    """Comparable form: strings compare case-insensitively as Dataverse's collation does, and a
    date-only value compares as midnight UTC of that day."""
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def _apply(op: str, a: Any, b: Any) -> bool:
    match op:
        case "eq":
            return bool(a == b)
        case "ne":
            return bool(a != b)
        case "gt":
            return bool(a > b)
        case "ge":
            return bool(a >= b)
        case "lt":
            return bool(a < b)
        case _:
            return bool(a <= b)


def like_pattern(value: str, prefix: bool, suffix: bool) -> re.Pattern[str]:
    """A T-SQL LIKE pattern (`%`, `_`, `[..]`, `[^..]`) as a case-insensitive regex."""
    out = [".*" if prefix else ""]
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[" and "]" in value[i + 1 :]:
            end = value.index("]", i + 1)
            body = value[i + 1 : end]
            negate = body.startswith("^")
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append(".*" if suffix else "")
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


class _Compiler:
    def __init__(self, entity: EntityDef) -> None:
        self.entity = entity

    def attr_kind(self, name: str) -> str:
        if "/" in name:
            raise ODataError.query(
                f"Filtering on related table columns ('{name}') is not emulated by the sandbox."
            )
        attr = self.entity.attr(name)
        if attr is None or not attr.read:
            raise ODataError.property_not_found(self.entity.type_name, name)
        return _KIND_OF_TYPE[attr.type]

    def value(self, node: Node) -> tuple[str, Callable[[Row], Any]]:
        if isinstance(node, Prop):
            name = node.name
            return self.attr_kind(name), lambda row: _norm(row.get(name))
        if isinstance(node, Lit):
            constant = _norm(node.value)
            return node.kind, lambda _row: constant
        if isinstance(node, ListLit):
            raise ODataError.query("A list literal is only allowed as a function argument.")
        return "bool", self.predicate(node)

    def predicate(self, node: Node) -> Predicate:
        if isinstance(node, Logical):
            left, right = self.predicate(node.left), self.predicate(node.right)
            return _and(left, right) if node.op == "and" else _or(left, right)
        if isinstance(node, Not):
            inner = self.predicate(node.operand)
            return lambda row: None if (v := inner(row)) is None else not v
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Lit) and node.kind == "bool":
            constant = bool(node.value)
            return lambda _row: constant
        raise ODataError.query("The $filter expression must evaluate to a single boolean value.")

    def compare(self, node: Compare) -> Predicate:
        (lkind, left), (rkind, right) = self.value(node.left), self.value(node.right)
        if "null" not in (lkind, rkind) and lkind != rkind:
            raise ODataError.query(
                "A binary operator with incompatible types was detected. Found operand types "
                f"'{_EDM_OF_KIND[lkind]}' and '{_EDM_OF_KIND[rkind]}' for operator kind "
                f"'{COMPARISONS[node.op]}'."
            )
        op = node.op
        if "null" in (lkind, rkind):
            other = right if lkind == "null" else left
            if op == "eq":
                return lambda row: other(row) is None
            if op == "ne":
                return lambda row: other(row) is not None
            return lambda _row: None

        def compare(row: Row) -> bool | None:
            a, b = left(row), right(row)
            if a is None or b is None:
                return None
            return _apply(op, a, b)

        return compare

    def call(self, node: Call) -> Predicate:
        if node.name in _STRING_FUNCTIONS:
            return self.string_function(node)
        if node.name in _IN_FUNCTIONS:
            return self.in_function(node, negate=_IN_FUNCTIONS[node.name])
        if node.name.startswith("Microsoft.Dynamics.CRM."):
            raise ODataError.query(
                f"The query function '{node.name}' is not emulated by the Dynamics sandbox."
            )
        raise ODataError.query(
            f"An unknown function with name '{node.name}' was found. This may also be a function "
            "import or a key lookup on a navigation property, which is not allowed."
        )

    def string_function(self, node: Call) -> Predicate:
        if len(node.args) != 2 or node.named:
            raise ODataError.query(f"The '{node.name}' function requires two arguments.")
        target, literal = node.args
        if not isinstance(target, Prop) or self.attr_kind(target.name) != "string":
            raise ODataError.query(f"The first argument of '{node.name}' must be a text column.")
        if not isinstance(literal, Lit) or literal.kind != "string":
            raise ODataError.query(f"The second argument of '{node.name}' must be a string.")
        pattern = like_pattern(
            literal.value,
            prefix=node.name in ("contains", "endswith"),
            suffix=node.name in ("contains", "startswith"),
        )
        name = target.name

        def matches(row: Row) -> bool | None:
            value = row.get(name)
            return None if value is None else pattern.fullmatch(value) is not None

        return matches

    def in_function(self, node: Call, negate: bool) -> Predicate:
        named = dict(node.named)
        prop, values = named.get("PropertyName"), named.get("PropertyValues")
        if not (isinstance(prop, Lit) and prop.kind == "string" and isinstance(values, ListLit)):
            raise ODataError.query(
                f"'{node.name}' requires PropertyName='<column>' and PropertyValues=[...]."
            )
        name = prop.value
        kind = self.attr_kind(name)
        wanted = {_norm(_convert(lit, kind)) for lit in values.values}

        def contains(row: Row) -> bool | None:
            value = _norm(row.get(name))
            return None if value is None else (value in wanted) != negate

        return contains


def _convert(lit: Lit, kind: str) -> Any:
    """A PropertyValues entry (always written as a string) as the column's type."""
    text = str(lit.value)
    try:
        if kind == "guid":
            return text.strip("{}").lower()
        if kind == "number":
            return int(text) if text.lstrip("-").isdigit() else Decimal(text)
        if kind == "datetime":
            return parse_datetime(text)
        if kind == "bool":
            return text.lower() == "true"
    except ValueError as exc:
        raise ODataError.query(f"'{text}' is not a valid {_EDM_OF_KIND[kind]} value.") from exc
    return text


def _and(left: Predicate, right: Predicate) -> Predicate:
    def both(row: Row) -> bool | None:
        a = left(row)
        if a is False:
            return False
        b = right(row)
        if b is False:
            return False
        return None if a is None or b is None else True

    return both


def _or(left: Predicate, right: Predicate) -> Predicate:
    def either(row: Row) -> bool | None:
        a = left(row)
        if a is True:
            return True
        b = right(row)
        if b is True:
            return True
        return None if a is None or b is None else False

    return either


def compile_filter(text: str, entity: EntityDef) -> Predicate:
    """A predicate over `entity` rows; a row is returned only where it gives True."""
    return _Compiler(entity).predicate(parse_filter(text))


def matches(predicate: Predicate, row: Row) -> bool:
    return predicate(row) is True
