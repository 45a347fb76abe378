"""Agent tokens and service API keys (infra/auth.py), checked against an injected clock."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from contracts.enums import AgentRole
from infra.api_keys import Scope, digest, env_keys
from infra.auth import (
    InvalidToken,
    bearer_token,
    issue_token,
    verify_token,
)
from infra.settings import Settings

# A moment far from the real clock: tokens must follow the injected clock, not the wall.
NOW = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
HS = Settings(jwt_secret="s3cret-for-tests-of-agent-tokens-32b", api_keys="key-one, key-two")


def rsa_settings() -> tuple[Settings, Settings]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return Settings(jwt_private_key=private), Settings(jwt_public_key=public)


def test_a_token_round_trips_with_the_agent_and_role() -> None:
    token = issue_token(HS, "a" * 24, AgentRole.ADMIN, NOW)
    claims = verify_token(HS, token, NOW + timedelta(hours=1))
    assert (claims.sub, claims.role) == ("a" * 24, AgentRole.ADMIN)
    assert claims.exp == int((NOW + timedelta(seconds=HS.jwt_ttl_seconds)).timestamp())


def test_expiry_follows_the_injected_clock() -> None:
    token = issue_token(HS, "a" * 24, AgentRole.AGENT, NOW, ttl=timedelta(minutes=5))
    verify_token(HS, token, NOW + timedelta(minutes=4, seconds=59))
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(HS, token, NOW + timedelta(minutes=5))


def test_a_token_from_the_future_is_refused() -> None:
    token = issue_token(HS, "a" * 24, AgentRole.AGENT, NOW + timedelta(minutes=5))
    with pytest.raises(InvalidToken, match="future"):
        verify_token(HS, token, NOW)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        jwt.encode(
            {"sub": "x", "role": "agent", "iat": 1, "exp": 2**40, "iss": "whatsapp-tickets"},
            "another-secret-of-more-than-32-bytes",
            algorithm="HS256",
        ),
        jwt.encode(
            {"sub": "x", "role": "agent", "iat": 1, "exp": 2**40, "iss": "someone-else"},
            "s3cret-for-tests-of-agent-tokens-32b",
            algorithm="HS256",
        ),
        jwt.encode(
            {"sub": "x", "role": "root", "iat": 1, "exp": 2**40, "iss": "whatsapp-tickets"},
            "s3cret-for-tests-of-agent-tokens-32b",
            algorithm="HS256",
        ),
        jwt.encode(
            {"sub": "x", "iat": 1, "exp": 2**40, "iss": "whatsapp-tickets"},
            "s3cret-for-tests-of-agent-tokens-32b",
            algorithm="HS256",
        ),
        jwt.encode(
            {"sub": "x", "role": "agent", "iat": 1, "exp": 2**40, "iss": "whatsapp-tickets"},
            "",
            algorithm="none",
        ),
    ],
    ids=["garbage", "wrong-secret", "wrong-issuer", "unknown-role", "no-role", "alg-none"],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(HS, token, NOW)


def test_rs256_tokens_verify_with_the_public_key_only() -> None:
    issuer, verifier = rsa_settings()
    token = issue_token(issuer, "b" * 24, AgentRole.AGENT, NOW)
    assert verify_token(verifier, token, NOW).sub == "b" * 24
    with pytest.raises(InvalidToken):
        verify_token(HS, token, NOW)


def test_without_keys_nothing_is_issued_or_accepted() -> None:
    bare = Settings()
    with pytest.raises(InvalidToken, match="no JWT"):
        issue_token(bare, "a" * 24, AgentRole.AGENT, NOW)
    with pytest.raises(InvalidToken, match="no JWT"):
        verify_token(bare, issue_token(HS, "a" * 24, AgentRole.AGENT, NOW), NOW)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Bearer abc.def", "abc.def"), ("bearer   abc ", "abc")],
)
def test_bearer_header_parsing(header: str, expected: str) -> None:
    assert bearer_token(header) == expected


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   "])
def test_bad_authorization_headers(header: str | None) -> None:
    with pytest.raises(InvalidToken):
        bearer_token(header)


def test_configured_api_keys_have_every_scope_and_a_name_from_their_digest() -> None:
    keys = env_keys(HS)
    one, two = keys[digest("key-one")], keys[digest("key-two")]
    assert one.name == f"env-{digest('key-one')[:8]}"
    assert one.name != two.name
    assert one.scopes == two.scopes == frozenset(Scope)
    assert digest("key-three") not in keys
    assert env_keys(Settings()) == {}
