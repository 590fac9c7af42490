"""Demo data for service operations: contractors, work orders in every state, knowledge
articles, a cluster of leaks in one building, chargebacks. Runs after the other demo
steps; safe to run twice (it does nothing once its contractors exist)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from crm_site.audit import unaudited
from crm_site.models import User
from customers.models import Customer
from sales.models import Unit
from service import services, services_work
from service.models import Article, Contractor, ServiceRequest, WorkOrder

CONTRACTORS = [
    ("安居防水工程有限公司", "防水", "吴工", "0571-8800 1101", 60),
    ("顺达水电安装队", "水电", "郑师傅", "0571-8800 1102", 24),
    ("明亮门窗服务部", "门窗", "冯经理", "0571-8800 1103", 24),
    ("恒固瓷砖修补", "瓷砖", "褚师傅", "0571-8800 1104", 12),
]
ARTICLES = [
    (
        "卫生间楼板渗水到楼下",
        "plumbing",
        "楼下天花板出现水渍，洗澡后加重。",
        "卫生间防水层在管根处破损或闭水试验不到位。",
        "关闭楼上卫生间用水，做 48 小时闭水试验；凿开管根，重做防水涂膜并上翻 30 cm，再闭水复验。",
        "漏水 渗水 防水 天花板 水渍",
    ),
    (
        "厨房下水返味",
        "plumbing",
        "厨房水槽下有异味，夜间明显。",
        "存水弯缺失或密封圈老化。",
        "加装存水弯，更换密封圈，用密封胶封堵地漏周边。",
        "返味 异味 下水",
    ),
    (
        "客厅墙面裂缝",
        "walls_floors",
        "客厅墙面出现细长裂缝。",
        "墙体与梁柱交接处收缩不一致。",
        "裂缝处开 V 形槽，挂网批腻子，重新刷漆；裂缝超过 2 mm 先请结构工程师查看。",
        "开裂 裂缝 墙面",
    ),
    (
        "铝合金窗关不严、漏风",
        "doors_windows",
        "窗扇关闭后有缝隙，刮风有哨音。",
        "合页松动或密封胶条老化。",
        "调整合页和锁点，更换胶条。",
        "漏风 窗户 胶条",
    ),
    (
        "插座无电",
        "electrical",
        "某一回路所有插座没电。",
        "漏电保护器跳闸或接线松动。",
        "复位漏电保护器，逐个检查接线盒，紧固端子。",
        "没电 插座 跳闸",
    ),
    (
        "地砖空鼓",
        "walls_floors",
        "踩上去地砖有空响。",
        "铺贴时砂浆不饱满。",
        "空鼓面积小于 10% 可灌浆处理，否则起砖重铺。",
        "空鼓 地砖",
    ),
]


@unaudited("demo data sets up and back-dates its own history")
def seed(rng: random.Random, users: dict[str, User]) -> None:
    if Contractor.objects.filter(name=CONTRACTORS[0][0]).exists():
        return
    with transaction.atomic():
        agent, manager = users["service_agent"], users["service_manager"]
        contractors = [
            Contractor.objects.create(
                name=name,
                trade=trade,
                contact_name=contact,
                phone=phone,
                warranty_months=months,
            )
            for name, trade, contact, phone, months in CONTRACTORS
        ]
        for title, category, problem, cause, fix, keywords in ARTICLES:
            Article.objects.create(
                title=title,
                category=category,
                problem=problem,
                cause=cause,
                fix=fix,
                keywords=keywords,
                created_by=manager,
            )
        leaks = _cluster(rng, agent)
        _work_orders(leaks, contractors, agent, manager)


def _cluster(rng: random.Random, agent: User) -> list[ServiceRequest]:
    """Four units of one building report leaks within three weeks."""
    units = list(
        Unit.objects.select_related("building").order_by("building_id", "pk")[:40:10]
    )
    owners = list(
        Customer.objects.filter(stage=Customer.Stage.OWNER).order_by("-pk")[:4]
    )
    leaks = []
    now = timezone.now()
    for n, (unit, owner) in enumerate(zip(units, owners, strict=False)):
        request = services.request_create(
            actor=agent,
            customer=owner,
            unit=unit,
            kind="repair",
            category="plumbing",
            severity=rng.choice(["normal", "high"]),
            channel="phone",
            description=f"{unit.number} 卫生间天花板漏水，墙角有水渍",
        )
        received = now - timedelta(days=18 - 5 * n, hours=rng.randrange(1, 8))
        ServiceRequest.objects.filter(pk=request.pk).update(
            received_at=received,
            responded_at=received + timedelta(hours=rng.randint(1, 3)),
            response_due=received + timedelta(hours=4),
            resolution_due=received + timedelta(hours=72 + 24 * 7),
        )
        request.refresh_from_db()
        leaks.append(request)
    return leaks


def _work_orders(
    leaks: list[ServiceRequest],
    contractors: list[Contractor],
    agent: User,
    manager: User,
) -> None:
    """Work orders in every state: signed off (and reopened, and charged back),
    scheduled, open and cancelled."""
    if len(leaks) < 4:
        return
    waterproofing, plumbers = contractors[0], contractors[1]
    now = timezone.now()
    # 1: the contractor redid the waterproofing; the owner was satisfied.
    done = _signed_off(
        agent,
        leaks[0],
        waterproofing,
        task="重做卫生间防水层，闭水 48 小时",
        note="闭水试验通过，业主签字确认",
        cost=Decimal("3200.00"),
        days_ago=15,
    )
    services.request_start(actor=agent, request=leaks[0])
    services.request_resolve(actor=agent, request=leaks[0], note="防水已重做")
    services.request_callback(
        actor=agent, request=leaks[0], satisfied=True, note="业主满意"
    )
    # 2: the plumber fixed a pipe, the leak came back: reopened, charged back.
    patched = _signed_off(
        agent,
        leaks[1],
        plumbers,
        task="更换楼上卫生间下水管接头",
        note="接头已更换，试水无渗漏",
        cost=Decimal("850.00"),
        days_ago=9,
    )
    services.request_start(actor=agent, request=leaks[1])
    services.request_resolve(actor=agent, request=leaks[1], note="已更换接头")
    services.request_callback(
        actor=agent, request=leaks[1], satisfied=False, note="三天后又开始滴水"
    )
    services_work.chargeback_create(
        actor=manager,
        work_order=patched,
        request=leaks[1],
        amount=Decimal("850.00"),
        reason="接头返修，质保期内",
    )
    recovered = services_work.chargeback_create(
        actor=manager,
        work_order=done,
        request=leaks[3],
        amount=Decimal("1200.00"),
        reason="楼下同一位置再次渗水",
    )
    services_work.chargeback_recover(actor=manager, chargeback=recovered)
    # 3: scheduled with the plumbers; 4: open for the engineering department.
    services_work.work_order_create(
        actor=agent,
        request=leaks[2],
        task="检查楼上卫生间地漏",
        assignee_kind=WorkOrder.Assignee.CONTRACTOR,
        contractor=plumbers,
        appointment_at=now + timedelta(days=1, hours=2),
    )
    services_work.work_order_create(
        actor=agent,
        request=leaks[3],
        task="排查公共管井是否渗水",
        assignee_kind=WorkOrder.Assignee.DEPARTMENT,
        department="engineering",
    )
    # 5: cancelled — the owner fixed it himself.
    crew = services_work.work_order_create(
        actor=agent,
        request=leaks[2],
        task="更换天花板石膏板",
        assignee_kind=WorkOrder.Assignee.CREW,
        crew="维修一班",
    )
    services_work.work_order_cancel(actor=agent, work_order=crew, reason="业主自行更换")


def _signed_off(
    agent: User,
    request: ServiceRequest,
    contractor: Contractor,
    *,
    task: str,
    note: str,
    cost: Decimal,
    days_ago: int,
) -> WorkOrder:
    """A contractor's work, done and signed off on its appointment `days_ago` days ago."""
    appointment = timezone.now() - timedelta(days=days_ago)
    work = services_work.work_order_create(
        actor=agent,
        request=request,
        task=task,
        assignee_kind=WorkOrder.Assignee.CONTRACTOR,
        contractor=contractor,
        appointment_at=appointment,
        cost=cost,
    )
    services_work.work_order_sign_off(actor=agent, work_order=work, note=note)
    # Demo work was done on its appointment day, not when the demo runs.
    WorkOrder.objects.filter(pk=work.pk).update(
        signed_off_at=appointment + timedelta(hours=3)
    )
    work.refresh_from_db()
    return work
