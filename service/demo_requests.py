"""The demo's first service requests: owners' complaints and repairs in every
state, one of them overdue and escalated."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from crm_site.models import User
from customers.models import Customer
from service import services as service_services
from service.models import ServiceRequest

# kind, category, description
DEMO_REQUESTS = [
    ("complaint", "plumbing", "卫生间天花板渗水，怀疑楼上防水层有问题。"),
    ("repair", "electrical", "客厅两个插座没电，空开正常。"),
    ("complaint", "property_management", "地下车库照明长期不亮，物业未处理。"),
    ("repair", "doors_windows", "主卧窗户关不严，刮风有异响。"),
    ("complaint", "sales_communication", "交房面积与合同约定不符，要求解释。"),
    ("inquiry", "other", "询问房产证办理进度。"),
]


def seed(rng: random.Random, users: dict[str, User]) -> None:
    """Owners' requests in every state, one of them overdue and escalated."""
    if ServiceRequest.objects.exists():
        return
    agent, manager = users["service_agent"], users["service_manager"]
    owners = list(
        Customer.objects.filter(stage=Customer.Stage.OWNER).order_by("pk")[:12]
    )
    for n, owner in enumerate(owners):
        kind, category, text = DEMO_REQUESTS[n % len(DEMO_REQUESTS)]
        request = service_services.request_create(
            actor=agent,
            customer=owner,
            kind=kind,
            category=category,
            severity=rng.choice(["normal", "high", "urgent"]),
            channel="phone",
            description=text,
        )
        target = n % 6
        if target >= 1:
            service_services.request_assign(
                actor=agent,
                request=request,
                department="engineering",
                handler=manager,
            )
        if target >= 2:
            service_services.request_start(actor=manager, request=request)
        if target >= 3:
            service_services.request_resolve(
                actor=manager, request=request, note="已上门处理"
            )
        if target >= 4:
            service_services.request_callback(
                actor=agent,
                request=request,
                satisfied=target != 4 or n % 4 == 0,
                note="已回访业主",
            )
        if target == 5:
            service_services.request_close(actor=agent, request=request)
    late = ServiceRequest.objects.filter(status="received").first()
    if late is not None:
        ServiceRequest.objects.filter(pk=late.pk).update(
            response_due=timezone.now() - timedelta(hours=30),
            resolution_due=timezone.now() - timedelta(hours=26),
        )
        service_services.escalations_sweep()
