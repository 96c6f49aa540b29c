"""Saved views of the lead list: save the current query by name, apply, rename, delete.

Every view is looked up by publisher *and* user (`saved_view_get_for_user`): another
publisher's view, or another member's, is a 404 like an id that does not exist.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leads.forms import LeadFilterForm, SavedViewForm
from leads.saved_views import selectors, services
from portal.tenancy.decorators import found_or_404, publisher_required


def _view_or_404(request, view_id: int):
    view = selectors.saved_view_get_for_user(
        publisher=request.publisher, user=request.user, view_id=view_id
    )
    return found_or_404(view, _("No such saved view."))


def _manage_page(request, *, create_form=None, rename=None, query: str = "", status=200):
    views = list(selectors.saved_views_for_user(publisher=request.publisher, user=request.user))
    for view in views:
        view.rename_form = rename[1] if rename and rename[0] == view.pk else None
    context = {"views": views, "create_form": create_form or SavedViewForm(), "query": query}
    return render(request, "leads/saved_views.html", context, status=status)


@publisher_required
@require_http_methods(["GET", "POST"])
def saved_views(request):
    """The user's saved views (GET), or save the list's query under a name (POST)."""
    if request.method == "GET":
        return _manage_page(request)
    query = request.POST.get("query", "")[:2000]
    form = SavedViewForm(request.POST)
    if form.is_valid():
        filters = LeadFilterForm(QueryDict(query), publisher=request.publisher)
        try:
            view = services.saved_view_create(
                publisher=request.publisher,
                user=request.user,
                name=form.cleaned_data["name"],
                state=filters.saved_state(),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
            return redirect(f"{reverse('leads')}?{services.saved_view_query(view)}")
    return _manage_page(request, create_form=form, query=query, status=400)


@publisher_required
@require_GET
def saved_view_apply(request, view_id: int):
    """The lead list as the view saved it."""
    view = _view_or_404(request, view_id)
    return redirect(f"{reverse('leads')}?{services.saved_view_query(view)}")


@publisher_required
@require_POST
def saved_view_rename(request, view_id: int):
    """Rename one of the user's views."""
    view = _view_or_404(request, view_id)
    form = SavedViewForm(request.POST)
    if form.is_valid():
        try:
            services.saved_view_rename(view=view, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("View renamed to “%(name)s”.") % {"name": view.name})
            return redirect("lead-views")
    return _manage_page(request, rename=(view.pk, form), status=400)


@publisher_required
@require_POST
def saved_view_delete(request, view_id: int):
    """Delete one of the user's views."""
    view = _view_or_404(request, view_id)
    name = view.name
    services.saved_view_delete(view=view)
    messages.success(request, _("View “%(name)s” deleted.") % {"name": name})
    return redirect("lead-views")
