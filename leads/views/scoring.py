"""The scoring page: rules, threshold, preview and rescoring progress."""

from django.http import Http404


def scoring(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404
