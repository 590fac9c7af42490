"""The view declarations: a see page answers GET only, an action checks its permission
per method, and each view says what it is."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from crm_site.permissions import (
    Kind,
    access_of,
    action_required,
    public,
    see_required,
    self_service,
)

rf = RequestFactory()


def _ok(request, **kwargs):
    return HttpResponse("ok")


def _as(user, method: str):
    request = getattr(rf, method)("/")
    request.user = user
    return request


def test_a_see_page_answers_get_with_its_permission_and_refuses_every_post(executive):
    view = see_required("sales.view_sales_desk")(_ok)
    assert view(_as(executive, "get")).status_code == 200
    assert view(_as(executive, "post")).status_code == 405
    assert access_of(view).kind == Kind.SEE


def test_a_see_page_refuses_a_user_without_the_see_permission(marketer):
    view = see_required("sales.view_sales_desk")(_ok)
    with pytest.raises(PermissionDenied):
        view(_as(marketer, "get"))


def test_an_action_shows_its_form_to_seers_and_refuses_their_post(
    executive, sales_manager
):
    view = action_required("sales.manage_sales", see="sales.view_sales_management")(_ok)
    assert view(_as(executive, "get")).status_code == 200
    with pytest.raises(PermissionDenied):
        view(_as(executive, "post"))
    assert view(_as(sales_manager, "post")).status_code == 200


def test_an_action_without_a_see_permission_needs_the_action_to_show_its_form(
    executive,
):
    view = action_required("sales.use_sales")(_ok)
    with pytest.raises(PermissionDenied):
        view(_as(executive, "get"))
    assert access_of(view).permission_for("DELETE") == "sales.use_sales"


def test_public_and_self_service_views_say_why_and_public_ones_need_no_login():
    open_view = public("a signed link")(_ok)
    own_view = self_service("own rows")(_ok)
    assert open_view.login_required is False
    assert access_of(open_view).reason == "a signed link"
    assert access_of(own_view).kind == Kind.SELF_SERVICE
    assert access_of(_ok) is None


def test_the_admin_namespace_is_the_admins_own():
    assert access_of(_ok, "admin").kind == Kind.ADMIN
