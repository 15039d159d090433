"""Column builders the table definitions share: audit and owner columns, state and status
choices, lookups. Names, types and option values follow the Dataverse table reference."""

from dataclasses import dataclass

from services.sandbox.dynamics.schema import Attr, AttrType, OnDelete

# Logical names of entity sets that lookups may point to but that the sandbox does not hold
# (a bind to them is typed but not checked for existence).
UNEMULATED_TARGETS: dict[str, str] = {
    "systemusers": "systemuser",
    "pricelevels": "pricelevel",
    "uoms": "uom",
    "uomschedules": "uomschedule",
    "plugintypes": "plugintype",
}
YES_NO = {1: "Yes", 0: "No"}


def read_only(name: str, type_: AttrType) -> Attr:
    return Attr(name, type_, create=False, update=False)


def text(name: str, max_length: int, required: bool = False, update: bool = True) -> Attr:
    return Attr(name, AttrType.STRING, max_length=max_length, required=required, update=update)


def memo(name: str, max_length: int = 2000) -> Attr:
    return Attr(name, AttrType.MEMO, max_length=max_length)


def money(
    name: str,
    minimum: int = -922337203685477,
    maximum: int = 922337203685477,
    create: bool = True,
) -> Attr:
    return Attr(name, AttrType.MONEY, minimum=minimum, maximum=maximum, precision=2, create=create)


def lookup(name: str, on_delete: OnDelete = "removelink", **navigation: str) -> Attr:
    """A lookup column `_<name>_value`, written through the given navigation properties."""
    return Attr(f"_{name}_value", AttrType.LOOKUP, navigation=navigation, on_delete=on_delete)


def customer(name: str, on_delete: OnDelete) -> Attr:
    """A Customer column: a lookup to an account or a contact."""
    return lookup(name, on_delete, **{f"{name}_account": "accounts", f"{name}_contact": "contacts"})


def audit_columns() -> tuple[Attr, ...]:
    """Columns every table has: when and by whom it was created and modified, row version."""
    return (
        read_only("createdon", AttrType.DATETIME),
        read_only("modifiedon", AttrType.DATETIME),
        read_only("_createdby_value", AttrType.LOOKUP),
        read_only("_modifiedby_value", AttrType.LOOKUP),
        read_only("versionnumber", AttrType.BIGINT),
    )


def owned_columns() -> tuple[Attr, ...]:
    """Audit columns plus the owner of a user-owned table."""
    return (*audit_columns(), read_only("_ownerid_value", AttrType.LOOKUP))


@dataclass(frozen=True)
class StateModel:
    """A table's statecode choices (label, default status) and statuscode choices (label,
    the state it belongs to), as the StateCode / StatusCode option tables list them."""

    states: dict[int, tuple[str, int]]
    statuses: dict[int, tuple[str, int]]
    state_valid_for_create: bool = True

    def columns(self) -> tuple[Attr, Attr]:
        return (
            Attr(
                "statecode",
                AttrType.PICKLIST,
                options={value: label for value, (label, _) in self.states.items()},
                create=self.state_valid_for_create,
            ),
            Attr(
                "statuscode",
                AttrType.PICKLIST,
                options={value: label for value, (label, _) in self.statuses.items()},
            ),
        )

    @property
    def default_status(self) -> dict[int, int]:
        return {value: status for value, (_, status) in self.states.items()}

    @property
    def status_state(self) -> dict[int, int]:
        return {value: state for value, (_, state) in self.statuses.items()}

    def defaults(self, state: int = 0) -> dict[str, int]:
        return {"statecode": state, "statuscode": self.states[state][1]}


ACTIVE_INACTIVE = StateModel(
    states={0: ("Active", 1), 1: ("Inactive", 2)},
    statuses={1: ("Active", 0), 2: ("Inactive", 1)},
)
