"""Second reread of fbb3519..2b9645c: audit keys the trail can only show as written
in code, on paths the session-wide guard (tests/conftest.py, a post_save hook on
AuditEntry) does not see or no test runs: entries written in bulk (audited_update,
an erasure's entries), the admin's own entries of every concrete field, and a key
the guard lets through because EXTRA_LABELS names it while the trail reads the
field's label instead."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from crm_site.models import AuditEntry
from sales.models import Opportunity, SelectionSession, StageChange
from tests.factories import CustomerFactory, UserFactory, make_building
from tests.helpers import audit_entries_about

pytestmark = pytest.mark.django_db


def _unnamed(entries: list[AuditEntry]) -> set[str]:
    return {key for entry in entries for key in entry.unnamed_keys()}


# An escalation's audit entry (audited_update: bulk_create, no post_save) ----------


def test_an_escalation_is_on_the_requests_trail_under_a_translated_label(
    service_agent, owner_customer
):
    # service/services.py _escalate -> audited_update(escalation_level=...):
    # ServiceRequest.AUDITED_FIELDS lists escalation_level, a field without a
    # verbose_name, so every escalation's entry reads "escalation level" in English
    # on the Chinese trail. The guard never sees it: audited_update bulk-creates.
    from service import services
    from service.models import ServiceRequest

    request = services.request_create(
        actor=service_agent,
        customer=owner_customer,
        kind="complaint",
        category="plumbing",
        severity="high",
        channel="phone",
        description="卫生间漏水",
    )
    now = timezone.now()
    ServiceRequest.objects.filter(pk=request.pk).update(
        response_due=now - timedelta(hours=2), resolution_due=now - timedelta(hours=2)
    )
    assert services.escalations_sweep(now=now) == 1
    entries = [
        e for e in audit_entries_about(request) if "escalation_level" in e.changes
    ]
    assert entries, "the escalation is on the request's trail"
    assert _unnamed(entries) == set()


# An erasure's entries on the deal history's notes (Erasure.update: bulk_create) ----


def test_an_erasure_names_the_stage_change_notes_it_clears(consultant, administrator):
    # sales/personal_data.py _anonymise_deals -> erasure.update(StageChange..., note="")
    # writes one entry per history row with the key "note": StageChange.note has no
    # verbose_name (the trail shows "note" in English).
    from customers.services.personal_data import customer_anonymise

    building = make_building()
    customer = CustomerFactory(name="周九", assigned_consultant=consultant)
    lost = Opportunity.objects.create(
        customer=customer,
        project=building.project,
        consultant=consultant,
        stage=Opportunity.Stage.LOST,
        lost_reason="price",
        lost_note="周九 嫌贵",
    )
    step = StageChange.objects.create(
        opportunity=lost, from_stage="new", to_stage="lost", note="周九 不买了"
    )
    customer_anonymise(
        actor=administrator, customer=customer, reference="T-1", reason="本人要求"
    )
    entries = audit_entries_about(step)
    assert entries, "the cleared note is on the trail"
    assert _unnamed(entries) == set()


# The admin records every concrete field: fields no form shows are keys too --------


def test_a_referral_rule_changed_in_the_admin_names_every_key(client, administrator):
    # crm_site.admin.AuditedAdmin._audited_values takes every concrete field: the
    # rule's updated_at (auto_now, no verbose_name) changes on every save. PointRule
    # got its label in b88d0cf; ReferralRule, the same shape, did not.
    from marketing.models import ReferralRule

    project = make_building().project
    rule = ReferralRule.objects.create(project=project, reward=Decimal("2000.00"))
    client.force_login(administrator)
    response = client.post(
        reverse("admin:marketing_referralrule_change", args=[rule.pk]),
        {"project": str(project.pk), "reward": "3000.00"},
    )
    assert response.status_code == 302, response.context["errors"]
    entries = audit_entries_about(rule)
    assert entries and entries[-1].changes["reward"]["new"] == "3000.00"
    assert _unnamed(entries) == set()


def test_a_project_added_in_the_admin_names_every_key(client):
    # An added row's entry lists every concrete field holding a value: the
    # project's created_at (no verbose_name) among them. (A superuser: the
    # administrator role changes projects in the admin but does not add them.)
    from sales.models import Project

    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    response = client.post(
        reverse("admin:sales_project_add"),
        {
            "name": "安居·新城",
            "city": "杭州",
            "address": "",
            "is_active": "on",
            "discount_limit": "3.00",
            "hold_days": "3",
        },
    )
    assert response.status_code == 302, response.status_code
    project = Project.objects.get(name="安居·新城")
    entries = audit_entries_about(project)
    assert entries
    assert _unnamed(entries) == set()


# A key the guard passes (EXTRA_LABELS) but the trail labels by the field ---------


def test_a_new_sessions_units_read_in_chinese_on_its_trail(consultant):
    # sales/services/sessions.py session_create writes {"units": ...} on the
    # session: "units" is in EXTRA_LABELS, so unnamed_keys() passes it, but
    # SelectionSession has a field "units" (the M2M, no verbose_name) and
    # readable_changes() labels a field by its verbose_name: "units", in English.
    from sales.services.sessions import session_create

    building = make_building()
    session = session_create(
        actor=consultant,
        project=building.project,
        name="首开",
        starts_at=timezone.now() + timedelta(days=1),
        mode=SelectionSession.Mode.BOTH,
        order=SelectionSession.Order.QUEUE,
        buildings=[building],
    )
    (entry,) = [e for e in audit_entries_about(session) if "units" in e.changes]
    with translation.override("zh-hans"):
        label = entry.readable_changes()[0][0]
        assert label == str(AuditEntry.EXTRA_LABELS["units"])
        assert label != "units"
