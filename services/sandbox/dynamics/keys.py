"""How a URL names a record: `contacts(<guid>)`, `contacts(contactid=<guid>)`, or an alternate
key `contacts(emailaddress1='a@x.io')`, `contacts(firstname='Joe',emailaddress1='...')`
(Use an alternate key to reference a record). The same forms are accepted in `@odata.bind`
values and `@odata.id` references, absolute or relative to the organisation's service root.
"""

import re
from typing import Any

from services.sandbox.dynamics.errors import ODataError
from services.sandbox.dynamics.odata import tokenize
from services.sandbox.dynamics.schema import AttrType, EntityDef, Row, coerce, parse_guid

_SERVICE_ROOT = re.compile(r"^.*?/api/data/v9\.\d/")
_NUMERIC = (AttrType.INT, AttrType.BIGINT, AttrType.PICKLIST, AttrType.DECIMAL, AttrType.MONEY)


def split_segment(path: str) -> tuple[str, str | None, str | None]:
    """`name(key)/rest` -> (name, key, rest); the key may quote parentheses and slashes."""
    open_at = path.find("(")
    slash = path.find("/")
    if open_at < 0 or (0 <= slash < open_at):
        name, _, rest = path.partition("/")
        return name, None, ("/" + rest) if rest else None
    depth, quoted, i = 0, False, open_at
    while i < len(path):
        ch = path[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth == 0:
                rest = path[i + 1 :]
                return path[:open_at], path[open_at + 1 : i], rest or None
        i += 1
    raise ODataError.query("Bad Request - Error in query syntax.")


def relative_path(url: str) -> str:
    """A record URL relative to the service root: `/api/data/v9.2/accounts(..)` -> `accounts(..)`."""
    return _SERVICE_ROOT.sub("", url).lstrip("/")


def _literal(entity: EntityDef, name: str, kind: str, text: str, value: Any) -> Any:
    attr = entity.attr(name)
    if attr is None:
        raise ODataError.invalid_key(entity.logical_name)
    try:
        if kind == "string" and attr.type in (AttrType.STRING, AttrType.MEMO):
            return value
        if kind == "guid" and attr.type in (AttrType.GUID, AttrType.LOOKUP):
            return text.lower()
        if kind == "number" and attr.type in _NUMERIC:
            return coerce(entity, attr, int(text) if text.lstrip("-").isdigit() else float(text))
        if kind == "datetime" and attr.type in (AttrType.DATE, AttrType.DATETIME):
            return coerce(entity, attr, text)
    except ValueError:
        pass
    raise ODataError.query(
        f"The key value '{text}' is not a valid value of '{name}' of type '{attr.edm_type}'."
    )


def parse_key(entity: EntityDef, segment: str) -> str | Row:
    """The primary key a segment names, or the alternate key values it gives (by column)."""
    tokens = tokenize(segment)
    if len(tokens) == 2 and tokens[0].kind == "guid":
        return parse_guid(tokens[0].text)
    values: Row = {}
    i = 0
    while tokens[i].kind != "end":
        name, equals, literal = tokens[i], tokens[i + 1], tokens[i + 2]
        if name.kind != "ident" or equals.text != "=" or literal.kind == "end":
            raise ODataError.query("Bad Request - Error in query syntax.")
        values[name.text] = _literal(entity, name.text, literal.kind, literal.text, literal.value)
        i += 3
        if tokens[i].kind == "punct" and tokens[i].text == ",":
            i += 1
    columns = entity.key_columns(set(values))
    if columns is None:
        raise ODataError.invalid_key(entity.logical_name)
    if columns == (entity.primary_id,):
        return parse_guid(str(values[entity.primary_id]))
    return values
