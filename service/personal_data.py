"""What service holds about one customer, for personal-information requests: their
requests with steps, photos and work orders, handover appointments with inspections
and notices, surveys and answers. Registered in ServiceConfig.ready().

Requests keep their kind, category, unit and dates (the unit's defect history and
service statistics) without the owner's words; photos are deleted. The handover of a
unit is a legal record and stays. Survey scores stay (anonymous statistics), the
comments go. Messages not yet sent to the owner are not sent.

Photos, decided: every photo of the owner's requests, of their work orders' sign-off
and of their handover inspection is deleted, files and all. They are taken inside the
owner's home, often with the owner or their papers in the frame, and nothing can make
a photo anonymous. What a warranty or a chargeback needs stays without them: the work
order (task, who did it, when it was signed off, its cost), the chargeback and the
inspection's findings (room, item, defect), with the owner's name and number taken
out of their texts.
"""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Q, QuerySet, Value
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm_site import events
from crm_site.audit import unaudited
from crm_site.outbox import Status as Outbox
from crm_site.personal_data import Erasure, Section, register, rows
from service.models import (
    Chargeback,
    HandoverAppointment,
    HandoverNotice,
    InspectionItem,
    OwnerLetter,
    PortalNotice,
    RequestPhoto,
    ServiceRequest,
    ServiceStep,
    SurveyAnswer,
    SurveyInvitation,
    SurveyResponse,
    WorkOrder,
)


def requests_of(customer: Any) -> QuerySet:
    return ServiceRequest.objects.filter(customer=customer)


# Requests ---------------------------------------------------------------------------


def _requests(customer: Any) -> list[dict]:
    return rows(
        requests_of(customer).order_by("received_at", "pk"),
        [
            ("id", _("request")),
            "kind",
            "category",
            "severity",
            "channel",
            ("unit__building__name", _("building")),
            ("unit__number", _("unit")),
            "description",
            "status",
            "receiver",
            "received_at",
            ("resolved_at", _("resolved")),
            ("closed_at", _("closed")),
            "satisfied",
            "callback_note",
        ],
    )


def _anonymise_steps(customer: Any, *, erasure: Erasure) -> tuple[int, set[int]]:
    """The steps of the customer's requests (their work orders' steps among them):
    what a person wrote goes; what the system wrote stays as its event, with the
    person taken out of its parameters (a work order's task names them as the desk
    typed it). The steps changed, and the requests they belong to."""
    changed = []
    for step in ServiceStep.objects.filter(request__customer=customer).only(
        "pk", "request_id", "note", "params"
    ):
        params = erasure.scrub_json(step.params)
        if step.note or params != step.params:
            step.note, step.params = "", params
            changed.append(step)
    ServiceStep.objects.bulk_update(changed, ["note", "params"], batch_size=500)
    return len(changed), {step.request_id for step in changed}


def _anonymise_requests(customer: Any, *, erasure: Erasure) -> int:
    """The owner's words go from the requests and their steps; each request changed
    gets one audit entry naming what (its steps: "steps"), old values hidden."""
    worded = set(
        requests_of(customer)
        .filter(~Q(description="") | ~Q(callback_note=""))
        .values_list("pk", flat=True)
    )
    steps_changed, stepped = _anonymise_steps(customer, erasure=erasure)
    audited: dict[tuple[str, ...], list[int]] = {}
    for pk in worded | stepped:
        fields = ("description", "callback_note") if pk in worded else ()
        fields += ("steps",) if pk in stepped else ()
        audited.setdefault(fields, []).append(pk)
    for fields, ids in audited.items():
        erasure.audit(ServiceRequest, ids, list(fields))
    with unaudited("anonymisation records its own entries without the old values"):
        blanked = ServiceRequest._base_manager.filter(pk__in=worded).update(
            description="", callback_note=""
        )
    return blanked + steps_changed


def _kept_requests(customer: Any) -> dict[str, int]:
    return {"requests": requests_of(customer).count()}


