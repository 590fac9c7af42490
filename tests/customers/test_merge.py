"""The duplicate scan, merging two customers, and undoing a merge."""

from __future__ import annotations

import pytest

from crm_site.models import AuditEntry
from customers import merge_handlers
from customers.identity import id_number_hash
from customers.models import (
    ConsentRecord,
    ContactPoint,
    Customer,
    DuplicatePair,
    ImportChange,
    ImportJob,
    Interaction,
    MergeRecord,
    Tag,
)
from customers.services import interaction_log
from customers.services.merge import (
    ADDED_POINTS_KEY,
    MergeRefused,
    customer_merge,
    customer_merge_restore,
    customer_snapshot,
    duplicate_dismiss,
    duplicate_scan,
)
from customers.signals import customer_merge_restored, customer_merged
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ID_NUMBER = "11010519491231002X"


@pytest.fixture(autouse=True)
def _merge_handlers():
    # Until CustomersConfig.ready() connects them; connect() is idempotent.
    merge_handlers.connect()


def pairs() -> dict[tuple[int, int], list[str]]:
    return {(p.first_id, p.second_id): p.reasons for p in DuplicatePair.objects.all()}


def key(a: Customer, b: Customer) -> tuple[int, int]:
    return (min(a.pk, b.pk), max(a.pk, b.pk))


# The scan -------------------------------------------------------------------------


def test_scan_finds_a_customers_mobile_among_another_customers_contacts():
    a = CustomerFactory(name="张三", mobile="+8613800138000")
    b = CustomerFactory(name="张叁", mobile="+8613900139001")
    ContactPoint.objects.create(customer=b, kind="mobile", value="+8613800138000")

    assert duplicate_scan() == 1
    assert pairs() == {key(a, b): ["phone"]}


def test_scan_finds_two_customers_sharing_a_further_phone_number():
    a = CustomerFactory(mobile="+8613800138000")
    b = CustomerFactory(mobile="+8613900139001")
    for customer in (a, b):
        ContactPoint.objects.create(
            customer=customer, kind="landline", value="+862188888888"
        )

    duplicate_scan()

    assert pairs() == {key(a, b): ["phone"]}


def test_scan_finds_the_same_identity_document():
    a = CustomerFactory(id_number=ID_NUMBER, id_number_hash=id_number_hash(ID_NUMBER))
    b = CustomerFactory(id_number=ID_NUMBER, id_number_hash=id_number_hash(ID_NUMBER))

    duplicate_scan()

    assert pairs() == {key(a, b): ["id_number"]}


def test_scan_finds_the_same_name_with_the_same_phone_tail():
    a = CustomerFactory(name="王小明", mobile="+8613800131234")
    b = CustomerFactory(name="王小明", mobile="+8618600181234")
    CustomerFactory(name="王小明", mobile="+8618600185678")  # another tail

    duplicate_scan()

    assert pairs() == {key(a, b): ["name_phone_tail"]}


def test_scan_ignores_unrelated_customers():
    CustomerFactory.create_batch(5)
    CustomerFactory(name="李四", mobile="+8613800131234")
    CustomerFactory(name="李思", mobile="+8613900131234")

    assert duplicate_scan() == 0
    assert not DuplicatePair.objects.exists()


def test_scan_records_every_reason_of_a_pair_once():
    a = CustomerFactory(
        name="王小明",
        mobile="+8613800131234",
        id_number_hash=id_number_hash(ID_NUMBER),
    )
    b = CustomerFactory(
        name="王小明",
        mobile="+8618600181234",
        id_number_hash=id_number_hash(ID_NUMBER),
    )
    ContactPoint.objects.create(customer=a, kind="mobile", value=b.mobile)

    assert duplicate_scan() == 1
    assert pairs() == {key(a, b): ["phone", "id_number", "name_phone_tail"]}


def test_running_the_scan_twice_adds_nothing():
    a = CustomerFactory(name="王小明", mobile="+8613800131234")
    b = CustomerFactory(name="王小明", mobile="+8618600181234")

    assert duplicate_scan() == 1
    assert duplicate_scan() == 0
    assert DuplicatePair.objects.count() == 1
    assert pairs() == {key(a, b): ["name_phone_tail"]}


def test_scan_adds_a_new_reason_to_a_known_open_pair():
    a = CustomerFactory(name="王小明", mobile="+8613800131234")
    b = CustomerFactory(name="王小明", mobile="+8618600181234")
    duplicate_scan()
    ContactPoint.objects.create(customer=b, kind="mobile", value=a.mobile)

    assert duplicate_scan() == 0
    assert pairs() == {key(a, b): ["phone", "name_phone_tail"]}


