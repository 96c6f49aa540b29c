"""Portal pages of the leads app (DESIGN §5 keeps these paths stable)."""

from django.urls import path

from leads import views

urlpatterns = [
    path("listings/", views.listing_list, name="listings"),
    path("listings/new/", views.listing_create, name="listing-create"),
    path("listings/<int:listing_id>/", views.listing_detail, name="listing-detail"),
    path("leads/", views.lead_list, name="leads"),
    path("leads/export.csv", views.lead_export, name="leads-export"),
    path("leads/import/", views.lead_import, name="leads-import"),
    path("leads/<uuid:lead_id>/", views.lead_detail, name="lead-detail"),
    path("referrals/", views.referral_list, name="referrals"),
    path("scoring/", views.scoring, name="scoring"),
]
