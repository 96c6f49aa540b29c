"""Portal pages of the inbound app: the listing page's Inbound panel and its actions."""

from django.urls import path

from inbound import views

urlpatterns = [
    path("listings/<int:listing_id>/inbound/", views.listing_inbound, name="listing-inbound"),
    path(
        "listings/<int:listing_id>/inbound/create/",
        views.listing_inbound_create,
        name="listing-inbound-create",
    ),
    path(
        "listings/<int:listing_id>/inbound/rotate/",
        views.listing_inbound_rotate,
        name="listing-inbound-rotate",
    ),
    path(
        "listings/<int:listing_id>/inbound/revoke/",
        views.listing_inbound_revoke,
        name="listing-inbound-revoke",
    ),
    path(
        "listings/<int:listing_id>/inbound/items/<int:item_id>/retry/",
        views.listing_inbound_retry,
        name="listing-inbound-retry",
    ),
]
