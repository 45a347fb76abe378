"""`infra.files.private_directory`: the data directory is made private only when it holds
nothing but the system's files; a shared directory (`/tmp`) or a user's own (a home
directory) keeps its mode and its other files, and only the system's files are 0600."""

import stat
from pathlib import Path

from infra.files import private_directory


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files(directory: Path, modes: dict[str, int]) -> None:
    for name, wanted in modes.items():
        (directory / name).write_text("x")
        (directory / name).chmod(wanted)


def test_a_new_directory_is_0700(tmp_path: Path) -> None:
    made = private_directory(tmp_path / "var" / "data")
    assert mode(made) == 0o700


def test_a_directory_holding_only_the_systems_files_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    data.chmod(0o755)
    files(data, {"mongo.sqlite": 0o644, "mongo.sqlite-wal": 0o644, "jwt_secret": 0o640})
    private_directory(data)
    assert mode(data) == 0o700
    assert {p.name: mode(p) for p in data.iterdir()} == {
        "mongo.sqlite": 0o600,
        "mongo.sqlite-wal": 0o600,
        "jwt_secret": 0o600,
    }


def test_a_shared_directory_like_tmp_keeps_its_mode_and_its_other_files(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    files(shared, {"mongo.sqlite": 0o644, "someone-elses.log": 0o644})
    private_directory(shared, "mongo.sqlite")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert mode(shared / "mongo.sqlite") == 0o600
    assert mode(shared / "someone-elses.log") == 0o644


def test_a_users_directory_with_other_files_keeps_them_as_they_are(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    files(home, {"notes.txt": 0o644, "tickets.sqlite": 0o644})
    private_directory(home, "tickets.sqlite")
    assert mode(home) == 0o755
    assert mode(home / "notes.txt") == 0o644
    assert mode(home / "tickets.sqlite") == 0o600


def test_an_empty_directory_writable_by_others_is_not_taken_over(tmp_path: Path) -> None:
    """Write access for others means others may put files there: not the system's to lock."""
    open_to_all = tmp_path / "drop"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    private_directory(open_to_all)
    assert mode(open_to_all) == 0o777
