"""The demo's own route, included by portal.urls only when the demo app is installed."""

from django.urls import path

from demo import views

urlpatterns = [
    path("demo/receiver/", views.demo_receiver, name="demo-receiver"),
]
