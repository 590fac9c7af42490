"""The admin as an attacker and a tired manager see it: the audit trail stays, an
administrator cannot make themselves superuser, and who may do what is audited."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from crm_site.models import AuditEntry, Team, User
from crm_site.roles import Role
from tests.factories import UserFactory
from tests.helpers import audit_entries_about

pytestmark = pytest.mark.django_db


def _user_form(user: User, **changes) -> dict:
    """The admin's change form of ``user`` as the page would send it back."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "user_permissions": [],
        "team": str(user.team_id or ""),
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_the_audit_trail_cannot_be_deleted_in_the_admin_even_by_a_superuser(client):
    root = UserFactory(is_superuser=True, is_staff=True)
    team = Team.objects.create(name="一组")
    entry = AuditEntry.objects.create(
        actor=root,
        action=AuditEntry.Action.UPDATE,
        content_type=ContentType.objects.get_for_model(Team),
        object_id=team.pk,
        object_repr=str(team),
    )
    client.force_login(root)
    delete_url = reverse("admin:crm_site_auditentry_delete", args=[entry.pk])
    assert client.get(delete_url).status_code == 403
    client.post(delete_url, {"post": "yes"})
    listing = client.get(reverse("admin:crm_site_auditentry_changelist"))
    assert "delete_selected" not in listing.content.decode()
    client.post(
        reverse("admin:crm_site_auditentry_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_an_administrator_cannot_make_themselves_or_anyone_superuser(
    client, administrator
):
    assert not administrator.is_superuser
    client.force_login(administrator)
    url = reverse("admin:crm_site_user_change", args=[administrator.pk])
    response = client.post(url, _user_form(administrator, is_superuser="on"))
    assert response.status_code in (200, 302)
    administrator.refresh_from_db()
    assert not administrator.is_superuser
    other = UserFactory(role=Role.CONSULTANT)
    url = reverse("admin:crm_site_user_change", args=[other.pk])
    client.post(url, _user_form(other, is_superuser="on"))
    other.refresh_from_db()
    assert not other.is_superuser


def test_a_superuser_still_names_superusers(client):
    root = UserFactory(is_superuser=True, is_staff=True)
    other = UserFactory(role=Role.ADMINISTRATOR)
    client.force_login(root)
    url = reverse("admin:crm_site_user_change", args=[other.pk])
    response = client.post(url, _user_form(other, is_superuser="on"))
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.is_superuser


def test_a_role_given_in_the_admin_is_in_the_audit_trail(client, administrator):
    consultant = UserFactory(role=Role.CONSULTANT)
    managers = Group.objects.get(name=Role.SALES_MANAGER.value)
    consultants = Group.objects.get(name=Role.CONSULTANT.value)
    client.force_login(administrator)
    url = reverse("admin:crm_site_user_change", args=[consultant.pk])
    response = client.post(
        url,
        _user_form(consultant, groups=[str(consultants.pk), str(managers.pk)]),
    )
    assert response.status_code == 302
    assert set(consultant.groups.values_list("name", flat=True)) == {
        Role.CONSULTANT.value,
        Role.SALES_MANAGER.value,
    }
    [entry] = audit_entries_about(consultant)
    assert entry.actor == administrator
    assert entry.action == AuditEntry.Action.UPDATE
    assert Role.SALES_MANAGER.value in entry.changes["groups"]["new"]
    assert Role.SALES_MANAGER.value not in entry.changes["groups"]["old"]


def test_a_deactivation_in_the_admin_is_in_the_audit_trail(client, administrator):
    leaver = UserFactory(role=Role.CONSULTANT)
    client.force_login(administrator)
    url = reverse("admin:crm_site_user_change", args=[leaver.pk])
    client.post(url, _user_form(leaver, is_active=""))
    leaver.refresh_from_db()
    assert not leaver.is_active
    [entry] = audit_entries_about(leaver)
    assert entry.changes["is_active"] == {"old": "True", "new": "False"}


def test_a_user_created_in_the_admin_is_in_the_audit_trail(client, administrator):
    client.force_login(administrator)
    response = client.post(
        reverse("admin:crm_site_user_add"),
        {
            "username": "newhire",
            "password1": "An-0ther-long-pass!",
            "password2": "An-0ther-long-pass!",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="newhire")
    [entry] = audit_entries_about(user)
    assert entry.action == AuditEntry.Action.CREATE
    assert entry.actor == administrator


def test_a_permission_given_to_a_role_in_the_admin_is_in_the_audit_trail(
    client, administrator
):
    group = Group.objects.get(name=Role.CONSULTANT.value)
    before = list(group.permissions.values_list("pk", flat=True))
    scope_all = Permission.objects.get(
        content_type__app_label="customers", codename="scope_all"
    )
    client.force_login(administrator)
    response = client.post(
        reverse("admin:auth_group_change", args=[group.pk]),
        {"name": group.name, "permissions": [*map(str, before), str(scope_all.pk)]},
    )
    assert response.status_code == 302
    assert group.permissions.filter(pk=scope_all.pk).exists()
    [entry] = audit_entries_about(group)
    assert entry.actor == administrator
    assert "customers.scope_all" in entry.changes["permissions"]["new"]
    assert "customers.scope_all" not in entry.changes["permissions"]["old"]


def test_a_team_changed_in_the_admin_is_in_the_audit_trail(client, administrator):
    team = Team.objects.create(name="一组")
    client.force_login(administrator)
    response = client.post(
        reverse("admin:crm_site_team_change", args=[team.pk]), {"name": "二组"}
    )
    assert response.status_code == 302
    [entry] = audit_entries_about(team)
    assert entry.changes["name"] == {"old": "一组", "new": "二组"}


def test_an_administrator_cannot_reset_a_superusers_password(client, administrator):
    root = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(administrator)
    url = reverse("admin:auth_user_password_change", args=[root.pk])
    response = client.post(
        url,
        {"password1": "Taken-0ver-pass!", "password2": "Taken-0ver-pass!"},
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert not root.check_password("Taken-0ver-pass!")


def test_a_password_set_in_the_admin_is_in_the_audit_trail_without_its_value(
    client, administrator
):
    consultant = UserFactory(role=Role.CONSULTANT)
    client.force_login(administrator)
    url = reverse("admin:auth_user_password_change", args=[consultant.pk])
    response = client.post(
        url,
        {"password1": "Fresh-l0ng-pass!", "password2": "Fresh-l0ng-pass!"},
    )
    assert response.status_code == 302
    [entry] = audit_entries_about(consultant)
    assert entry.changes == {"password": {"old": "***", "new": "***"}}


# Every admin that changes data leaves an audit trail -------------------------------


def test_every_admin_that_may_change_data_is_audited(rf):
    """A guard over the registry: an admin page that adds, changes or deletes rows
    records it (AuditedAdmin), hands its saves to a service that does (the keys and
    webhook subscriptions), or only shows rows the system writes (ReadOnlyAdmin)."""
    from django.contrib import admin

    from crm_site.admin import AccessAttemptAdmin, AuditedAdmin, AuditedDeletes

    service_audited_saves = {"crm_site.ApiKey", "crm_site.WebhookSubscription"}
    request = rf.get("/")
    request.user = UserFactory(is_superuser=True, is_staff=True)
    unaudited = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        saves = model_admin.has_add_permission(
            request
        ) or model_admin.has_change_permission(request)
        audited = isinstance(model_admin, AuditedAdmin)
        if saves and not audited and label not in service_audited_saves:
            unaudited.append(f"{label}: add/change")
        if model_admin.has_delete_permission(request) and not isinstance(
            model_admin, AuditedDeletes | AccessAttemptAdmin
        ):
            unaudited.append(f"{label}: delete")
    assert unaudited == []


def test_a_survey_question_reweighted_in_the_admin_is_in_the_audit_trail(
    client, administrator
):
    from service.models import SurveyQuestion, SurveyTemplate

    template = SurveyTemplate.objects.create(name="回访问卷", occasion="handover")
    kept = SurveyQuestion.objects.create(template=template, position=1, text="质量")
    dropped = SurveyQuestion.objects.create(template=template, position=2, text="服务")
    client.force_login(administrator)
    url = reverse("admin:service_surveytemplate_change", args=[template.pk])
    response = client.post(
        url,
        {
            "name": template.name,
            "occasion": template.occasion,
            "intro": "",
            "is_active": "on",
            "questions-TOTAL_FORMS": "3",
            "questions-INITIAL_FORMS": "2",
            "questions-MIN_NUM_FORMS": "0",
            "questions-MAX_NUM_FORMS": "1000",
            "questions-0-id": str(kept.pk),
            "questions-0-template": str(template.pk),
            "questions-0-position": "1",
            "questions-0-text": "质量",
            "questions-0-weight": "30",
            "questions-1-id": str(dropped.pk),
            "questions-1-template": str(template.pk),
            "questions-1-position": "2",
            "questions-1-text": "服务",
            "questions-1-weight": "1",
            "questions-1-DELETE": "on",
            "questions-2-template": str(template.pk),
            "questions-2-position": "3",
            "questions-2-text": "维修及时",
            "questions-2-weight": "20",
        },
    )
    assert response.status_code == 302, response.context["errors"]

    (changed,) = audit_entries_about(kept)
    assert changed.actor == administrator
    assert changed.action == AuditEntry.Action.UPDATE
    assert changed.changes == {"weight": {"old": "1.00", "new": "30.00"}}
    (gone,) = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(SurveyQuestion),
        object_id=dropped.pk,
    )
    assert gone.action == AuditEntry.Action.DELETE
    added = SurveyQuestion.objects.get(template=template, position=3)
    (entry,) = audit_entries_about(added)
    assert entry.action == AuditEntry.Action.CREATE
    assert entry.changes["text"] == {"old": "", "new": "维修及时"}


def test_a_point_rule_changed_in_the_list_is_in_the_audit_trail(client, administrator):
    from marketing.models import PointRule

    rule = PointRule.objects.order_by("pk").first() or PointRule.objects.create(
        source="event_attended", points=50
    )
    client.force_login(administrator)
    response = client.post(
        reverse("admin:marketing_pointrule_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": str(rule.pk),
            "form-0-points": str(rule.points + 5),
            "form-0-is_active": "on" if rule.is_active else "",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    (entry,) = audit_entries_about(rule)
    assert entry.changes["points"] == {
        "old": str(rule.points),
        "new": str(rule.points + 5),
    }


def test_a_project_given_a_team_in_the_admin_is_in_the_audit_trail(
    client, administrator
):
    from sales.models import Project

    project = Project.objects.create(name="安居·御景湾", city="杭州")
    team = Team.objects.create(name="二组")
    client.force_login(administrator)
    response = client.post(
        reverse("admin:sales_project_change", args=[project.pk]),
        {
            "name": project.name,
            "city": project.city,
            "address": project.address,
            "is_active": "on" if project.is_active else "",
            "discount_limit": str(project.discount_limit),
            "hold_days": str(project.hold_days),
            "teams": [str(team.pk)],
        },
    )
    assert response.status_code == 302, response.context["errors"]
    (entry,) = audit_entries_about(project)
    assert entry.changes == {"teams": {"old": "", "new": "二组"}}


def test_heartbeats_and_login_logs_cannot_be_forged_or_removed_in_the_admin(
    client, administrator
):
    client.force_login(administrator)
    assert client.get(reverse("admin:crm_site_heartbeat_add")).status_code == 403
    listing = client.get(reverse("admin:axes_accesslog_changelist"))
    assert listing.status_code == 200
    assert "delete_selected" not in listing.content.decode()
