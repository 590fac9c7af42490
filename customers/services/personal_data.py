"""Personal-information requests (PIPL) for one customer: export everything the CRM
holds about them, or anonymise them where no legal record must be kept.

Every app answers for its own rows through crm_site.personal_data; this module owns
the customer record itself, the request log and the audit entries.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from openpyxl import Workbook

from crm_site import personal_data, spreadsheets
from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from customers.identity import id_numbers_replaced
from customers.models import ContactPoint, Customer, Household, PersonalDataRequest
from customers.personal_data import absorbed_ids
from customers.phones import (
    format_phone,
    national_digits,
    numbers_replaced,
    try_normalize_phone,
)


class PersonalDataRefused(Exception):
    """An anonymisation that must not happen now; the message is shown to the user."""


# The customer's fields that identify them, and what each becomes.
CLEARED_FIELDS: dict[str, Any] = {
    "mobile": None,
    "email": "",
    "gender": "",
    "company": "",
    "address": "",
    "id_type": "",
    "id_number": "",
    "id_number_hash": "",
    "preferred_channel": "",
    "household": None,
    "household_role": "",
    "notes": "",
    "name_pinyin": "",
    "name_initials": "",
    "next_follow_up": None,
    "consent_sms": False,
    "consent_email": False,
    "consent_phone": False,
    "consent_service": False,
}

# Kept in step with other fields, so not named in the audit entry.
DERIVED = {"name_pinyin", "name_initials", "id_number_hash"}

HIDDEN = personal_data.HIDDEN

# The audit key of a further contact added or removed (customers.services.records):
# both sides are the person's number or address, hidden like their fields.
CONTACT_POINTS = "contact_points"


def anonymised_label(customer: Customer) -> str:
    """The neutral name an anonymised customer gets, in the site's language: it is
    stored, and everybody reads the same record."""
    with translation.override(settings.LANGUAGE_CODE):
        return _("Anonymised customer #%(id)s") % {"id": customer.pk}


def _identifying_texts(customers: list[Customer]) -> list[str]:
    """Strings that identify the person, longest first (so a name inside an address is
    not replaced before the address), to scrub from text written about them."""
    texts: set[str] = set()
    for customer in customers:
        for value in (
            customer.name,
            customer.email,
            customer.id_number,
            customer.address,
            customer.company if customer.kind == Customer.Kind.PERSON else "",
        ):
            if value and len(value.strip()) >= 2:
                texts.add(value.strip())
        if customer.mobile:
            texts |= {
                customer.mobile,
                national_digits(customer.mobile),
                format_phone(customer.mobile),
            }
    points = ContactPoint.objects.filter(customer__in=customers).values_list(
        "value", flat=True
    )
    texts |= {value for value in points if len(value) >= 3}
    texts |= _past_contact_values(customers)
    return sorted(texts, key=len, reverse=True)


@dataclass
class PersonErasure(personal_data.Erasure):
    """The erasure of one person: their texts as stored, and their phone and identity
    numbers however they were typed into free text (138 0013 8000, 138-0013-8000,
    +86 138 0013 8000, full-width digits, a spaced or lower-case ID number), which
    a literal replacement cannot find. Every app's anonymiser scrubs through it."""

    # E.164 phone numbers and normalised identity numbers of the person.
    numbers: frozenset[str] = frozenset()
    id_numbers: frozenset[str] = frozenset()
    # Besides the numbers, what identifies the person alone (erasure_keys: e-mail,
    # ID number, WeChat ID), unlike a name or an address someone else may share.
    keys: tuple[str, ...] = ()

    def scrub(self, text: str) -> str:
        text = numbers_replaced(text, self.numbers, self.label)
        text = id_numbers_replaced(text, self.id_numbers, self.label)
        return super().scrub(text)

    @cached_property
    def _keys_found(self) -> re.Pattern[str] | None:
        # A key as a word of its own: "zhou_xh" is not found in "zhou_xh2" nor
        # "a.zhou@example.com" in "zhou@example.com"; Chinese text around it is.
        if not self.keys:
            return None
        alternatives = "|".join(re.escape(key) for key in self.keys)
        return re.compile(
            rf"(?<![\w.@+\-])(?:{alternatives})(?![\w@\-]|\.\w)",
            re.IGNORECASE | re.ASCII,
        )

    def scrub_keys(self, text: str) -> str:
        """Only what is the person's alone (numbers as typed, ID number, e-mail,
        WeChat ID), replaced by ``***``: for notes on their relatives' records,
        where their name (shared by many) stays and the label would tie it to the
        anonymised record."""
        text = numbers_replaced(text, self.numbers, HIDDEN)
        text = id_numbers_replaced(text, self.id_numbers, HIDDEN)
        if self._keys_found is not None:
            text = self._keys_found.sub(HIDDEN, text)
        return text

    def identifies(self, text: str) -> bool:
        """Whether ``text`` holds something that is this person's alone: one of their
        numbers as typed, their ID number, e-mail or WeChat ID."""
        return (
            numbers_replaced(text, self.numbers, "\0") != text
            or id_numbers_replaced(text, self.id_numbers, "\0") != text
            or (self._keys_found is not None and bool(self._keys_found.search(text)))
        )


