"""The JWT secret `tickets up` keeps when none is configured."""

from pathlib import Path

from infra.auth import with_persistent_jwt_secret
from infra.settings import Settings


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


def test_an_empty_secret_file_is_replaced_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    (data / "jwt_secret").write_text("")  # a crash mid-write before writes were atomic
    made = with_persistent_jwt_secret(Settings(data_dir=data, jwt_secret=None))
    assert made.jwt_secret
    assert (data / "jwt_secret").read_text().strip() == made.jwt_secret
    assert (data / "jwt_secret").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in data.iterdir()] == ["jwt_secret"]


def test_a_kept_secret_wins_over_a_new_one(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o700)
    (data / "jwt_secret").write_text("kept-by-the-first-start-0123456789abcdef\n")
    taken = with_persistent_jwt_secret(Settings(data_dir=data, jwt_secret=None))
    assert taken.jwt_secret == "kept-by-the-first-start-0123456789abcdef"
