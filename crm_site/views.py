"""The home page, the health page and the page-not-found page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_POST

from crm_site import portal
from crm_site.health import run_checks
from crm_site.models import AuditEntry, Notification
from crm_site.notifications import forget_unread
from crm_site.overview import may_see_overview
from crm_site.pagination import paginate
from crm_site.permissions import public, self_service, signed_in_owner
from crm_site.views_overview import overview_page


@self_service(
    "every user's landing page: their work (my day, the queue, the overview, the "
    "marketing dashboard) as their see permissions allow, or their recent changes"
)
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    # A channel partner's broker works in the partner portal and nowhere else.
    if user.has_perm("marketing.partner_portal") and not user.is_superuser:
        return redirect("marketing:portal")
    # A consultant's day starts on their own page (我的今日).
    if user.has_perm("customers.scope_own") and user.has_perm("sales.use_sales"):
        return redirect("sales:my-day")
    if may_see_overview(user):
        return overview_page(request)
    # A service agent's work is their queue of requests, the late ones first.
    if user.has_perm("service.use_service"):
        return redirect(f"{reverse('service:request-list')}?view=mine")
    # Marketing's is its dashboard: what each campaign brought.
    if user.has_perm("marketing.use_marketing"):
        return redirect("marketing:dashboard")
    recent = (
        AuditEntry.objects.filter(actor=request.user)
        .select_related("content_type")
        .order_by("-created_at", "-pk")[:10]
    )
    return render(request, "crm_site/home.html", {"recent_changes": recent})


@self_service("a user's own notifications")
def notification_list(request: HttpRequest) -> HttpResponse:
    page = paginate(
        Notification.objects.filter(user=request.user).order_by("-created_at", "-pk"),
        page=request.GET.get("page"),
    )
    return render(request, "crm_site/notification_list.html", {"page": page})


@self_service("a user's own notifications")
@require_POST
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one notification read and go to what it is about."""
    notification = get_object_or_404(Notification, pk=pk, user=request.user)
    if notification.read_at is None:
        Notification.objects.filter(pk=pk, read_at__isnull=True).update(
            read_at=timezone.now()
        )
        forget_unread(request.user.pk)
    return redirect(
        (
            url_has_allowed_host_and_scheme(notification.url, allowed_hosts=None)
            and notification.url
        )
        or "notifications"
    )


@self_service("a user's own notifications")
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    Notification.objects.filter(user=request.user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    forget_unread(request.user.pk)
    return redirect("notifications")


@public("the health check of monitors and the load balancer; no personal data")
@never_cache
def health(request: HttpRequest) -> HttpResponse:
    checks = run_checks()
    healthy = all(check.ok for check in checks)
    status = 200 if healthy else 503
    wants_json = "application/json" in request.headers.get("Accept", "") or (
        request.GET.get("format") == "json"
    )
    if wants_json:
        return JsonResponse(
            {
                "status": "ok" if healthy else "fail",
                "components": {check.name: check.as_json() for check in checks},
            },
            status=status,
        )
    return render(
        request,
        "crm_site/health.html",
        {"checks": checks, "healthy": healthy},
        status=status,
    )


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: under the owners' portal its own look (its header, tab bar and
    sign-out, a way back to its home page); the staff page everywhere else."""
    if not request.path_info.startswith(settings.PORTAL_PATH):
        return defaults.page_not_found(request, exception)
    _load_owner(request)
    return defaults.page_not_found(request, exception, template_name="portal/404.html")


def _load_owner(request: HttpRequest) -> None:
    """The signed-in owner for the portal's navigation, as owner_required would set
    it, when no portal view ran (a path that matches no URL). Nobody (no session, a
    stale one, an owner who may no longer sign in) gets the page without tabs; the
    portal's next page signs them out."""
    if getattr(request, "owner", None) is not None:
        return
    owner = signed_in_owner(request)
    if owner is None:
        return
    household_ids = portal.checked_household(request, owner)
    if household_ids is None:
        return
    request.owner = owner
    request.household_ids = household_ids
