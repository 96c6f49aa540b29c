"""Portal pages of the crm app."""

from django.http import Http404


def target_list(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def target_create(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def target_detail(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def delivery_list(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404
