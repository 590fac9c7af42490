"""Marketing's pages in the owners' portal (namespace "marketing_portal"), at
/portal/marketing/."""

from __future__ import annotations

from django.urls import path

from marketing.views import portal

app_name = "marketing_portal"

urlpatterns = [
    path("recommend/", portal.recommend, name="recommend"),
    path("club/", portal.club, name="club"),
    path("club/events/<int:pk>/sign-up/", portal.event_signup, name="event-signup"),
]
