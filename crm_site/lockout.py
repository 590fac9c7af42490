"""Log-in lock-out (django-axes): throttled per username and per address, audited,
unlockable by an administrator.

Axes counts failures in PostgreSQL (``AccessAttempt`` rows). Its stock handler compares
every count with one limit; ours compares the per-address count with its own, higher
limit (``LOGIN_ADDRESS_FAILURE_LIMIT``), because the consultants of a sales office often
share one address and one colleague's typos must not lock out the whole office.

Each lock-out and each unlock is an ``AuditEntry`` on the user (or, for an address
trying names that are nobody's, on the attempt row), so an administrator sees who was
locked, from where, and who let them back in.
"""

from __future__ import annotations

import ipaddress

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db import models, transaction
from django.db.models import Q, Sum
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User


def _sum(attempts) -> int:
    return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler with a separate limit for the per-address count.

    Axes locks when ``get_failures`` reaches ``AXES_FAILURE_LIMIT``; the address count
    is scaled so that it reaches that limit at ``LOGIN_ADDRESS_FAILURE_LIMIT``."""

    def get_failures(self, request, credentials=None) -> int:
        per_user, per_address = (
            _sum(attempts) for attempts in self.get_user_attempts(request, credentials)
        )
        scaled = per_address * settings.LOGIN_FAILURE_LIMIT
        return max(per_user, scaled // settings.LOGIN_ADDRESS_FAILURE_LIMIT)

    def reset_user_attempts(self, request, credentials=None) -> int:
        """After a successful log-in, forget that username's failures only. Axes'
        own reset also clears the address's count, so an attacker holding one account
        could log in between guesses and never hit the per-address limit."""
        username = get_client_username(request, credentials)
        if not username:
            return 0
        deleted, _ = AccessAttempt.objects.filter(username=username).delete()
        return deleted


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the limits count it: behind the reverse proxy
    (DJANGO_BEHIND_PROXY), the last address it appended to X-Forwarded-For; otherwise
    the connection's (counted_address)."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return counted_address(hops[-1])
    return counted_address(request.META.get("REMOTE_ADDR"))


def counted_address(address: str | None) -> str | None:
    """An IPv6 address as its /64 network (its first address): one subscriber line
    holds a whole /64, and counted one by one each of its 2^64 addresses would have
    a limit of its own. An IPv4 address, also one mapped into IPv6, as it is."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False).network_address)
    return str(parsed)


def lockout_minutes() -> int:
    return settings.LOGIN_LOCKOUT_MINUTES


def lockout_response(
    request: HttpRequest, original_response=None, credentials=None
) -> HttpResponse:
    """The login page again, with the lock-out message instead of "wrong password".
    The form is unbound: validating it would try the password once more."""
    username = request.POST.get("username", "")[:150]
    form = AuthenticationForm(request, initial={"username": username})
    return render(
        request,
        "registration/login.html",
        {
            "form": form,
            "locked_out": True,
            "lockout_minutes": lockout_minutes(),
            "next": request.POST.get("next", ""),
        },
        status=429,
    )


def _audit_target(username: str | None, ip_address: str | None) -> models.Model | None:
    user = User.objects.filter(username=username).first() if username else None
    if user is not None:
        return user
    return (
        AccessAttempt.objects.filter(Q(ip_address=ip_address) | Q(username=username))
        .order_by("-attempt_time")
        .first()
    )


def _changes(**values: str | None) -> dict[str, dict[str, str]]:
    return {
        name: {"old": "", "new": str(value)} for name, value in values.items() if value
    }


@receiver(user_locked_out, dispatch_uid="crm_site.lockout.audit")
def audit_lockout(sender, request, username=None, ip_address=None, **kwargs) -> None:
    # Axes also sends the signal for each refused attempt while locked; only the
    # failure that crossed the limit has a fresh count on the request.
    if getattr(request, "axes_failures_since_start", None) is None:
        return
    target = _audit_target(username, ip_address)
    if target is None:
        return
    audit_record(
        actor=None,
        instance=target,
        action=AuditEntry.Action.LOCK_OUT,
        changes=_changes(
            username=username,
            ip_address=ip_address,
            until=timezone.localtime(timezone.now() + settings.AXES_COOLOFF_TIME)
            .replace(microsecond=0)
            .isoformat(),
        ),
    )


