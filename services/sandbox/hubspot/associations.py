"""Record associations as HubSpot's v4 associations API models them, and their type table.

Association type ids are HubSpot's documented HUBSPOT_DEFINED ids ("Association type ID
values", associations v4 guide): each direction has its own id (contact→company 279,
company→contact 280, ...). Some pairs also have the "Primary" label (contact→company 1 with
company→contact 2, deal→company 5 / 6, order→company 509 / 510): a contact, deal or order has
at most one primary company, so labelling another one primary moves the label. Associations
are kept in both directions; removing the unlabeled type removes the whole association, as the
guide says.
"""

from collections.abc import Iterable
from dataclasses import dataclass

HUBSPOT_DEFINED = "HUBSPOT_DEFINED"
PRIMARY = "Primary"


@dataclass(frozen=True)
class AssociationType:
    type_id: int
    from_object: str
    to_object: str
    reverse_id: int
    label: str | None = None  # None: the unlabeled (default) association

    @property
    def primary(self) -> bool:
        return self.label == PRIMARY

    def to_json(self) -> dict[str, object]:
        return {"category": HUBSPOT_DEFINED, "typeId": self.type_id, "label": self.label}


# (from, to, from→to id, to→from id, primary from→to id, primary to→from id)
_PAIRS: tuple[tuple[str, str, int, int, int | None, int | None], ...] = (
    ("contacts", "companies", 279, 280, 1, 2),
    ("deals", "contacts", 3, 4, None, None),
    ("deals", "companies", 341, 342, 5, 6),
    ("invoices", "contacts", 177, 178, None, None),
    ("invoices", "companies", 179, 180, None, None),
    ("invoices", "deals", 175, 176, None, None),
    ("invoices", "orders", 517, 518, None, None),
    ("orders", "contacts", 507, 508, None, None),
    ("orders", "companies", 934, 935, 509, 510),
    ("orders", "deals", 512, 511, None, None),
    ("tasks", "contacts", 204, 203, None, None),
    ("tasks", "companies", 192, 191, None, None),
    ("tasks", "deals", 216, 215, None, None),
    ("tasks", "orders", 727, 726, None, None),
    ("calls", "contacts", 194, 193, None, None),
    ("calls", "companies", 182, 181, None, None),
    ("calls", "deals", 206, 205, None, None),
    ("calls", "orders", 773, 772, None, None),
    ("meetings", "contacts", 200, 199, None, None),
    ("meetings", "companies", 188, 187, None, None),
    ("meetings", "deals", 212, 211, None, None),
    ("meetings", "orders", 769, 768, None, None),
    ("notes", "contacts", 202, 201, None, None),
    ("notes", "companies", 190, 189, None, None),
    ("notes", "deals", 214, 213, None, None),
    ("notes", "orders", 765, 764, None, None),
)


def _types() -> dict[int, AssociationType]:
    types: dict[int, AssociationType] = {}
    for a, b, forward, backward, primary, primary_back in _PAIRS:
        types[forward] = AssociationType(forward, a, b, backward)
        types[backward] = AssociationType(backward, b, a, forward)
        if primary is not None and primary_back is not None:
            types[primary] = AssociationType(primary, a, b, primary_back, PRIMARY)
            types[primary_back] = AssociationType(primary_back, b, a, primary, PRIMARY)
    return types


TYPES: dict[int, AssociationType] = _types()
REVERSE: dict[int, int] = {t.type_id: t.reverse_id for t in TYPES.values()}
# The unlabeled type of each direction, which "default" associations use.
DEFAULT_TYPE: dict[tuple[str, str], int] = {
    (t.from_object, t.to_object): t.type_id for t in TYPES.values() if t.label is None
}
PRIMARY_TYPE: dict[tuple[str, str], int] = {
    (t.from_object, t.to_object): t.type_id for t in TYPES.values() if t.primary
}
# Whose primary company it is: the side whose primary label HubSpot keeps unique.
PRIMARY_OWNERS = frozenset({"contacts", "deals", "orders"})


def types_between(from_object: str, to_object: str) -> list[AssociationType]:
    return sorted(
        (t for t in TYPES.values() if (t.from_object, t.to_object) == (from_object, to_object)),
        key=lambda t: t.type_id,
    )


@dataclass(frozen=True)
class AssociationChange:
    """One direction of an association that appeared or went away (for webhooks)."""

    from_object: str
    from_id: int
    to_object: str
    to_id: int
    type_ids: tuple[int, ...]
    removed: bool

    @property
    def primary(self) -> bool:
        return any(TYPES[t].primary for t in self.type_ids)


Links = dict[tuple[str, int], dict[str, dict[int, set[int]]]]