def test_scan_does_not_bring_back_a_dismissed_pair(sales_manager):
    CustomerFactory(name="王小明", mobile="+8613800131234")
    CustomerFactory(name="王小明", mobile="+8618600181234")
    duplicate_scan()
    duplicate_dismiss(pair=DuplicatePair.objects.get(), actor=sales_manager)

    assert duplicate_scan() == 0
    assert DuplicatePair.objects.get().status == DuplicatePair.Status.DISMISSED


def test_scan_skips_absorbed_customers():
    survivor = CustomerFactory(name="王小明", mobile="+8613800131234")
    CustomerFactory(name="王小明", mobile="+8618600181234", merged_into=survivor)

    assert duplicate_scan() == 0


# Merge ----------------------------------------------------------------------------


@pytest.fixture
def twins(consultant, other_consultant):
    """Two records of one person, each with its own history."""
    survivor = CustomerFactory(
        name="王小明",
        mobile="+8613800131234",
        email="",
        address="杭州市西湖区",
        assigned_consultant=consultant,
        consent_sms=False,
    )
    absorbed = CustomerFactory(
        name="王晓明",
        mobile="+8618600181234",
        email="wxm@example.com",
        address="上海市",
        company="安居集团",
        assigned_consultant=other_consultant,
        consent_sms=True,
    )
    vip, owner = Tag.objects.create(name="VIP"), Tag.objects.create(name="业主")
    survivor.tags.add(vip)
    absorbed.tags.add(owner)
    return survivor, absorbed


def give_history(customer: Customer, actor) -> dict[str, list[int]]:
    interaction = interaction_log(
        customer=customer, kind="visit", summary="来访", actor=actor
    )
    point = ContactPoint.objects.create(
        customer=customer, kind="wechat", value=f"wx-{customer.pk}"
    )
    consent = ConsentRecord.objects.create(
        customer=customer, purpose="sms", granted=True, method="form"
    )
    job = ImportJob.objects.create(original_name="a.csv", file="imports/a.csv")
    change = ImportChange.objects.create(job=job, customer=customer, action="created")
    return {
        "customers.interaction": [interaction.pk],
        "customers.contactpoint": [point.pk],
        "customers.consentrecord": [consent.pk],
        "customers.importchange": [change.pk],
    }


def test_merge_moves_every_related_row_to_the_survivor(twins, sales_manager):
    survivor, absorbed = twins
    rows = give_history(absorbed, sales_manager)

    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )

    # An import's change stays on the record it wrote (a revert must not write the
    # absorbed record's old values onto the survivor).
    kept = rows.pop("customers.importchange")
    assert record.moved == rows
    assert Interaction.objects.filter(
        pk__in=rows["customers.interaction"], customer=survivor
    ).exists()
    assert ContactPoint.objects.get(pk=rows["customers.contactpoint"][0]).customer == (
        survivor
    )
    assert ConsentRecord.objects.get(
        pk=rows["customers.consentrecord"][0]
    ).customer == (survivor)
    assert ImportChange.objects.get(pk=kept[0]).customer == absorbed
    assert set(survivor.tags.values_list("name", flat=True)) == {"VIP", "业主"}


def test_merge_applies_the_chosen_values_and_fills_empty_ones(twins, sales_manager):
    survivor, absorbed = twins

    customer_merge(
        actor=sales_manager,
        survivor=survivor,
        absorbed=absorbed,
        choices={"name": "absorbed", "address": "survivor", "consent_sms": "absorbed"},
    )

    survivor.refresh_from_db()
    absorbed.refresh_from_db()
    assert survivor.name == "王晓明"
    assert survivor.address == "杭州市西湖区"
    assert survivor.consent_sms is True
    # Empty on the survivor, so taken from the absorbed without being asked.
    assert survivor.email == "wxm@example.com"
    assert survivor.company == "安居集团"
    assert survivor.mobile == "+8613800131234"
    assert absorbed.merged_into == survivor


def test_merge_keeps_the_number_not_chosen_as_a_further_contact(twins, sales_manager):
    survivor, absorbed = twins

    record = customer_merge(
        actor=sales_manager,
        survivor=survivor,
        absorbed=absorbed,
        choices={"mobile": "absorbed"},
    )

    survivor.refresh_from_db()
    assert survivor.mobile == "+8618600181234"
    point = ContactPoint.objects.get(customer=survivor, value="+8613800131234")
    assert point.kind == ContactPoint.Kind.MOBILE
    assert record.survivor_before[ADDED_POINTS_KEY] == [point.pk]


def test_merge_keeps_the_absorbed_mobile_as_a_further_contact(twins, sales_manager):
    survivor, absorbed = twins

    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )

    assert ContactPoint.objects.filter(
        customer=survivor, kind="mobile", value="+8618600181234"
    ).exists()


