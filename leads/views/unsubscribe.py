"""The public unsubscribe page (RFC 8058): a signed token, no login, no cookie.

GET shows a confirmation in the reader's language and changes nothing: mail scanners
follow links. POST unsubscribes, whether it comes from the page's button or from a
mailbox provider's one-click POST (`List-Unsubscribe=One-Click`, urlencoded or
multipart, without cookies or a CSRF token), answers 200, and may be repeated.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from leads.nurture import unsubscribe
from portal.models import Publisher


@csrf_exempt  # the token is the proof; a mailbox provider's POST carries no cookie
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    parsed = unsubscribe.token_read(token)
    if parsed is None:
        return render(request, "leads/unsubscribe_invalid.html", status=400)
    publisher_name = (
        Publisher.objects.filter(pk=parsed.publisher_id).values_list("name", flat=True).first()
    )
    context = {"publisher_name": publisher_name or "", "token": token}
    if request.method == "POST":
        if publisher_name is not None:
            unsubscribe.unsubscribe(token=parsed)
        return render(request, "leads/unsubscribe_done.html", context)
    return render(request, "leads/unsubscribe.html", context)
