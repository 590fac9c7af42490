"""The demo's customers: a few hundred people and companies, their tags and their
first touch points (crm_site's demo_data command runs this first)."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from crm_site.models import User
from customers.models import Customer, Tag
from customers.sample_data import chinese_name, company_name, mobile_number
from customers.services import interaction_log
from customers.services.records import refresh_derived_fields

DEMO_TAGS = ["学区房", "改善型", "首置", "投资", "高意向", "老业主"]

# kind, channel, summary
DEMO_TOUCHES = [
    ("visit", "face_to_face", "到案场看样板间，关注三居室，预算300万左右。"),
    ("visit", "face_to_face", "带家人二次到访，详细了解付款方式和交房时间。"),
    ("call_in", "phone", "来电咨询学区划分和周边配套。"),
    ("call_out", "phone", "回访客户，约周末到访。"),
    ("call_out", "phone", "通知认筹活动时间，客户表示有兴趣。"),
    ("wechat", "wechat", "微信发送户型图和价格表。"),
    ("wechat", "wechat", "客户微信询问车位价格。"),
    ("event", "face_to_face", "参加周末暖场活动，现场抽奖。"),
    ("sms", "sms", "短信通知开盘时间。"),
    ("note", "", "客户对楼层有要求，希望10层以上。"),
]


def seed(rng: random.Random, users: dict, *, count: int) -> int:
    """Create ``count`` customers (those whose generated number exists are skipped);
    returns how many are new."""
    consultants = [users["consultant"], users["consultant2"]]
    now = timezone.now()
    stages = (
        [Customer.Stage.PROSPECT] * 6
        + [Customer.Stage.BUYER] * 2
        + [Customer.Stage.OWNER] * 2
    )
    rows = []
    for _ in range(count):
        is_company = rng.random() < 0.05
        owner_draw = rng.random()
        rows.append(
            Customer(
                name=company_name(rng) if is_company else chinese_name(rng),
                kind=Customer.Kind.COMPANY if is_company else Customer.Kind.PERSON,
                mobile=mobile_number(rng),
                gender=""
                if is_company
                else rng.choice([Customer.Gender.FEMALE, Customer.Gender.MALE]),
                source=rng.choice(Customer.Source.values),
                stage=rng.choice(stages),
                # Most customers have a consultant; some sit in the public pool.
                assigned_consultant=consultants[0]
                if owner_draw < 0.45
                else consultants[1]
                if owner_draw < 0.85
                else None,
                created_by=consultants[0],
                created_at=now
                - timedelta(days=rng.randrange(365), minutes=rng.randrange(1440)),
            )
        )
    for row in rows:
        refresh_derived_fields(row)
        row.consent_sms = rng.random() < 0.6
        row.consent_email = rng.random() < 0.4
        row.consent_phone = rng.random() < 0.5
    before = Customer.objects.count()
    Customer.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    created = Customer.objects.count() - before
    stale = list(Customer.objects.filter(name_pinyin=""))
    for customer in stale:
        refresh_derived_fields(customer)
    Customer.objects.bulk_update(
        stale, ["name_pinyin", "name_initials"], batch_size=500
    )
    _tags(rng)
    _timelines(rng, consultants)
    return created


def _tags(rng: random.Random) -> None:
    tags = [Tag.objects.get_or_create(name=name)[0] for name in DEMO_TAGS]
    untagged = Customer.objects.filter(tags__isnull=True).order_by("pk")
    for customer in untagged[: max(0, untagged.count() // 2)]:
        customer.tags.add(*rng.sample(tags, rng.randint(1, 2)))


def _timelines(rng: random.Random, consultants: list[User]) -> None:
    """A few touch points for every customer who has none yet."""
    now = timezone.now()
    today = timezone.localdate()
    for customer in Customer.objects.filter(interactions__isnull=True).order_by("pk"):
        actor = customer.assigned_consultant or rng.choice(consultants)
        span = max(1, int((now - customer.created_at).total_seconds()))
        moments = sorted(rng.randrange(span) for _ in range(rng.randint(1, 6)))
        for index, offset in enumerate(moments):
            kind, channel, summary = rng.choice(DEMO_TOUCHES)
            last = index == len(moments) - 1
            follow_up = (
                today + timedelta(days=rng.randint(-5, 10))
                if last and rng.random() < 0.6
                else None
            )
            interaction_log(
                customer=customer,
                kind=kind,
                channel=channel,
                summary=summary,
                actor=actor,
                occurred_at=customer.created_at + timedelta(seconds=offset),
                next_follow_up=follow_up,
            )
