from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Tag
from marketing.selectors import segment_count, segment_customers
from sales.models import Opportunity
from service.models import ServiceRequest
from tests.factories import CustomerFactory


def names(user, **criteria) -> set[str]:
    return set(
        segment_customers(user=user, criteria=criteria).values_list("name", flat=True)
    )


def request_for(customer, receiver, **fields) -> ServiceRequest:
    now = timezone.now()
    values = {
        "kind": "complaint",
        "category": "construction",
        "description": "漏水",
        "receiver": receiver,
        "response_due": now,
        "resolution_due": now,
    }
    values.update(fields)
    return ServiceRequest.objects.create(customer=customer, **values)


def test_segment_filters_by_stage_source_and_tag(marketer):
    vip = Tag.objects.create(name="VIP")
    a = CustomerFactory(name="甲", stage="owner", source="web")
    a.tags.add(vip)
    CustomerFactory(name="乙", stage="owner", source="event")
    CustomerFactory(name="丙", stage="prospect", source="web")
    assert names(marketer, stage="owner") == {"甲", "乙"}
    assert names(marketer, stage="owner", source="web") == {"甲"}
    assert names(marketer, tag=vip.pk) == {"甲"}


def test_segment_filters_by_last_contact(marketer):
    now = timezone.now()
    CustomerFactory(name="近", last_contact_at=now - timedelta(days=2))
    CustomerFactory(name="远", last_contact_at=now - timedelta(days=90))
    CustomerFactory(name="无")
    cutoff = (timezone.localdate() - timedelta(days=30)).isoformat()
    assert names(marketer, contact_after=cutoff) == {"近"}
    assert names(marketer, contact_before=cutoff) == {"远"}


def test_segment_filters_by_project_interest(marketer, consultant, project):
    deal_customer = CustomerFactory(name="有意")
    Opportunity.objects.create(
        customer=deal_customer, project=project, consultant=consultant
    )
    CustomerFactory(name="无意")
    assert names(marketer, project=project.pk) == {"有意"}


def test_segment_filters_by_satisfaction_and_open_complaints(marketer, service_agent):
    happy = CustomerFactory(name="满意", stage="owner")
    request_for(happy, service_agent, status="closed", satisfied=True)
    unhappy = CustomerFactory(name="不满", stage="owner")
    request_for(unhappy, service_agent, status="closed", satisfied=True)
    request_for(unhappy, service_agent, status="in_progress", satisfied=False)
    CustomerFactory(name="无单", stage="owner")
    assert names(marketer, satisfaction="satisfied") == {"满意"}
    assert names(marketer, satisfaction="unsatisfied") == {"不满"}
    # Survey answers count too: all 5s (index 100) satisfied, all 2s (25) not.
    surveyed = [CustomerFactory(name=n, stage="owner") for n in ("高分", "低分")]
    for customer, score in zip(surveyed, (5, 2), strict=True):
        answer_survey(customer, service_agent, score)
    assert names(marketer, satisfaction="satisfied") == {"满意", "高分"}
    assert names(marketer, satisfaction="unsatisfied") == {"不满", "低分"}
    assert names(marketer, open_complaints="yes") == {"不满"}
    assert names(marketer, open_complaints="no") == {"满意", "无单", "高分", "低分"}


def answer_survey(customer, agent, score):
    from service import surveys

    request = request_for(customer, agent, status="closed", satisfied=None)
    invitation = surveys.invitation_for_request(request)
    surveys.survey_submit(
        invitation=invitation,
        scores={q.pk: score for q in surveys.questions_of(invitation)},
        comment="",
    )


def test_segment_filters_by_consent_per_channel(marketer):
    CustomerFactory(name="短信", consent_sms=True, consent_email=False)
    CustomerFactory(name="邮件", consent_sms=False, consent_email=True)
    assert names(marketer, consent="email") == {"邮件"}
    assert names(marketer, consent="sms") == {"短信"}


def test_marketing_never_counts_customers_who_consented_to_nothing(marketer):
    CustomerFactory(name="同意")
    CustomerFactory(name="拒绝", consent_sms=False)
    assert segment_count(user=marketer, criteria={}) == 1


@pytest.mark.parametrize("persona", ["consultant", "service_agent"], indirect=True)
def test_segment_count_is_scoped_to_the_user(persona, own_customer, pool_customer):
    # Consultants see their own and the pool; service sees no prospects.
    count = segment_count(user=persona, criteria={"stage": "prospect"})
    assert count == (2 if persona.username == "consultant" else 0)


def test_segment_count_is_one_query(marketer, django_assert_num_queries):
    CustomerFactory.create_batch(5)
    segment_count(user=marketer, criteria={})  # warm the permission cache
    with django_assert_num_queries(1):
        segment_count(
            user=marketer,
            criteria={"stage": "prospect", "open_complaints": "no", "project": 1},
        )


def test_a_segment_is_deleted_unless_a_campaign_targets_it(client, marketer, campaign):
    from django.urls import reverse

    from marketing.models import Segment

    spare = Segment.objects.create(name="闲置客群", criteria={})
    client.force_login(marketer)
    client.post(reverse("marketing:segment-delete", args=[campaign.segment.pk]))
    assert Segment.objects.filter(pk=campaign.segment.pk).exists()
    client.post(reverse("marketing:segment-delete", args=[spare.pk]))
    assert not Segment.objects.filter(pk=spare.pk).exists()


def test_only_campaign_runners_delete_segments(client, consultant, segment):
    from django.urls import reverse

    client.force_login(consultant)
    response = client.post(reverse("marketing:segment-delete", args=[segment.pk]))
    assert response.status_code == 403
