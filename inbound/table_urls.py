"""Portal pages of the Azure Table sources (inbound.table_views)."""

from django.urls import include, path

from inbound import table_views as views

source_urls = [
    path("", views.table_source_detail, name="inbound-table-detail"),
    # The owner's actions (views.SOURCE_ACTIONS).
    path("pause/", views.table_source_act, {"action": "pause"}, name="inbound-table-pause"),
    path("resume/", views.table_source_act, {"action": "resume"}, name="inbound-table-resume"),
    path("read/", views.table_source_act, {"action": "read"}, name="inbound-table-read"),
    path("retry/", views.table_source_act, {"action": "retry"}, name="inbound-table-retry"),
    path("items/<int:item_id>/retry/", views.table_item_retry, name="inbound-table-item-retry"),
]

urlpatterns = [
    path("inbound/tables/", views.table_source_list, name="inbound-tables"),
    path("inbound/tables/new/", views.table_source_create, name="inbound-table-create"),
    path("inbound/tables/<int:source_id>/", include(source_urls)),
]
