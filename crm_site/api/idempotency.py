"""``Idempotency-Key`` on POST: a retried call acts once.

The first POST with a key (per API key) inserts an ``IdempotentRequest`` row, in
its own committed statement, before the view runs: the unique index on (API key,
Idempotency-Key) settles which request is the first. The view then runs in one
transaction that holds the row locked (``Hold``) and stores the answer (status, body,
Location) on it before committing: what the view did and its stored answer commit
together or not at all, so a worker that dies at any point either left its answer
or left nothing done. Then:

- the same key and the same request again → the stored answer, with
  ``Idempotent-Replayed: true``;
- the same key with another method, path or body → 422 problem;
- the same key while the first is still running (its row locked) → 409 problem
  (retry later), at once rather than waiting for the lock;
- the first answered 5xx or crashed → its work is rolled back and the row removed
  (or, when its worker died, left unanswered and unlocked: a retry after ``STALE``
  takes it over): a retry runs afresh.

A POST without the header is accepted and runs every time it is sent (as the UI's
forms do without a token); integrations that retry should send one. Rows are kept
24 hours (``crm_site.tasks.idempotency_purge``).
"""

from __future__ import annotations

import hashlib
import re
import sys
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
#: A first request unanswered after this long whose row nobody holds locked died with
#: its worker (its transaction, the work with it, was rolled back): taken over. Younger,
#: the first may be between inserting its row and locking it: 409.
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
    """The row this POST is to run under (new, or a stale one to take over: Hold
    locks it), None without the header; raises Replay or a problem when the key was
    seen before."""
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
        with transaction.atomic():
            # SKIP LOCKED: a row its request still holds (however long it runs) is
            # neither waited for nor taken over. Committed at once: an insert of the
            # same key waits for an uncommitted change of the row.
            taken = (
                IdempotentRequest.objects.select_for_update(skip_locked=True)
                .filter(pk=record.pk, status__isnull=True, created_at__lt=now - STALE)
                .first()
            )
            if taken is not None:
                taken.created_at = now
                taken.save(update_fields=["created_at"])
                return taken
        raise IdempotentRequestInProgress()
    raise IdempotentRequestInProgress()


class Hold:
    """The transaction a POST with an Idempotency-Key runs in, its row locked.

    Opened after ``begin`` (before the view), closed with the view's answer: the
    answer is stored in the same transaction as the view's work, so both commit or
    neither does. Work a view queues on commit runs after that commit."""

    def __init__(self, record: IdempotentRequest) -> None:
        self.record = record
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        try:
            self._lock()
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise

    def _lock(self) -> None:
        # SKIP LOCKED: a duplicate never waits behind the request that holds the row.
        # Only locked, never changed until the answer: an insert of the same key
        # then fails at once (409) instead of waiting for this transaction.
        held = (
            IdempotentRequest.objects.select_for_update(skip_locked=True)
            .filter(pk=self.record.pk, status__isnull=True)
            .first()
        )
        if held is not None:
            return
        record = IdempotentRequest.objects.filter(pk=self.record.pk).first()
        if record is not None and record.status is not None:
            raise Replay(_replay(record))
        raise IdempotentRequestInProgress()

    def close(self, response: HttpResponse) -> None:
        """Store the answer and commit it with the view's work; a server error is
        not stored and the work is rolled back (a retry runs again)."""
        try:
            if response.status_code >= 500:
                transaction.set_rollback(True)
            else:
                store(self.record, response)
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        """The view raised past the exception handler: roll everything back."""
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)


def store(record: IdempotentRequest, response: HttpResponse) -> None:
    """The answer on the row (inside the Hold's transaction)."""
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    IdempotentRequest.objects.filter(pk=record.pk).update(
        status=response.status_code,
        body=bytes(response.content),
        content_type=response.get("Content-Type", ""),
        location=response.get("Location", "")[:500],
    )


def finish(record: IdempotentRequest, response: HttpResponse) -> None:
    """After the Hold's commit: a server error's row is removed (its work was
    rolled back), so a retry runs afresh at once."""
    if response.status_code >= 500:
        abandon(record)


def abandon(record: IdempotentRequest) -> None:
    IdempotentRequest.objects.filter(pk=record.pk, status__isnull=True).delete()


def purge(*, now=None) -> int:
    """Remove the rows older than KEEP; returns how many."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _by_model = IdempotentRequest.objects.filter(
        created_at__lt=cutoff
    ).delete()
    return deleted
