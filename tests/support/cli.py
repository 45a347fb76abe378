"""Run the `tickets` command as an operator does: a child process, its exit status and its
output lines."""

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

TICKETS = str(Path(sys.executable).with_name("tickets"))
EXIT_BOUND_SECONDS = 180.0
"""Generous: the code's own bounds are a few seconds, but bulk commands (a migration) on a
shared 2-core machine running other suites can take a minute; this only catches a hang."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without any TICKETS_*, MONGODB_URL or OpenAI
    settings, plus `overrides`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TICKETS_", "OPENAI_")) and key not in {"MONGODB_URL"}
    }
    return env | {"TICKETS_LOG_LEVEL": "WARNING"} | overrides


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str

    @property
    def plain_stderr(self) -> list[str]:
        """stderr lines that are not JSON log lines: what a person reads."""
        return [line for line in self.stderr.splitlines() if not line.startswith("{")]


async def run_tickets(*args: str, env: Mapping[str, str], cwd: Path | None = None) -> Finished:
    process = await asyncio.create_subprocess_exec(
        TICKETS,
        *args,
        env=dict(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), EXIT_BOUND_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"tickets {' '.join(args)} did not exit") from None
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())


@dataclass
class Running:
    """`tickets up` (or `run`) in its own process group, like a terminal session."""

    process: asyncio.subprocess.Process
    base: str
    banner: str

    async def interrupt(self, signum: int = signal.SIGINT) -> int:
        """The signal to the whole group (what Ctrl-C does); returns the exit status."""
        os.killpg(self.process.pid, signum)
        try:
            return await asyncio.wait_for(self.process.wait(), EXIT_BOUND_SECONDS)
        except TimeoutError:
            os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()
            raise AssertionError("tickets did not stop after the signal") from None


@asynccontextmanager
async def tickets_running(
    *args: str, env: Mapping[str, str], cwd: Path | None = None
) -> AsyncIterator[Running]:
    """Starts `tickets <args> --port <free>`, waits for its "listening" line, stops it."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        TICKETS,
        *args,
        "--port",
        str(port),
        env=dict(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    running = Running(process, f"http://127.0.0.1:{port}", "")
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), EXIT_BOUND_SECONDS)
        running.banner = line.decode()
        assert f"listening on {running.base}" in running.banner, running.banner
        yield running
    finally:
        if process.returncode is None:
            await running.interrupt(signal.SIGTERM)


async def get(url: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url, params=params)