def _request_blockers(customer: Any) -> list[str]:
    open_requests = requests_of(customer).filter(status__in=ServiceRequest.OPEN).count()
    if not open_requests:
        return []
    return [
        ngettext(
            "%(count)s service request is still open: close it first.",
            "%(count)s service requests are still open: close them first.",
            open_requests,
        )
        % {"count": open_requests}
    ]


def _steps(customer: Any) -> list[dict]:
    steps = ServiceStep.objects.filter(request__customer=customer).order_by("at", "pk")
    label = _("note")
    result = rows(
        steps,
        [
            ("request", _("request")),
            ("from_status", _("from")),
            ("to_status", _("to")),
            ("department", _("handled by")),
            ("actor", _("by")),
            ("at", _("when")),
            ("note", label),
        ],
    )
    # What the system said about a step is an event: the export gives its words.
    texts = steps.values_list("event", "params", "note")
    for row, (event, params, note) in zip(result, texts, strict=True):
        row[label] = events.text_of(event, params, note)
    return result


def _photos(customer: Any) -> list[dict]:
    return rows(
        RequestPhoto.objects.filter(request__customer=customer).order_by(
            "uploaded_at", "pk"
        ),
        [
            ("request", _("request")),
            ("file", _("file")),
            ("uploaded_by", _("uploaded by")),
            ("uploaded_at", _("uploaded")),
        ],
    )


def _anonymise_photos(customer: Any, *, erasure: Erasure) -> int:
    photos = list(RequestPhoto.objects.filter(request__customer=customer))
    for photo in photos:
        erasure.delete_file_on_commit(photo.file)
    RequestPhoto.objects.filter(pk__in=[p.pk for p in photos]).delete()
    return len(photos)


def _work_orders(customer: Any) -> list[dict]:
    return rows(
        WorkOrder.objects.filter(request__customer=customer).order_by(
            "created_at", "pk"
        ),
        [
            ("request", _("request")),
            "task",
            "assignee_kind",
            ("contractor__name", _("contractor")),
            "status",
            "appointment_at",
            "due_at",
            "signed_off_at",
            "signoff_note",
            "signoff_photo",
            "cancel_reason",
        ],
    )


def _scrub_rows(
    queryset: QuerySet,
    fields: list[str],
    *,
    erasure: Erasure,
    cleared: dict[int, tuple[str, ...]] | None = None,
) -> int:
    """Take the customer's identifying texts (name, mobile...) out of these fields of
    these rows, the rest of the words kept; the rows changed.

    Each row changed, here or by the caller (``cleared``: {pk: fields} it blanked, a
    photo), gets one audit entry naming its fields, the old words hidden: as a
    request's (Erasure.audit), since the words are what is erased. One insert per
    set of fields changed, whatever the number of rows."""
    audited = dict(cleared or {})
    changed = []
    for row in queryset.only("pk", *fields):
        scrubbed = {name: erasure.scrub(getattr(row, name)) for name in fields}
        names = tuple(name for name in fields if scrubbed[name] != getattr(row, name))
        if names:
            for name in names:
                setattr(row, name, scrubbed[name])
            changed.append(row)
            audited[row.pk] = audited.get(row.pk, ()) + names
    by_fields: dict[tuple[str, ...], list[int]] = {}
    for pk, names in audited.items():
        by_fields.setdefault(names, []).append(pk)
    for names, ids in by_fields.items():
        erasure.audit(queryset.model, ids, list(names))
    with unaudited("anonymisation records its own entries without the old values"):
        queryset.model._base_manager.bulk_update(changed, fields, batch_size=500)
    return len(changed)


def _clear_files(queryset: QuerySet, name: str, *, erasure: Erasure) -> dict:
    """Delete the files of this file field once the erasure commits and blank it in
    these rows, unaudited: the caller's _scrub_rows audits the rows ({pk: (name,)})."""
    rows_with_file = list(queryset.exclude(**{name: ""}).only("pk", name))
    for row in rows_with_file:
        erasure.delete_file_on_commit(getattr(row, name))
    ids = [row.pk for row in rows_with_file]
    if ids:
        with unaudited("anonymisation records its own entries without the old values"):
            queryset.model._base_manager.filter(pk__in=ids).update(**{name: ""})
    return dict.fromkeys(ids, (name,))


