"""Rotating SECRET_KEY as docs/operations.md ("Rotating SECRET_KEY") says: pin the two
hash keys to the old value first, put the new key in with the old one in
SECRET_KEY_FALLBACKS, then drop the fallback. Sessions used during the overlap survive,
and no inbound URL or suppression hash is orphaned when the fallback goes."""

import pytest
from django.test import Client

from inbound import tokens
from leads.nurture import address_hash

OLD = "old-secret-key-for-the-rotation-test-0123456789abcdefghijklmnopqrstuv"
NEW = "new-secret-key-for-the-rotation-test-0123456789abcdefghijklmnopqrstuv"
TOKEN = tokens.token_generate()[0]
ADDRESS = "person@rotation.example"


@pytest.fixture
def old_key(settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    settings.INBOUND_TOKEN_HASH_KEY = settings.SUPPRESSION_HASH_KEY = ""
    return settings


def test_a_session_used_during_the_overlap_survives_an_idle_one_ends(old_key, client, owner):
    idle = Client()
    for session in (client, idle):
        session.force_login(owner)
        assert session.get("/leads/").status_code == 200

    # Step 2: the new key, the old one as a fallback: still signed in, and a request
    # moves the session to the new key (Django's fallback check)
    old_key.SECRET_KEY, old_key.SECRET_KEY_FALLBACKS = NEW, [OLD]
    assert client.get("/leads/").status_code == 200

    # Step 3: the fallback dropped: the session used meanwhile stays signed in, the one
    # not used since before the rotation is signed out (sign in again)
    old_key.SECRET_KEY_FALLBACKS = []
    assert client.get("/leads/").status_code == 200
    assert idle.get("/leads/").status_code == 302


def test_hash_keys_pinned_to_the_old_value_keep_every_stored_hash(old_key):
    # Stored before the rotation, with the keys derived from SECRET_KEY
    inbound_hash = tokens.token_hash(TOKEN)
    suppression_hash = address_hash.address_hash(ADDRESS)

    # Step 1: both hash keys set to the old SECRET_KEY's value; nothing changes
    old_key.INBOUND_TOKEN_HASH_KEY = old_key.SUPPRESSION_HASH_KEY = OLD
    assert tokens.token_hash(TOKEN) == inbound_hash
    assert address_hash.address_hash(ADDRESS) == suppression_hash

    # Steps 2 and 3: the new key, then no fallback: the hashes still match and are written
    old_key.SECRET_KEY, old_key.SECRET_KEY_FALLBACKS = NEW, []
    assert tokens.token_hash(TOKEN) == inbound_hash
    assert inbound_hash in tokens.token_hashes(TOKEN)
    assert address_hash.address_hash(ADDRESS) == suppression_hash


def test_without_pinning_dropping_the_fallback_would_orphan_the_hashes(old_key):
    inbound_hash = tokens.token_hash(TOKEN)
    suppression_hash = address_hash.address_hash(ADDRESS)

    old_key.SECRET_KEY, old_key.SECRET_KEY_FALLBACKS = NEW, [OLD]
    assert inbound_hash in tokens.token_hashes(TOKEN)  # found during the overlap
    assert suppression_hash in address_hash.address_hashes(ADDRESS)
    old_key.SECRET_KEY_FALLBACKS = []
    assert inbound_hash not in tokens.token_hashes(TOKEN)  # why step 1 comes first
    assert suppression_hash not in address_hash.address_hashes(ADDRESS)
