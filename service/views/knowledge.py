"""The knowledge base: search, read, write articles; link them to requests."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm_site.audit import audit_change, audit_record, snapshot
from crm_site.models import AuditEntry
from crm_site.pagination import paginate
from crm_site.permissions import action_required, see_required
from service import services_work
from service.forms import ArticleForm, ArticleSearchForm
from service.models import Article
from service.selectors import article_search
from service.views.requests import visible_request


@see_required("service.view_service_desk")
def article_list(request: HttpRequest) -> HttpResponse:
    form = ArticleSearchForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    articles = article_search(
        query=data.get("q", ""), category=data.get("category", "")
    )
    return render(
        request,
        "service/article_list.html",
        {
            "form": form,
            "page": paginate(articles, page=request.GET.get("page")),
            "filter_query": urlencode({k: v for k, v in data.items() if v}),
        },
    )


@see_required("service.view_service_desk")
def article_detail(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(Article, pk=pk)
    uses = article.uses.select_related("request__customer").order_by("-at")[:20]
    return render(
        request,
        "service/article_detail.html",
        {"article": article, "uses": list(uses)},
    )


def _article_form(request: HttpRequest, article: Article | None = None) -> HttpResponse:
    form = ArticleForm(request.POST or None, instance=article)
    # Read before the form writes the posted values onto the instance: the entry says
    # what the edit changed, as a contractor's does.
    before = snapshot(article, ArticleForm.Meta.fields) if article else None
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            saved = form.save(commit=False)
            if before is None:
                saved.created_by = request.user
                saved.save()
                audit_record(
                    actor=request.user, instance=saved, action=AuditEntry.Action.CREATE
                )
            else:
                saved.save()
                audit_change(actor=request.user, instance=saved, before=before)
        messages.success(request, _("Saved."))
        return redirect(saved)
    return render(
        request, "service/article_form.html", {"form": form, "article": article}
    )


@action_required("service.use_service")
def article_create(request: HttpRequest) -> HttpResponse:
    return _article_form(request)


@action_required("service.use_service")
def article_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _article_form(request, get_object_or_404(Article, pk=pk))


@action_required("service.use_service")
@require_POST
def article_use(request: HttpRequest, pk: int, article_pk: int) -> HttpResponse:
    item = visible_request(request, pk)
    article = get_object_or_404(Article, pk=article_pk)
    if request.POST.get("remove"):
        services_work.article_unuse(actor=request.user, request=item, article=article)
    else:
        services_work.article_use(actor=request.user, request=item, article=article)
    return redirect(item)