def _anonymise_work_orders(customer: Any, *, erasure: Erasure) -> int:
    """The sign-off photos are deleted (see the module's note); the work orders and
    their chargebacks stay, the owner's name taken out of what staff wrote. Each work
    order and chargeback changed gets one audit entry, as the requests do."""
    work = WorkOrder.objects.filter(request__customer=customer)
    photographed = _clear_files(work, "signoff_photo", erasure=erasure)
    changed = len(photographed)
    changed += _scrub_rows(
        work,
        ["task", "signoff_note", "cancel_reason"],
        erasure=erasure,
        cleared=photographed,
    )
    changed += _scrub_rows(
        Chargeback.objects.filter(
            Q(request__customer=customer) | Q(work_order__request__customer=customer)
        ),
        ["reason"],
        erasure=erasure,
    )
    return changed


def _kept_work_orders(customer: Any) -> dict[str, int]:
    return {"work_orders": WorkOrder.objects.filter(request__customer=customer).count()}


# Handover ---------------------------------------------------------------------------


def _appointments(customer: Any) -> list[dict]:
    return rows(
        HandoverAppointment.objects.filter(customer=customer).order_by(
            "created_at", "pk"
        ),
        [
            ("batch__name", _("handover batch")),
            ("unit__building__name", _("building")),
            "unit__number",
            ("slot__day", _("day")),
            "status",
            "handed_over_on",
        ],
    )


def _kept_appointments(customer: Any) -> dict[str, int]:
    return {"handover": HandoverAppointment.objects.filter(customer=customer).count()}


def _inspection(customer: Any) -> list[dict]:
    return rows(
        InspectionItem.objects.filter(
            inspection__appointment__customer=customer
        ).order_by("inspection", "position"),
        [
            ("inspection__appointment__unit__number", _("unit")),
            "room",
            "item",
            "result",
            "note",
            ("photo", _("photo")),
            ("repair_request", _("repair request")),
        ],
    )


def _inspection_items(customer: Any) -> QuerySet:
    return InspectionItem.objects.filter(inspection__appointment__customer=customer)


def _anonymise_inspection(customer: Any, *, erasure: Erasure) -> int:
    """The photos are deleted (see the module's note); the findings stay, the owner's
    name taken out of their notes. Each item changed gets one audit entry."""
    items = _inspection_items(customer)
    photographed = _clear_files(items, "photo", erasure=erasure)
    return len(photographed) + _scrub_rows(
        items, ["note"], erasure=erasure, cleared=photographed
    )


def _kept_inspection(customer: Any) -> dict[str, int]:
    return {"inspection": _inspection_items(customer).count()}


def _notices(customer: Any) -> list[dict]:
    return rows(
        HandoverNotice.objects.filter(appointment__customer=customer).order_by(
            "created_at", "pk"
        ),
        [
            ("kind", _("message")),
            ("channel", _("channel")),
            ("status", _("status")),
            ("sent_at", _("sent")),
        ],
    )


def _not_sent(queryset: QuerySet) -> int:
    return queryset.filter(status=Outbox.PENDING).update(
        status=Outbox.SKIPPED, error="personal information anonymised"
    )


def _anonymise_notices(customer: Any, *, erasure: Erasure) -> int:
    return _not_sent(HandoverNotice.objects.filter(appointment__customer=customer))


# Surveys ----------------------------------------------------------------------------


def _invitations(customer: Any) -> list[dict]:
    return rows(
        SurveyInvitation.objects.filter(customer=customer).order_by("created_at", "pk"),
        [
            ("template__name", _("survey")),
            ("request", _("request")),
            ("status", _("status")),
            ("sent_at", _("sent")),
            ("answered_at", _("answered")),
        ],
    )


def _anonymise_invitations(customer: Any, *, erasure: Erasure) -> int:
    return _not_sent(SurveyInvitation.objects.filter(customer=customer))


def _responses(customer: Any) -> list[dict]:
    return rows(
        SurveyResponse.objects.filter(customer=customer).order_by("submitted_at", "pk"),
        [
            ("invitation__template__name", _("survey")),
            ("index", _("satisfaction index")),
            "comment",
            ("submitted_at", _("answered")),
        ],
    )


