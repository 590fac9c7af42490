"""factory_boy factories for the whole suite."""

from __future__ import annotations

import random

import factory
from django.contrib.auth.models import Group

from crm_site.models import Team, User
from crm_site.roles import Role
from customers.models import Customer
from customers.sample_data import chinese_name, mobile_number

_rng = random.Random(7)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"销售{n}组")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    last_name = factory.LazyFunction(lambda: chinese_name(_rng)[0])
    first_name = factory.LazyFunction(lambda: chinese_name(_rng)[1:])
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("test-pass-2026")

    @factory.post_generation
    def role(self, create: bool, extracted: Role | None, **kwargs) -> None:
        if create and extracted is not None:
            self.groups.add(Group.objects.get(name=extracted.value))


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.LazyFunction(lambda: chinese_name(_rng))
    mobile = factory.Sequence(lambda n: f"+86139{n:08d}")
    stage = Customer.Stage.PROSPECT
    source = Customer.Source.WALK_IN
    # Most test customers agreed to SMS marketing, so marketing sees them.
    consent_sms = True


def random_mobile() -> str:
    return mobile_number(_rng)


def make_building(
    *,
    project_name: str = "安居·御景湾",
    floors: int = 5,
    per_floor: int = 2,
    skipped=(4,),
):
    """A project and a generated building, through the real service."""
    from decimal import Decimal

    from sales.models import Project
    from sales.services import building_generate

    project, _ = Project.objects.get_or_create(
        name=project_name, defaults={"city": "杭州"}
    )
    admin = UserFactory(is_superuser=True)
    return building_generate(
        actor=admin,
        project=project,
        name=f"{Project.objects.count()}号楼-{admin.pk}",
        floors=floors,
        units_per_floor=per_floor,
        skipped_floors=list(skipped),
        layouts=["3室2厅2卫"] * per_floor,
        gross_areas=[Decimal("100.00")] * per_floor,
        base_price=Decimal("30000"),
        floor_increment=Decimal("100"),
    )


def register_at(customer, consultant, project, *, days_ago: float = 0):
    """The consultant registers the customer at the project (a visit), ``days_ago``."""
    from datetime import timedelta

    from django.utils import timezone

    from sales.models import Registration
    from sales.services import ownership

    return ownership.registration_create(
        actor=consultant,
        customer=customer,
        project=project,
        consultant=consultant,
        basis=Registration.Basis.VISIT,
        now=timezone.now() - timedelta(days=days_ago),
    )