@transaction.atomic
def login_unlock(
    *,
    actor: User,
    username: str | None = None,
    ip_address: str | None = None,
    attempts=None,
) -> int:
    """Forget the failed attempts of a username, an address, or the given attempt rows,
    so they may log in again at once; audited. Returns how many rows were removed."""
    if attempts is None:
        if not username and not ip_address:
            return 0
        match = Q()
        if username:
            match |= Q(username=username)
        if ip_address:
            match |= Q(ip_address=ip_address)
        attempts = AccessAttempt.objects.filter(match)
    rows = list(attempts.values("pk", "username", "ip_address"))
    if not rows:
        return 0
    for row in rows:
        target = _audit_target(row["username"], row["ip_address"])
        if target is None:
            continue
        audit_record(
            actor=actor,
            instance=target,
            action=AuditEntry.Action.UNLOCK,
            changes=_changes(username=row["username"], ip_address=row["ip_address"]),
        )
    deleted, _ = AccessAttempt.objects.filter(pk__in=[r["pk"] for r in rows]).delete()
    return deleted


# The owners' portal ------------------------------------------------------------------
#
# Owners sign in with a one-time code, not a password, so axes' authenticate() hook
# never sees them; their wrong codes are counted here in axes' own table (one
# AccessAttempt row per number key and address), under the same limits and cool-off
# as staff log-ins, and an administrator unlocks them on the same admin page. Only the
# address locks (portal_locked says why a number does not). The
# "username" of such a row is ``portal:<key>``: the key names the customer
# (``c<id>``) or, for a number that is nobody's, a keyed hash of it (never the number).

PORTAL_PREFIX = "portal:"


def portal_username(key: str) -> str:
    return f"{PORTAL_PREFIX}{key}"


def _portal_recent(match: Q):
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    return AccessAttempt.objects.filter(match, attempt_time__gte=since)


def portal_locked(*, ip_address: str | None) -> bool:
    """Whether sign-in from this address is locked now.

    A number is never locked: anyone who knows an owner's mobile could otherwise keep
    them out (on opening day, a rival keeping buyers from choosing). Guessing one
    number's code needs no lock to stay bounded: every guess is checked against the
    number's newest live code and a wrong one uses one of its PORTAL_CODE_TRIES, and a
    number gets at most PORTAL_CODES_PER_NUMBER_HOUR codes an hour (customers.services
    .portal). The address is the guesser's own, so its lock stops guessing across many
    numbers without keeping anyone else out."""
    if not ip_address:
        return False
    per_address = _portal_recent(
        Q(ip_address=ip_address, username__startswith=PORTAL_PREFIX)
    )
    return _sum(per_address) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT


@transaction.atomic
def portal_failure_record(
    *,
    key: str,
    ip_address: str | None,
    user_agent: str = "",
    path: str = "",
    target: models.Model | None,
) -> bool:
    """Count one wrong code for the number key from this address (the number's count
    is a record for the administrator, never a lock); True when this failure locked
    the address (audited on ``target``, the customer, or else on the attempt row)."""
    was_locked = portal_locked(ip_address=ip_address)
    now = timezone.now()
    attempt, created = AccessAttempt.objects.select_for_update().get_or_create(
        username=portal_username(key),
        ip_address=ip_address,
        user_agent=user_agent[:255],
        defaults={
            "http_accept": "",
            "path_info": path[:255],
            "get_data": "",
            "post_data": "",
            "failures_since_start": 1,
        },
    )
    if not created:
        # A failure after the cool-off starts the count again, as axes does.
        stale = attempt.attempt_time < now - settings.AXES_COOLOFF_TIME
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            failures_since_start=1 if stale else models.F("failures_since_start") + 1,
            attempt_time=now,
        )
    else:
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=now)
    locked = portal_locked(ip_address=ip_address)
    if locked and not was_locked:
        audit_record(
            actor=None,
            instance=target if target is not None else attempt,
            action=AuditEntry.Action.LOCK_OUT,
            changes=_changes(
                username=portal_username(key),
                ip_address=ip_address,
                until=timezone.localtime(now + settings.AXES_COOLOFF_TIME)
                .replace(microsecond=0)
                .isoformat(),
            ),
        )
    return locked


def portal_failures_reset(*, key: str) -> int:
    """After a right code, forget the number's failures (not the address's: one
    person's sign-in must not wipe an attacker's count from the same address)."""
    deleted, _ = AccessAttempt.objects.filter(username=portal_username(key)).delete()
    return deleted
