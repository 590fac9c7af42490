"""Personal-information requests (PIPL): every relation to a customer is answered for,
the export holds a row from every app, anonymisation clears the personal fields
everywhere and keeps the legal records, and only administrators may do either."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from crm_site import personal_data
from crm_site.audit import audit_record
from crm_site.models import AuditEntry, Notification
from customers import services
from customers.models import (
    ConsentRecord,
    ContactPoint,
    Customer,
    CustomerAccess,
    DuplicatePair,
    Household,
    ImportChange,
    ImportJob,
    Interaction,
    MergeRecord,
    PersonalDataRequest,
    PortalCode,
    Tag,
)
from customers.services.merge import MergeRefused, customer_merge, duplicate_scan
from customers.services.personal_data import anonymised_label
from marketing.models import (
    Campaign,
    CampaignMember,
    ChannelPartner,
    Invitation,
    PartnerRegistration,
    Referral,
    Response,
    Segment,
)
from marketing.selectors import segment_customers
from sales.models import (
    CoBuyer,
    DealChange,
    DepositRefund,
    DiscountRequest,
    FollowUpEscalation,
    IntentDeposit,
    Opportunity,
    OwnershipEvent,
    PaymentItem,
    ProtectionRule,
    Receipt,
    Registration,
    Selection,
    StageChange,
    UnitHold,
)
from sales.services.ownership import pool_queryset
from service.models import (
    HandoverAppointment,
    HandoverBatch,
    HandoverNotice,
    Inspection,
    InspectionItem,
    OwnerLetter,
    PortalNotice,
    RequestPhoto,
    ServiceRequest,
    ServiceStep,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
    SurveyTemplate,
    WorkOrder,
)
from tests.factories import CustomerFactory, UserFactory, make_building
from tests.helpers import assert_queries_do_not_grow
from tests.opening_fixtures import enter, make_deposit, make_session

NAME = "欧阳明月"
MOBILE = "+8613912345678"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def world(consultant, service_agent):
    """A customer with a row in every relation any app has to customers."""
    building = make_building(floors=2, per_floor=2, skipped=())
    project = building.project
    units = list(building.units.order_by("pk"))
    customer = CustomerFactory(
        name=NAME,
        mobile=MOBILE,
        email="mingyue@example.com",
        address="杭州市西湖区文三路 1 号",
        id_type=Customer.IdType.RESIDENT_ID,
        id_number="110101199003076578",
        notes="喜欢南向，微信 ouyang_my",
        stage=Customer.Stage.OWNER,
        assigned_consultant=consultant,
        consent_email=True,
    )
    other = CustomerFactory(name="周杰", mobile="+8613911112222")
    friend = CustomerFactory(name="吴磊", mobile="+8613933334444")
    old = CustomerFactory(name=NAME, mobile="+8613955556666", merged_into=customer)

    # customers
    household = Household.objects.create(name=NAME)
    Customer.objects.filter(pk=customer.pk).update(
        household=household, household_role="principal"
    )
    customer.refresh_from_db()
    customer.tags.add(Tag.objects.create(name="高意向"))
    ContactPoint.objects.create(customer=customer, kind="wechat", value="ouyang_my")
    # An owner portal sign-in code asked for (the code itself is never stored).
    PortalCode.objects.create(
        customer=customer,
        phone_key="0" * 64,
        code_hash="0" * 64,
        ip_address="10.0.0.8",
        expires_at=timezone.now(),
    )
    # A call that popped up on an agent's screen (issue 15).
    from customers.models import Call

    Call.objects.create(
        call_id="pipl-1",
        caller=customer.mobile,
        customer=customer,
        agent=consultant,
        extension="8001",
        ringing_at=timezone.now(),
        note=f"{NAME} 问交房",
    )
    ConsentRecord.objects.create(
        customer=customer,
        purpose="email",
        granted=True,
        method="form",
        note=f"{NAME} 本人签字",
    )
    Interaction.objects.create(
        customer=customer, kind="visit", summary=f"{NAME} 来访，电话 13912345678"
    )
    DuplicatePair.objects.create(first=customer, second=other, reasons=["phone"])
    MergeRecord.objects.create(
        survivor=customer,
        absorbed=old,
        survivor_before={"name": NAME, "mobile": MOBILE},
        absorbed_before={"name": NAME, "mobile": old.mobile},
    )
    job = ImportJob.objects.create(file="imports/a.csv", original_name="a.csv")
    ImportChange.objects.create(
        job=job, customer=customer, action="updated", before={"notes": "旧备注"}
    )
    CustomerAccess.objects.create(customer=customer, user=consultant)
    PersonalDataRequest.objects.create(
        customer=customer, kind="export", reference="T-0", reason="本人要求副本"
    )

    # sales
    deal = Opportunity.objects.create(
        customer=customer,
        project=project,
        unit=units[0],
        consultant=consultant,
        stage=Opportunity.Stage.CONTRACTED,
        agreed_price=Decimal("3000000.00"),
    )
    lost = Opportunity.objects.create(
        customer=customer,
        project=project,
        consultant=consultant,
        stage=Opportunity.Stage.LOST,
        lost_reason="price",
        lost_note=f"{NAME} 嫌贵",
    )
    StageChange.objects.create(
        opportunity=deal, from_stage="visited", to_stage="subscribed", note="认购"
    )
    # Named as a co-buyer on someone else's deal.
    CoBuyer.objects.create(
        customer=customer,
        opportunity=Opportunity.objects.create(
            customer=CustomerFactory(name="配偶"),
            project=project,
            consultant=consultant,
        ),
    )
    StageChange.objects.create(
        opportunity=lost, from_stage="new", to_stage="lost", note=f"{NAME} 不买了"
    )
    DiscountRequest.objects.create(
        opportunity=deal,
        percent=Decimal("1.00"),
        reason="老客户",
        requested_by=consultant,
    )
    DealChange.objects.create(
        opportunity=deal,
        kind="change_buyer",
        new_customer=customer,
        reason="加名",
        requested_by=consultant,
    )
    item = PaymentItem.objects.create(
        opportunity=deal,
        sequence=1,
        kind="deposit",
        due_date=date(2026, 1, 1),
        amount=Decimal("50000.00"),
        received=Decimal("50000.00"),
    )
    Receipt.objects.create(
        item=item,
        amount=Decimal("50000.00"),
        received_on=date(2026, 1, 1),
        method="transfer",
        reference="BANK-1",
        recorded_by=consultant,
    )
    UnitHold.objects.create(
        unit=units[0],
        opportunity=deal,
        held_by=consultant,
        held_until=timezone.now(),
        status="converted",
    )
    # Opening day: the deposit of intent, a refund once asked, the unit chosen.
    deposit = make_deposit(
        project=project,
        consultant=consultant,
        customer=customer,
        status=IntentDeposit.Status.APPLIED,
        opportunity=deal,
    )
    DepositRefund.objects.create(
        deposit=deposit,
        amount=deposit.amount,
        reason=f"{NAME} 犹豫",
        requested_by=consultant,
        status=DepositRefund.Status.REJECTED,
    )
    opening = make_session(project=project, created_by=consultant, units=units[:1])
    Selection.objects.create(
        session=opening,
        entry=enter(opening, deposit),
        unit=units[0],
        customer=customer,
        opportunity=deal,
        channel=Selection.Channel.ON_SITE,
        selected_by=consultant,
    )
    rule = ProtectionRule.objects.create(project=project, version=1)
    registration = Registration.objects.create(
        customer=customer,
        project=project,
        consultant=consultant,
        rule=rule,
        basis="visit",
        protected_until=timezone.now() + timedelta(days=7),
    )
    OwnershipEvent.objects.create(
        customer=customer,
        project=project,
        kind="registered",
        consultant=consultant,
        reason=f"{NAME} 到访登记",
        event="sales.merge_came_with",
        params={"absorbed": f"{NAME} (#9)"},
    )
    FollowUpEscalation.objects.create(
        customer=customer, consultant=consultant, due_date=date(2026, 1, 1)
    )

    # service
    now = timezone.now()
    request = ServiceRequest.objects.create(
        kind="repair",
        customer=customer,
        unit=units[0],
        category="plumbing",
        description=f"{NAME} 家厨房漏水，电话 13912345678",
        receiver=service_agent,
        status=ServiceRequest.Status.CLOSED,
        response_due=now,
        resolution_due=now,
        callback_note="业主满意",
    )
    ServiceStep.objects.create(
        request=request, from_status="received", to_status="closed", note="已上门"
    )
    photo = RequestPhoto.objects.create(
        request=request,
        file=SimpleUploadedFile("leak.jpg", b"jpeg", content_type="image/jpeg"),
        uploaded_by=service_agent,
    )
    WorkOrder.objects.create(
        request=request,
        task="更换水龙头",
        assignee_kind="crew",
        crew="水电班",
        due_at=now,
        created_by=service_agent,
    )
    batch = HandoverBatch.objects.create(
        building=building,
        name="一期交房",
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 1, 31),
        created_by=service_agent,
    )
    appointment = HandoverAppointment.objects.create(
        batch=batch, unit=units[0], customer=customer
    )
    HandoverNotice.objects.create(appointment=appointment, kind="invitation")
    inspection = Inspection.objects.create(
        appointment=appointment, inspector=service_agent
    )
    inspection_item = InspectionItem.objects.create(
        inspection=inspection,
        position=1,
        room="厨房",
        item="给排水",
        result="defect",
        note="水槽渗水",
        photo=SimpleUploadedFile("sink.jpg", b"jpeg", content_type="image/jpeg"),
    )
    template = SurveyTemplate.objects.create(name="回访问卷", occasion="request_closed")
    question = SurveyQuestion.objects.create(
        template=template, position=1, text="满意吗"
    )
    invitation = SurveyInvitation.objects.create(
        template=template, customer=customer, request=request, due_at=now
    )
    response = SurveyResponse.objects.create(
        invitation=invitation,
        customer=customer,
        index=Decimal("80"),
        comment="师傅很好",
    )
    SurveyAnswer.objects.create(response=response, question=question, score=4)
    # The owners' portal: a message about the request's step, a letter to the
    # general manager and the message that it was answered.
    step = ServiceStep.objects.filter(request=request).first()
    PortalNotice.objects.create(request=request, step=step)
    letter = OwnerLetter.objects.create(
        customer=customer,
        unit=units[0],
        subject=f"{NAME} 的来信",
        body="电话 13912345678，请回电",
        due_at=now,
        answer="已回电",
        answered_by=service_agent,
        answered_at=now,
    )
    PortalNotice.objects.create(letter=letter)

    # marketing
    campaign = Campaign.objects.create(
        name="春季开放日",
        kind="event",
        project=project,
        starts_on=date(2026, 3, 1),
        ends_on=date(2026, 3, 2),
    )
    member = CampaignMember.objects.create(campaign=campaign, customer=customer)
    Invitation.objects.create(campaign=campaign, member=member, channel="sms")
    Response.objects.create(
        campaign=campaign, member=member, customer=customer, kind="signup"
    )
    Referral.objects.create(
        referrer=customer, friend=friend, note=f"{NAME} 的同事", recorded_by=consultant
    )
    Referral.objects.create(referrer=other, friend=customer, recorded_by=consultant)
    partner = ChannelPartner.objects.create(
        name="好房渠道",
        contact_name="孙",
        contact_phone="13800000000",
        commission_value=Decimal("1"),
    )
    PartnerRegistration.objects.create(
        registration=registration,
        partner=partner,
        broker=UserFactory(),
        customer=customer,
        project=project,
    )
    from marketing.models import ClubMember, PointEntry, Recommendation

    ClubMember.objects.create(customer=customer, balance=100)
    PointEntry.objects.create(
        member=customer, kind="correction", points=100, reason="开卡礼"
    )
    Recommendation.objects.create(
        owner=customer,
        name_given="郑十",
        mobile_given="+8613977778888",
        friend_agreed=True,
        outcome="already_referred",
    )

    # crm_site
    audit_record(
        actor=consultant,
        instance=customer,
        action=AuditEntry.Action.UPDATE,
        changes={
            "mobile": {"old": "+8613900000000", "new": MOBILE},
            "stage": {"old": "buyer", "new": "owner"},
        },
    )
    audit_record(actor=consultant, instance=deal, action=AuditEntry.Action.UPDATE)
    Notification.objects.create(
        user=consultant,
        message=f"{NAME} 的跟进已逾期",
        url=customer.get_absolute_url(),
    )
    Notification.objects.create(
        user=consultant, message=f"变更被拒绝：{NAME}", url=deal.get_absolute_url()
    )
    return {
        "customer": customer,
        "old": old,
        "deal": deal,
        "lost": lost,
        "request": request,
        "photo": photo,
        "inspection_item": inspection_item,
        "household": household,
        "project": project,
        "units": units,
    }


def _request(**extra):
    return {"reference": "PIPL-2026-001", "reason": "客户来电要求", **extra}


# The registry ----------------------------------------------------------------------


def test_every_relation_to_customer_is_covered_by_a_personal_data_section():
    missing = personal_data.customer_relations() - personal_data.covered_relations()
    assert not missing, (
        f"Relations to Customer no personal-data section answers for: {sorted(missing)}"
        " — register a section in the app's personal_data.py"
    )


def test_sections_cover_only_relations_that_exist():
    assert personal_data.covered_relations() <= personal_data.customer_relations()


# Export ----------------------------------------------------------------------------


def test_export_holds_a_row_in_every_section_from_every_app(world):
    customer = world["customer"]
    with translation.override("en"):
        data = personal_data.export(customer)
    empty = [s.key for s, section_rows in data if not section_rows]
    assert not empty
    apps_seen = {s.key.split(".")[0] for s, _rows in data}
    assert apps_seen == {"customers", "sales", "service", "marketing", "crm_site"}
    by_key = {s.key: section_rows for s, section_rows in data}
    assert by_key["customers.profile"][0]["Name"] == NAME
    assert by_key["service.photos"][0]["file"].endswith(".jpg")
    assert {row["referrer (customer number)"] for row in by_key["marketing.referrals"]}
    counts = {s.key: n for s, n in personal_data.counts(customer)}
    assert counts == {s.key: len(section_rows) for s, section_rows in data}


def test_export_query_count_does_not_grow_with_rows_per_section(world, consultant):
    customer = world["customer"]
    deal = world["deal"]

    def grow():
        for n in range(3):
            Interaction.objects.create(
                customer=customer, kind="call_in", summary="来电"
            )
            ContactPoint.objects.create(
                customer=customer, kind="email", value=f"m{n}@example.com"
            )
            StageChange.objects.create(
                opportunity=deal, from_stage="new", to_stage="contacted"
            )
            audit_record(
                actor=consultant, instance=customer, action=AuditEntry.Action.REVEAL
            )
            Notification.objects.create(
                user=consultant, message="x", url=customer.get_absolute_url()
            )

    # 66: issue 14 added sections (club points, portal recommendations, letters to
    # the general manager, portal messages, portal sign-in codes), a query each;
    # 67: issue 15's calls (screen pop); 70: issue 16's deposits of intent, their
    # refunds and the units chosen at selection sessions; 74: the imports section
    # reads the customer's absorbed records too (a merge leaves an import's changes
    # on the record it wrote).
    assert_queries_do_not_grow(lambda: personal_data.export(customer), grow, at_most=74)


def test_export_view_downloads_a_zip_of_json_and_xlsx_logged_and_audited(
    client, administrator, world
):
    customer = world["customer"]
    client.force_login(administrator)
    response = client.post(
        reverse("customers:personal-data-export", args=[customer.pk]),
        _request(file_format="zip"),
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = sorted(archive.namelist())
    assert [n.rsplit(".", 1)[1] for n in names] == ["json", "xlsx"]
    document = json.loads(archive.read(names[0]))
    assert NAME in json.dumps(document, ensure_ascii=False)
    workbook = load_workbook(io.BytesIO(archive.read(names[1])))
    assert len(workbook.sheetnames) == len(personal_data.sections())
    logged = PersonalDataRequest.objects.filter(customer=customer).latest("pk")
    assert (logged.kind, logged.handled_by, logged.reference) == (
        "export",
        administrator,
        "PIPL-2026-001",
    )
    assert AuditEntry.objects.filter(
        object_id=customer.pk, action=AuditEntry.Action.EXPORT, actor=administrator
    ).exists()


def test_export_without_a_reference_is_refused_with_a_field_error(
    client, administrator, world
):
    customer = world["customer"]
    client.force_login(administrator)
    response = client.post(
        reverse("customers:personal-data-export", args=[customer.pk]),
        {"reason": "x", "file_format": "json"},
    )
    assert response.status_code == 400
    assert "reference" in response.context["export_form"].errors
    assert PersonalDataRequest.objects.count() == 1


# Anonymise -------------------------------------------------------------------------


def test_anonymise_clears_personal_fields_everywhere_and_keeps_contracts(
    administrator, world, django_capture_on_commit_callbacks
):
    customer, deal, lost = world["customer"], world["deal"], world["lost"]
    photo_path = world["photo"].file.path
    with django_capture_on_commit_callbacks(execute=True):
        services.customer_anonymise(
            actor=administrator, customer=customer, reference="T-1", reason="本人要求"
        )
    customer.refresh_from_db()
    label = anonymised_label(customer)
    assert customer.name == label
    assert customer.mobile is None
    assert (customer.email, customer.address, customer.id_number, customer.notes) == (
        "",
        "",
        "",
        "",
    )
    assert customer.id_number_hash == "" and customer.name_pinyin == ""
    assert customer.household_id is None
    assert not customer.tags.exists()
    assert not any(
        (customer.consent_sms, customer.consent_email, customer.consent_phone)
    )
    assert customer.anonymised_by == administrator and customer.anonymised_at
    # the old record merged into it is the same person
    world["old"].refresh_from_db()
    assert world["old"].mobile is None and world["old"].name != NAME
    assert Household.objects.get(pk=world["household"].pk).name == label
    assert not ContactPoint.objects.filter(customer=customer).exists()
    assert ConsentRecord.objects.filter(
        customer=customer, granted=False, method="erasure", purpose="email"
    ).exists()
    assert not ConsentRecord.objects.filter(customer=customer).exclude(note="")
    assert not Interaction.objects.filter(customer=customer).exclude(summary="")
    assert not DuplicatePair.objects.exists()
    assert MergeRecord.objects.get(survivor=customer).survivor_before == {}
    assert not ImportChange.objects.exclude(before={}).exists()
    # sales: the contract stays whole with the buyer's name; other deals lose text
    deal.refresh_from_db()
    lost.refresh_from_db()
    assert deal.buyer_name == NAME
    assert deal.agreed_price == Decimal("3000000.00")
    assert Receipt.objects.filter(item__opportunity=deal).count() == 1
    assert StageChange.objects.get(opportunity=deal).note == "认购"
    assert lost.buyer_name == "" and lost.lost_note == ""
    assert StageChange.objects.get(opportunity=lost).note == ""
    assert NAME not in OwnershipEvent.objects.get(customer=customer).text
    # service
    request = ServiceRequest.objects.get(pk=world["request"].pk)
    assert (request.description, request.callback_note) == ("", "")
    assert request.category == "plumbing"
    assert not ServiceStep.objects.exclude(note="").exists()
    assert not RequestPhoto.objects.exists()
    assert not world["photo"].file.storage.exists(photo_path)
    item = InspectionItem.objects.get(pk=world["inspection_item"].pk)
    assert not item.photo and item.note == "水槽渗水"
    assert HandoverNotice.objects.get().status == "skipped"
    assert SurveyInvitation.objects.get().status == "skipped"
    assert SurveyResponse.objects.get().comment == ""
    assert SurveyAnswer.objects.get().score == 4
    # marketing
    assert Invitation.objects.get().status == Invitation.Status.WITHDRAWN
    assert not Referral.objects.exclude(note="").exists()
    assert CampaignMember.objects.filter(customer=customer).exists()
    # crm_site: audit and notifications keep no identifying text
    for entry in AuditEntry.objects.filter(object_id__in=[customer.pk, deal.pk]):
        assert NAME not in entry.object_repr
        assert MOBILE not in json.dumps(entry.changes)
    for notification in Notification.objects.all():
        assert NAME not in notification.text
    # everything together: nothing in the export still names them
    exported = json.dumps(
        [rows for _s, rows in personal_data.export(customer)],
        ensure_ascii=False,
        default=str,
    )
    assert MOBILE not in exported and "13912345678" not in exported
    assert "ouyang_my" not in exported and "110101199003076578" not in exported
    assert exported.count(NAME) == 1  # the buyer's name on the contract
    logged = PersonalDataRequest.objects.get(customer=customer, kind="anonymise")
    kept = {item["reason"] for item in logged.summary["kept"]}
    assert {"contracts", "receipts", "handover", "consents"} <= kept


def test_anonymise_is_audited_without_the_old_values(administrator, world):
    customer = world["customer"]
    services.customer_anonymise(
        actor=administrator, customer=customer, reference="T-1", reason="本人要求"
    )
    entry = AuditEntry.objects.get(
        object_id=customer.pk,
        content_type__model="customer",
        action=AuditEntry.Action.ANONYMISE,
    )
    assert entry.actor == administrator
    assert entry.changes["mobile"] == {"old": "***", "new": ""}
    assert entry.changes["reference"]["new"] == "T-1"
    assert NAME not in json.dumps(entry.changes, ensure_ascii=False)
    # the deals and requests it changed are audited too
    for model, obj in (
        ("opportunity", world["deal"]),
        ("opportunity", world["lost"]),
        ("servicerequest", world["request"]),
    ):
        assert AuditEntry.objects.filter(
            content_type__model=model,
            object_id=obj.pk,
            action=AuditEntry.Action.ANONYMISE,
            actor=administrator,
        ).exists(), model


def test_anonymised_customer_disappears_from_search_segments_and_duplicates(
    administrator, world
):
    customer = world["customer"]
    services.customer_anonymise(
        actor=administrator, customer=customer, reference="T-1", reason="本人要求"
    )
    for text in (anonymised_label(customer), "13912345678", "5678", NAME):
        assert customer.pk not in Customer.objects.search(text, user=None).values_list(
            "pk", flat=True
        )
    segment = Segment.objects.create(name="全部", criteria={})
    assert not segment_customers(user=administrator, criteria=segment.criteria).filter(
        pk=customer.pk
    )
    Customer.objects.filter(pk=customer.pk).update(assigned_consultant=None)
    assert not pool_queryset().filter(pk=customer.pk).exists()
    CustomerFactory(name=anonymised_label(customer), mobile="+8613977778888")
    duplicate_scan()
    assert not DuplicatePair.objects.filter(first=customer).exists()
    assert not DuplicatePair.objects.filter(second=customer).exists()


def test_anonymised_customer_is_listed_nowhere_but_its_page_still_opens(
    client, administrator, world
):
    customer = world["customer"]
    services.customer_anonymise(
        actor=administrator, customer=customer, reference="T-1", reason="本人要求"
    )
    client.force_login(administrator)
    listing = client.get(reverse("customers:customer-list"))
    assert customer.pk not in [c.pk for c in listing.context["page"].items]
    page = client.get(customer.get_absolute_url())
    assert page.status_code == 200
    assert anonymised_label(customer) in page.content.decode()


def test_anonymised_customer_can_never_be_edited_or_merged(
    client, administrator, world
):
    customer = world["customer"]
    other = CustomerFactory(name="周杰伦", mobile="+8613966667777")
    services.customer_anonymise(
        actor=administrator, customer=customer, reference="T-1", reason="本人要求"
    )
    client.force_login(administrator)
    edit = client.post(
        reverse("customers:customer-edit", args=[customer.pk]),
        {"name": NAME, "mobile": MOBILE},
    )
    assert edit.status_code == 403
    with pytest.raises(services.CustomerAnonymised):
        services.customer_update(actor=administrator, customer=customer, name=NAME)
    with pytest.raises(MergeRefused):
        customer_merge(
            actor=administrator, survivor=other, absorbed=customer, choices={}
        )
    customer.refresh_from_db()
    assert customer.merged_into_id is None and customer.name != NAME


def test_an_import_of_the_old_number_creates_a_new_customer(administrator, world):
    customer = world["customer"]
    services.customer_anonymise(
        actor=administrator, customer=customer, reference="T-1", reason="本人要求"
    )
    assert services.existing_with_mobile(MOBILE) is None
    assert services.customer_find_by_phone(MOBILE) is None


@pytest.mark.parametrize(
    "make_open_case",
    [
        lambda w, consultant: Opportunity.objects.create(
            customer=w["customer"],
            project=w["project"],
            consultant=consultant,
            stage=Opportunity.Stage.VISITED,
        ),
        lambda w, consultant: ServiceRequest.objects.filter(pk=w["request"].pk).update(
            status=ServiceRequest.Status.IN_PROGRESS
        ),
    ],
    ids=["open deal before contract", "open service request"],
)
def test_anonymise_is_refused_while_a_case_is_open(
    client, administrator, consultant, world, make_open_case
):
    customer = world["customer"]
    make_open_case(world, consultant)
    client.force_login(administrator)
    page = client.get(reverse("customers:personal-data", args=[customer.pk]))
    assert page.context["blockers"]
    response = client.post(
        reverse("customers:personal-data-anonymise", args=[customer.pk]),
        _request(confirm=NAME),
        follow=True,
    )
    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    customer.refresh_from_db()
    assert customer.name == NAME and customer.anonymised_at is None
    assert not PersonalDataRequest.objects.filter(kind="anonymise").exists()


def test_anonymise_view_needs_the_typed_confirmation(client, administrator, world):
    customer = world["customer"]
    client.force_login(administrator)
    url = reverse("customers:personal-data-anonymise", args=[customer.pk])
    wrong = client.post(url, _request(confirm="张三"))
    assert wrong.status_code == 400
    assert "confirm" in wrong.context["anonymise_form"].errors
    customer.refresh_from_db()
    assert customer.anonymised_at is None
    done = client.post(url, _request(confirm=str(customer.pk)))
    assert done.status_code == 302
    customer.refresh_from_db()
    assert customer.anonymised_at is not None
    assert PersonalDataRequest.objects.filter(
        customer=customer, kind="anonymise", handled_by=administrator
    ).exists()


def test_anonymising_twice_is_refused(administrator, world):
    customer = world["customer"]
    services.customer_anonymise(
        actor=administrator, customer=customer, reference="T-1", reason="x"
    )
    with pytest.raises(services.PersonalDataRefused):
        services.customer_anonymise(
            actor=administrator, customer=customer, reference="T-2", reason="x"
        )


# Permissions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "persona",
    ["consultant", "sales_manager", "service_manager", "marketer", "executive"],
    indirect=True,
)
def test_personal_data_pages_are_refused_to_non_administrators(
    client, persona, own_customer
):
    client.force_login(persona)
    for name, method in (
        ("customers:personal-data", client.get),
        ("customers:personal-data-export", client.post),
        ("customers:personal-data-anonymise", client.post),
    ):
        response = method(
            reverse(name, args=[own_customer.pk]),
            _request(confirm=own_customer.name, file_format="json"),
        )
        assert response.status_code == 403, name
    own_customer.refresh_from_db()
    assert own_customer.anonymised_at is None
    assert not PersonalDataRequest.objects.exists()


def test_anonymise_is_post_only(client, administrator, own_customer):
    client.force_login(administrator)
    url = reverse("customers:personal-data-anonymise", args=[own_customer.pk])
    assert client.get(url).status_code == 405


def test_personal_data_page_404s_for_an_unknown_or_merged_customer(
    client, administrator, own_customer
):
    absorbed = CustomerFactory(merged_into=own_customer)
    client.force_login(administrator)
    for pk in (absorbed.pk, 999999):
        response = client.get(reverse("customers:personal-data", args=[pk]))
        assert response.status_code == 404


def test_personal_data_page_shows_counts_and_what_is_kept(client, administrator, world):
    customer = world["customer"]
    client.force_login(administrator)
    response = client.get(reverse("customers:personal-data", args=[customer.pk]))
    assert response.status_code == 200
    assert response["Cache-Control"].count("no-store") == 1
    assert response.context["total"] > 30
    reasons = " ".join(reason for _t, reason, _n in response.context["kept"])
    assert reasons  # contracts, receipts... and why
    detail = client.get(customer.get_absolute_url())
    assert reverse("customers:personal-data", args=[customer.pk]) in (
        detail.content.decode()
    )


def test_the_customer_page_shows_no_request_link_to_others(
    client, consultant, own_customer
):
    client.force_login(consultant)
    detail = client.get(own_customer.get_absolute_url())
    assert reverse("customers:personal-data", args=[own_customer.pk]) not in (
        detail.content.decode()
    )


def test_the_post_needs_a_csrf_token(administrator, own_customer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(administrator)
    response = client.post(
        reverse("customers:personal-data-anonymise", args=[own_customer.pk]),
        _request(confirm=own_customer.name),
    )
    assert response.status_code == 403
    own_customer.refresh_from_db()
    assert own_customer.anonymised_at is None


def test_personal_data_page_query_count_does_not_grow_with_rows(
    client, administrator, consultant, world
):
    customer = world["customer"]
    client.force_login(administrator)
    url = reverse("customers:personal-data", args=[customer.pk])

    def grow():
        for n in range(3):
            Interaction.objects.create(customer=customer, kind="note", summary="备注")
            PersonalDataRequest.objects.create(
                customer=customer, kind="export", reference=f"T-{n}", reason="x"
            )
            audit_record(
                actor=consultant, instance=customer, action=AuditEntry.Action.REVEAL
            )

    # One count per section, plus what is kept and what blocks: many, but fixed.
    # 107: issue 16's deposits, refunds and selections (counts, kept, blockers);
    # 109: the imports section's absorbed records (its count and its rows).
    assert_queries_do_not_grow(lambda: client.get(url), grow, at_most=109)


def test_export_is_in_the_administrators_language(client, administrator, world):
    from django.conf import settings

    customer = world["customer"]
    client.force_login(administrator)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(
        reverse("customers:personal-data-export", args=[customer.pk]),
        _request(file_format="json"),
    )
    document = json.loads(response.content)
    titles = [section["section"] for section in document["sections"]]
    assert "Customer record" in titles and "Receipts" in titles
    profile = document["sections"][0]["rows"][0]
    assert profile["Name"] == NAME and profile["lifecycle stage"] == "Owner"


def test_a_notification_without_a_link_forgets_the_customer_too(
    administrator, consultant, other_consultant, sales_manager
):
    """A consultant whose registration ended in a merge is told without a link (the
    customer may no longer be theirs to open): the notification names the customer
    all the same, and an anonymisation finds it by the ids it keeps."""
    from sales.models import Project
    from tests.factories import register_at

    survivor = CustomerFactory(name="欧阳锋", mobile="+8613511112222")
    absorbed = CustomerFactory(name="欧阳克", mobile="+8613511113333")
    project = Project.objects.create(name="一期")
    register_at(survivor, consultant, project, days_ago=2)
    register_at(absorbed, other_consultant, project, days_ago=1)
    customer_merge(
        actor=sales_manager, survivor=survivor, absorbed=absorbed, choices={}
    )
    told = Notification.objects.get(
        user=other_consultant, event="sales.merge_registration_ended"
    )
    assert told.url == "" and "欧阳克" in told.text

    survivor.refresh_from_db()
    services.customer_anonymise(
        actor=administrator, customer=survivor, reference="R1", reason="pipl"
    )

    told.refresh_from_db()
    assert "欧阳锋" not in json.dumps(told.params, ensure_ascii=False)
    assert "欧阳克" not in json.dumps(told.params, ensure_ascii=False)


def test_an_imports_file_and_preview_forget_the_customer(
    administrator, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    from customers.models import ImportJob
    from customers.services import imports

    upload = SimpleUploadedFile(
        "c.csv",
        "姓名,手机,证件号码\n黄药师,13522223333,11010519491231002X\n".encode(),
        content_type="text/csv",
    )
    job = imports.import_upload(actor=administrator, uploaded_file=upload)
    imports.import_check(
        job=job, mapping={"姓名": "name", "手机": "mobile", "证件号码": "id_number"}
    )
    job.refresh_from_db()
    imports.import_start(job=job, actor=administrator)
    imports.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, job.error
    stored = job.file.name
    customer = Customer.objects.get(mobile="+8613522223333")

    with django_capture_on_commit_callbacks(execute=True):
        services.customer_anonymise(
            actor=administrator, customer=customer, reference="R2", reason="pipl"
        )

    job.refresh_from_db()
    assert not job.file and not default_storage.exists(stored)
    assert "黄药师" not in json.dumps(job.preview, ensure_ascii=False)
    assert job.created_count == 1  # what the import did stays


def test_anonymise_audits_each_row_of_a_lost_deals_history_it_clears(
    administrator, world, consultant, django_capture_on_commit_callbacks
):
    """The words of a deal that never reached a contract (its stage changes' notes,
    a discount's and a change's reasons) are cleared, each row with an audit entry
    naming its fields and hiding the old words, as the deal's own."""
    customer, lost = world["customer"], world["lost"]
    discount = DiscountRequest.objects.create(
        opportunity=lost,
        percent=Decimal("1.00"),
        reason=f"{NAME} 老客户",
        requested_by=consultant,
    )
    stage_change = StageChange.objects.get(opportunity=lost)
    with django_capture_on_commit_callbacks(execute=True):
        services.customer_anonymise(
            actor=administrator, customer=customer, reference="T-2", reason="本人要求"
        )
    discount.refresh_from_db()
    assert (discount.reason, discount.decision_note) == ("", "")
    for row, fields in (
        (stage_change, {"note"}),
        (discount, {"reason", "decision_note"}),
    ):
        [entry] = AuditEntry.objects.filter(
            content_type__model=row._meta.model_name, object_id=row.pk
        )
        assert entry.actor == administrator and set(entry.changes) == fields
        assert NAME not in json.dumps(entry.changes, ensure_ascii=False)
