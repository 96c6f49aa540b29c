"""portal.E002: `check --deploy` fails while the static manifest is missing or incomplete.

The manifest is written by a real `collectstatic` (whitenoise's compressed manifest
storage) into a folder of the test's own; the incomplete case drops entries from a copy.
"""

import json
import shutil

import pytest
from django.core.checks import Tags, run_checks
from django.core.management import call_command
from django.test import override_settings

from portal.checks import finder_paths, static_manifest_is_complete

pytestmark = pytest.mark.slow

MANIFEST_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
PLAIN_STORAGES = {
    **MANIFEST_STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def _manifest_settings(static_root, **more):
    return override_settings(STATIC_ROOT=str(static_root), STORAGES=MANIFEST_STORAGES, **more)


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A STATIC_ROOT filled by collectstatic with the manifest storage."""
    root = tmp_path_factory.mktemp("collected")
    with _manifest_settings(root):
        call_command("collectstatic", interactive=False, verbosity=0)
    return root


def _without(collected, tmp_path, *names: str):
    """A copy of the collected folder whose manifest lacks `names`."""
    root = tmp_path / "static"
    shutil.copytree(collected, root)
    manifest = json.loads((root / "staticfiles.json").read_text())
    for name in names:
        del manifest["paths"][name]
    (root / "staticfiles.json").write_text(json.dumps(manifest))
    return root


def _deploy_errors(root) -> list:
    with _manifest_settings(root):
        return [
            m
            for m in run_checks(tags=[Tags.staticfiles], include_deployment_checks=True)
            if m.id == "portal.E002"
        ]


def test_a_complete_manifest_passes(collected):
    # Given the manifest that collectstatic wrote, with every file the finders list
    manifest = json.loads((collected / "staticfiles.json").read_text())
    with _manifest_settings(collected):
        assert finder_paths() <= set(manifest["paths"])
        assert {"favicon.svg", "vendor/chart-4.6.1.umd.min.js", "ninja/swagger-ui-init.js"} <= (
            finder_paths()
        )

        # When the deploy checks run, then the manifest check says nothing
        assert static_manifest_is_complete(None) == []
    assert _deploy_errors(collected) == []


def test_a_missing_manifest_fails_the_deploy_check(tmp_path):
    # Given the manifest storage and a STATIC_ROOT that collectstatic never filled
    root = tmp_path / "empty"
    root.mkdir()

    # When the deploy checks run
    errors = _deploy_errors(root)

    # Then one error names the manifest, STATIC_ROOT and the fix
    assert [(e.id, e.msg, e.hint) for e in errors] == [
        (
            "portal.E002",
            f"The static files manifest (staticfiles.json) is missing from STATIC_ROOT ({root}).",
            "Run `python manage.py collectstatic --no-input` with this environment. "
            "Without it every HTML page answers 500.",
        )
    ]


def test_an_incomplete_manifest_fails_the_deploy_check(collected, tmp_path):
    # Given a manifest without the favicon (every page's <link rel=icon>) and Chart.js
    root = _without(collected, tmp_path, "favicon.svg", "vendor/chart-4.6.1.umd.min.js")

    # When the deploy checks run
    errors = _deploy_errors(root)

    # Then one error lists exactly the missing files
    assert [(e.id, e.msg) for e in errors] == [
        (
            "portal.E002",
            "The static files manifest lacks 2 file(s): favicon.svg, "
            "vendor/chart-4.6.1.umd.min.js.",
        )
    ]
    assert errors[0].hint.startswith("Run `python manage.py collectstatic --no-input`")


def test_a_template_naming_a_file_that_does_not_exist_fails_the_deploy_check(collected, tmp_path):
    # Given a template folder whose page uses a static file that no finder knows
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "page.html").write_text(
        '{% load static %}<link rel="stylesheet" href="{% static "css/gone.css" %}">'
    )
    engine = {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [templates],
        "APP_DIRS": False,
    }

    # When the deploy checks run
    with _manifest_settings(collected, TEMPLATES=[engine]):
        errors = static_manifest_is_complete(None)

    # Then the file is named as missing from the manifest
    assert [e.msg for e in errors] == ["The static files manifest lacks 1 file(s): css/gone.css."]


def test_the_check_lists_ten_missing_files_and_counts_the_rest(collected, tmp_path):
    names = sorted(n for n in finder_paths() if n.startswith("admin/img/"))[:12]
    root = _without(collected, tmp_path, *names)

    errors = _deploy_errors(root)

    assert [e.msg for e in errors] == [
        f"The static files manifest lacks 12 file(s): {', '.join(names[:10])} and 2 more."
    ]


def test_without_the_manifest_storage_there_is_nothing_to_check(tmp_path):
    # Given the plain storage of DEBUG and the tests, and no manifest anywhere
    with override_settings(STATIC_ROOT=str(tmp_path), STORAGES=PLAIN_STORAGES):
        # When the deploy checks run, then the manifest check has nothing to say
        assert static_manifest_is_complete(None) == []


def test_the_check_runs_only_with_deploy(tmp_path):
    # Given a missing manifest, when the checks run without --deploy
    with _manifest_settings(tmp_path):
        messages = run_checks(tags=[Tags.staticfiles], include_deployment_checks=False)

    # Then the manifest check is not among them (runserver and tests never need a manifest)
    assert [m for m in messages if m.id == "portal.E002"] == []
