"""The owners' portal's own pages: sign-in with a one-time SMS code, the home page and
signing out. Each app adds its sections (crm_site.portal) under /portal/<app>/."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from crm_site import portal
from crm_site.lockout import client_address
from crm_site.permissions import owner_required, public
from customers.forms_portal import CodeForm, MobileForm
from customers.phones import mask_phone
from customers.services.portal import CodeRequest, portal_code_request, portal_sign_in

PHONE_KEY = "portal_sign_in_phone"
NEXT_KEY = "portal_sign_in_next"
SIGN_IN = "the owners' sign-in: it proves who the owner is by a one-time SMS code"


def _next_url(request: HttpRequest, value: str | None) -> str:
    if (
        value
        and value.startswith(settings.PORTAL_PATH)
        and url_has_allowed_host_and_scheme(value, allowed_hosts=None)
    ):
        return value
    return ""


@public(SIGN_IN)
@never_cache
def sign_in(request: HttpRequest) -> HttpResponse:
    """Step one: the mobile number. The answer is the same whether or not the number
    is an owner's."""
    if portal.owner_id(request) is not None and request.method == "GET":
        return redirect("portal:home")
    session = request.owner_session
    form = MobileForm(
        request.POST or None, initial={"mobile": request.GET.get("mobile", "")[:30]}
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        phone = form.cleaned_data["mobile"]
        outcome = portal_code_request(phone=phone, ip_address=client_address(request))
        if outcome == CodeRequest.TOO_MANY:
            form.add_error(
                None,
                _("Too many codes were asked for. Please try again in an hour."),
            )
            status = 429
        else:
            session[PHONE_KEY] = phone
            session[NEXT_KEY] = _next_url(request, request.POST.get("next"))
            # The code page itself says a code is on its way (if the number is an
            # owner's); only a request too soon after the last one needs a word.
            if outcome == CodeRequest.TOO_SOON:
                messages.info(
                    request,
                    _(
                        "A code was sent a moment ago; please wait a minute before "
                        "asking for another."
                    ),
                )
            return redirect("portal:sign-in-code")
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "portal/sign_in.html",
        {"form": form, "next": _next_url(request, request.GET.get("next"))},
        status=status,
    )


@public(SIGN_IN)
@never_cache
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """Step two: the code from the SMS, and whether to remember the device."""
    session = request.owner_session
    phone = session.get(PHONE_KEY)
    if not phone:
        return redirect("portal:sign-in")
    form = CodeForm(request.POST or None)
    status = 200
    locked = False
    if request.method == "POST" and form.is_valid():
        result = portal_sign_in(
            phone=phone,
            code=form.cleaned_data["code"],
            remember=form.cleaned_data["remember"],
            ip_address=client_address(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            path=request.path_info,
        )
        if result.customer is not None:
            target = session.get(NEXT_KEY) or ""
            portal.sign_in(
                request,
                customer=result.customer,
                remember=form.cleaned_data["remember"],
            )
            return redirect(target or "portal:home")
        locked = result.locked
        if locked:
            status = 429
        else:
            form.add_error(
                "code",
                _(
                    "This code is wrong or has expired. Check the SMS or ask for a new code."
                ),
            )
            status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "portal/sign_in_code.html",
        {
            "form": form,
            "masked_phone": mask_phone(phone),
            "locked": locked,
            "lockout_minutes": settings.LOGIN_LOCKOUT_MINUTES,
            "code_minutes": settings.PORTAL_CODE_MINUTES,
        },
        status=status,
    )


@owner_required
def sign_out(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("portal:home")
    portal.sign_out(request)
    messages.info(request, _("You have signed out."))
    return redirect("portal:sign-in")


@owner_required
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """The owner's start page: the sections the apps offer them."""
    return render(request, "portal/home.html", {})