# A WeChat ID as WeChat gives one out: a letter, then 5 to 19 letters, digits, "_"
# or "-". The WeChat field holds what was typed, often "同手机号" (the WeChat is the
# mobile number), words that many other notes hold: only an ID is the person's.
WECHAT_ID = re.compile(r"[A-Za-z][-_A-Za-z0-9]{5,19}")


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def erasure_keys(customers: list[Customer], past: set[str]) -> tuple[str, ...]:
    """What identifies the person alone besides their phone numbers (which are
    matched however typed): a valid e-mail, the ID number, a further contact or one
    removed since (``past``) that is an e-mail or has a WeChat ID's shape. Free text
    typed as a contact is not one: it would match other people's words."""
    keys = {customer.id_number for customer in customers if customer.id_number}
    keys |= {
        customer.email.strip()
        for customer in customers
        if customer.email and _is_email(customer.email.strip())
    }
    points = (
        ContactPoint.objects.filter(customer__in=customers)
        .exclude(kind__in=ContactPoint.PHONE_KINDS)
        .values_list("value", flat=True)
    )
    keys |= {
        value.strip()
        for value in (*points, *past)
        if _is_email(value.strip()) or WECHAT_ID.fullmatch(value.strip())
    }
    return tuple(sorted(keys, key=len, reverse=True))


def _erasure(
    *, actor: User | None, at: Any, customer: Customer, absorbed: list[Customer]
) -> PersonErasure:
    people = [customer, *absorbed]
    texts = _identifying_texts(people)
    past = _past_contact_values(people)
    numbers = {person.mobile for person in people if person.mobile}
    # A WeChat typed as the mobile number it is registered with is a number too.
    points = ContactPoint.objects.filter(
        customer__in=people,
        kind__in=[*ContactPoint.PHONE_KINDS, ContactPoint.Kind.WECHAT],
    ).values_list("value", flat=True)
    numbers |= {number for value in points if (number := try_normalize_phone(value))}
    numbers |= {
        number
        for value in past
        if value.startswith("+") and (number := try_normalize_phone(value))
    }
    return PersonErasure(
        actor=actor,
        at=at,
        name=customer.name,
        label=anonymised_label(customer),
        texts=texts,
        fields={"name", CONTACT_POINTS, *CLEARED_FIELDS},
        numbers=frozenset(numbers),
        id_numbers=frozenset(p.id_number for p in people if p.id_number),
        keys=erasure_keys(people, past),
    )


def erasure_of(customer: Customer) -> PersonErasure:
    """The erasure an anonymisation of the customer would use, to recognise them
    beforehand (a running import's file that holds them blocks the request)."""
    absorbed = list(Customer.objects.filter(pk__in=absorbed_ids(customer)))
    return _erasure(actor=None, at=timezone.now(), customer=customer, absorbed=absorbed)


