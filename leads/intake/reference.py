"""Intake's reference data, cached in each process: storefront keys, listings (with their
publisher and its threshold), active scoring rules, campaigns and their listing links, and,
for crm, the targets that cover a publisher's listings.

How stale an entry may be. Each family of data ("keys", "listings", "scoring",
"campaigns", "crm") has a token in the default cache (Redis in production, shared by
every process). A save or a delete of one of its models (post_save, post_delete,
m2m_changed, and the bulk writes that call `bump`) sets a new random token at once and
again after the transaction commits. A process reads all the tokens in one `get_many` at
most once per request (outside requests, at most once every TOKEN_READ_SECONDS) and drops
a family's entries when its token has changed: the next request, in any process, sees
the change, a revoked key included. An entry is also never older than TTL_SECONDS: that
bounds what goes round the signals (a `queryset.update()`, raw SQL, a token lost with
the cache). With the local-memory cache (`make run` without REDIS_URL) tokens are per
process, so other processes see a change within TTL_SECONDS. When the cache cannot be
read, nothing is cached.

Cached model instances are shared between requests and threads: callers read them and
never change them (the API key's `last_used_at`, which `api_keys` touches, aside).
"""

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from datetime import date
from uuid import uuid4

from django.core.cache import cache
from django.core.signals import request_started
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.db.models.signals import m2m_changed, post_delete, post_save

from leads.models import ApiKey, Campaign, CampaignListing, Listing, ScoringRule
from leads.scoring.rules import RuleSpec
from portal.models import Publisher

logger = logging.getLogger(__name__)

FAMILIES = ("keys", "listings", "scoring", "campaigns", "crm")
TTL_SECONDS = 10.0
TOKEN_READ_SECONDS = 1.0
MAX_ENTRIES = 4096  # per family, least recently used first out
_TOKEN_KEY = "reference-token:{}"
_UNCACHED = object()


class _Store:
    def __init__(self) -> None:
        self.token: str | None = None
        self.entries: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()


_stores = {family: _Store() for family in FAMILIES}
_lock = threading.Lock()
_local = threading.local()
_generation = [0]  # changed by an in-process bump: every thread reads the tokens again


def _new_request(**_kwargs) -> None:
    _local.snapshot = None


request_started.connect(_new_request, dispatch_uid="leads.intake.reference")


def _tokens() -> dict[str, str]:
    snapshot = _snapshot_due()
    if snapshot is None:
        tokens, _found = _tokens_read([])
        snapshot = _snapshot_keep(tokens)
    return snapshot[2]


def _snapshot_due() -> tuple | None:
    """This thread's snapshot of the tokens, or None when they are due to be read."""
    snapshot = getattr(_local, "snapshot", None)
    if (
        snapshot is None
        or snapshot[0] != _generation[0]
        or time.monotonic() - snapshot[1] > TOKEN_READ_SECONDS
    ):
        return None
    return snapshot


def _snapshot_keep(tokens: dict[str, str]) -> tuple:
    _local.snapshot = (_generation[0], time.monotonic(), tokens)
    return _local.snapshot


def read_with_tokens(keys: list[str]) -> dict:
    """`cache.get_many(keys)`, in the same round trip as the tokens' read when they are
    due (the auth throttle's count, read before the key's lookup, costs no trip of its
    own). Raises as `get_many` does when the cache cannot be read."""
    if _snapshot_due() is not None:
        return cache.get_many(keys)
    tokens, found = _tokens_read(keys)
    _snapshot_keep(tokens)
    if found is None:
        raise ConnectionError("the cache could not be read")
    return found


