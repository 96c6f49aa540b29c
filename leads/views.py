"""Portal pages of the leads app."""

from django.http import Http404


def listing_list(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def listing_create(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def listing_detail(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def lead_list(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def lead_export(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def lead_import(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def lead_detail(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def referral_list(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def scoring(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404