def _past_contact_values(customers: list[Customer]) -> set[str]:
    """Further contacts the person had and that were removed since: their entries
    ("手机号 +8618622223333", contact_point_add) are the only copy left."""
    entries = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Customer),
        object_id__in=[customer.pk for customer in customers],
        changes__has_key=CONTACT_POINTS,
    ).values_list("changes", flat=True)
    values = set()
    for changes in entries:
        change = changes[CONTACT_POINTS]
        if not isinstance(change, dict):
            continue
        for text in (change.get("old"), change.get("new")):
            # The kind, in the writer's language, then the value (no spaces in it).
            value = str(text or "").rpartition(" ")[2]
            if len(value) >= 3:
                values.add(value)
    return values


def personal_data_overview(*, customer: Customer) -> dict[str, Any]:
    """What the CRM holds (rows per section), what anonymising would keep and why, and
    what stops it now."""
    return {
        "counts": personal_data.counts(customer),
        "kept": personal_data.describe(personal_data.retained(customer)),
        "blockers": personal_data.blockers(customer)
        if customer.anonymised_at is None
        else [],
        "requests": PersonalDataRequest.objects.filter(customer=customer)
        .select_related("handled_by")
        .order_by("-handled_at", "-pk"),
    }


@transaction.atomic
def personal_data_export(
    *,
    actor: User,
    customer: Customer,
    reference: str,
    reason: str,
    file_format: str,
) -> tuple[PersonalDataRequest, list[tuple[personal_data.Section, list[dict]]]]:
    """Every section's rows about the customer, in the current language; the export is
    logged and audited."""
    data = personal_data.export(customer)
    request = PersonalDataRequest.objects.create(
        customer=customer,
        kind=PersonalDataRequest.Kind.EXPORT,
        handled_by=actor,
        reference=reference,
        reason=reason,
        file_format=file_format,
        summary={"counts": {s.key: len(section_rows) for s, section_rows in data}},
    )
    audit_record(
        actor=actor,
        instance=customer,
        action=AuditEntry.Action.EXPORT,
        changes={"reference": {"old": "", "new": reference}},
    )
    return request, data


def _clear(customer: Customer, *, label: str) -> dict[str, dict[str, str]]:
    """Blank the record's personal fields; the audit changes, old values hidden."""
    changes: dict[str, dict[str, str]] = {}
    if customer.name != label:
        changes["name"] = {"old": HIDDEN, "new": label}
    customer.name = label
    for name, value in CLEARED_FIELDS.items():
        attname = Customer._meta.get_field(name).attname
        if getattr(customer, attname) not in (None, "", False) and name not in DERIVED:
            if isinstance(value, bool):
                changes[name] = {"old": "True", "new": "False"}
            else:
                changes[name] = {"old": HIDDEN, "new": ""}
        setattr(customer, name, value)
    return changes


def _rename_households(
    customer: Customer, absorbed: list[Customer], *, erasure: personal_data.Erasure
) -> None:
    """Households named after the person (household_link names a new one after its
    principal): the customer's own, and those left behind when its members joined
    another. One with other members is someone else's household of the same name."""
    erased = [customer.pk, *(old.pk for old in absorbed)]
    others = Customer.objects.filter(household=OuterRef("pk")).exclude(pk__in=erased)
    named = Q(name__in=erasure.texts) & ~Exists(others)
    if customer.household_id is not None:
        named |= Q(pk=customer.household_id, name__in=erasure.texts)
    Household.objects.filter(named).update(name=erasure.label)


