"""Portal pages of the crm app (DESIGN §5 keeps these paths stable)."""

from django.urls import include, path

from crm import views

target_urls = [
    path("", views.target_detail, name="crm-target-detail"),
    path("test/", views.target_test, name="crm-target-test"),
    path("test/<int:delivery_id>/", views.target_test_result, name="crm-target-test-result"),
    path("pause/", views.target_pause, name="crm-target-pause"),
    path("resume/", views.target_resume, name="crm-target-resume"),
    path("rotate-secret/", views.target_rotate_secret, name="crm-target-rotate-secret"),
    path("finish-rotation/", views.target_finish_rotation, name="crm-target-finish-rotation"),
]

urlpatterns = [
    path("crm/targets/", views.target_list, name="crm-targets"),
    path("crm/targets/new/", views.target_create, name="crm-target-create"),
    path("crm/targets/<int:target_id>/", include(target_urls)),
    path("crm/deliveries/", views.delivery_list, name="crm-deliveries"),
    path("settings/partner-center/", include("crm.referrals.urls")),
    path(
        "crm/deliveries/<int:delivery_id>/redeliver/",
        views.delivery_redeliver_view,
        name="crm-delivery-redeliver",
    ),
]
