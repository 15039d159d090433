"""The field values of entity i of each object type, in neutral field names.

Every value of an entity is decoded from a single draw of its object type's random stream, so
the stream stays aligned across entities whatever a builder does, and a builder decodes all
its values before it branches, so entity i is the same on both sides; `app` only selects the
variant the app side holds.
"""

import random
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, TypeVar

from services.sandbox.seeding.vocabulary import (
    ACTIVITY_KINDS,
    BODIES,
    CITIES,
    COMPANY_NOUNS,
    COMPANY_WORDS,
    CURRENCIES,
    DEAL_STAGES,
    DEAL_TOPICS,
    FIRST_NAMES,
    INDUSTRIES,
    INVOICE_STATUSES,
    LAST_NAMES,
    LIFECYCLE_STAGES,
    MAIL_DOMAINS,
    ORDER_TOPICS,
    PRODUCT_ADJECTIVES,
    PRODUCT_BLURBS,
    PRODUCT_NOUNS,
    SALES_ORDER_STATUSES,
    SUBJECTS,
    TASK_STATUSES,
    TITLES,
)

T = TypeVar("T")
Fields = dict[str, Any]
Builder = Callable[["Draw", int, bool], Fields]

_DAYS = tuple((date(2025, 1, 1) + timedelta(days=n)).isoformat() for n in range(730))


class Draw:
    """One entity's random bits, decoded value by value."""

    __slots__ = ("_bits",)

    def __init__(self, rng: random.Random) -> None:
        self._bits = rng.getrandbits(128)  # builders decode fewer than 70 bits

    def below(self, n: int) -> int:
        self._bits, value = divmod(self._bits, n)
        return value

    def pick(self, options: Sequence[T]) -> T:
        self._bits, index = divmod(self._bits, len(options))
        return options[index]

    def pick_two(self, options: Sequence[T]) -> tuple[T, T]:
        """Two different options: a value and the one the other side holds in a conflict."""
        n = len(options)
        self._bits, first = divmod(self._bits, n)
        self._bits, step = divmod(self._bits, n - 1)
        return options[first], options[(first + 1 + step) % n]

    def amount(self, low: int, high: int) -> float:
        self._bits, cents = divmod(self._bits, (high - low) * 100)
        return round(low + cents / 100, 2)

    def day(self) -> str:
        return self.pick(_DAYS)


def _phone(number: int) -> str:
    """A fictional number; `number + 1` gives another one for a conflicting side."""
    number %= 10**7
    return f"+1 555 {number // 10_000:03d} {number % 10_000:04d}"


def _disagree(fields: Fields, i: int, app: bool, blank: str, other: Callable[[], Fields]) -> Fields:
    """Make the sides disagree for a share of entities, so conflict resolution has work: on the
    app side a fifth hold `other()` values and a fifth lack `blank`; on the HubSpot side
    another fifth lack it (where the winning side has no value, nothing is changed)."""
    if app and i % 5 == 0:
        fields.update(other())
    elif (app and i % 5 == 1) or (not app and i % 5 == 2):
        fields[blank] = None
    return fields


def _email(first: str, last: str, domain: str, i: int, app: bool) -> str | None:
    if i % 20 == 7:
        return None
    if i % 20 == 11:
        return f"not-an-email-{i}"
    email = f"{first}.{last}.{i}@{domain}".lower()
    if app and i % 8 == 1:  # the same address as HubSpot's once normalised
        return email.upper() if i % 16 == 1 else f"  {email} "
    return email


def company(d: Draw, i: int, app: bool) -> Fields:
    word, other_word = d.pick_two(COMPANY_WORDS)
    noun, city, industry = d.pick(COMPANY_NOUNS), d.pick(CITIES), d.pick(INDUSTRIES)
    phone, employees, more = d.below(10**7), 1 + d.below(5000), 1 + d.below(100)
    stem = f"{word}{noun}{i}".lower()
    # Names and domains end in the index, so two entities never share one by chance.
    name, domain = f"{word} {noun} {i}", f"{stem}.example.com"
    if app and i % 10 == 5:
        domain = f"{stem}.example.net"
    elif app and i % 10 == 6:
        name = f"{other_word} {noun} {i}"
    fields = {
        "name": name,
        "domain": domain,
        "phone": _phone(phone),
        "city": city,
        "industry": industry,
        "numberofemployees": employees,
    }
    return _disagree(
        fields,
        i,
        app,
        "city",
        lambda: {"phone": _phone(phone + 1), "numberofemployees": employees + more},
    )


