"""What the customers app holds about one customer, for personal-information requests:
the record itself, contacts, consents, the timeline, tags, household, duplicates,
merges, imports, access grants and the request log. Registered in CustomersConfig.ready().

The customer record itself is anonymised by customers.services.customer_anonymise;
the sections here answer for the rows around it.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models
from django.db.models import Q
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from crm_site import events
from crm_site.personal_data import Erasure, Section, register, relatives, rows
from customers.models import (
    Call,
    ConsentRecord,
    ContactPoint,
    Customer,
    CustomerAccess,
    DuplicatePair,
    ImportChange,
    ImportJob,
    Interaction,
    MergeRecord,
    PersonalDataRequest,
    PortalCode,
)


def absorbed_ids(customer: Customer) -> list[int]:
    """Customers merged into this one, directly or through earlier merges: the same
    person, whose old records still hold their values. One statement, read once per
    customer object (an export or the page asks it for each section)."""
    known = getattr(customer, "_absorbed_ids", None)
    if known is None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH RECURSIVE absorbed(id) AS (
                    SELECT id FROM {TABLE} WHERE merged_into_id = %s
                    UNION
                    SELECT c.id FROM {TABLE} c JOIN absorbed a ON c.merged_into_id = a.id
                )
                SELECT id FROM absorbed ORDER BY id
                """,
                [customer.pk],
            )
            known = [row[0] for row in cursor.fetchall()]
        customer._absorbed_ids = known
    return list(known)


TABLE = Customer._meta.db_table


# The record -------------------------------------------------------------------------

PROFILE_COLUMNS = [
    "id",
    "name",
    "kind",
    "mobile",
    "email",
    "gender",
    "source",
    "stage",
    "assigned_consultant",
    "company",
    "address",
    "id_type",
    "id_number",
    "preferred_channel",
    ("household__name", _("household")),
    "household_role",
    "consent_sms",
    "consent_email",
    "consent_phone",
    "consent_service",
    "notes",
    "last_contact_at",
    "next_follow_up",
    "created_at",
    "merged_into",
    # The customer's value (customers.value), read in the same query: derived
    # figures the person may ask about; anonymising the customer drops the row.
    ("value__score", _("value score")),
    ("value__tier__name", _("value tier")),
    ("value__contracted", _("contracted value")),
    ("value__referred", _("referred value")),
    ("value__cost", _("service cost")),
    "anonymised_at",
]


def _profile(customer: Customer) -> list[dict[str, Any]]:
    # The customer and the old records merged into it: the same person.
    ids = [customer.pk, *absorbed_ids(customer)]
    return rows(Customer.objects.filter(pk__in=ids).order_by("pk"), PROFILE_COLUMNS)


# Tags -------------------------------------------------------------------------------

Through = Customer.tags.through


def _tags(customer: Customer) -> list[dict[str, Any]]:
    return rows(
        Through.objects.filter(customer=customer).order_by("tag__name"),
        [("tag__name", _("tag"))],
    )


def _anonymise_tags(customer: Customer, *, erasure: Erasure) -> int:
    ids = [customer.pk, *absorbed_ids(customer)]
    deleted, _detail = Through.objects.filter(customer_id__in=ids).delete()
    return deleted


# Contact points ---------------------------------------------------------------------


def _contacts(customer: Customer) -> list[dict[str, Any]]:
    return rows(
        ContactPoint.objects.filter(customer=customer).order_by("kind", "pk"),
        ["kind", "label", "value", ("created_at", _("added"))],
    )


def _anonymise_contacts(customer: Customer, *, erasure: Erasure) -> int:
    ids = [customer.pk, *absorbed_ids(customer)]
    deleted, _detail = ContactPoint.objects.filter(customer_id__in=ids).delete()
    return deleted


# Consents ---------------------------------------------------------------------------

CONSENT_FIELDS = {
    ConsentRecord.Purpose.SMS: "consent_sms",
    ConsentRecord.Purpose.EMAIL: "consent_email",
    ConsentRecord.Purpose.PHONE: "consent_phone",
    ConsentRecord.Purpose.SERVICE: "consent_service",
}


def _consents(customer: Customer) -> list[dict[str, Any]]:
    return rows(
        ConsentRecord.objects.filter(customer=customer).order_by("recorded_at", "pk"),
        [
            "purpose",
            "granted",
            "method",
            "note",
            ("recorded_by", _("recorded by")),
            "recorded_at",
        ],
    )


