from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import set_language

from crm_site import views, views_explorer, views_outbox
from crm_site.permissions import public, self_service

# A database outage shows the friendly 503 page; anything else the plain 500 page.
handler500 = "crm_site.outage.server_error"
# Under the owners' portal the portal's own 404 page, the staff one elsewhere.
handler404 = "crm_site.views.page_not_found"
OWN_ACCOUNT = "a user's own session and password"

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("notifications/", views.notification_list, name="notifications"),
    path(
        "notifications/read-all/",
        views.notification_read_all,
        name="notifications-read-all",
    ),
    path(
        "notifications/<int:pk>/open/",
        views.notification_open,
        name="notification-open",
    ),
    # Messages whose sending was interrupted and could not be checked (crm_site.outbox).
    path("outbox/parked/", views_outbox.parked_list, name="outbox-parked"),
    path(
        "outbox/<str:kind>/<int:pk>/send-again/",
        views_outbox.parked_send_again,
        name="outbox-send-again",
    ),
    path(
        "outbox/<str:kind>/<int:pk>/mark-sent/",
        views_outbox.parked_mark_sent,
        name="outbox-mark-sent",
    ),
    # The explorer (多维分析) over the apps' fact tables, and reports by e-mail.
    path("insight/explorer/", views_explorer.explorer_page, name="explorer"),
    path(
        "insight/explorer/export/",
        views_explorer.explorer_export,
        name="explorer-export",
    ),
    path(
        "insight/explorer/save/",
        views_explorer.explorer_view_save,
        name="explorer-view-save",
    ),
    path(
        "insight/views/delete/",
        views_explorer.explorer_view_delete,
        name="explorer-view-delete",
    ),
    path("insight/reports/", views_explorer.report_list, name="report-list"),
    path(
        "insight/reports/subscribe/",
        views_explorer.report_subscribe,
        name="report-subscribe",
    ),
    path("insight/reports/pause/", views_explorer.report_pause, name="report-pause"),
    path("insight/reports/delete/", views_explorer.report_delete, name="report-delete"),
    # The language switch is on the login page too.
    path(
        "i18n/setlang/",
        public("the language switch, on the login page too")(set_language),
        name="set_language",
    ),
    path(
        "accounts/login/",
        public("the login page")(auth_views.LoginView.as_view()),
        name="login",
    ),
    path(
        "accounts/logout/",
        self_service(OWN_ACCOUNT)(auth_views.LogoutView.as_view()),
        name="logout",
    ),
    path(
        "accounts/password/",
        self_service(OWN_ACCOUNT)(auth_views.PasswordChangeView.as_view()),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        self_service(OWN_ACCOUNT)(auth_views.PasswordChangeDoneView.as_view()),
        name="password_change_done",
    ),
    path("customers/", include("customers.urls")),
    path("sales/", include("sales.urls")),
    path("service/", include("service.urls")),
    path("marketing/", include("marketing.urls")),
    # The owners' portal (crm_site.portal): its own pages, then each app's sections.
    path("portal/", include("customers.portal_urls")),
    path("portal/sales/", include("sales.portal_urls")),
    path("portal/service/", include("service.portal_urls")),
    path("portal/marketing/", include("marketing.portal_urls")),
    # The REST API for other systems (crm_site.api): keys, not logins.
    path("api/v1/", include("crm_site.api.urls")),
    path("admin/", admin.site.urls),
]
