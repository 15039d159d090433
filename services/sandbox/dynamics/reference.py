"""Reference data every organisation has: currencies (the transactioncurrency table).

Money columns belong to a record's currency (`transactioncurrencyid`). The sandbox holds three
currencies with fixed ids, the same in every organisation, so that binds such as
`"transactioncurrencyid@odata.bind": "/transactioncurrencies(<id>)"` are checked; clients
find the id with `GET transactioncurrencies?$filter=isocurrencycode eq 'EUR'`. US Dollar is
the base currency (exchange rate 1).
"""

import uuid
from decimal import Decimal

from services.sandbox.dynamics.columns import audit_columns, text
from services.sandbox.dynamics.schema import Attr, AttrType, EntityDef, Row

_IDS = uuid.UUID("8a3f1c52-6d4e-4b7a-9e21-3c5d7f9a1b24")


def currency_id(iso_code: str) -> str:
    return str(uuid.uuid5(_IDS, f"transactioncurrency/{iso_code}"))


TRANSACTION_CURRENCY = EntityDef(
    logical_name="transactioncurrency",
    entity_set="transactioncurrencies",
    primary_id="transactioncurrencyid",
    primary_name="currencyname",
    business=False,
    read_only=True,
    attributes=(
        Attr("transactioncurrencyid", AttrType.GUID),
        text("isocurrencycode", 5),
        text("currencyname", 100),
        text("currencysymbol", 13),
        Attr("exchangerate", AttrType.DECIMAL, precision=10),
        Attr("currencyprecision", AttrType.INT, minimum=0, maximum=4),
        *audit_columns(),
    ),
)

CURRENCIES = (
    ("USD", "US Dollar", "$", Decimal(1)),
    ("EUR", "Euro", "€", Decimal("0.92")),
    ("GBP", "Pound Sterling", "£", Decimal("0.79")),
)


def seed_reference() -> dict[str, list[Row]]:
    rows = [
        {
            "transactioncurrencyid": currency_id(code),
            "isocurrencycode": code,
            "currencyname": name,
            "currencysymbol": symbol,
            "exchangerate": rate,
            "currencyprecision": 2,
        }
        for code, name, symbol, rate in CURRENCIES
    ]
    return {"transactioncurrencies": rows}
