from __future__ import annotations

from django.urls import path

from marketing.views import home as views
from marketing.views import partners, referrals

app_name = "marketing"

urlpatterns = [path("", views.marketing_home, name="home")]

urlpatterns += [
    path("referrals/", referrals.referral_list, name="referral-list"),
    path("referrals/rules/", referrals.referral_rules, name="referral-rules"),
    path("referrals/<int:pk>/", referrals.referral_detail, name="referral-detail"),
    path(
        "referrals/<int:pk>/approve/", referrals.reward_approve, name="reward-approve"
    ),
    path("referrals/<int:pk>/pay/", referrals.reward_pay, name="reward-pay"),
    path(
        "customers/<int:customer_pk>/refer/",
        referrals.referral_create,
        name="referral-create",
    ),
    path("partners/", partners.partner_list, name="partner-list"),
    path("partners/new/", partners.partner_create, name="partner-create"),
    path("partners/<int:pk>/", partners.partner_detail, name="partner-detail"),
    path("partners/<int:pk>/edit/", partners.partner_edit, name="partner-edit"),
    path("partners/<int:pk>/brokers/new/", partners.broker_add, name="broker-add"),
    path("commissions/", partners.commission_list, name="commission-list"),
    path("commissions/<int:pk>/pay/", partners.commission_pay, name="commission-pay"),
    path("portal/", partners.portal, name="portal"),
    path("portal/register/", partners.portal_register, name="portal-register"),
    path("portal/commissions/", partners.portal_commissions, name="portal-commissions"),
]
