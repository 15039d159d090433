"""Field mappings: which HubSpot property pairs with which app field, and the canonical form
in which both sides' values are compared.

Values are compared keyed by mapping (`"hubspot_name:app_name"`), so that a snapshot taken on
one side can be compared with the other side's record without knowing either side's names.
The canonical form is one for both sides (the writer stores it as both sides' snapshot):

- text: the stripped string; numbers: a decimal string in the app's unit, rounded as the app
  column stores it; dates `YYYY-MM-DD`; date-times `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole
  seconds); booleans `True`/`False`;
- choices with a value mapping: the app's option value as a string, and a value the mapping
  has no counterpart for as `{"unmapped": value, "side": side}`, never written across;
- untyped mappings (custom fields whose types nobody gave): the value as read, blank strings
  as None.
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from schemas.events import Side
from schemas.settings import Direction, FieldMapping, SyncSettings
from services.domain.defaults import (
    DEFAULT_MAPPINGS,
    DOMAIN_PAIRS,
    UNIT_FACTORS,
    builtin_types,
    default_pair,
)
from services.domain.fieldtypes import (
    APP_PLACES,
    Kind,
    as_text,
    blank,
    datetime_text,
    is_unmapped,
    kind_of,
    number_text,
    pair_kind,
    quantize,
    to_bool,
    to_date,
    to_datetime,
    to_number,
    unmapped,
)
from services.domain.normalisers import normalise_domain

Canonical = dict[str, Any]


def mapping_key(mapping: FieldMapping) -> str:
    return f"{mapping.hubspot}:{mapping.app}"


def default_mappings(object_type: str) -> list[FieldMapping]:
    return [
        FieldMapping(
            hubspot=m.hubspot,
            app=m.app,
            direction=m.direction,
            value_map=dict(m.value_map) if m.value_map is not None else None,
            hubspot_type=m.hubspot_type,
            app_type=m.app_type,
        )
        for m in DEFAULT_MAPPINGS.get(object_type, ())
    ]


def with_builtin_types(object_type: str, mapping: FieldMapping) -> FieldMapping:
    """The mapping with what it leaves out taken from the built-in fields: each side's type,
    and the default value mapping of a default pair."""
    hubspot_type = mapping.hubspot_type or builtin_types(object_type, Side.HUBSPOT).get(
        mapping.hubspot
    )
    app_type = mapping.app_type or builtin_types(object_type, Side.APP).get(mapping.app)
    value_map = mapping.value_map
    if value_map is None and (pair := default_pair(object_type, mapping.hubspot, mapping.app)):
        value_map = dict(pair.value_map) if pair.value_map is not None else None
    if (hubspot_type, app_type, value_map) == (
        mapping.hubspot_type,
        mapping.app_type,
        mapping.value_map,
    ):
        return mapping
    return mapping.model_copy(
        update={"hubspot_type": hubspot_type, "app_type": app_type, "value_map": value_map}
    )


def effective_mappings(object_type: str, settings: SyncSettings) -> list[FieldMapping]:
    """The enabled mappings of a sync: its own list, or the object's defaults, with the
    built-in fields' types filled in."""
    if settings.mappings is None:
        return default_mappings(object_type)
    return [with_builtin_types(object_type, m) for m in settings.mappings if m.enabled]


def field_name(mapping: FieldMapping, side: Side) -> str:
    return mapping.hubspot if side is Side.HUBSPOT else mapping.app


_TARGETS = {
    Direction.TWO_WAY: frozenset(Side),
    Direction.TO_HUBSPOT: frozenset({Side.HUBSPOT}),
    Direction.TO_APP: frozenset({Side.APP}),
}


def writes_into(mapping: FieldMapping | None, settings: SyncSettings) -> frozenset[Side]:
    """The sides a field may be written into: the sync's direction, narrowed by the mapping's
    own direction; a `dont_sync` field into neither."""
    sides = _TARGETS[settings.direction]
    if mapping is None:
        return sides
    if mapping.rule == "dont_sync":
        return frozenset()
    if mapping.direction is not None:
        sides = sides & _TARGETS[mapping.direction]
    return sides