def test_merge_leaves_a_contact_the_survivor_already_has_on_the_absorbed(
    twins, sales_manager
):
    survivor, absorbed = twins
    ContactPoint.objects.create(customer=survivor, kind="email", value="a@example.com")
    twin = ContactPoint.objects.create(
        customer=absorbed, kind="email", value="a@example.com"
    )

    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )

    assert ContactPoint.objects.get(pk=twin.pk).customer == absorbed
    assert "customers.contactpoint" not in record.moved
    assert survivor.contact_points.filter(value="a@example.com").count() == 1


def test_merged_customer_disappears_from_every_list(twins, sales_manager, consultant):
    survivor, absorbed = twins

    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )

    assert absorbed not in Customer.objects.visible_to(sales_manager)
    assert not Customer.objects.live().filter(pk=absorbed.pk).exists()
    assert survivor in Customer.objects.visible_to(sales_manager)


def test_merge_closes_open_pairs_of_the_absorbed(twins, sales_manager):
    survivor, absorbed = twins
    third = CustomerFactory()
    first, second = sorted([survivor, absorbed], key=lambda c: c.pk)
    pair = DuplicatePair.objects.create(first=first, second=second)
    other = DuplicatePair.objects.create(
        first=min(absorbed, third, key=lambda c: c.pk),
        second=max(absorbed, third, key=lambda c: c.pk),
    )

    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )

    for p in (pair, other):
        p.refresh_from_db()
        assert p.status == DuplicatePair.Status.MERGED
        assert p.decided_by == sales_manager


def test_merge_writes_the_audit_trail_and_the_timeline(twins, sales_manager):
    survivor, absorbed = twins

    customer_merge(
        actor=sales_manager,
        survivor=survivor,
        absorbed=absorbed,
        choices={"name": "absorbed"},
    )

    survivor_entry = AuditEntry.objects.filter(object_id=survivor.pk).latest("pk")
    assert survivor_entry.actor == sales_manager
    assert survivor_entry.changes["name"] == {"old": "王小明", "new": "王晓明"}
    assert survivor_entry.changes["tags"] == {"old": "VIP", "new": "VIP, 业主"}
    absorbed_entry = AuditEntry.objects.filter(object_id=absorbed.pk).latest("pk")
    assert absorbed_entry.changes["merged_into"]["new"].endswith(f"(#{survivor.pk})")
    assert survivor.interactions.filter(kind=Interaction.Kind.SYSTEM).count() == 1


def test_merge_calls_every_apps_handler_and_keeps_what_it_moved(twins, sales_manager):
    """A fake app: the merge record keeps its ids and hands them back on restore."""
    survivor, absorbed = twins
    restored_with = {}

    def merged(sender, *, survivor, absorbed, record, **kwargs):
        return {"fakeapp.thing": [7, 3]}

    def restored(sender, *, survivor, absorbed, record, moved, **kwargs):
        restored_with.update(moved)

    customer_merged.connect(merged, sender=Customer, dispatch_uid="test-fake-app")
    customer_merge_restored.connect(
        restored, sender=Customer, dispatch_uid="test-fake-app"
    )
    try:
        record = customer_merge(
            actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
        )
        assert MergeRecord.objects.get(pk=record.pk).moved["fakeapp.thing"] == [3, 7]
        customer_merge_restore(actor=sales_manager, record=record)
    finally:
        customer_merged.disconnect(sender=Customer, dispatch_uid="test-fake-app")
        customer_merge_restored.disconnect(
            sender=Customer, dispatch_uid="test-fake-app"
        )
    assert restored_with["fakeapp.thing"] == [3, 7]


def test_a_failing_handler_leaves_nothing_merged(twins, sales_manager):
    survivor, absorbed = twins
    give_history(absorbed, sales_manager)

    def broken(sender, **kwargs):
        raise RuntimeError("the other app is broken")

    customer_merged.connect(broken, sender=Customer, dispatch_uid="test-broken")
    try:
        with pytest.raises(RuntimeError):
            customer_merge(
                actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
            )
    finally:
        customer_merged.disconnect(sender=Customer, dispatch_uid="test-broken")
    absorbed.refresh_from_db()
    assert absorbed.merged_into is None
    assert absorbed.interactions.count() == 1
    assert not MergeRecord.objects.exists()


def test_merge_refuses_a_customer_into_itself(twins, sales_manager):
    survivor, _absorbed = twins
    with pytest.raises(MergeRefused):
        customer_merge(
            actor=sales_manager, survivor=survivor, absorbed=survivor, choices={}
        )


