"""The README's API examples work pasted in order, against a fresh server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent


def api_examples() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## API\n"):]
    return re.search(r"```sh\n(.*?)```", section, re.S)[1]


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("curl") is None, reason="needs curl and jq")
def test_the_api_examples_run_in_order(tmp_path: Path) -> None:
    script = api_examples()
    first = re.match(r"B=http://(127\.0\.0\.1|localhost):8000", script)
    assert first, script[:40]
    # the example file's secrets are refused at start: the same clients with other secrets
    clients = (ROOT / "clients.example.json").read_text().replace('"change-me-', '"test-only-')
    (tmp_path / "clients.readme.json").write_text(clients)
    base, process = start_server(tmp_path, {"IDP_CLIENTS_FILE": str(tmp_path / "clients.readme.json")})
    try:
        script = script.replace(first[0], f"B={base}", 1).replace("change-me-", "test-only-")
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                                timeout=120, env={**os.environ})
    finally:
        stop_server(process)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # the narrower refresh narrowed; logout ended the login; the deletion went through
    assert re.search(r'"scope": ?"account profile"', result.stdout)  # the login's scope
    assert re.search(r'"active": ?true.*"scope": ?"account"', result.stdout)  # the narrowed token's
    assert "\n401\n" in result.stdout
