"""`leads.widgets.PlainSelect` writes what Django's `Select` writes, byte for byte."""

import pytest
from django import forms

from leads.widgets import PlainSelect

pytestmark = pytest.mark.sqlite

CHOICES = [
    ("", "Any <status>"),
    ("new", "New & shiny"),
    ('Group "quoted"', [("a", "A"), ("b", "B")]),
    (3, 3),
]


@pytest.mark.parametrize("value", ["", "new", "b", 3, None, "missing"])
@pytest.mark.parametrize(
    "attrs", [None, {"id": "id_x", "data-list-option": True, "hidden": False, "title": 'a"b'}]
)
def test_plain_select_writes_the_same_html_as_select(value, attrs):
    expected = forms.Select(choices=CHOICES).render("status", value, attrs=attrs)
    assert PlainSelect(choices=CHOICES).render("status", value, attrs=attrs) == expected


def test_a_required_select_keeps_its_required_attribute():
    field = forms.ChoiceField(choices=CHOICES[:2], widget=PlainSelect)
    expected = forms.ChoiceField(choices=CHOICES[:2]).widget
    expected.is_required = True
    assert field.widget.render("s", "new") == expected.render("s", "new")
