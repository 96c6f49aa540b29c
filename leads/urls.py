"""Portal pages of the leads app (DESIGN §5 keeps these paths stable)."""

from django.urls import include, path

from leads import views
from leads.views import campaigns as campaign_views
from leads.views import email_events as email_event_views
from leads.views import referrals as referral_views
from leads.views import reports as report_views
from leads.views import saved_views as saved_view_views
from leads.views import unsubscribe as unsubscribe_views
from leads.views import work as work_views
from leads.views.scoring import scoring_progress

step_urls = [
    path("", campaign_views.campaign_step_edit, name="campaign-step-edit"),
    path("delete/", campaign_views.campaign_step_delete, name="campaign-step-delete"),
    path("preview/", campaign_views.campaign_step_preview, name="campaign-step-preview"),
    path("test/", campaign_views.campaign_step_test, name="campaign-step-test"),
]

# A campaign's nurture sequence: its state, its steps, and each step's actions.
sequence_urls = [
    path("", campaign_views.campaign_sequence, name="campaign-sequence"),
    path("start/", campaign_views.campaign_sequence_start, name="campaign-sequence-start"),
    path("pause/", campaign_views.campaign_sequence_pause, name="campaign-sequence-pause"),
    path(
        "click-tracking/",
        campaign_views.campaign_sequence_click_tracking,
        name="campaign-sequence-click-tracking",
    ),
    path("steps/", campaign_views.campaign_step_create, name="campaign-step-create"),
    path("preview/", campaign_views.campaign_step_live_preview, name="campaign-step-live-preview"),
    path("steps/<int:step_id>/", include(step_urls)),
]

# A lead's page, and working the lead (docs/portal.md, Working leads).
lead_urls = [
    path("", views.lead_detail, name="lead-detail"),
    path("owner/", work_views.lead_assign, name="lead-assign"),
    path("next-step/", work_views.lead_next_step, name="lead-next-step"),
    path("next-step/done/", work_views.lead_next_step_done, name="lead-next-step-done"),
    path("notes/", work_views.lead_note_add, name="lead-note-add"),
    path("notes/<int:note_id>/edit/", work_views.lead_note_edit, name="lead-note-edit"),
    path("notes/<int:note_id>/delete/", work_views.lead_note_delete, name="lead-note-delete"),
    path("merge/", work_views.lead_merge, name="lead-merge"),
]

# A saved view of the lead list: apply, rename, delete.
saved_view_urls = [
    path("", saved_view_views.saved_view_apply, name="lead-view-apply"),
    path("rename/", saved_view_views.saved_view_rename, name="lead-view-rename"),
    path("delete/", saved_view_views.saved_view_delete, name="lead-view-delete"),
]

urlpatterns = [
    path("listings/", views.listing_list, name="listings"),
    path("listings/new/", views.listing_create, name="listing-create"),
    path("listings/<int:listing_id>/", views.listing_detail, name="listing-detail"),
    path("leads/", views.lead_list, name="leads"),
    path("leads/export.csv", views.lead_export, name="leads-export"),
    path("leads/import/", views.lead_import, name="leads-import"),
    path("leads/mine/", work_views.leads_mine, name="leads-mine"),
    path("leads/<uuid:lead_id>/", include(lead_urls)),
    path("leads/merges/<int:merge_id>/undo/", work_views.lead_merge_undo, name="lead-merge-undo"),
    path("leads/views/", saved_view_views.saved_views, name="lead-views"),
    path("leads/views/<int:view_id>/", include(saved_view_urls)),
    path("referrals/", views.referral_list, name="referrals"),
    path("referrals/<int:referral_id>/", referral_views.referral_detail, name="referral-detail"),
    path("reports/", report_views.report_page, name="reports"),
    path("reports/export.csv", report_views.report_export, name="reports-export"),
    path("scoring/", views.scoring, name="scoring"),
    path("scoring/progress/", scoring_progress, name="scoring-progress"),
    # Campaigns and their nurture sequences.
    path("campaigns/", campaign_views.campaign_list, name="campaigns"),
    path("campaigns/new/", campaign_views.campaign_create, name="campaign-create"),
    path("campaigns/compare/", campaign_views.campaigns_compare, name="campaigns-compare"),
    path("campaigns/<int:campaign_id>/", campaign_views.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:campaign_id>/edit/", campaign_views.campaign_edit, name="campaign-edit"),
    path("campaigns/<int:campaign_id>/sequence/", include(sequence_urls)),
    # Public: the one-click unsubscribe of nurture emails (RFC 8058).
    path("unsubscribe/<str:token>/", unsubscribe_views.unsubscribe_page, name="unsubscribe"),
    # Public: tracked links and the ESP tracking webhooks (docs/email.md).
    path("r/<str:signed>/", email_event_views.tracked_link, name="tracked-link"),
    path(
        "anymail/sendgrid/tracking/",
        email_event_views.sendgrid_tracking,
        name="anymail-sendgrid-tracking",
    ),
    path(
        "anymail/postmark/tracking/",
        email_event_views.postmark_tracking,
        name="anymail-postmark-tracking",
    ),
    path(
        "anymail/amazon_ses/tracking/",
        email_event_views.amazon_ses_tracking,
        name="anymail-amazon-ses-tracking",
    ),
]
