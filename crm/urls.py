"""Portal pages of the crm app (DESIGN §5 keeps these paths stable)."""

from django.urls import path

from crm import demo_receiver, views

urlpatterns = [
    path("crm/targets/", views.target_list, name="crm-targets"),
    path("crm/targets/new/", views.target_create, name="crm-target-create"),
    path("crm/targets/<int:target_id>/", views.target_detail, name="crm-target-detail"),
    path("crm/deliveries/", views.delivery_list, name="crm-deliveries"),
    path("demo/receiver/", demo_receiver.demo_receiver, name="demo-receiver"),
]