def normalise(value: Any) -> Any:
    """One form for values that mean the same: blank strings are no value."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


@dataclass(frozen=True)
class Codec:
    """How one mapping's values are read into the canonical form and written back out."""

    kind: Kind | None
    kinds: tuple[Kind | None, Kind | None]  # (HubSpot, app)
    app_type: str | None
    value_map: tuple[tuple[str, str], ...]
    factor: int | None
    domain: bool
    plain: bool  # text on both sides (or untyped): read by stripping blanks only

    def side_kind(self, side: Side) -> Kind | None:
        return self.kinds[0] if side is Side.HUBSPOT else self.kinds[1]

    def read(self, raw: Any, side: Side) -> Any:
        if self.plain and (raw is None or isinstance(raw, str)):
            return (raw.strip() or None) if raw else None  # the common case, kept quick
        if blank(raw):
            return None
        if self.domain:
            return normalise_domain(raw)
        own = self.side_kind(side) or self.kind
        if self.kind is None:
            return normalise(raw)
        if self.kind is Kind.TEXT:
            return as_text(raw, own)
        if self.kind is Kind.CHOICE:
            return self._read_choice(raw, side)
        value = self._read_typed(raw, side)
        return normalise(raw) if value is None else value

    def _read_typed(self, raw: Any, side: Side) -> Any:
        if self.kind is Kind.NUMBER:
            number = to_number(raw)
            if number is None:
                return None
            if side is Side.HUBSPOT and self.factor:
                number = number / self.factor
            return number_text(quantize(number, APP_PLACES.get(self.app_type or "")))
        if self.kind is Kind.DATE:
            day = to_date(raw)
            return None if day is None else day.isoformat()
        if self.kind is Kind.DATETIME:
            moment = to_datetime(raw)
            return None if moment is None else datetime_text(moment)
        return to_bool(raw)

    def _read_choice(self, raw: Any, side: Side) -> Any:
        text = as_text(raw, None)
        if not self.value_map or text is None:
            return text
        if side is Side.HUBSPOT:
            mapped = dict(self.value_map).get(text)
            return unmapped(text, side) if mapped is None else mapped
        return text if text in {app for _, app in self.value_map} else unmapped(text, side)

    def write(self, value: Any, side: Side) -> Any:
        """A canonical value as the given side takes it."""
        if value is None or self.kind is None:
            return value
        own = self.side_kind(side)
        if self.domain:
            return f"https://{value}" if side is Side.APP else value
        if self.kind is Kind.CHOICE:
            return self._write_choice(value, side, own)
        if own is Kind.TEXT or self.kind is Kind.TEXT:
            return value if isinstance(value, str) else as_text(value, self.kind)
        if self.kind is Kind.NUMBER:
            return self._write_number(Decimal(value), side)
        if self.kind is Kind.DATE and own is Kind.DATETIME and side is Side.APP:
            return f"{value}T00:00:00Z"
        if self.kind is Kind.BOOL and side is Side.HUBSPOT:
            return "true" if value else "false"
        return value

    def _write_number(self, number: Decimal, side: Side) -> Any:
        if side is Side.HUBSPOT:
            return number_text(number * self.factor if self.factor else number)
        if self.app_type == "integer" or (self.app_type is None and number == number.to_integral()):
            return int(number)
        return float(number)

    def _write_choice(self, value: str, side: Side, own: Kind | None) -> Any:
        if side is Side.HUBSPOT:
            for hubspot, app in self.value_map:
                if app == value:
                    return hubspot  # several HubSpot values for one app value: the first listed
            return value
        if own is Kind.CHOICE and self.app_type in ("picklist", None) and _integer(value):
            return int(value)
        return value


def _integer(text: str) -> bool:
    return text.lstrip("-").isdigit()


@lru_cache(maxsize=4096)
def _codec(
    hubspot: str,
    app: str,
    hubspot_type: str | None,
    app_type: str | None,
    value_map: tuple[tuple[str, str], ...],
) -> Codec:
    kinds = (kind_of(Side.HUBSPOT, hubspot_type), kind_of(Side.APP, app_type))
    kind = pair_kind(*kinds, value_map=bool(value_map))
    domain = (hubspot, app) in DOMAIN_PAIRS
    return Codec(
        kind=kind,
        kinds=kinds,
        app_type=app_type,
        value_map=value_map,
        factor=UNIT_FACTORS.get((hubspot, app)),
        domain=domain,
        plain=not domain and (kind is None or kinds == (Kind.TEXT, Kind.TEXT)),
    )


def codec(mapping: FieldMapping) -> Codec:
    value_map = tuple(mapping.value_map.items()) if mapping.value_map else ()
    return _codec(mapping.hubspot, mapping.app, mapping.hubspot_type, mapping.app_type, value_map)


def canonical(properties: dict[str, Any], mappings: list[FieldMapping], side: Side) -> Canonical:
    """A record's mapped values keyed by mapping; absent fields are None."""
    get = properties.get
    hubspot = side is Side.HUBSPOT
    return {
        f"{m.hubspot}:{m.app}": codec(m).read(get(m.hubspot if hubspot else m.app), side)
        for m in mappings
    }


def to_side(values: Canonical, mappings: list[FieldMapping], side: Side) -> dict[str, Any]:
    """Canonical values as the given side's property names and value types (only the keys
    present; values without a counterpart in a value mapping are left out)."""
    return {
        field_name(m, side): codec(m).write(values[key], side)
        for m in mappings
        if (key := mapping_key(m)) in values and not is_unmapped(values[key])
    }


def side_fields(mappings: list[FieldMapping], side: Side) -> list[str]:
    return sorted({field_name(m, side) for m in mappings})
