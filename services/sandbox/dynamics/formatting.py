"""`@OData.Community.Display.V1.FormattedValue` annotations: a value as the UI shows it.

Returned when a request sends `Prefer: odata.include-annotations="OData.Community.Display.V1.
FormattedValue"` (or `"*"`): choice and yes/no labels, money with its currency symbol, grouped
whole numbers, and dates in the user's format. The sandbox's user has the en-US format and the
UTC time zone, and every amount is shown in US dollars.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.sandbox.dynamics.schema import Attr, AttrType


def _clock(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def formatted_value(attr: Attr, value: Any) -> str | None:
    match attr.type:
        case AttrType.PICKLIST:
            return attr.options.get(value, str(value))
        case AttrType.BOOL:
            labels = attr.options or {1: "Yes", 0: "No"}
            return labels[1 if value else 0]
        case AttrType.MONEY if isinstance(value, Decimal):
            sign = "-" if value < 0 else ""
            return f"{sign}${abs(value):,.2f}"
        case AttrType.INT:
            return f"{value:,}"
        case AttrType.DATETIME if isinstance(value, datetime):
            return f"{value.month}/{value.day}/{value.year} {_clock(value)}"
        case AttrType.DATE if isinstance(value, date):
            return f"{value.month}/{value.day}/{value.year}"
    return None
