"""The owners' portal's own pages (namespace "portal"), included at /portal/."""

from __future__ import annotations

from django.urls import path

from customers.views import portal

app_name = "portal"

urlpatterns = [
    path("", portal.home, name="home"),
    path("sign-in/", portal.sign_in, name="sign-in"),
    path("sign-in/code/", portal.sign_in_code, name="sign-in-code"),
    path("sign-out/", portal.sign_out, name="sign-out"),
]
