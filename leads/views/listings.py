"""Listing pages: list, create, edit, lead management and publishing."""

from django.http import Http404


def listing_list(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def listing_create(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404


def listing_detail(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404
