"""OData `$filter` syntax as Dataverse accepts it: text to a small syntax tree.

The parser knows nothing about tables, so any code that needs to read a `$filter` can reuse
it; `filtering.compile_filter` checks a tree against a table and evaluates it.

Grammar (Filter rows using OData): `eq ne gt ge lt le`, `and`, `or`, `not`, parentheses,
function calls (`contains(name,'x')`, `Microsoft.Dynamics.CRM.In(PropertyName='a',
PropertyValues=["1","2"])`), and bare literals: 'text' (a doubled quote is a quote), GUIDs,
numbers, dates and date-times, `null`, `true`, `false`. OData v3 typed literals such as
`guid'...'` are refused with the error OData v4 gives.
"""

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.schema import parse_datetime


@dataclass(frozen=True)
class Prop:
    name: str


@dataclass(frozen=True)
class Lit:
    value: Any
    kind: str  # string, guid, datetime, number, bool, null


@dataclass(frozen=True)
class ListLit:
    values: tuple[Lit, ...]


@dataclass(frozen=True)
class Compare:
    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Logical:
    op: str  # and, or
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple["Node", ...] = ()
    named: tuple[tuple[str, "Node"], ...] = ()


Node = Prop | Lit | ListLit | Compare | Logical | Not | Call

COMPARISONS = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
_KEYWORDS = {"and", "or", "not", *COMPARISONS}
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![\w-])
    |(?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)(?![\w-])
    |(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])
    |(?P<ident>[A-Za-z_][\w.]*(?:/[A-Za-z_][\w.]*)*)
    |(?P<punct>[(),\[\]=])""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # guid, datetime, number, ident, string, punct, end
    text: str
    pos: int
    value: Any = None


def _syntax_error(pos: int, text: str) -> ODataError:
    return ODataError.query(f"Syntax error at position {pos} in '{text}'.")


def _read_string(text: str, start: int) -> tuple[str, int]:
    """A quoted literal starting at `start`; a doubled quote is one quote character."""
    quote, out, i = text[start], [], start + 1
    while i < len(text):
        if text[i] == quote:
            if text[i + 1 : i + 2] == quote:
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(text[i])
        i += 1
    raise ODataError.query(f"There is an unterminated literal at position {len(text)} in '{text}'.")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] in "'\"":
            value, end = _read_string(text, pos)
            previous = tokens[-1] if tokens else None
            if previous and previous.kind == "ident" and previous.pos + len(previous.text) == pos:
                # OData v3 typed literals (guid'..', datetime'..') are not OData v4.
                raise ODataError.query(
                    f"Unrecognized 'Edm.String' literal '{previous.text}{text[pos:end]}' at "
                    f"'{previous.pos}' in '{text}'."
                )
            tokens.append(Token("string", text[pos:end], pos, value))
            pos = end
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _syntax_error(pos, text)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token.kind == "ident" and token.text in words:
            self.i += 1
            return token.text
        return None

    def expect(self, punct: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != punct:
            raise _syntax_error(token.pos, self.text)

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise _syntax_error(0, self.text)
        node = self.parse_or()
        if self.peek().kind != "end":
            raise _syntax_error(self.peek().pos, self.text)
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.keyword("or"):
            node = Logical("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while self.keyword("and"):
            node = Logical("and", node, self.parse_not())
        return node

    def parse_not(self) -> Node:
        if self.keyword("not"):
            return Not(self.parse_not())
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        node = self.parse_primary()
        op = self.keyword(*COMPARISONS)
        if op:
            return Compare(op, node, self.parse_primary())
        return node

    def parse_primary(self) -> Node:
        token = self.take()
        if token.kind == "punct" and token.text == "(":
            node = self.parse_or()
            self.expect(")")
            return node
        if token.kind == "punct" and token.text == "[":
            return self.parse_list()
        if token.kind == "string":
            return Lit(token.value, "string")
        if token.kind == "guid":
            return Lit(token.text.lower(), "guid")
        if token.kind == "datetime":
            return Lit(parse_datetime(token.text), "datetime")
        if token.kind == "number":
            is_int = not any(c in token.text for c in ".eE")
            return Lit(int(token.text) if is_int else Decimal(token.text), "number")
        if token.kind == "ident" and token.text not in _KEYWORDS:
            if token.text in ("null", "true", "false"):
                value = None if token.text == "null" else token.text == "true"
                return Lit(value, "null" if value is None else "bool")
            if self.peek().kind == "punct" and self.peek().text == "(":
                return self.parse_call(token.text)
            return Prop(token.text)
        raise _syntax_error(token.pos, self.text)

    def parse_call(self, name: str) -> Call:
        self.expect("(")
        args: list[Node] = []
        named: list[tuple[str, Node]] = []
        while not (self.peek().kind == "punct" and self.peek().text == ")"):
            if args or named:
                self.expect(",")
            after = self.tokens[self.i + 1]
            if self.peek().kind == "ident" and after.kind == "punct" and after.text == "=":
                key = self.take().text
                self.take()
                named.append((key, self.parse_primary()))
            else:
                args.append(self.parse_or())
        self.expect(")")
        return Call(name, tuple(args), tuple(named))

    def parse_list(self) -> ListLit:
        values: list[Lit] = []
        while not (self.peek().kind == "punct" and self.peek().text == "]"):
            if values:
                self.expect(",")
            item = self.parse_primary()
            if not isinstance(item, Lit):
                raise _syntax_error(self.peek().pos, self.text)
            values.append(item)
        self.expect("]")
        return ListLit(tuple(values))


def parse_filter(text: str) -> Node:
    """The syntax tree of a `$filter` value; ODataError (400, 0x80060888) if malformed."""
    return _Parser(text).parse()
