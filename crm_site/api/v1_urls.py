"""The URLconf the schema is generated from: /api/v1/ and nothing else."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("api/v1/", include("crm_site.api.urls"))]