def contact(d: Draw, i: int, app: bool) -> Fields:
    first, last, domain = d.pick(FIRST_NAMES), d.pick(LAST_NAMES), d.pick(MAIL_DOMAINS)
    title, other_title = d.pick_two(TITLES)
    stage, city, phone = d.pick(LIFECYCLE_STAGES), d.pick(CITIES), d.below(10**7)
    fields = {
        "firstname": first,
        "lastname": last,
        "email": _email(first, last, domain, i, app),
        "phone": _phone(phone),
        "jobtitle": title,
        "lifecyclestage": stage,
        "city": city,
    }
    return _disagree(
        fields, i, app, "city", lambda: {"jobtitle": other_title, "phone": _phone(phone + 1)}
    )


def product(d: Draw, i: int, app: bool) -> Fields:
    adjective, noun = d.pick(PRODUCT_ADJECTIVES), d.pick(PRODUCT_NOUNS)
    blurb, other_blurb = d.pick_two(PRODUCT_BLURBS)
    price, more = d.amount(5, 5000), d.amount(1, 100)
    fields = {
        "name": f"{adjective} {noun} {i}",
        "sku": None if app and i % 6 == 3 else f"SKU-{i:06d}",
        "price": price,
        "description": f"{adjective} {noun.lower()} {blurb}",
    }
    return _disagree(
        fields,
        i,
        app,
        "description",
        lambda: {
            "price": round(price + more, 2),
            "description": f"{adjective} {noun.lower()} {other_blurb}",
        },
    )


def deal(d: Draw, i: int, app: bool) -> Fields:
    stage, other_stage = d.pick_two(DEAL_STAGES)
    amount, more = d.amount(500, 250_000), d.amount(100, 5000)
    fields = {
        "name": f"{d.pick(DEAL_TOPICS)} {i}",
        "amount": amount,
        "stage": stage,
        "closedate": d.day(),
    }
    return _disagree(
        fields,
        i,
        app,
        "closedate",
        lambda: {"amount": round(amount + more, 2), "stage": other_stage},
    )


def invoice(d: Draw, i: int, app: bool) -> Fields:
    status, other_status = d.pick_two(INVOICE_STATUSES)
    fields = {
        "number": f"INV-{i:06d}",
        "amount": d.amount(50, 50_000),
        "currency": d.pick(CURRENCIES),
        "duedate": d.day(),
        "status": status,
    }
    return _disagree(fields, i, app, "duedate", lambda: {"status": other_status})


def sales_order(d: Draw, i: int, app: bool) -> Fields:
    status, other_status = d.pick_two(SALES_ORDER_STATUSES)
    amount, more = d.amount(50, 50_000), d.amount(1, 500)
    fields = {
        "number": f"SO-{i:06d}",
        "name": f"{d.pick(ORDER_TOPICS)} {i}",
        "amount": amount,
        "currency": d.pick(CURRENCIES),
        "status": status,
    }
    return _disagree(
        fields,
        i,
        app,
        "name",
        lambda: {"status": other_status, "amount": round(amount + more, 2)},
    )


def activity(d: Draw, i: int, app: bool) -> Fields:
    kind = d.pick(ACTIVITY_KINDS)
    subject, other_subject = d.pick_two(SUBJECTS[kind])
    minute, status, duration = d.below(24 * 60), d.pick(TASK_STATUSES), 1 + d.below(12)
    fields = {
        "kind": kind,
        "subject": subject,
        "body": d.pick(BODIES),
        "timestamp": f"{d.day()}T{minute // 60:02d}:{minute % 60:02d}:00Z",
        "status": status if kind == "task" else None,
        "duration_ms": duration * 5 * 60_000 if kind in ("call", "meeting") else None,
    }
    return _disagree(fields, i, app, "body", lambda: {"subject": other_subject})


BUILDERS: dict[str, Builder] = {
    "companies": company,
    "contacts": contact,
    "products": product,
    "deals": deal,
    "invoices": invoice,
    "sales_orders": sales_order,
    "activities": activity,
}
