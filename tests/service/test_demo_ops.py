from __future__ import annotations

import random

from django.core.management import call_command

from crm_site.models import User
from service import demo_ops
from service.models import Article, Chargeback, Contractor, WorkOrder
from service.selectors import clusters


def test_demo_seed_runs_twice_and_covers_every_state(db):
    call_command("demo_data", customers=40, verbosity=0)
    users = {u.username: u for u in User.objects.all()}
    demo_ops.seed(random.Random(1), users)
    demo_ops.seed(random.Random(1), users)
    assert Contractor.objects.count() == len(demo_ops.CONTRACTORS)
    assert Article.objects.count() == len(demo_ops.ARTICLES)
    assert set(WorkOrder.objects.values_list("status", flat=True)) == {
        "open",
        "scheduled",
        "done",
        "cancelled",
    }
    assert set(Chargeback.objects.values_list("status", flat=True)) == {
        "due",
        "recovered",
    }
    # Four leaking units of one building (other demo steps may add to the building).
    assert any(c.category == "plumbing" and c.units >= 4 for c in clusters())