def _tokens_read(extra: list[str]) -> tuple[dict[str, str], dict | None]:
    """The families' tokens, and the values of the `extra` keys read with them (None
    when the cache could not be read)."""
    keys = {family: _TOKEN_KEY.format(family) for family in FAMILIES}
    try:
        found = cache.get_many([*keys.values(), *extra])
        tokens = {}
        for family, key in keys.items():
            token = found.get(key)
            if token is None:  # never set, or lost with the cache: start a new one
                token = uuid4().hex
                if not cache.add(key, token, timeout=None):
                    token = cache.get(key) or token
            tokens[family] = token
    except Exception:
        logger.warning("intake.reference.tokens_unreadable")
        return {family: uuid4().hex for family in FAMILIES}, None  # nothing cached stays valid
    return tokens, {key: found[key] for key in extra if key in found}


def bump(*families: str) -> None:
    """Make every process drop its entries of these families: now, and after commit."""
    _tokens_write(families)
    transaction.on_commit(lambda: _tokens_write(families), robust=True)


def _tokens_write(families: Iterable[str]) -> None:
    _generation[0] += 1
    try:
        cache.set_many({_TOKEN_KEY.format(f): uuid4().hex for f in families}, timeout=None)
    except Exception:
        logger.warning("intake.reference.tokens_unwritable")
    with _lock:
        for family in families:
            _stores[family].token = None
            _stores[family].entries.clear()


def reset() -> None:
    """Drop every entry of this process (tests: a rolled-back database sends no signal)."""
    _tokens_write(FAMILIES)


def watch(*, family: str, models: Iterable, m2m: Iterable = ()) -> None:
    """Bump `family` whenever one of `models` is saved or deleted, or an `m2m` through
    model's rows change."""

    def changed(**_kwargs) -> None:
        bump(family)

    for model in models:
        uid = f"reference:{family}:{model._meta.label}"
        post_save.connect(changed, sender=model, weak=False, dispatch_uid=uid)
        post_delete.connect(changed, sender=model, weak=False, dispatch_uid=uid)
    for through in m2m:
        uid = f"reference:{family}:{through._meta.label}"
        m2m_changed.connect(changed, sender=through, weak=False, dispatch_uid=uid)


def intake_models_watch() -> None:
    """Connect the leads families to their models' signals (LeadsConfig.ready)."""
    watch(family="keys", models=[ApiKey])
    watch(family="listings", models=[Listing, Publisher])
    watch(family="scoring", models=[ScoringRule])
    watch(family="campaigns", models=[Campaign, CampaignListing])


def cached_many[K: Hashable, V](
    *, family: str, keys: Iterable[K], load: Callable[[list[K]], dict[K, V]], default=_UNCACHED
) -> dict[K, V]:
    """The values of `keys`, from this process's entries or else from one `load` of the
    missing keys. A key `load` does not return gets `default`, which is cached too; with no
    default it is left out of the answer and not cached."""
    token = _tokens()[family]
    store = _stores[family]
    now = time.monotonic()
    found: dict[K, V] = {}
    missing: list[K] = []
    with _lock:
        if store.token != token:
            store.entries.clear()
            store.token = token
        for key in dict.fromkeys(keys):
            entry = store.entries.get(key)
            if entry is None or now - entry[0] > TTL_SECONDS:
                missing.append(key)
            else:
                store.entries.move_to_end(key)
                found[key] = entry[1]
    if not missing:
        return found
    loaded = load(missing)
    with _lock:
        keep = store.token == token  # not dropped while it loaded
        for key in missing:
            value = loaded.get(key, default)
            if value is _UNCACHED:
                continue
            found[key] = value
            if keep:
                store.entries[key] = (now, value)
                store.entries.move_to_end(key)
        while len(store.entries) > MAX_ENTRIES:
            store.entries.popitem(last=False)
    return found


# --- Intake's lookups --------------------------------------------------------------------


def api_key_live(*, hashed: str, kind: str) -> ApiKey | None:
    """The unrevoked key of this kind with this hash. Unknown hashes are not cached."""

    def load(keys: list[tuple[str, str]]) -> dict:
        ((key_hash, key_kind),) = keys
        api_key = ApiKey.objects.filter(
            key_hash=key_hash, kind=key_kind, revoked_at__isnull=True
        ).first()
        return {} if api_key is None else {(key_hash, key_kind): api_key}

    return cached_many(family="keys", keys=[(hashed, kind)], load=load).get((hashed, kind))


