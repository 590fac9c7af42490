"""Anonymising a customer reaches the copies of their data left in their change
history (a further number since removed) and in households named after them."""

from __future__ import annotations

import json

import pytest

from crm_site.models import AuditEntry
from customers import services
from customers.models import ContactPoint, Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

NAME = "周小红"
FURTHER = "+8618622223333"


def anonymise(administrator, customer) -> None:
    services.customer_anonymise(
        actor=administrator, customer=customer, reference="T-1", reason="本人要求"
    )


def history_text(customer) -> str:
    entries = AuditEntry.objects.filter(
        content_type__model="customer", object_id=customer.pk
    )
    return json.dumps([e.changes for e in entries], ensure_ascii=False)


def test_anonymising_hides_a_further_number_removed_before_the_request(
    administrator, sales_manager
):
    customer = CustomerFactory(name=NAME, assigned_consultant=None)
    point = services.contact_point_add(
        actor=sales_manager,
        customer=customer,
        kind=ContactPoint.Kind.MOBILE,
        value=FURTHER,
    )
    services.contact_point_remove(actor=sales_manager, point=point)
    assert "18622223333" in history_text(customer)  # set-up
    anonymise(administrator, customer)
    text = history_text(customer)
    assert "18622223333" not in text
    # Who added and removed a contact, and when, stays.
    assert text.count('"contact_points"') == 2


def test_a_removed_further_number_is_among_the_texts_scrubbed_elsewhere(
    consultant,
):
    """Other apps scrub the person's texts from what they wrote (a deal's note, a
    notification): a number removed before the request is one of them."""
    from customers.services.personal_data import _identifying_texts

    customer = CustomerFactory(name=NAME, assigned_consultant=consultant)
    point = services.contact_point_add(
        actor=consultant,
        customer=customer,
        kind=ContactPoint.Kind.MOBILE,
        value=FURTHER,
    )
    services.contact_point_remove(actor=consultant, point=point)
    services.contact_point_add(
        actor=consultant,
        customer=customer,
        kind=ContactPoint.Kind.WECHAT,
        value="zhou_xh",
    )
    texts = _identifying_texts([customer])
    # The number itself, not the entry's words around it (the kind).
    assert [text for text in texts if FURTHER in text] == [FURTHER]
    assert "zhou_xh" in texts


def test_anonymising_renames_a_household_left_behind_named_after_the_person(
    administrator, consultant
):
    person = CustomerFactory(name=NAME, assigned_consultant=consultant)
    spouse = CustomerFactory(name="周杰", assigned_consultant=consultant)
    services.household_link(
        actor=consultant, customer=person, other=spouse, role="spouse"
    )
    left = Customer.objects.get(pk=person.pk).household
    # Later the couple joins the parents' household: theirs is left behind, empty.
    parent = CustomerFactory(name="周父", assigned_consultant=consultant)
    mother = CustomerFactory(name="周母", assigned_consultant=consultant)
    services.household_link(
        actor=consultant, customer=parent, other=mother, role="spouse"
    )
    services.household_link(
        actor=consultant, customer=parent, other=person, role="child"
    )
    current = Customer.objects.get(pk=person.pk).household
    assert current.pk != left.pk and not left.members.exists()  # set-up
    anonymise(administrator, person)
    left.refresh_from_db()
    current.refresh_from_db()
    assert NAME not in left.name
    assert current.name == "周父"  # the parents' household is not named after her


def test_anonymising_keeps_the_household_of_someone_else_with_the_same_name(
    administrator, consultant
):
    person = CustomerFactory(name=NAME, assigned_consultant=consultant)
    namesake = CustomerFactory(name=NAME, assigned_consultant=consultant)
    services.household_link(
        actor=consultant,
        customer=namesake,
        other=CustomerFactory(assigned_consultant=consultant),
        role="spouse",
    )
    anonymise(administrator, person)
    assert Customer.objects.get(pk=namesake.pk).household.name == NAME


TYPED_NUMBERS = [
    "138 0013 8000",
    "138-0013-8000",
    "+86 138 0013 8000",
    "１３８ ００１３ ８０００",
    "+86-186-2222-3333",
]


def test_anonymising_scrubs_the_persons_numbers_however_they_were_typed(
    administrator, consultant
):
    """A colleague typed the customer's mobile, a further number and the ID number
    into a note the way people type them; a literal replacement of the stored forms
    finds none of them."""
    from crm_site.models import Notification
    from crm_site.notifications import ABOUT_KEY

    customer = CustomerFactory(
        name=NAME,
        mobile="+8613800138000",
        id_type=Customer.IdType.RESIDENT_ID,
        id_number="11010519491231002X",
        assigned_consultant=consultant,
    )
    services.contact_point_add(
        actor=consultant,
        customer=customer,
        kind=ContactPoint.Kind.MOBILE,
        value=FURTHER,
    )
    note = "；".join(
        [
            *(f"电话 {number} 下午回电" for number in TYPED_NUMBERS),
            "证件 110105 19491231 002x",
        ]
    )
    notification = Notification.objects.create(
        user=consultant,
        message=note[:300],
        params={ABOUT_KEY: [customer.pk], "note": note},
    )
    anonymise(administrator, customer)
    notification.refresh_from_db()
    for text in (notification.message, notification.params["note"]):
        digits = "".join(ch for ch in text if ch.isdigit())
        assert "0013" not in digits and "2222" not in digits, text
        assert "19491231" not in digits, text
        assert "下午回电" in text  # the rest of the note stays


