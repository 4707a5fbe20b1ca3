"""Signed, scoped, expiring tokens (hotfix.signing) and the action-link grants built on them (hotfix.actions)."""
from __future__ import annotations

import string
from datetime import datetime, timedelta, timezone

import pytest

from hotfix.actions import Grant, LinkAction, act_url, grant_for, read_grant
from hotfix.enums import Locale
from hotfix.settings import Settings
from hotfix.signing import Signer, TokenError, TokenProblem

NOW = datetime.now(timezone.utc).replace(microsecond=0)
KEY = "k3y-for-the-tests-only-0123456789"
ALPHABET = string.ascii_letters + string.digits + "-_"


@pytest.fixture
def signer() -> Signer:
    return Signer(KEY)


def test_a_token_carries_its_claims_until_it_expires(signer: Signer) -> None:
    """A token gives back its claims before its expiry, and is refused as expired from then on."""
    token = signer.issue("act", {"ticket": "INC-1", "by": "Chloé"}, expires=NOW + timedelta(minutes=5))
    assert signer.verify("act", token, now=NOW + timedelta(minutes=4)) == {"ticket": "INC-1", "by": "Chloé"}
    with pytest.raises(TokenError) as caught:
        signer.verify("act", token, now=NOW + timedelta(minutes=5))
    assert caught.value.problem is TokenProblem.EXPIRED and caught.value.expired_at == NOW + timedelta(minutes=5)


def test_every_one_character_change_is_refused(signer: Signer) -> None:
    """Changing any one character of a token, to any other URL-safe character, makes it forged or malformed."""
    token = signer.issue("act", {"ticket": "INC-1"}, expires=NOW + timedelta(hours=1))
    accepted = []
    for i in range(len(token)):
        for char in ALPHABET:
            if char != token[i]:
                try:
                    signer.verify("act", token[:i] + char + token[i + 1:], now=NOW)
                    accepted.append((i, char))
                except TokenError:
                    pass
    assert accepted == []


@pytest.mark.parametrize("token,problem", [
    ("", TokenProblem.MALFORMED), ("a" * 3000, TokenProblem.MALFORMED), ("abc def", TokenProblem.MALFORMED),
    ("../../etc/passwd", TokenProblem.MALFORMED), ("eyJhIjoxfQ.bm90LWEtc2lnbmF0dXJl", TokenProblem.FORGED),
    ("nodot", TokenProblem.FORGED),
])
def test_garbage_is_refused_with_a_reason(signer: Signer, token: str, problem: TokenProblem) -> None:
    """Empty, huge, odd or unsigned input is refused as malformed or forged, never a crash."""
    with pytest.raises(TokenError) as caught:
        signer.verify("act", token, now=NOW)
    assert caught.value.problem is problem


def test_a_token_is_scoped_to_its_purpose_and_key(signer: Signer) -> None:
    """A token minted for one purpose (or under another key) does not verify for another."""
    token = signer.issue("unsubscribe", {"audience": "users"}, expires=NOW + timedelta(hours=1))
    with pytest.raises(TokenError):
        signer.verify("act", token, now=NOW)
    with pytest.raises(TokenError):
        Signer("another-key-of-enough-length").verify("unsubscribe", token, now=NOW)


def test_a_short_key_is_refused() -> None:
    """A signing key under 16 characters cannot sign anything."""
    with pytest.raises(ValueError):
        Signer("short")


def _settings(**audiences: dict[str, object]) -> Settings:
    return Settings(
        http={"public_url": "https://herald.example.com/", "signing_key": KEY},
        audiences={"oncall": {"emails": ["o@example.com"]}, **audiences},
        people={"Chloé": {"email": "chloe@example.com", "locale": "en"}},
    )


@pytest.mark.parametrize("audience,kind,gets_link", [
    ("oncall", None, True), ("crew", "team", True), ("cto", "stakeholders", False), ("customers", "users", False),
])
def test_links_only_for_responder_audiences(audience: str, kind: str | None, gets_link: bool) -> None:
    """Team audiences get a grant; stakeholder and user audiences never do."""
    extra = {audience: {"emails": ["x@example.com"], **({"kind": kind} if kind else {})}} if audience != "oncall" else {}
    settings = _settings(**extra)
    assert (grant_for(settings, ticket="INC-1", audience=audience) is not None) is gets_link


@pytest.mark.parametrize("audience", [{"self_service": True}, {"self_service": True, "emails": ["x@example.com"]},
                                      {"self_service": True, "kind": "team", "allowed_domains": ["example.com"]}])
def test_no_link_for_a_self_service_audience(audience: dict[str, object]) -> None:
    """Whoever joined a self-service audience on their own is no responder: its messages carry no action link
    (one could update or resolve the hotfix), whatever its kind (team by default)."""
    settings = _settings(watchers=audience)
    assert grant_for(settings, ticket="INC-1", audience="watchers") is None
    assert grant_for(settings, ticket="INC-1", audience="oncall") is not None


def test_a_person_grant_names_the_person_role_and_locale() -> None:
    """A prompt to a person grants them all actions on the ticket, for their role, in their locale."""
    grant = grant_for(_settings(), ticket="INC-1", audience="person:Chloé", person="Chloé", role="reviewer")
    assert grant == Grant(ticket="INC-1", by="Chloé", person=True, role="reviewer", locale=Locale.EN)
    assert set(grant.actions) == set(LinkAction)


def test_no_links_without_public_url_and_key() -> None:
    """Without [http] public_url or signing_key, no message gets a link."""
    for http in ({"public_url": "https://h.example.com"}, {"signing_key": KEY}, {}):
        assert grant_for(Settings(http=http, audiences={"oncall": {}}), ticket="INC-1", audience="oncall") is None


def test_act_url_round_trips_to_the_grant() -> None:
    """``act_url`` is ``{public_url}/act/{token}`` and its token reads back as the same grant, until link_ttl."""
    settings = _settings()
    grant = Grant(ticket="INC-1", by="oncall", person=False)
    url = act_url(settings, grant, NOW)
    assert url.startswith("https://herald.example.com/act/")
    token = url.rsplit("/", 1)[1]
    assert read_grant(settings, token, NOW + timedelta(hours=47)) == grant
    with pytest.raises(TokenError):
        read_grant(settings, token, NOW + timedelta(hours=48))
