"""The first run's demo HTTPS receiver (DEBUG only)."""

from django.http import Http404


def demo_receiver(request):  # written with the delivery issue
    raise Http404
