from __future__ import annotations

from django.urls import path

from customers.views import (
    customers,
    duplicates,
    exports,
    imports,
    interactions,
    personal_data,
    registration,
    telephony,
    value,
)

app_name = "customers"

urlpatterns = [
    path("", customers.customer_list, name="customer-list"),
    path("interactions/", interactions.interaction_list, name="interaction-list"),
    path("value/", value.value_list, name="value-list"),
    path("new/", customers.customer_create, name="customer-create"),
    path("<int:pk>/", customers.customer_detail, name="customer-detail"),
    path("<int:pk>/edit/", customers.customer_edit, name="customer-edit"),
    path("<int:pk>/timeline/", customers.customer_timeline, name="customer-timeline"),
    path("<int:pk>/panels/", customers.customer_panels, name="customer-panels"),
    path("<int:pk>/history/", customers.customer_history, name="customer-history"),
    path("<int:pk>/consents/", customers.customer_consents, name="customer-consents"),
    path("<int:pk>/log/", customers.interaction_create, name="interaction-create"),
    path(
        "<int:pk>/contacts/",
        customers.contact_point_create,
        name="contact-point-create",
    ),
    path(
        "<int:pk>/contacts/<int:point_pk>/delete/",
        customers.contact_point_delete,
        name="contact-point-delete",
    ),
    path("<int:pk>/consent/", customers.consent_update, name="consent-update"),
    path("<int:pk>/reveal/", customers.contact_reveal, name="contact-reveal"),
    path("<int:pk>/household/", customers.household_link, name="household-link"),
    # Personal-information requests (PIPL), for administrators
    path(
        "<int:pk>/personal-data/",
        personal_data.personal_data,
        name="personal-data",
    ),
    path(
        "<int:pk>/personal-data/export/",
        personal_data.personal_data_export,
        name="personal-data-export",
    ),
    path(
        "<int:pk>/personal-data/anonymise/",
        personal_data.personal_data_anonymise,
        name="personal-data-anonymise",
    ),
    path("filters/", customers.saved_filter_create, name="saved-filter-create"),
    path(
        "filters/<int:filter_pk>/delete/",
        customers.saved_filter_delete,
        name="saved-filter-delete",
    ),
    # Walk-in and call registration (来访 / 来电登记)
    path("register/", registration.register, name="register"),
    path("register/lookup/", registration.phone_lookup, name="phone-lookup"),
    # Export of the filtered list
    path("export/", exports.customer_export, name="customer-export"),
    # Import from CSV / XLSX
    path("imports/", imports.import_list, name="import-list"),
    path("imports/new/", imports.import_upload, name="import-upload"),
    path("imports/<int:job_pk>/", imports.import_detail, name="import-detail"),
    path(
        "imports/<int:job_pk>/progress/",
        imports.import_progress,
        name="import-progress",
    ),
    path("imports/<int:job_pk>/run/", imports.import_start, name="import-start"),
    path(
        "imports/<int:job_pk>/rejected/",
        imports.import_rejected,
        name="import-rejected",
    ),
    path("imports/<int:job_pk>/revert/", imports.import_revert, name="import-revert"),
    # Duplicates and merges
    path("duplicates/", duplicates.duplicate_list, name="duplicate-list"),
    path("duplicates/scan/", duplicates.duplicate_scan, name="duplicate-scan"),
    path(
        "duplicates/<int:pair_pk>/", duplicates.duplicate_merge, name="duplicate-merge"
    ),
    path(
        "duplicates/<int:pair_pk>/dismiss/",
        duplicates.duplicate_dismiss,
        name="duplicate-dismiss",
    ),
    path(
        "merges/<int:merge_pk>/restore/", duplicates.merge_restore, name="merge-restore"
    ),
]

# The call-centre screen pop (来电弹屏): the agent's event stream, the card, its buttons
urlpatterns += [
    path("screen-pop/stream/", telephony.screen_pop_stream, name="screen-pop-stream"),
    path(
        "screen-pop/calls/<int:pk>/",
        telephony.screen_pop_card,
        name="screen-pop-card",
    ),
    path(
        "screen-pop/calls/<int:pk>/log/",
        telephony.screen_pop_log,
        name="screen-pop-log",
    ),
    path(
        "screen-pop/calls/<int:pk>/register/",
        telephony.screen_pop_register,
        name="screen-pop-register",
    ),
]
