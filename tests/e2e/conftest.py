"""The `tickets-contracts` wheel built from this repository and installed alone into an
empty virtualenv, once per session: what an integrator installs."""

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "packages" / "tickets-contracts"


def run(*command: str | Path, cwd: Path | None = None) -> str:
    finished = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, cwd=cwd
    )
    assert finished.returncode == 0, f"{command}\n{finished.stdout}\n{finished.stderr}"
    return finished.stdout


@pytest.fixture(scope="session")
def contracts_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a fresh virtualenv with only the built wheel and its dependencies (the
    server's pins as constraints, so pip takes what this repository already uses)."""
    work = tmp_path_factory.mktemp("contracts-package")
    shutil.copytree(PACKAGE, work / "packages" / "tickets-contracts")
    shutil.copytree(
        ROOT / "contracts", work / "contracts", ignore=shutil.ignore_patterns("__pycache__")
    )
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        work / "packages" / "tickets-contracts",
        "-w",
        work / "dist",
    )
    [wheel] = (work / "dist").glob("tickets_contracts-*.whl")
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    constraints = ROOT / "requirements" / "runtime.txt"
    run(
        python,
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        wheel,
        "-c",
        constraints,
    )
    return python