def _anonymise_responses(customer: Any, *, erasure: Erasure) -> int:
    return (
        SurveyResponse.objects.filter(customer=customer)
        .exclude(comment="")
        .update(comment="")
    )


def _kept_responses(customer: Any) -> dict[str, int]:
    return {"scores": SurveyResponse.objects.filter(customer=customer).count()}


def _answers(customer: Any) -> list[dict]:
    return rows(
        SurveyAnswer.objects.filter(response__customer=customer).order_by(
            "response", "question__position"
        ),
        [
            ("response__invitation__template__name", _("survey")),
            ("question__text", _("question")),
            ("score", _("score")),
        ],
    )


# Portal: messages about requests, letters to the general manager -------------------


def _portal_notices_of(customer: Any) -> QuerySet:
    return PortalNotice.objects.filter(
        Q(request__customer=customer) | Q(letter__customer=customer)
    )


def _portal_notices(customer: Any) -> list[dict]:
    return rows(
        _portal_notices_of(customer).order_by("created_at", "pk"),
        [
            ("request", _("request")),
            ("letter", _("letter")),
            ("channel", _("channel")),
            ("status", _("status")),
            ("sent_at", _("sent")),
        ],
    )


def _anonymise_portal_notices(customer: Any, *, erasure: Erasure) -> int:
    return _not_sent(_portal_notices_of(customer))


def _letters(customer: Any) -> list[dict]:
    return rows(
        OwnerLetter.objects.filter(customer=customer).order_by("written_at", "pk"),
        [
            ("id", _("letter")),
            ("unit__number", _("unit")),
            "subject",
            "body",
            "written_at",
            "answer",
            "answered_by",
            "answered_at",
        ],
    )


def _anonymise_letters(customer: Any, *, erasure: Erasure) -> int:
    return erasure.update(
        OwnerLetter.objects.filter(customer=customer), subject="", body="", answer=""
    )


def _kept_letters(customer: Any) -> dict[str, int]:
    return {"letters": OwnerLetter.objects.filter(customer=customer).count()}


def _related(customer: Any) -> dict[str, list[int]]:
    """The customer's rows here (their audit entries, notifications), in one query:
    it runs for each section that reads the audit trail."""
    of = {
        "service.servicerequest": requests_of(customer),
        # A work order's entries are described by its task (WorkOrder.__str__), which
        # often names the owner as the desk typed it.
        "service.workorder": WorkOrder.objects.filter(request__customer=customer),
        "service.handoverappointment": HandoverAppointment.objects.filter(
            customer=customer
        ),
        "service.ownerletter": OwnerLetter.objects.filter(customer=customer),
        # Messages to the owner: a reviewer's decision on a parked one is audited
        # with the row's text (an invitation's names the owner).
        "service.surveyinvitation": SurveyInvitation.objects.filter(customer=customer),
        "service.handovernotice": HandoverNotice.objects.filter(
            appointment__customer=customer
        ),
        "service.portalnotice": _portal_notices_of(customer),
    }
    labelled = [
        found.order_by().values_list(Value(label, output_field=CharField()), "pk")
        for label, found in of.items()
    ]
    related: dict[str, list[int]] = {label: [] for label in of}
    for label, pk in labelled[0].union(*labelled[1:], all=True):
        related[label].append(pk)
    # A survey reminder's key is its invitation's.
    related["service.surveyreminder"] = related["service.surveyinvitation"]
    return related


def _count(queryset_of):
    return lambda customer: queryset_of(customer).count()