def listings_named(
    *, storefront: str, ids: set[str], names: set[str]
) -> tuple[dict[str, Listing], dict[str, tuple[Listing, ...]]]:
    """The storefront's listings by lower-case offer id, and by lower-case name (a name
    may match several), with their publisher."""
    keys = [("id", storefront, value) for value in ids]
    keys += [("name", storefront, value) for value in names]

    def load(missing: list[tuple[str, str, str]]) -> dict:
        wanted_ids = {value for kind, _storefront, value in missing if kind == "id"}
        wanted_names = {value for kind, _storefront, value in missing if kind == "name"}
        candidates = (
            Listing.objects.filter(storefront=storefront)
            .annotate(offer_lower=Lower("offer_id"), name_lower=Lower("name"))
            .filter(Q(offer_lower__in=wanted_ids) | Q(name_lower__in=wanted_names))
            .select_related("publisher")
        )
        answer: dict = {("name", storefront, name): () for name in wanted_names}
        for listing in candidates:
            answer[("id", storefront, listing.offer_id.lower())] = listing
            named = ("name", storefront, listing.name.lower())
            answer[named] = (*answer.get(named, ()), listing)
        return answer

    found = cached_many(family="listings", keys=keys, load=load, default=None)
    by_id = {key[2]: value for key, value in found.items() if key[0] == "id" and value}
    by_name = {key[2]: value for key, value in found.items() if key[0] == "name"}
    return by_id, by_name


def rules_by_publisher(*, publisher_ids: set[int]) -> dict[int, list[RuleSpec]]:
    """Each publisher's active scoring rules, in their order."""

    def load(missing: list[int]) -> dict[int, tuple[RuleSpec, ...]]:
        rules: dict[int, list[RuleSpec]] = {publisher_id: [] for publisher_id in missing}
        for rule in ScoringRule.objects.filter(publisher_id__in=missing, is_active=True):
            rules[rule.publisher_id].append(RuleSpec.from_rule(rule))
        return {publisher_id: tuple(specs) for publisher_id, specs in rules.items()}

    found = cached_many(family="scoring", keys=publisher_ids, load=load, default=())
    return {publisher_id: list(found[publisher_id]) for publisher_id in publisher_ids}


def campaigns_by_code(*, codes: set[tuple[int, str]]) -> dict[tuple[int, str], Campaign]:
    """The campaigns of these (publisher id, lower-case attribution code) pairs."""

    def load(missing: list[tuple[int, str]]) -> dict:
        matching = Campaign.objects.annotate(code_lower=Lower("code")).filter(
            publisher_id__in={publisher_id for publisher_id, _ in missing},
            code_lower__in={code for _, code in missing},
        )
        return {(c.publisher_id, c.code.lower()): c for c in matching}

    found = cached_many(family="campaigns", keys=codes, load=load, default=None)
    return {key: campaign for key, campaign in found.items() if campaign is not None}


def campaigns_active(*, listing_ids: set[int], today: date) -> dict[int, Campaign]:
    """Each listing's active campaign today: the most recently started one."""

    def load(missing: list[int]) -> dict[int, tuple]:
        links: dict[int, list] = {listing_id: [] for listing_id in missing}
        rows = (
            CampaignListing.objects.filter(
                listing_id__in=missing, campaign__status=Campaign.Status.ACTIVE
            )
            .select_related("campaign")
            .order_by("campaign__starts_on", "campaign_id")
        )
        for link in rows:
            campaign = link.campaign
            links[link.listing_id].append((campaign.starts_on, campaign.ends_on, campaign))
        return {listing_id: tuple(found) for listing_id, found in links.items()}

    found = cached_many(family="campaigns", keys=listing_ids, load=load, default=())
    by_listing = {}
    for listing_id, links in found.items():
        for starts_on, ends_on, campaign in links:
            if starts_on <= today and (ends_on is None or ends_on >= today):
                by_listing[listing_id] = campaign
    return by_listing
