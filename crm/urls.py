"""Portal pages of the crm app (DESIGN §5 keeps these paths stable)."""

from django.urls import path

from crm import views

urlpatterns = [
    path("crm/targets/", views.target_list, name="crm-targets"),
    path("crm/targets/new/", views.target_create, name="crm-target-create"),
    path("crm/targets/<int:target_id>/", views.target_detail, name="crm-target-detail"),
    path("crm/targets/<int:target_id>/test/", views.target_test, name="crm-target-test"),
    path(
        "crm/targets/<int:target_id>/test/<int:delivery_id>/",
        views.target_test_result,
        name="crm-target-test-result",
    ),
    path("crm/targets/<int:target_id>/pause/", views.target_pause, name="crm-target-pause"),
    path("crm/targets/<int:target_id>/resume/", views.target_resume, name="crm-target-resume"),
    path(
        "crm/targets/<int:target_id>/rotate-secret/",
        views.target_rotate_secret,
        name="crm-target-rotate-secret",
    ),
    path(
        "crm/targets/<int:target_id>/finish-rotation/",
        views.target_finish_rotation,
        name="crm-target-finish-rotation",
    ),
    path("crm/deliveries/", views.delivery_list, name="crm-deliveries"),
    path(
        "crm/deliveries/<int:delivery_id>/redeliver/",
        views.delivery_redeliver_view,
        name="crm-delivery-redeliver",
    ),
]
