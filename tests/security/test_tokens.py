"""Finding: `nbf` was ignored and an `exp` given as a string was accepted."""

from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from infra.auth import ISSUER, ExpiredToken, InvalidToken, verify_token
from infra.settings import Settings

NOW = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
SECRET = "a-jwt-secret-for-the-security-tests-0123456789"
SETTINGS = Settings(jwt_secret=SECRET)
MOMENT = int(NOW.timestamp())


def token(**changes: Any) -> str:
    claims: dict[str, Any] = {
        "sub": "0123456789abcdef01234567",
        "role": "agent",
        "iss": ISSUER,
        "iat": MOMENT - 10,
        "exp": MOMENT + 3600,
    }
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": str(MOMENT + 3600)},
        {"exp": True},
        {"exp": None},
        {"iat": str(MOMENT)},
        {"nbf": str(MOMENT)},
        {"nbf": MOMENT + 3600},
        {"sub": 12345},
        {"sub": ""},
        {"role": ["admin"]},
    ],
    ids=[
        "exp-string",
        "exp-bool",
        "exp-missing",
        "iat-string",
        "nbf-string",
        "nbf-future",
        "sub-int",
        "sub-empty",
        "role-list",
    ],
)
def test_claims_of_the_wrong_type_or_not_yet_valid_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        verify_token(SETTINGS, token(**changes), NOW)


def test_a_numeric_date_may_be_fractional_and_nbf_in_the_past_is_fine() -> None:
    claims = verify_token(SETTINGS, token(exp=MOMENT + 0.5, nbf=MOMENT - 1), NOW)
    assert claims.nbf == MOMENT - 1


def test_an_expired_token_says_so() -> None:
    with pytest.raises(ExpiredToken):
        verify_token(SETTINGS, token(exp=MOMENT), NOW)
