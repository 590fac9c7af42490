"""``Idempotency-Key`` on POST: a retried call acts once.

The first POST with a key (per API key) inserts an ``IdempotentRequest`` row, in
its own committed statement, before the view runs: the unique index on (API key,
Idempotency-Key) is the lock. When the view has answered, the answer (status, body,
Location) is stored on the row. Then:

- the same key and the same request again → the stored answer, with
  ``Idempotent-Replayed: true``;
- the same key with another method, path or body → 422 problem;
- the same key while the first is still running → 409 problem (retry later);
- the first answered 5xx or crashed → the row is removed: a retry runs afresh.

A POST without the header is accepted and runs every time it is sent (as the UI's
forms do without a token); integrations that retry should send one. Rows are kept
24 hours (``crm_site.tasks.idempotency_purge``).
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.http.request import RawPostDataException
from django.utils import timezone

from crm_site.api.models import ApiKey, IdempotentRequest
from crm_site.api.problems import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEEP = timedelta(hours=24)
#: A first request still unanswered after this long died with its worker: taken over.
STALE = timedelta(minutes=5)
VALID = re.compile(r"[\x21-\x7e]{1,255}")


class Replay(Exception):
    """Raised before the view runs: the stored answer is the response."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__("idempotent replay")
        self.response = response


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\n" + request.get_full_path().encode() + b"\n")
    try:
        body = request._request.body
    except RawPostDataException:
        # A form-encoded body the middleware already read (the API answers 415).
        body = request._request.POST.urlencode().encode()
    digest.update(body)
    return digest.hexdigest()


def _replay(record: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(
        bytes(record.body),
        status=record.status,
        content_type=record.content_type or "application/json",
    )
    if record.location:
        response["Location"] = record.location
    response[REPLAYED_HEADER] = "true"
    return response


def begin(request, key: ApiKey) -> IdempotentRequest | None:
    """The row this POST now owns, None without the header; raises Replay or a
    problem when the key was seen before."""
    value = request.headers.get(HEADER)
    if value is None:
        return None
    if not VALID.fullmatch(value):
        raise IdempotencyKeyInvalid()
    fingerprint = _fingerprint(request)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotentRequest.objects.create(
                    api_key=key, key=value, fingerprint=fingerprint
                )
        except IntegrityError:
            pass
        record = IdempotentRequest.objects.filter(api_key=key, key=value).first()
        if record is None:
            continue  # removed meanwhile (purged, or its request failed): retry
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if record.status is not None:
            raise Replay(_replay(record))
        now = timezone.now()
        taken = IdempotentRequest.objects.filter(
            pk=record.pk, status__isnull=True, created_at__lt=now - STALE
        ).update(created_at=now)
        if taken:
            return record
        raise IdempotentRequestInProgress()
    raise IdempotentRequestInProgress()


def finish(record: IdempotentRequest, response: HttpResponse) -> None:
    """Store the answer; a server error is not stored (a retry runs again)."""
    if response.status_code >= 500:
        abandon(record)
        return
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    IdempotentRequest.objects.filter(pk=record.pk).update(
        status=response.status_code,
        body=bytes(response.content),
        content_type=response.get("Content-Type", ""),
        location=response.get("Location", "")[:500],
    )


def abandon(record: IdempotentRequest) -> None:
    IdempotentRequest.objects.filter(pk=record.pk, status__isnull=True).delete()


def purge(*, now=None) -> int:
    """Remove the rows older than KEEP; returns how many."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _by_model = IdempotentRequest.objects.filter(
        created_at__lt=cutoff
    ).delete()
    return deleted
