"""Secrets kept encrypted under a key derived from SECRET_KEY."""

from __future__ import annotations

import pytest

from logout_sso.internal import secret_box


def test_a_sealed_secret_opens_and_does_not_show(settings):
    sealed = secret_box.seal("stream-token-123")

    assert "stream-token-123" not in sealed
    assert secret_box.unseal(sealed) == "stream-token-123"
    assert secret_box.seal("stream-token-123") != sealed  # Fresh randomness each time.


def test_a_secret_sealed_under_the_previous_key_opens_after_rotation(settings):
    settings.SECRET_KEY = "old-" + "k" * 50
    sealed = secret_box.seal("stream-token-123")

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-" + "k" * 50, [settings.SECRET_KEY]

    assert secret_box.unseal(sealed) == "stream-token-123"


def test_a_secret_no_key_opens_is_said_so(settings):
    sealed = secret_box.seal("stream-token-123")
    settings.SECRET_KEY = "another-" + "k" * 50

    with pytest.raises(secret_box.SecretUnreadable, match="Set the secret again"):
        secret_box.unseal(sealed)
    with pytest.raises(secret_box.SecretUnreadable):
        secret_box.unseal("not a sealed secret")