def test_merge_refuses_an_already_absorbed_customer(twins, sales_manager):
    survivor, absorbed = twins
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    third = CustomerFactory()

    with pytest.raises(MergeRefused):
        customer_merge(
            actor=sales_manager, survivor=third, absorbed=absorbed, choices={}
        )
    with pytest.raises(MergeRefused):
        customer_merge(
            actor=sales_manager, survivor=absorbed, absorbed=third, choices={}
        )


# Restore --------------------------------------------------------------------------


def test_restore_brings_both_customers_back_exactly(twins, sales_manager):
    survivor, absorbed = twins
    rows = give_history(absorbed, sales_manager)
    survivor_rows = give_history(survivor, sales_manager)
    survivor.refresh_from_db()
    absorbed.refresh_from_db()
    before = customer_snapshot(survivor), customer_snapshot(absorbed)
    first, second = sorted([survivor, absorbed], key=lambda c: c.pk)
    pair = DuplicatePair.objects.create(first=first, second=second)
    record = customer_merge(
        actor=sales_manager,
        survivor=survivor,
        absorbed=absorbed,
        choices={"mobile": "absorbed", "name": "absorbed", "consent_sms": "absorbed"},
    )

    restored = customer_merge_restore(actor=sales_manager, record=record)

    survivor.refresh_from_db()
    absorbed.refresh_from_db()
    assert restored == absorbed
    assert absorbed.merged_into is None
    assert (customer_snapshot(survivor), customer_snapshot(absorbed)) == before
    record_survivor = dict(record.survivor_before)
    record_survivor.pop(ADDED_POINTS_KEY)
    assert (record_survivor, record.absorbed_before) == before
    for label, ids in rows.items():
        model = {
            "customers.interaction": Interaction,
            "customers.contactpoint": ContactPoint,
            "customers.consentrecord": ConsentRecord,
            "customers.importchange": ImportChange,
        }[label]
        assert model.objects.get(pk=ids[0]).customer_id == absorbed.pk
        assert model.objects.get(pk=survivor_rows[label][0]).customer_id == survivor.pk
    # The contacts the merge added (both numbers) are gone again.
    assert not survivor.contact_points.filter(kind="mobile").exists()
    assert not absorbed.contact_points.filter(kind="mobile").exists()
    assert absorbed in Customer.objects.visible_to(sales_manager)
    pair.refresh_from_db()
    assert pair.status == DuplicatePair.Status.OPEN
    record.refresh_from_db()
    assert record.restored_at is not None
    assert record.restored_by == sales_manager
    assert absorbed.interactions.filter(kind=Interaction.Kind.SYSTEM).count() == 1


def test_restore_writes_the_audit_trail(twins, sales_manager):
    survivor, absorbed = twins
    record = customer_merge(
        actor=sales_manager,
        survivor=survivor,
        absorbed=absorbed,
        choices={"name": "absorbed"},
    )

    customer_merge_restore(actor=sales_manager, record=record)

    survivor_entry = AuditEntry.objects.filter(object_id=survivor.pk).latest("pk")
    assert survivor_entry.changes["name"] == {"old": "王晓明", "new": "王小明"}
    absorbed_entry = AuditEntry.objects.filter(object_id=absorbed.pk).latest("pk")
    assert absorbed_entry.changes["merged_into"]["new"] == ""


def test_restore_twice_is_refused(twins, sales_manager):
    survivor, absorbed = twins
    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    customer_merge_restore(actor=sales_manager, record=record)

    with pytest.raises(MergeRefused):
        customer_merge_restore(actor=sales_manager, record=record)


def test_restore_is_refused_when_the_absorbed_number_was_taken_since(
    twins, sales_manager
):
    survivor, absorbed = twins
    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    CustomerFactory(mobile=absorbed.mobile)

    with pytest.raises(MergeRefused, match=r"\+8618600181234"):
        customer_merge_restore(actor=sales_manager, record=record)
    absorbed.refresh_from_db()
    assert absorbed.merged_into == survivor


def test_restore_is_refused_when_the_survivor_was_merged_again(twins, sales_manager):
    survivor, absorbed = twins
    record = customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    customer_merge(
        actor=sales_manager, survivor=CustomerFactory(), absorbed=survivor, choices={}
    )

    with pytest.raises(MergeRefused):
        customer_merge_restore(actor=sales_manager, record=record)


def test_dismiss_marks_the_pair_and_repeating_it_changes_nothing(sales_manager):
    pair = DuplicatePair.objects.create(
        first=CustomerFactory(), second=CustomerFactory()
    )

    duplicate_dismiss(pair=pair, actor=sales_manager)
    again = duplicate_dismiss(pair=pair, actor=sales_manager)

    assert again.status == DuplicatePair.Status.DISMISSED
    assert again.decided_by == sales_manager
