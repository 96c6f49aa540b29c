"""Inbound URL tokens: 256 random bits, stored as a keyed hash that survives key rotation."""

import pytest

from inbound import sources, tokens
from tests.factories import make_listing

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_a_token_has_256_bits_and_only_its_hmac_is_stored():
    listing = make_listing()

    source, token = sources.inbound_url_create(listing=listing)

    assert tokens.TOKEN_SHAPE.fullmatch(token)
    assert source.token_hash == tokens.token_hash(token)
    assert token not in source.token_hash
    # Keyed: the bare SHA-256 of the token is not what is stored.
    import hashlib

    assert source.token_hash != hashlib.sha256(token.encode()).hexdigest()


def test_rotating_secret_key_keeps_the_url_working(settings):
    source, token = sources.inbound_url_create(listing=make_listing())
    old = settings.SECRET_KEY

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-brand-new-secret-key-" * 3, [old]

    assert sources.webhook_source_for_token(token=token).source == source


def test_setting_the_hash_key_later_keeps_the_url_working(settings):
    source, token = sources.inbound_url_create(listing=make_listing())

    settings.INBOUND_TOKEN_HASH_KEY = "a-dedicated-inbound-key"

    assert sources.webhook_source_for_token(token=token).source == source
    assert tokens.token_hash(token) != source.token_hash  # new URLs use the new key
