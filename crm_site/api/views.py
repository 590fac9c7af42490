"""The base classes every API view derives from.

Resources subclass ``ApiViewSet`` (or ``ApiView`` for a plain endpoint) rather than
DRF's own classes, so that what every call must do is done once, here: the key's
name on the audit trail, ``Idempotency-Key`` on POST, Django ``ValidationError``s
from services turned into field errors (problem details).
"""

from __future__ import annotations

from rest_framework import viewsets
from rest_framework.views import APIView


class ApiView(APIView):
    """A plain endpoint of the API (not a resource with list and detail)."""


class ApiViewSet(viewsets.GenericViewSet):
    """A resource of the API; mix in DRF's list/retrieve/create/update mixins."""
