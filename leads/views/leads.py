"""Lead pages: the list, export, import, detail and Co-Sell referrals."""

from django.http import Http404


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