def connect() -> None:
    register(
        Section(
            key="service.requests",
            title=gettext_lazy("Service requests"),
            order=20,
            count=_count(requests_of),
            export=_requests,
            anonymise=_anonymise_requests,
            retained=_kept_requests,
            reasons={
                "requests": gettext_lazy(
                    "Requests keep their kind, category, unit, status and dates "
                    "without the owner's words: the unit's defect history and "
                    "service statistics."
                )
            },
            blockers=_request_blockers,
            related=_related,
            covers=("service.ServiceRequest.customer",),
        )
    )
    register(
        Section(
            key="service.steps",
            title=gettext_lazy("Request steps"),
            order=21,
            count=_count(lambda c: ServiceStep.objects.filter(request__customer=c)),
            export=_steps,
        )
    )
    register(
        Section(
            key="service.photos",
            title=gettext_lazy("Request photos"),
            order=22,
            count=_count(lambda c: RequestPhoto.objects.filter(request__customer=c)),
            export=_photos,
            anonymise=_anonymise_photos,
        )
    )
    register(
        Section(
            key="service.work_orders",
            title=gettext_lazy("Work orders"),
            order=23,
            count=_count(lambda c: WorkOrder.objects.filter(request__customer=c)),
            export=_work_orders,
            anonymise=_anonymise_work_orders,
            retained=_kept_work_orders,
            reasons={
                "work_orders": gettext_lazy(
                    "Work orders of the requests: the contractors' work, costs and "
                    "charge-backs are accounting and warranty records. Their sign-off "
                    "photos are deleted and the owner's name is taken out of their "
                    "notes."
                )
            },
        )
    )
    register(
        Section(
            key="service.handover",
            title=gettext_lazy("Handover appointments"),
            order=24,
            count=_count(lambda c: HandoverAppointment.objects.filter(customer=c)),
            export=_appointments,
            retained=_kept_appointments,
            reasons={
                "handover": gettext_lazy(
                    "The handover of the unit (when, which unit): a legal record."
                )
            },
            covers=("service.HandoverAppointment.customer",),
        )
    )
    register(
        Section(
            key="service.inspections",
            title=gettext_lazy("Handover inspections"),
            order=25,
            count=_count(
                lambda c: InspectionItem.objects.filter(
                    inspection__appointment__customer=c
                )
            ),
            export=_inspection,
            anonymise=_anonymise_inspection,
            retained=_kept_inspection,
            reasons={
                "inspection": gettext_lazy(
                    "What the handover inspection found in the unit (room, item, "
                    "defect): the unit's warranty record. The photos are deleted and "
                    "the owner's name is taken out of the notes."
                )
            },
        )
    )
    register(
        Section(
            key="service.notices",
            title=gettext_lazy("Handover messages"),
            order=26,
            count=_count(
                lambda c: HandoverNotice.objects.filter(appointment__customer=c)
            ),
            export=_notices,
            anonymise=_anonymise_notices,
        )
    )
    register(
        Section(
            key="service.survey_invitations",
            title=gettext_lazy("Survey invitations"),
            order=27,
            count=_count(lambda c: SurveyInvitation.objects.filter(customer=c)),
            export=_invitations,
            anonymise=_anonymise_invitations,
            covers=("service.SurveyInvitation.customer",),
        )
    )
    register(
        Section(
            key="service.survey_responses",
            title=gettext_lazy("Survey answers"),
            order=28,
            count=_count(lambda c: SurveyResponse.objects.filter(customer=c)),
            export=_responses,
            anonymise=_anonymise_responses,
            retained=_kept_responses,
            reasons={
                "scores": gettext_lazy(
                    "Survey scores without comments: anonymous satisfaction statistics."
                )
            },
            covers=("service.SurveyResponse.customer",),
        )
    )
    register(
        Section(
            key="service.survey_scores",
            title=gettext_lazy("Survey scores"),
            order=29,
            count=_count(lambda c: SurveyAnswer.objects.filter(response__customer=c)),
            export=_answers,
        )
    )
    register(
        Section(
            key="service.letters",
            title=gettext_lazy("Letters to the general manager"),
            order=30,
            count=_count(lambda c: OwnerLetter.objects.filter(customer=c)),
            export=_letters,
            anonymise=_anonymise_letters,
            retained=_kept_letters,
            reasons={
                "letters": gettext_lazy(
                    "Letters keep their dates and who answered them, without the "
                    "words: the mailbox's response times."
                )
            },
            covers=("service.OwnerLetter.customer",),
        )
    )
    register(
        Section(
            key="service.portal_notices",
            title=gettext_lazy("Portal messages"),
            order=31,
            count=_count(_portal_notices_of),
            export=_portal_notices,
            anonymise=_anonymise_portal_notices,
        )
    )