class AssociationStore:
    """Both directions of every association: (object, id) → to object → to id → type ids."""

    def __init__(self) -> None:
        self.links: Links = {}

    def types(self, a: str, a_id: int, b: str, b_id: int) -> set[int]:
        return self.links.get((a, a_id), {}).get(b, {}).get(b_id, set())

    def targets(self, a: str, a_id: int, b: str) -> dict[int, set[int]]:
        return self.links.get((a, a_id), {}).get(b, {})

    def primary_of(self, owner: str, owner_id: int, to_object: str) -> int | None:
        primary = PRIMARY_TYPE.get((owner, to_object))
        for target, types in self.targets(owner, owner_id, to_object).items():
            if primary in types:
                return target
        return None

    def add(
        self, a: str, a_id: int, b: str, b_id: int, type_ids: Iterable[int]
    ) -> list[AssociationChange]:
        """Add types (ids of the a→b direction); the unlabeled type always comes along."""
        wanted = {*type_ids, DEFAULT_TYPE[(a, b)]}
        changes: list[AssociationChange] = []
        for type_id in sorted(wanted):
            kind = TYPES[type_id]
            if kind.primary:
                changes += self._clear_other_primary(kind, a, a_id, b, b_id)
        added = wanted - self.types(a, a_id, b, b_id)
        if added:
            self._put(a, a_id, b, b_id, added)
            changes += _both(a, a_id, b, b_id, added, removed=False)
        return changes

    def add_default(self, a: str, a_id: int, b: str, b_id: int) -> list[AssociationChange]:
        """The unlabeled association; the first company of a contact, deal or order is also
        made its primary one, as HubSpot does."""
        extra: list[int] = []
        for owner, owner_id, other in ((a, a_id, b), (b, b_id, a)):
            primary = PRIMARY_TYPE.get((owner, other))
            if (
                primary
                and owner in PRIMARY_OWNERS
                and self.primary_of(owner, owner_id, other) is None
            ):
                extra.append(primary if owner == a else TYPES[primary].reverse_id)
        return self.add(a, a_id, b, b_id, extra)

    def remove(
        self, a: str, a_id: int, b: str, b_id: int, type_ids: Iterable[int] | None = None
    ) -> list[AssociationChange]:
        """Remove some types, or (None, or the unlabeled type among them) the whole association."""
        present = set(self.types(a, a_id, b, b_id))
        if not present:
            return []
        gone = present if type_ids is None else present & set(type_ids)
        if DEFAULT_TYPE[(a, b)] in gone:
            gone = present
        if not gone:
            return []
        self._drop(a, a_id, b, b_id, gone)
        return _both(a, a_id, b, b_id, gone, removed=True)

    def move(self, name: str, from_id: int, to_id: int) -> list[AssociationChange]:
        """A merge: `from_id`'s associations become `to_id`'s (a primary label it would
        duplicate stays behind as a plain association)."""
        changes: list[AssociationChange] = []
        for other, targets in list(self.links.get((name, from_id), {}).items()):
            for target, types in list(targets.items()):
                changes += self.remove(name, from_id, other, target)
                keep = [
                    t
                    for t in types
                    if not TYPES[t].primary or self._primary_free(name, to_id, other, t)
                ]
                changes += self.add(name, to_id, other, target, keep)
        return changes

    def clear(self) -> None:
        self.links.clear()

    def _primary_free(self, name: str, record_id: int, other: str, type_id: int) -> bool:
        return name not in PRIMARY_OWNERS or self.primary_of(name, record_id, other) is None

    def _clear_other_primary(
        self, kind: AssociationType, a: str, a_id: int, b: str, b_id: int
    ) -> list[AssociationChange]:
        """Labelling b primary for a (or a for b) takes the label off the previous one."""
        changes: list[AssociationChange] = []
        if a in PRIMARY_OWNERS:
            current = self.primary_of(a, a_id, b)
            if current is not None and current != b_id:
                changes += self.remove(a, a_id, b, current, [kind.type_id])
        elif b in PRIMARY_OWNERS:
            current = self.primary_of(b, b_id, a)
            if current is not None and current != a_id:
                changes += self.remove(b, b_id, a, current, [kind.reverse_id])
        return changes

    def link(self, a: str, a_id: int, b: str, b_id: int, type_ids: Iterable[int]) -> None:
        """Associate without checks or change records: for seeding new, consistent records."""
        self._put(a, a_id, b, b_id, type_ids)

    def _put(self, a: str, a_id: int, b: str, b_id: int, type_ids: Iterable[int]) -> None:
        links = self.links
        forward = links.get((a, a_id))
        if forward is None:
            forward = links[(a, a_id)] = {}
        backward = links.get((b, b_id))
        if backward is None:
            backward = links[(b, b_id)] = {}
        forward.setdefault(b, {}).setdefault(b_id, set()).update(type_ids)
        backward.setdefault(a, {}).setdefault(a_id, set()).update(REVERSE[t] for t in type_ids)

    def _drop(self, a: str, a_id: int, b: str, b_id: int, type_ids: set[int]) -> None:
        for x, x_id, y, y_id, gone in (
            (a, a_id, b, b_id, type_ids),
            (b, b_id, a, a_id, {TYPES[t].reverse_id for t in type_ids}),
        ):
            targets = self.links[(x, x_id)][y]
            remaining = targets[y_id] - gone
            if remaining:
                targets[y_id] = remaining
            else:
                del targets[y_id]


def _both(
    a: str, a_id: int, b: str, b_id: int, type_ids: set[int], removed: bool
) -> list[AssociationChange]:
    back = tuple(sorted(TYPES[t].reverse_id for t in type_ids))
    return [
        AssociationChange(a, a_id, b, b_id, tuple(sorted(type_ids)), removed),
        AssociationChange(b, b_id, a, a_id, back, removed),
    ]
