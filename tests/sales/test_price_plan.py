from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from sales import services
from sales.models import PriceChange, Unit
from tests.factories import make_building


@pytest.fixture
def building(db):
    return make_building()


def test_preview_changes_nothing_and_apply_keeps_history(building, sales_manager):
    Unit.objects.filter(building=building, floor=6).update(status="subscribed")
    preview = services.price_plan_preview(
        building=building, mode="percent", value=Decimal("2"), floor_from=5
    )
    assert [r.unit.floor for r in preview] == [5, 5]
    assert not PriceChange.objects.exists()
    count = services.price_plan_apply(
        actor=sales_manager,
        building=building,
        reason="开盘后调价",
        mode="percent",
        value=Decimal("2"),
        floor_from=5,
    )
    assert count == 2
    unit = Unit.objects.get(building=building, floor=5, position=1)
    assert unit.list_price == Decimal("3090600")  # 3,030,000 + 2 %
    assert PriceChange.objects.filter(unit=unit, reason="开盘后调价").count() == 1
    assert Unit.objects.get(
        building=building, floor=6, position=1
    ).list_price == Decimal("3040000")


def test_per_m2_adjustment_and_layout_filter(building, sales_manager):
    Unit.objects.filter(building=building, position=2).update(layout="2室")
    services.price_plan_apply(
        actor=sales_manager,
        building=building,
        reason="x",
        mode="per_m2",
        value=Decimal("-100"),
        layout="2室",
    )
    assert Unit.objects.get(
        building=building, floor=1, position=2
    ).list_price == Decimal("2990000")
    assert Unit.objects.get(
        building=building, floor=1, position=1
    ).list_price == Decimal("3000000")


def test_an_adjustment_to_zero_is_refused_whole(building, sales_manager):
    with pytest.raises(ValidationError):
        services.price_plan_apply(
            actor=sales_manager,
            building=building,
            reason="x",
            mode="per_m2",
            value=Decimal("-40000"),
        )
    assert not PriceChange.objects.exists()


def test_price_plan_page_previews_then_applies(
    client, building, sales_manager, consultant
):
    url = reverse("sales:price-plan", args=[building.pk])
    data = {
        "mode": "percent",
        "value": "1",
        "reason": "调价",
        "floor_from": "",
        "floor_to": "",
        "layout": "",
    }
    client.force_login(consultant)
    assert client.get(url).status_code == 403
    client.force_login(sales_manager)
    preview = client.post(url, {**data, "confirm": "0"})
    assert len(preview.context["preview"]) == 10 and not PriceChange.objects.exists()
    # The floor price moves with the list price: the preview says to what.
    assert preview.content.decode().count('data-testid="new-floor"') == 10
    applied = client.post(url, {**data, "confirm": "1"})
    assert applied.status_code == 302 and PriceChange.objects.count() == 10
    bad = client.post(url, {**data, "value": "80", "confirm": "1"})
    assert "value" in bad.context["form"].errors and PriceChange.objects.count() == 10