def _anonymise_consents(customer: Customer, *, erasure: Erasure) -> int:
    """Every consent still given is withdrawn (a record of its own); the notes go."""
    changed = (
        ConsentRecord.objects.filter(customer=customer).exclude(note="").update(note="")
    )
    withdrawn = [
        ConsentRecord(
            customer=customer,
            purpose=purpose,
            granted=False,
            method=ConsentRecord.Method.ERASURE,
            recorded_by=erasure.actor,
            recorded_at=erasure.at,
        )
        for purpose, field in CONSENT_FIELDS.items()
        if getattr(customer, field)
    ]
    ConsentRecord.objects.bulk_create(withdrawn)
    return changed + len(withdrawn)


def _kept_consents(customer: Customer) -> dict[str, int]:
    return {"consents": ConsentRecord.objects.filter(customer=customer).count()}


# Timeline ---------------------------------------------------------------------------


def _timeline(customer: Customer) -> list[dict[str, Any]]:
    timeline = Interaction.objects.filter(customer=customer).order_by(
        "occurred_at", "pk"
    )
    result = rows(
        timeline,
        [
            "occurred_at",
            "kind",
            "channel",
            "summary",
            ("link_label", _("about")),
            ("created_by", _("by")),
            "next_follow_up",
        ],
    )
    # What the system wrote is an event: the export gives its words, as shown.
    label = str(Interaction._meta.get_field("summary").verbose_name)
    texts = timeline.values_list("event", "params", "summary")
    for row, (event, params, summary) in zip(result, texts, strict=True):
        row[label] = events.text_of(event, params, summary)
    return result


def _anonymise_timeline(customer: Customer, *, erasure: Erasure) -> int:
    # An event's parameters may name people (a referred friend): they go with the
    # summary; the event code stays, so the entry still says what happened.
    own = (
        Interaction.objects.filter(customer=customer)
        .filter(~Q(summary="") | ~Q(link_label="") | ~Q(params={}))
        .update(summary="", link_label="", params={})
    )
    return own + _scrub_linked_timelines(customer, erasure=erasure)


def _linked_ids(customer: Customer) -> set[int]:
    """The customers linked to the person: the members of their household and those
    the apps link to them (crm_site.personal_data.relatives: sales gives the buyers
    and co-buyers of every deal they are buyer or co-buyer of, whatever its stage).
    Not the portal's household: that one is who may see a home, from subscription on;
    a note naming the person is written from a deal's first stage."""
    erased = {customer.pk, *absorbed_ids(customer)}
    households = Customer.objects.filter(pk__in=erased, household__isnull=False).values(
        "household_id"
    )
    members = Customer.objects.filter(household__in=households).values_list(
        "pk", flat=True
    )
    return (set(members) | relatives(erased)) - erased


def _scrub_linked_timelines(customer: Customer, *, erasure: Erasure) -> int:
    """A note on a relative's timeline often holds the person's number ("his wife,
    138…"): their numbers, ID number, e-mail and further contacts are taken out of
    the linked customers' timelines (erasure.scrub_keys); the name stays, as names
    are shared. Bounded to the linked customers: other timelines are not read."""
    changed = []
    for entry in Interaction.objects.filter(customer_id__in=_linked_ids(customer)).only(
        "pk", "summary", "link_label", "params"
    ):
        scrubbed = (
            erasure.scrub_keys(entry.summary),
            erasure.scrub_keys(entry.link_label),
            erasure.scrub_json(entry.params, erasure.scrub_keys),
        )
        if scrubbed != (entry.summary, entry.link_label, entry.params):
            entry.summary, entry.link_label, entry.params = scrubbed
            changed.append(entry)
    Interaction.objects.bulk_update(
        changed, ["summary", "link_label", "params"], batch_size=500
    )
    return len(changed)


def _kept_timeline(customer: Customer) -> dict[str, int]:
    return {"timeline": Interaction.objects.filter(customer=customer).count()}


# Duplicates and merges --------------------------------------------------------------


def _pairs(customer: Customer):
    return DuplicatePair.objects.filter(Q(first=customer) | Q(second=customer))


def _duplicates(customer: Customer) -> list[dict[str, Any]]:
    return rows(
        _pairs(customer).order_by("found_at", "pk"),
        [
            ("first", _("customer")),
            ("second", _("possible duplicate")),
            ("reasons", _("why")),
            ("status", _("status")),
            ("found_at", _("found")),
        ],
    )


