"""The import-linter contracts in pyproject.toml bite: a copy of the source tree with one
planted import that breaks a rule fails `lint-imports` on that contract, naming the planted
module, while the same copy without the plant passes. A contract that cannot fail would
guard nothing."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contracts", "infra", "services", "tickets")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def source_copy(into: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", into / "pyproject.toml")
    return into


def lint_imports(tree: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    chosen = [argument for contract in contracts for argument in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", "pyproject.toml", *chosen],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_untouched_copy_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_imports(source_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


PLANTS = [
    # (contract id, file to write into, line to add, what the report must say)
    ("layers", "infra/planted.py", "import services.notifier.api", "infra.planted -> services"),
    ("layers", "infra/planted.py", "from tickets import cli", "infra.planted -> tickets.cli"),
    ("layers", "contracts/planted.py", "import infra.settings", "contracts.planted -> infra"),
    (
        "layers",
        "services/notifier/planted.py",
        "from tickets.demo import command",
        "services.notifier.planted -> tickets.demo.command",
    ),
    (
        "independent-services",
        "services/notifier/planted.py",
        "from services.ticket_service import repository",
        "services.notifier.planted -> services.ticket_service.repository",
    ),
    (
        "independent-services",
        "services/sla_monitor/domain/planted.py",
        "import services.assistant_gateway.domain.tools",
        "services.sla_monitor.domain.planted -> services.assistant_gateway.domain.tools",
    ),
    (
        "pure-domain",
        "services/ticket_service/domain/planted.py",
        "import pymongo",
        "services.ticket_service.domain.planted -> pymongo",
    ),
    (
        "pure-domain",
        "services/notifier/domain/planted.py",
        "from infra.clock import SystemClock",
        "services.notifier.domain.planted -> infra.clock",
    ),
    (
        "pure-domain",
        "services/sla_monitor/domain/planted.py",
        "import asyncio",
        "services.sla_monitor.domain.planted -> asyncio",
    ),
    # Indirect: through the service's own repository, which talks to Mongo.
    (
        "pure-domain",
        "services/ticket_service/domain/planted.py",
        "from services.ticket_service import repository",
        "services.ticket_service.domain.planted -> services.ticket_service.repository",
    ),
    # Indirect: the typed client may use aio_pika, the domain may not reach it through it.
    (
        "pure-domain",
        "services/whatsapp_channel/domain/planted.py",
        "from contracts import client",
        "services.whatsapp_channel.domain.planted -> contracts.client",
    ),
    ("contracts-without-server", "contracts/planted.py", "import httpx", "contracts.planted"),
    # Only contracts/client.py may import aio_pika, not another module of contracts.
    ("contracts-without-server", "contracts/events.py", "import aio_pika", "contracts.events"),
]


@pytest.mark.parametrize(("contract", "path", "line", "said"), PLANTS)
def test_a_planted_import_breaks_its_contract(
    tmp_path: Path, contract: str, path: str, line: str, said: str
) -> None:
    tree = source_copy(tmp_path)
    planted = tree / path
    before = planted.read_text(encoding="utf-8") if planted.exists() else ""
    planted.write_text(f"{before}\n{line}  # noqa\n", encoding="utf-8")

    result = lint_imports(tree, contract)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert said in " ".join(result.stdout.split()), result.stdout
