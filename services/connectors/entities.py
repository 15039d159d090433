"""Routing record ids to an app's entities: most objects are one entity, activities several,
whose records carry compound ids ("calls/123") so that one id names one record."""

from collections.abc import Mapping

from schemas.objects import ACTIVITY_KINDS, split_id


class EntityRouting:
    """Mixed into a connector with `entities_of` (object type → the app's entity names) and
    `kind_index` (0 for HubSpot's names in ACTIVITY_KINDS, 1 for Dynamics')."""

    entities_of: Mapping[str, tuple[str, ...]]
    kind_index: int

    def entities(self, object_type: str) -> tuple[str, ...]:
        return self.entities_of[object_type]

    def entity_tag(self, object_type: str, entity: str) -> str | None:
        """The prefix records of this entity carry in their ids (multi-entity objects only)."""
        return entity if len(self.entities(object_type)) > 1 else None

    def locate(self, object_type: str, record_id: str) -> tuple[str, str]:
        """(entity, the app's own id) of a record id."""
        entity, plain = split_id(record_id)
        return entity or self.entities(object_type)[0], plain

    def group(self, object_type: str, ids: list[str]) -> dict[str, list[str]]:
        """The app's own ids, grouped by entity."""
        groups: dict[str, list[str]] = {}
        for record_id in ids:
            entity, plain = self.locate(object_type, record_id)
            groups.setdefault(entity, []).append(plain)
        return groups

    def entity_for_create(self, object_type: str, kind: str | None) -> str:
        if kind is not None and len(self.entities(object_type)) > 1:
            return ACTIVITY_KINDS[kind][self.kind_index]
        return self.entities(object_type)[0]