def _anonymise_duplicates(customer: Customer, *, erasure: Erasure) -> int:
    ids = [customer.pk, *absorbed_ids(customer)]
    deleted, _detail = DuplicatePair.objects.filter(
        Q(first_id__in=ids) | Q(second_id__in=ids)
    ).delete()
    return deleted


def _merges_of(customer: Customer):
    ids = [customer.pk, *absorbed_ids(customer)]
    return MergeRecord.objects.filter(Q(survivor_id__in=ids) | Q(absorbed_id__in=ids))


def _merges(customer: Customer) -> list[dict[str, Any]]:
    return rows(
        _merges_of(customer).order_by("merged_at", "pk"),
        [
            ("survivor", _("kept customer")),
            ("absorbed", _("merged customer")),
            ("merged_by", _("merged by")),
            ("merged_at", _("merged")),
            ("restored_at", _("undone")),
        ],
    )


def _anonymise_merges(customer: Customer, *, erasure: Erasure) -> int:
    """The values kept for undoing a merge are the person's data: they go, and such a
    merge can no longer be undone (customer_merge_restore refuses it)."""
    return (
        _merges_of(customer)
        .exclude(survivor_before={}, absorbed_before={})
        .update(survivor_before={}, absorbed_before={})
    )


def _kept_merges(customer: Customer) -> dict[str, int]:
    return {"merges": _merges_of(customer).count()}


# Imports, access, requests ----------------------------------------------------------


def _import_changes(customer: Customer):
    # A merge leaves an import's changes on the record it wrote (merge_handlers).
    return ImportChange.objects.filter(
        customer_id__in=[customer.pk, *absorbed_ids(customer)]
    )


def _imports(customer: Customer) -> list[dict[str, Any]]:
    return rows(
        _import_changes(customer).order_by("pk"),
        [
            ("job__original_name", _("file")),
            ("job__created_at", _("imported")),
            ("job__created_by", _("imported by")),
            ("action", _("result")),
        ],
    )


# Imports whose file is no longer read (one still to run or running keeps it).
IMPORT_OVER = (
    ImportJob.Status.DONE,
    ImportJob.Status.FAILED,
    ImportJob.Status.REVERTED,
)


def _discard_imports_not_run(erasure: Erasure) -> int:
    """Imports not run yet whose file holds the person (their number as typed, ID
    number, e-mail): the file would keep them, and starting it would bring them
    back as a new customer. Each is taken back (customers.services.imports), its
    file deleted once the erasure has committed. A file is read row by row: an
    administrator's rare task, and few imports wait to be run."""
    from customers.services import imports

    identifies = getattr(erasure, "identifies", None)
    if identifies is None:  # an erasure that knows only texts

        def identifies(text: str) -> bool:
            return erasure.scrub(text) != text

    discarded = 0
    # Running imports are locked with the others: one that a worker claimed since
    # the page was shown is found here, not left to run.
    for job in (
        ImportJob.objects.filter(
            status__in=[*imports.NOT_RUN, ImportJob.Status.RUNNING]
        )
        .exclude(file="")
        .select_for_update(of=("self",))
        .order_by("pk")
    ):
        if not imports.import_file_mentions(job, identifies):
            continue
        if job.status == ImportJob.Status.RUNNING:
            from customers.services.personal_data import PersonalDataRefused

            raise PersonalDataRefused(str(IMPORT_RUNNING))
        erasure.delete_file_on_commit(job.file)
        imports.import_discard_not_run(job=job, at=erasure.at)
        discarded += 1
    return discarded


# A running import cannot be taken back half-way (its batches commit one by one), and
# a later batch would bring the person back as a new customer: the request waits.
IMPORT_RUNNING = _(
    "An import whose file holds this customer is running: try again when the "
    "import has finished."
)


def _import_blockers(customer: Customer) -> list[str]:
    """Shown before the request is made; _discard_imports_not_run checks again under
    the rows' locks. A running import's file is read row by row: rare, and few run
    at once."""
    running = ImportJob.objects.filter(status=ImportJob.Status.RUNNING).exclude(file="")
    if customer.anonymised_at is not None or not running.exists():
        return []
    from customers.services import imports
    from customers.services.personal_data import erasure_of

    identifies = erasure_of(customer).identifies
    if any(imports.import_file_mentions(job, identifies) for job in running):
        return [str(IMPORT_RUNNING)]
    return []


