"""`{% data_table %}`: the portal's one table frame, around the rows a page renders."""

from django import template
from django.template.loader import render_to_string

register = template.Library()


@register.simple_block_tag
def data_table(content, caption, *headings, table_class="", body_id=""):
    """A scrollable table with a hidden caption and one column heading per `headings`.

    The tag's body renders the table's rows: `{% data_table _("Listings") _("Name") %}
    <tr>…</tr>{% enddata_table %}`.
    """
    context = {
        "content": content,
        "caption": caption,
        "headings": headings,
        "table_class": table_class,
        "body_id": body_id,
    }
    return render_to_string("portal/_data_table.html", context)
