from __future__ import annotations

from django.urls import path

from marketing.views import (
    campaigns,
    club,
    dashboard,
    deals,
    partners,
    public,
    referrals,
    responses,
    segments,
)
from marketing.views import home as views

app_name = "marketing"

urlpatterns = [path("", views.marketing_home, name="home")]

urlpatterns += [
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("responses/", responses.response_list, name="response-list"),
    path("segments/", segments.segment_list, name="segment-list"),
    path("segments/new/", segments.segment_edit, name="segment-create"),
    path("segments/count/", segments.segment_count, name="segment-count"),
    path("segments/<int:pk>/", segments.segment_edit, name="segment-edit"),
    path("segments/<int:pk>/delete/", segments.segment_delete, name="segment-delete"),
    path("campaigns/", campaigns.campaign_list, name="campaign-list"),
    path("campaigns/new/", campaigns.campaign_edit, name="campaign-create"),
    path("campaigns/<int:pk>/", campaigns.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:pk>/edit/", campaigns.campaign_edit, name="campaign-edit"),
    path(
        "campaigns/<int:pk>/progress/",
        campaigns.campaign_progress,
        name="campaign-progress",
    ),
    path(
        "campaigns/<int:pk>/members/",
        campaigns.campaign_members,
        name="campaign-members",
    ),
    path(
        "campaigns/<int:pk>/move/<str:status>/",
        campaigns.campaign_move,
        name="campaign-move",
    ),
    path("campaigns/<int:pk>/send/", campaigns.campaign_send, name="campaign-send"),
    path("campaigns/<int:pk>/costs/", campaigns.cost_line_add, name="cost-line-add"),
    path(
        "campaigns/<int:pk>/check-in/",
        responses.campaign_checkin,
        name="campaign-checkin",
    ),
    path("deals/<int:pk>/campaign/", deals.deal_campaign, name="deal-campaign"),
    path("u/<str:token>/", public.unsubscribe, name="unsubscribe"),
    path("s/<str:token>/", public.signup, name="public-signup"),
    path("q/<str:token>.png", public.qr_image, name="public-qr"),
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
    path("club/", club.member_list, name="club-members"),
    path("club/members/<int:pk>/", club.member_ledger, name="club-member"),
    path(
        "club/members/<int:pk>/correct/",
        club.points_correction,
        name="club-correct",
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
