"""The general manager's mailbox (总经理信箱) on the staff side: the queue of owners'
letters, a letter with its answer form, answering."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from crm_site.overview import moment
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from sales.models import Project
from service import mailbox
from service.forms import LetterAnswerForm, LetterQueueForm
from service.models import OwnerLetter


@see_required("service.view_gm_mailbox")
def letter_list(request: HttpRequest) -> HttpResponse:
    form = LetterQueueForm(request.GET)
    form.is_valid()  # bad values fall back to the defaults
    data = getattr(form, "cleaned_data", {})
    view = data.get("view") or "open"
    project = data.get("project")
    start, end = data.get("start"), data.get("end")
    page = paginate(
        mailbox.letter_queue(
            view,
            project_id=project,
            since=moment(start) if start else None,
            until=moment(end + timedelta(days=1)) if end else None,
        ),
        page=request.GET.get("page"),
    )
    narrowed = {
        "view": view,
        **({"project": str(project)} if project else {}),
        **({"start": start.isoformat()} if start else {}),
        **({"end": end.isoformat()} if end else {}),
    }
    return render(
        request,
        "service/letter_list.html",
        {
            "page": page,
            "view": view,
            "project": project,
            "projects": list(
                Project.objects.order_by("name").values_list("pk", "name")
            ),
            "filter_query": urlencode(narrowed),
            "narrowed": bool(start or end),
        },
    )


def _letter(pk: int) -> OwnerLetter:
    return get_object_or_404(
        OwnerLetter.objects.select_related(
            "customer", "unit__building__project", "answered_by"
        ),
        pk=pk,
    )


def _detail(
    request: HttpRequest, letter: OwnerLetter, form=None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "service/letter_detail.html",
        {
            "letter": letter,
            "form": form or LetterAnswerForm(),
            "mobile_display": letter.customer.mobile_for(request.user),
        },
        status=status,
    )


@see_required("service.view_gm_mailbox")
def letter_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _letter(pk))


@action_required("service.answer_gm_letter", see="service.view_gm_mailbox")
def letter_answer(request: HttpRequest, pk: int) -> HttpResponse:
    letter = _letter(pk)
    if request.method != "POST":
        return redirect(letter)
    form = LetterAnswerForm(request.POST)
    if not form.is_valid():
        return _detail(request, letter, form, status=400)
    try:
        mailbox.letter_answer(
            actor=request.user, letter=letter, answer=form.cleaned_data["answer"]
        )
    except ValidationError as exc:
        for field, errors in (
            exc.message_dict.items()
            if hasattr(exc, "error_dict")
            else [(None, exc.messages)]
        ):
            form.add_error(field if field in form.fields else None, errors)
        return _detail(request, letter, form, status=400)
    messages.success(
        request,
        _("Answer sent: %(name)s reads it in the portal and is told by message.")
        % {"name": letter.customer.name},
    )
    return redirect(letter)