@transaction.atomic
def customer_anonymise(
    *, actor: User, customer: Customer, reference: str, reason: str
) -> PersonalDataRequest:
    """Anonymise the customer everywhere, in one transaction.

    Refused while the customer has an open service request or an open deal before
    contract (the case must be settled first), and for a record already anonymised or
    merged into another. Contracts, receipts and the other legal or accounting records
    stay (each app says what and why); everything else personal is blanked, replaced
    or deleted, files once the transaction has committed.
    """
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.anonymised_at is not None:
        raise PersonalDataRefused(_("This customer has already been anonymised."))
    if locked.merged_into_id is not None:
        raise PersonalDataRefused(
            _("This record was merged into another customer; handle the request there.")
        )
    problems = personal_data.blockers(locked)
    if problems:
        raise PersonalDataRefused(" ".join(problems))

    absorbed = list(
        Customer.objects.select_for_update().filter(pk__in=absorbed_ids(locked))
    )
    kept = personal_data.retained(locked)
    now = timezone.now()
    erasure = _erasure(actor=actor, at=now, customer=locked, absorbed=absorbed)
    changed = personal_data.anonymise(locked, erasure=erasure)

    _rename_households(locked, absorbed, erasure=erasure)
    changes = _clear(locked, label=erasure.label)
    locked.anonymised_at, locked.anonymised_by = now, actor
    locked.save()
    for old in absorbed:
        _clear(old, label=anonymised_label(old))
        old.anonymised_at, old.anonymised_by = now, actor
        old.save()
        audit_record(
            actor=actor,
            instance=old,
            action=AuditEntry.Action.ANONYMISE,
            changes={"reference": {"old": "", "new": reference}},
        )
    changes["reference"] = {"old": "", "new": reference}
    audit_record(
        actor=actor,
        instance=locked,
        action=AuditEntry.Action.ANONYMISE,
        changes=changes,
    )
    return PersonalDataRequest.objects.create(
        customer=locked,
        kind=PersonalDataRequest.Kind.ANONYMISE,
        handled_by=actor,
        handled_at=now,
        reference=reference,
        reason=reason,
        summary={"changed": changed, "kept": kept},
    )


# The export file ---------------------------------------------------------------------

FILE_TYPES = {
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip",
}


def _json(customer: Customer, data: list[tuple[Any, list[dict]]]) -> bytes:
    document = {
        _("customer number"): customer.pk,
        _("exported"): timezone.localtime().strftime("%Y-%m-%d %H:%M"),
        _("sections"): [
            {_("section"): str(s.title), _("rows"): section_rows}
            for s, section_rows in data
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()


def _sheet_title(title: str, taken: set[str]) -> str:
    base = "".join(" " if ch in "[]:*?/\\" else ch for ch in title)[:28] or "-"
    name, n = base, 2
    while name in taken:
        name, n = f"{base[:25]} {n}", n + 1
    taken.add(name)
    return name


def _xlsx(data: list[tuple[Any, list[dict]]]) -> bytes:
    workbook = Workbook(write_only=True)
    taken: set[str] = set()
    for s, section_rows in data:
        sheet = workbook.create_sheet(title=_sheet_title(str(s.title), taken))
        headers: list[str] = []
        for row in section_rows:
            headers += [key for key in row if key not in headers]
        if not headers:
            sheet.append([_("Nothing held.")])
            continue
        sheet.append(spreadsheets.sheet_row(sheet, headers))
        for row in section_rows:
            sheet.append(
                spreadsheets.sheet_row(sheet, (row.get(h, "") for h in headers))
            )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def personal_data_file(
    *, customer: Customer, data: list[tuple[Any, list[dict]]], file_format: str
) -> tuple[bytes, str, str]:
    """(content, filename, content type) of an export, in the current language."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    stem = f"personal-data-{customer.pk}-{stamp}"
    if file_format == "json":
        content = _json(customer, data)
    elif file_format == "xlsx":
        content = _xlsx(data)
    else:
        file_format = "zip"
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{stem}.json", _json(customer, data))
            archive.writestr(f"{stem}.xlsx", _xlsx(data))
        content = out.getvalue()
    return content, f"{stem}.{file_format}", FILE_TYPES[file_format]
