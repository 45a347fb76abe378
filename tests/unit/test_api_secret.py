"""The JWT secret `tickets up` keeps when none is configured."""

from pathlib import Path

from infra.settings import Settings
from services.ticket_service.agents_cli import with_persistent_jwt_secret


def test_a_secret_is_made_once_kept_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", jwt_secret=None)
    first = with_persistent_jwt_secret(settings)
    second = with_persistent_jwt_secret(settings)
    kept = tmp_path / "var" / "jwt_secret"
    assert first.jwt_secret == second.jwt_secret == kept.read_text().strip()
    assert len(first.jwt_secret or "") >= 32
    assert kept.stat().st_mode & 0o777 == 0o600


def test_a_configured_secret_or_key_is_left_alone(tmp_path: Path) -> None:
    given = Settings(data_dir=tmp_path, jwt_secret="configured-secret-0123456789abcdef")
    public = Settings(data_dir=tmp_path, jwt_secret=None, jwt_public_key="-----BEGIN...")
    assert with_persistent_jwt_secret(given).jwt_secret == "configured-secret-0123456789abcdef"
    assert with_persistent_jwt_secret(public).jwt_secret is None
    assert not (tmp_path / "jwt_secret").exists()
