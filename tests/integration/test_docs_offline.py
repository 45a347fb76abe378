"""`/docs` and `/redoc` work with no network: every script, style sheet and icon they load
is served by the process itself, and so is the OpenAPI document they render."""

import re
from pathlib import PurePosixPath

import pytest

from tests.support.api import api_client, api_settings
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")
KINDS = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "json"}


@pytest.mark.parametrize(("page", "needle"), [("/docs", "SwaggerUIBundle"), ("/redoc", "Redoc")])
async def test_the_docs_pages_load_only_local_assets(
    endpoints: Endpoints, database: str, page: str, needle: str
) -> None:
    async with api_client(api_settings(endpoints, database)) as api:
        html = (await api.get(page)).text
        references = {a or b for a, b in REFERENCE.findall(html)}
        loaded = {ref: await api.get(ref) for ref in references}
    assert "/openapi.json" in html
    assert {PurePosixPath(ref).suffix for ref in references} >= {".js", ".png"}
    for ref, response in loaded.items():
        assert ref.startswith("/"), ref
        assert not ref.startswith("//"), ref
        assert response.status_code == 200, ref
        assert KINDS[PurePosixPath(ref).suffix] in response.headers["content-type"], ref
    scripts = b"".join(r.content for ref, r in loaded.items() if ref.endswith(".js"))
    assert needle.encode() in scripts
