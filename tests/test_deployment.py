"""docker-compose.yml, the Dockerfile and the CircleCI config agree with the code.

No Docker engine runs where these tests do, so this is what can be checked: that the
files parse, name only settings that exist, and wire services, ports and paths alike.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from idp.clients_file import read_clients_file
from idp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
KNOWN = {name for name, _, _ in Settings.variables()}


def test_compose_uses_known_settings_and_its_own_services() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    env = services["idp"]["environment"]
    assert set(env) <= KNOWN, set(env) - KNOWN
    settings = Settings.from_env({k: str(v) for k, v in env.items()})
    assert urlsplit(settings.mongo_uri).hostname in services
    assert "mongo" in services["idp"]["depends_on"]
    assert services["mongo"]["healthcheck"]["test"]
    published = [p.split(":")[-1] for p in services["idp"]["ports"]]
    assert str(settings.port) in published
    assert any(v.endswith(f":{settings.keys_dir}") for v in services["idp"]["volumes"])
    assert any(v.endswith(f":{settings.clients_file}:ro") for v in services["idp"]["volumes"])


def test_dockerfile_runs_idp_serve_as_non_root_with_known_settings() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert 'CMD ["idp", "serve"]' in text
    assert set(re.findall(r"\b(IDP_[A-Z_]+)=", text)) <= KNOWN
    assert "/readyz" in text


def test_circleci_runs_the_suite_on_memory_and_on_mongodb() -> None:
    config = yaml.safe_load((ROOT / ".circleci" / "config.yml").read_text())
    jobs = config["jobs"]
    commands = {name: [s["run"]["command"] for s in job["steps"] if isinstance(s, dict) and "run" in s]
                for name, job in jobs.items()}
    assert all(any("./scripts/test" in c for c in cmds) for cmds in commands.values())
    mongo_jobs = [j for j in jobs.values() if "IDP_TEST_MONGO_URI" in j.get("environment", {})]
    assert mongo_jobs and any(img["image"].startswith("mongo:") for img in mongo_jobs[0]["docker"])
    assert set(config["workflows"]["test"]["jobs"]) == set(jobs)


def test_the_example_clients_file_is_valid() -> None:
    assert read_clients_file(ROOT / "clients.example.json")


def test_ci_run_ends_with_the_readme_test_command() -> None:
    last = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
            if line.strip() and not line.startswith(("#", "set ", "cd "))][-1]
    assert last.strip() == "./scripts/test"
    assert "./scripts/test" in (ROOT / "README.md").read_text()
