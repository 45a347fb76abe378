"""Services the benchmarks start as their own processes, as they run in production."""

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx


@asynccontextmanager
async def server_process(
    module: list[str], env: dict[str, str], ready_path: str
) -> AsyncIterator[str]:
    """`python -m <module> --port <free port>` with `env`; yields its URL once
    `ready_path` answers 200."""
    with socket.socket() as probe:  # a free loopback port for the child to take
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *module,
        "--port",
        str(port),
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(60), httpx.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(f"{url}{ready_path}")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.returncode is not None:
                    raise RuntimeError(f"{module[0]} exited with {process.returncode}")
                await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        await process.wait()
