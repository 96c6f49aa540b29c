"""Deploy checks of the project itself.

`static_manifest_is_complete`: with the manifest storage (STATIC_MANIFEST, on when DEBUG is
off), `{% static %}` raises for any file that the manifest lacks, so one missing entry
(favicon.svg is in base.html) turns every HTML page into a 500. The check compares the
manifest written by `collectstatic` with what it should hold: every file the static
finders list, and every literal `{% static "…" %}` path in the templates.
"""

import re
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.checks import Error, Tags, register
from django.core.files.storage import storages
from django.template import engines
from django.template.backends.django import DjangoTemplates

# `{% static "path" %}` with a literal path; a variable path cannot be checked statically.
STATIC_TAG_RE = re.compile(r"""\{%\s*static\s+(["'])([^"']+)\1""")
SHOWN_MISSING = 10


def finder_paths() -> set[str]:
    """Every file `collectstatic` would collect, by the name the manifest keys it under."""
    ignore_patterns = apps.get_app_config("staticfiles").ignore_patterns
    found = set()
    for finder in finders.get_finders():
        for path, _storage in finder.list(ignore_patterns):
            found.add(Path(path).as_posix())
    return found


def template_static_paths() -> set[str]:
    """Every literal `{% static %}` path in the Django templates' folders."""
    found = set()
    for engine in engines.all():
        if not isinstance(engine, DjangoTemplates):
            continue
        for directory in engine.template_dirs:
            for template in Path(directory).rglob("*.html"):
                text = template.read_text(encoding="utf-8", errors="replace")
                found.update(match.group(2) for match in STATIC_TAG_RE.finditer(text))
    return found


@register(Tags.staticfiles, deploy=True)
def static_manifest_is_complete(app_configs, **kwargs):
    """With the manifest storage, `collectstatic` has run and its manifest has every file."""
    storage = storages["staticfiles"]
    if not isinstance(storage, ManifestFilesMixin):
        return []
    hint = "Run `python manage.py collectstatic --no-input` with this environment."
    manifest = storage.read_manifest()
    if manifest is None:
        return [
            Error(
                f"The static files manifest ({storage.manifest_name}) is missing from "
                f"STATIC_ROOT ({settings.STATIC_ROOT}).",
                hint=hint + " Without it every HTML page answers 500.",
                id="portal.E002",
            )
        ]
    try:
        paths, _manifest_hash = storage.load_manifest()
    except ValueError:  # not JSON, or a version this Django does not read
        paths = {}
    listed = set(paths)
    missing = sorted((finder_paths() | template_static_paths()) - listed)
    if not missing:
        return []
    shown = ", ".join(missing[:SHOWN_MISSING])
    more = f" and {len(missing) - SHOWN_MISSING} more" if len(missing) > SHOWN_MISSING else ""
    return [
        Error(
            f"The static files manifest lacks {len(missing)} file(s): {shown}{more}.",
            hint=hint + " A page that uses a missing file answers 500.",
            id="portal.E002",
        )
    ]