def _anonymise_imports(customer: Customer, *, erasure: Erasure) -> int:
    """The values before an import are the person's data; and an import's revert must
    never touch an anonymised record, so the change is detached from it. The files
    and dry-run previews of the imports that held the person go too: the uploaded
    file and its rejected rows are deleted (once the import is over; its counts and
    changes stay) and the preview's rows that name them are scrubbed. An import not
    run yet whose file holds them is taken back (_discard_imports_not_run)."""
    discarded = _discard_imports_not_run(erasure)
    jobs = ImportJob.objects.filter(
        Q(pk__in=_import_changes(customer).values("job_id"))
        | _preview_naming(erasure.texts)
    )
    for job in jobs.select_for_update(of=("self",)):
        preview = [
            {
                key: erasure.scrub(value) if isinstance(value, str) else value
                for key, value in row.items()
            }
            if isinstance(row, dict)
            else row
            for row in job.preview
        ]
        files = {}
        if job.status in IMPORT_OVER:
            for name in ("file", "rejected_file"):
                stored = getattr(job, name)
                if stored:
                    erasure.delete_file_on_commit(stored)
                    files[name] = ""
        if preview != job.preview or files:
            ImportJob.objects.filter(pk=job.pk).update(preview=preview, **files)
    detached = _import_changes(customer).update(customer=None, before={}, after={})
    return discarded + detached


def _preview_naming(texts: list[str]) -> Q:
    """Import jobs whose dry-run preview holds one of ``texts`` (the preview has no
    index: a rare administrator task reads the jobs' table once)."""
    naming = Q(pk__in=[])
    for text in texts:
        naming |= Q(preview_text__contains=text)
    return Q(
        pk__in=ImportJob.objects.annotate(
            preview_text=Cast("preview", models.TextField())
        )
        .filter(naming)
        .values("pk")
    )


def _portal_codes(customer: Customer) -> list[dict[str, Any]]:
    # The codes themselves are never stored; when and from where they were asked is.
    return rows(
        PortalCode.objects.filter(customer=customer).order_by("created_at", "pk"),
        [
            ("created_at", _("asked at")),
            ("ip_address", _("address")),
            ("status", _("status")),
            ("used_at", _("used at")),
        ],
    )


def _anonymise_portal_codes(customer: Customer, *, erasure: Erasure) -> int:
    deleted, _rows = PortalCode.objects.filter(customer=customer).delete()
    return deleted


def _access(customer: Customer) -> list[dict[str, Any]]:
    return rows(
        CustomerAccess.objects.filter(customer=customer).order_by("granted_at", "pk"),
        [("user", _("user")), ("reason", _("reason")), ("granted_at", _("since"))],
    )


def _kept_access(customer: Customer) -> dict[str, int]:
    return {"access": CustomerAccess.objects.filter(customer=customer).count()}


def _requests(customer: Customer) -> list[dict[str, Any]]:
    return rows(
        PersonalDataRequest.objects.filter(customer=customer).order_by(
            "handled_at", "pk"
        ),
        ["kind", "handled_by", "handled_at", "reference", "reason", "file_format"],
    )


def _kept_requests(customer: Customer) -> dict[str, int]:
    return {
        "requests": PersonalDataRequest.objects.filter(customer=customer).count() + 1
    }


def _calls(customer: Customer) -> list[dict[str, Any]]:
    return rows(
        Call.objects.filter(customer=customer).order_by("created_at", "pk"),
        [
            "caller",
            "ringing_at",
            "answered_at",
            "ended_at",
            "duration",
            ("agent", _("agent")),
            "note",
        ],
    )


def _anonymise_calls(customer: Customer, *, erasure: Erasure) -> int:
    # The number and the note are the person's; when and how long stay (statistics).
    return (
        Call.objects.filter(customer=customer)
        .filter(~Q(caller="") | ~Q(note=""))
        .update(caller="", note="")
    )


def _related(customer: Customer) -> dict[str, list[int]]:
    return {"customers.customer": [customer.pk, *absorbed_ids(customer)]}


