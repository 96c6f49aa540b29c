"""A nurture step's body as Markdown: a sanitised HTML part and a text part (docs/email.md).

The body is CommonMark (markdown-it-py) with raw HTML off, and the result goes through
nh3 (the Ammonia sanitiser) with a short allowlist of tags, attributes and URL schemes.
Placeholders never reach the Markdown parser: each is replaced by a random sentinel,
the template is rendered, and only then does each sentinel become its value, HTML-escaped.
So a lead's name such as `[x](javascript:…)` or `<script>` is inert text. Only
`{unsubscribe_url}` may be a link's address (`[Unsubscribe]({unsubscribe_url})`); a link to
any other placeholder loses its address. The final nh3 pass drops any scheme but http,
https and mailto. A bare `{unsubscribe_url}` becomes a
link, as in plain-text steps.

The text part comes from the same source: the Markdown as written (it reads as text),
with `[label](address)` written `label (address)`, then the placeholders substituted.
"""

import re
import secrets

import nh3
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "breaks": True}).disable("image")
TAGS = {
    "p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote", "code", "pre", "hr",
    "h1", "h2", "h3", "h4",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}
_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]+)\)")


def _sentinels(pieces) -> tuple[str, dict[str, str]]:
    """The template with each placeholder as a random alphanumeric sentinel."""
    nonce = secrets.token_hex(8)
    names: dict[str, str] = {}
    parts: list[str] = []
    for n, (literal, name) in enumerate(pieces):
        parts.append(literal)
        if name:
            sentinel = f"ph{nonce}x{n}x"
            names[sentinel] = name
            parts.append(sentinel)
    return "".join(parts), names


class MarkdownTemplate:
    """A body rendered by the Markdown parser once, filled for each lead in one pass.

    The parser sees only sentinels. At compile time a link to a lead's value loses its
    address and a link to `{unsubscribe_url}` gets a sentinel of its own; each fill then
    replaces every sentinel with its HTML-escaped value in one regex pass (a value is never
    scanned again, so it cannot forge a sentinel) and nh3 sanitises the result.
    """

    def __init__(self, pieces):
        source, names = _sentinels(pieces)
        html = _MARKDOWN.render(source)
        self._slots: dict[str, tuple[str, str]] = {}  # sentinel -> (placeholder, form)
        for sentinel, name in names.items():
            if name == "unsubscribe_url":
                href = f"{sentinel}h"
                html = html.replace(f'href="{sentinel}"', f'href="{href}"')
                self._slots[href] = (name, "href")
                self._slots[sentinel] = (name, "link")
            else:  # a lead's value is never a link address: such a link loses its href
                html = html.replace(f' href="{sentinel}"', "")
                self._slots[sentinel] = (name, "text")
        self._html = html
        self._pattern = (
            re.compile("|".join(sorted(map(re.escape, self._slots), key=len, reverse=True)))
            if self._slots
            else None
        )

    def render(self, values: dict[str, str]) -> SafeString:
        def fill(match: re.Match) -> str:
            name, form = self._slots[match.group(0)]
            value = values.get(name, "")
            if form == "link":
                return str(format_html('<a href="{}">{}</a>', value, value))
            return str(escape(value))

        html = self._pattern.sub(fill, self._html) if self._pattern else self._html
        cleaned = nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES)
        return mark_safe(cleaned)  # noqa: S308  (sanitised by nh3 just above)


def markdown_html(pieces, values: dict[str, str]) -> SafeString:
    """The body as sanitised HTML; `pieces` are the template's (literal, name) pairs."""
    return MarkdownTemplate(pieces).render(values)


def markdown_source_as_text(template: str) -> str:
    """The template with Markdown links written as `label (address)` for the text part."""
    return _LINK.sub(r"\1 (\2)", template)