def test_scrubbing_leaves_other_numbers_and_the_digits_around_a_number(
    consultant,
):
    from customers.services.personal_data import _erasure

    customer = CustomerFactory(name=NAME, mobile="+8613800138000")
    erasure = _erasure(actor=consultant, at=None, customer=customer, absorbed=[])
    label = erasure.label
    assert erasure.scrub("139 0013 9000 或 138 0013 8000 2次") == (
        f"139 0013 9000 或 {label} 2次"
    )
    assert erasure.scrub("金额 1,380,013 元") == "金额 1,380,013 元"


def test_anonymising_scrubs_the_persons_numbers_from_household_and_co_buyer_timelines(
    administrator, consultant
):
    """A note on the spouse's or the co-buyer's timeline holds the person's numbers
    as typed: those go; their name stays (names are shared). Other customers'
    timelines are not read (docs/personal-information.md, Limits)."""
    from customers.models import Interaction
    from sales.models import CoBuyer, Opportunity
    from tests.factories import make_building

    person = CustomerFactory(
        name=NAME,
        mobile="+8613800138000",
        id_type=Customer.IdType.RESIDENT_ID,
        id_number="11010519491231002X",
        assigned_consultant=consultant,
    )
    spouse = CustomerFactory(name="周杰", assigned_consultant=consultant)
    services.household_link(
        actor=consultant, customer=person, other=spouse, role="spouse"
    )
    partner = CustomerFactory(name="李合伙", assigned_consultant=consultant)
    building = make_building(floors=1, per_floor=1, skipped=())
    deal = Opportunity.objects.create(
        customer=partner,
        project=building.project,
        unit=building.units.get(),
        consultant=consultant,
        stage=Opportunity.Stage.CONTRACTED,
    )
    CoBuyer.objects.create(customer=person, opportunity=deal)
    stranger = CustomerFactory(name="王五", assigned_consultant=consultant)
    note = f"{NAME} 电话 138 0013 8000，证件 110105 19491231 002x，下午回电"
    for customer in (spouse, partner, stranger):
        Interaction.objects.create(
            customer=customer,
            kind=Interaction.Kind.CALL_OUT,
            summary=note,
            params={"about": {"note": note}},
        )

    anonymise(administrator, person)

    for customer in (spouse, partner):
        entry = Interaction.objects.get(customer=customer, summary__contains="下午回电")
        for text in (entry.summary, entry.params["about"]["note"]):
            digits = "".join(ch for ch in text if ch.isdigit())
            assert "0013" not in digits and "19491231" not in digits, text
            assert NAME in text and "下午回电" in text
    assert Interaction.objects.get(customer=stranger).summary == note


PERSON_ID = "110105194912310021"
SPOUSE_ID = "320102198001011234"


def _couple(consultant, **person_fields):
    person = CustomerFactory(name=NAME, assigned_consultant=consultant, **person_fields)
    spouse = CustomerFactory(name="周杰", assigned_consultant=consultant)
    services.household_link(
        actor=consultant, customer=person, other=spouse, role="spouse"
    )
    return person, spouse


def _spouse_note(spouse, summary: str):
    from customers.models import Interaction

    return Interaction.objects.create(
        customer=spouse, kind=Interaction.Kind.CALL_OUT, summary=summary
    )


def test_anonymising_keeps_the_spouses_own_id_number_on_the_spouses_timeline(
    administrator, consultant
):
    person, spouse = _couple(
        consultant,
        mobile="+8613800138000",
        id_type=Customer.IdType.RESIDENT_ID,
        id_number=PERSON_ID,
    )
    entry = _spouse_note(
        spouse, f"夫妻双方证件 {PERSON_ID} {SPOUSE_ID}\n2026-12-05 交定金 1-2-301"
    )
    anonymise(administrator, person)
    entry.refresh_from_db()
    assert entry.summary == f"夫妻双方证件 *** {SPOUSE_ID}\n2026-12-05 交定金 1-2-301"


def test_anonymising_leaves_the_spouses_own_words_that_match_a_wechat_entry(
    administrator, consultant, sales_manager
):
    """A WeChat field holds what was typed, often "同手机号" (the WeChat is the
    mobile number): words, not the person's, that the spouse's note holds too."""
    person, spouse = _couple(consultant)
    services.contact_point_add(
        actor=sales_manager,
        customer=person,
        kind=ContactPoint.Kind.WECHAT,
        value="同手机号",
    )
    entry = _spouse_note(spouse, "周杰微信同手机号，已加")
    anonymise(administrator, person)
    entry.refresh_from_db()
    assert entry.summary == "周杰微信同手机号，已加"


