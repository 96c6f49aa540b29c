"""The registry of personal data covers every field of the project's models that looks
personal: a new one fails here until it is registered or marked not personal."""

import pytest
from django.apps import apps

from privacy import registry

PROJECT_APPS = {"portal", "shell", "leads", "crm", "inbound", "privacy", "retention", "demo"}


def _project_models():
    for model in apps.get_models():
        if model._meta.app_label in PROJECT_APPS and not model._meta.proxy:
            yield model


def test_every_field_that_looks_personal_is_registered_or_marked_not_personal():
    covered = registry.registered_fields()
    missing = [
        f"{model._meta.label}.{field.name}"
        for model in _project_models()
        for field in model._meta.get_fields()
        if registry.looks_personal(field)
        and field.name not in covered.get(model._meta.label, set())
    ]
    assert missing == []


def test_a_new_personal_field_is_caught():
    # Given a model the registry has never heard of, with a free-text field
    from django.db import models

    notes = models.TextField(name="notes")
    notes.concrete, notes.is_relation = True, False

    # Then it looks personal, and no registered store covers it
    assert registry.looks_personal(notes)
    assert "notes" not in registry.registered_fields().get("leads.Lead", set())


@pytest.mark.parametrize("store", registry.STORES, ids=lambda store: store.key)
def test_every_registered_field_and_export_path_exists(store):
    model = apps.get_model(store.model)
    names = {field.name for field in model._meta.get_fields()}
    assert store.field_names <= names
    for path in store.export:
        assert path.split("__")[0] in names | {f"{n}_id" for n in names}


def test_not_personal_names_only_existing_fields():
    for label, fields in registry.NOT_PERSONAL.items():
        model = apps.get_model(label)
        names = {field.name for field in model._meta.get_fields()}
        assert set(fields) <= names, label
