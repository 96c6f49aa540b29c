"""Portal pages of the inbound app: the listing page's Inbound panel and its actions."""

from django.urls import include, path

from inbound import views

panel_urls = [
    path("", views.listing_inbound, name="listing-inbound"),
    path("create/", views.listing_inbound_create, name="listing-inbound-create"),
    path("rotate/", views.listing_inbound_rotate, name="listing-inbound-rotate"),
    path("revoke/", views.listing_inbound_revoke, name="listing-inbound-revoke"),
    path("items/<int:item_id>/retry/", views.listing_inbound_retry, name="listing-inbound-retry"),
]

urlpatterns = [
    path("listings/<int:listing_id>/inbound/", include(panel_urls)),
]
