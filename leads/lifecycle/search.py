"""The lead list's search: accent- and case-insensitive, on parts of names, the company,
the email's domain and the listing's name.

- A term with an "@" inside is an exact match on the normalized email (index `lead_email`).
- A term of three characters or more is split into words; each word must appear somewhere
  in the lead's searchable text: first and last name, company and the email's domain,
  lower-cased and unaccented ("lopez" finds "López", "ovel" finds "Lovelace"). A leading
  "@" asks for the domain only in spirit: it is stripped and searched like any word. On
  PostgreSQL the text is the stored generated column `search_text`, computed by
  `lp_lead_search_text(...)` (migrations leads/0021 and 0023), and `LIKE '%word%'` on it
  is a lookup in the GIN index `lead_pub_search_trgm` (leads/0029: the publisher, then
  the text's trigrams, through btree_gin), which finds only this publisher's candidates,
  and whose recheck reads the stored text instead of unaccenting every candidate again. Or the term
  names a listing of the publisher (matched in Python on its few listings, one query).
- A shorter term (one or two characters; trigrams need three) is a prefix match on the
  first name, last name or company, as before, served by the `text_pattern_ops` indexes.
- SQLite (the first run's embedded database) has neither extension: the needle is
  casefolded and stripped of accents in Python, and each word is an `icontains` on the
  columns, so "López" is found by "lopez" only when it was stored without its accent.
"""

import unicodedata

from django.db import connection
from django.db.models import Exists, Expression, OuterRef, Q, TextField

from leads.models import Lead, LeadActivity, Listing

TRIGRAM = 3
# Letters that unaccent folds but Unicode does not decompose.
_FOLDS = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe"})


class SearchText(Expression):
    """The lead's stored `search_text` column (leads/0023: PostgreSQL only, not a model
    field), on the queried lead table."""

    output_field = TextField()

    def as_sql(self, compiler, connection):
        table = compiler.quote_name(compiler.query.base_table)
        return f"{table}.{connection.ops.quote_name('search_text')}", []


def needle(text: str) -> str:
    """The term as the index holds text: lower case, accents removed ("ß" as "ss")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_FOLDS))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).strip()


def _prefix_condition(term: str) -> Q:
    return (
        Q(first_name__istartswith=term)
        | Q(last_name__istartswith=term)
        | Q(company__istartswith=term)
    )


def listings_named(*, publisher_id: int, term: str) -> tuple[int, ...]:
    """The publisher's listings whose name holds every word of the term (one query)."""
    words = needle(term.strip().lstrip("@")).split()
    if not words or "@" in term.strip().lstrip("@"):
        return ()
    listings = Listing.objects.filter(publisher_id=publisher_id).values_list("pk", "name")
    return tuple(pk for pk, name in listings if all(word in needle(name) for word in words))


def _word_condition(word: str) -> Q:
    if connection.vendor == "postgresql":
        return Q(search_text__contains=word)
    domain = Q(email_normalized__contains="@") & Q(email_normalized__iregex=r"@.*" + _regex(word))
    return (
        Q(first_name__icontains=word)
        | Q(last_name__icontains=word)
        | Q(company__icontains=word)
        | domain
    )


def _regex(word: str) -> str:
    return "".join(f"\\{char}" if not char.isalnum() else char for char in word)


def search_filter(leads, *, publisher_id: int, term: str, listing_ids=None):
    """`leads` narrowed to those the term finds (see the module's docstring);
    `listing_ids`: `listings_named` for the term, when the caller has it already."""
    term = term.strip()
    if "@" in term.lstrip("@"):
        return leads.filter(email_normalized=Lead.normalize_email(term))
    words = needle(term.lstrip("@")).split()
    if not words:
        return leads
    if max(len(word) for word in words) < TRIGRAM:
        return leads.filter(_prefix_condition(term.lstrip("@")))
    if connection.vendor == "postgresql":
        leads = leads.alias(search_text=SearchText())
    condition = Q()
    for word in words:
        condition &= _word_condition(word)
    if listing_ids is None:
        listing_ids = listings_named(publisher_id=publisher_id, term=term)
    if listing_ids:
        activities = LeadActivity.objects.filter(lead=OuterRef("pk"), listing_id__in=listing_ids)
        condition |= Q(Exists(activities))
    return leads.filter(condition)