def test_anonymising_takes_the_persons_wechat_id_and_e_mail_off_the_spouses_timeline(
    administrator, consultant
):
    person, spouse = _couple(consultant, email="zhou.xh@example.com")
    services.contact_point_add(
        actor=consultant,
        customer=person,
        kind=ContactPoint.Kind.WECHAT,
        value="zhou_xh",
    )
    entry = _spouse_note(
        spouse,
        "她微信zhou_xh，邮箱 Zhou.XH@example.com。他微信 zhou_xh2，"
        "邮箱 a.zhou.xh@example.com",
    )
    anonymise(administrator, person)
    entry.refresh_from_db()
    # Hers go; his, which merely start or end like hers, stay.
    assert entry.summary == (
        "她微信***，邮箱 ***。他微信 zhou_xh2，邮箱 a.zhou.xh@example.com"
    )


def _deal(consultant, buyer, stage, *co_buyers):
    """A deal of ``buyer`` at ``stage`` naming ``co_buyers``, recorded as they were at
    the time: none of them shares the buyer's household any longer."""
    from sales.models import CoBuyer, Opportunity
    from tests.factories import make_building

    building = make_building(floors=1, per_floor=1, skipped=())
    deal = Opportunity.objects.create(
        customer=buyer,
        project=building.project,
        unit=building.units.get() if stage != Opportunity.Stage.NEW else None,
        consultant=consultant,
        stage=stage,
    )
    for co_buyer in co_buyers:
        CoBuyer.objects.create(customer=co_buyer, opportunity=deal)
    return deal


NOTE = f"{NAME} 电话 138 0013 8000，下午回电"


def _noted(customer):
    from customers.models import Interaction

    return Interaction.objects.create(
        customer=customer,
        kind=Interaction.Kind.CALL_OUT,
        summary=NOTE,
        params={"about": {"note": NOTE}},
    )


def _scrubbed(entry) -> bool:
    entry.refresh_from_db()
    texts = (entry.summary, entry.params["about"]["note"])
    return all(
        "0013" not in "".join(ch for ch in text if ch.isdigit())
        and NAME in text
        and "下午回电" in text
        for text in texts
    )


def test_anonymising_a_co_buyer_before_subscription_scrubs_the_buyer_and_co_buyers(
    administrator, consultant
):
    """Co-buyers are named from the first stage of a deal on (sales.services.co_buyers):
    a note on the buyer's or another co-buyer's timeline holds the person's number as
    much as on a bought home's."""
    from sales.models import Opportunity

    person = CustomerFactory(
        name=NAME, mobile="+8613800138000", assigned_consultant=consultant
    )
    buyer = CustomerFactory(name="李买家", assigned_consultant=consultant)
    other = CustomerFactory(name="李共买", assigned_consultant=consultant)
    _deal(consultant, buyer, Opportunity.Stage.NEW, person, other)
    entries = [_noted(buyer), _noted(other)]
    stranger = _noted(CustomerFactory(name="王五", assigned_consultant=consultant))

    anonymise(administrator, person)

    assert all(_scrubbed(entry) for entry in entries)
    stranger.refresh_from_db()
    assert stranger.summary == NOTE


def test_anonymising_the_buyer_of_a_lost_deal_scrubs_its_co_buyers_timelines(
    administrator, consultant
):
    """A lost deal keeps its co-buyers, and their notes keep the buyer's number."""
    from sales.models import Opportunity

    person = CustomerFactory(
        name=NAME, mobile="+8613800138000", assigned_consultant=consultant
    )
    co_buyer = CustomerFactory(name="周共买", assigned_consultant=consultant)
    _deal(consultant, person, Opportunity.Stage.LOST, co_buyer)
    entry = _noted(co_buyer)

    anonymise(administrator, person)

    assert _scrubbed(entry)


def test_the_linked_customers_are_found_in_three_queries_however_many_deals(
    consultant, django_assert_num_queries
):
    """The merged records, the household, the deals' buyers and co-buyers: three
    statements, whatever the number of deals."""
    from customers.personal_data import _linked_ids
    from sales.models import Opportunity

    person = CustomerFactory(name=NAME, assigned_consultant=consultant)
    others = [
        CustomerFactory(name=f"共买{n}", assigned_consultant=consultant)
        for n in range(6)
    ]
    _deal(consultant, others[0], Opportunity.Stage.NEW, person)
    _deal(consultant, person, Opportunity.Stage.LOST, others[1])
    fresh = Customer.objects.get(pk=person.pk)
    with django_assert_num_queries(3):
        found = _linked_ids(fresh)
    assert found == {others[0].pk, others[1].pk}

    _deal(consultant, others[2], Opportunity.Stage.CONTRACTED, person, others[3])
    _deal(consultant, person, Opportunity.Stage.LOST, others[4], others[5])
    fresh = Customer.objects.get(pk=person.pk)
    with django_assert_num_queries(3):
        found = _linked_ids(fresh)
    assert found == {other.pk for other in others}