def connect() -> None:
    register(
        Section(
            key="customers.profile",
            title=_("Customer record"),
            order=0,
            count=lambda c: 1 + len(absorbed_ids(c)),
            export=_profile,
            # The value row is derived and follows the record: the refresh drops it
            # once the customer is anonymised (customers.value).
            covers=(
                "customers.Customer.merged_into",
                "customers.CustomerValue.customer",
            ),
            related=_related,
        )
    )
    register(
        Section(
            key="customers.contact_points",
            title=_("Further contacts"),
            order=1,
            count=lambda c: ContactPoint.objects.filter(customer=c).count(),
            export=_contacts,
            anonymise=_anonymise_contacts,
            covers=("customers.ContactPoint.customer",),
        )
    )
    register(
        Section(
            key="customers.tags",
            title=_("Tags"),
            order=2,
            count=lambda c: Through.objects.filter(customer=c).count(),
            export=_tags,
            anonymise=_anonymise_tags,
            covers=("customers.Customer_tags.customer",),
        )
    )
    register(
        Section(
            key="customers.consents",
            title=_("Consent history"),
            order=3,
            count=lambda c: ConsentRecord.objects.filter(customer=c).count(),
            export=_consents,
            anonymise=_anonymise_consents,
            retained=_kept_consents,
            reasons={
                "consents": _(
                    "Consent records (purpose, given or withdrawn, when): the proof "
                    "of what the customer allowed; every consent is withdrawn."
                )
            },
            covers=("customers.ConsentRecord.customer",),
        )
    )
    register(
        Section(
            key="customers.timeline",
            title=_("Timeline"),
            order=4,
            count=lambda c: Interaction.objects.filter(customer=c).count(),
            export=_timeline,
            anonymise=_anonymise_timeline,
            retained=_kept_timeline,
            reasons={
                "timeline": _(
                    "Timeline entries keep their kind, channel and date without any "
                    "text: sales and service statistics."
                )
            },
            covers=("customers.Interaction.customer",),
        )
    )
    register(
        Section(
            key="customers.duplicates",
            title=_("Duplicate candidates"),
            order=5,
            count=lambda c: _pairs(c).count(),
            export=_duplicates,
            anonymise=_anonymise_duplicates,
            covers=(
                "customers.DuplicatePair.first",
                "customers.DuplicatePair.second",
            ),
        )
    )
    register(
        Section(
            key="customers.merges",
            title=_("Merges"),
            order=6,
            count=lambda c: _merges_of(c).count(),
            export=_merges,
            anonymise=_anonymise_merges,
            retained=_kept_merges,
            reasons={
                "merges": _(
                    "Which records were merged and when, without their values; such "
                    "a merge can no longer be undone."
                )
            },
            covers=("customers.MergeRecord.survivor", "customers.MergeRecord.absorbed"),
        )
    )
    register(
        Section(
            key="customers.imports",
            title=_("Imports"),
            order=7,
            count=lambda c: _import_changes(c).count(),
            export=_imports,
            anonymise=_anonymise_imports,
            blockers=_import_blockers,
            covers=("customers.ImportChange.customer",),
        )
    )
    register(
        Section(
            key="customers.access",
            title=_("Access of consultants"),
            order=8,
            count=lambda c: CustomerAccess.objects.filter(customer=c).count(),
            export=_access,
            retained=_kept_access,
            reasons={
                "access": _(
                    "Which consultants may open the record: it holds no personal "
                    "information and lets them keep serving the contracts."
                )
            },
            covers=("customers.CustomerAccess.customer",),
        )
    )
    register(
        Section(
            key="customers.portal_codes",
            title=_("Owner portal sign-in codes"),
            order=9,
            count=lambda c: PortalCode.objects.filter(customer=c).count(),
            export=_portal_codes,
            anonymise=_anonymise_portal_codes,
            covers=("customers.PortalCode.customer",),
        )
    )
    register(
        Section(
            key="customers.calls",
            title=_("Calls (screen pop)"),
            order=10,
            count=lambda c: Call.objects.filter(customer=c).count(),
            export=_calls,
            anonymise=_anonymise_calls,
            covers=("customers.Call.customer",),
        )
    )
    register(
        Section(
            key="customers.requests",
            title=_("Personal information requests"),
            order=99,
            count=lambda c: PersonalDataRequest.objects.filter(customer=c).count(),
            export=_requests,
            retained=_kept_requests,
            reasons={
                "requests": _(
                    "This log of personal information requests (including this "
                    "one): the proof that each request was answered."
                )
            },
            covers=("customers.PersonalDataRequest.customer",),
        )
    )
