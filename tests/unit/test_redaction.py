"""Redaction by shape masks what could be a key after `api-key:` / `authorization:`, not the next
word of a sentence."""

from __future__ import annotations

import pytest

from provider_proxy.errors import relayable_retry_after
from provider_proxy.utils.logging import redact

WRONG_KEY = (
    "invalid x-api-key: this proxy requires the key set in PROXY_API_KEY (send it as x-api-key or ANTHROPIC_AUTH_TOKEN)"
)


def test_the_wrong_key_message_is_logged_as_written() -> None:
    assert (
        redact(f"req_1 failed: authentication_error {WRONG_KEY}") == f"req_1 failed: authentication_error {WRONG_KEY}"
    )


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("x-api-key: zzzzzz", "zzzzzz"),  # ends the text
        ('{"api-key": "abcdefgh", "model": "m"}', "abcdefgh"),  # ends a field
        ("Invalid api-key: abcd1234efgh. Please check it", "abcd1234efgh"),  # has a digit
        ("authorization: qwertyuiopasdfghjkl is refused", "qwertyuiopasdfghjkl"),  # long
        ("Authorization: Bearer tok_abcdefgh12", "tok_abcdefgh12"),
        ("api-key=0123abcd and more", "0123abcd"),
    ],
)
def test_what_could_be_a_key_is_still_masked(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned and "***" in cleaned


@pytest.mark.parametrize(
    ("value", "relayed"),
    [
        ("30", "30"),
        (" 1.5 ", "1.5"),
        ("Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"),
        # The date is written anew: whatever else the provider put into the value stays behind.
        ("Wed, 21 Oct 2015 07:28:00 GMT sk-upstream-secret-0123456789abcdef", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ("sk-upstream-secret-0123456789abcdef", None),
        ("30; key=sk-upstream-secret-0123456789abcdef", None),
        ("", None),
    ],
)
def test_only_seconds_or_a_date_of_a_retry_after_are_relayed(value: str, relayed: str | None) -> None:
    assert relayable_retry_after(value) == relayed
