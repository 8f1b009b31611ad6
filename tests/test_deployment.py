"""The deployment files agree with the code and keep their promises.

No Docker engine runs where these tests do, so this is what can be checked: that
docker-compose.yml, the Dockerfile, .dockerignore, the CircleCI config and the lock
files parse, name only settings that exist, wire services, ports, paths and
credentials alike, and pin every dependency pyproject.toml names; and that
scripts/bootstrap says what it installs the first time and stays quiet after.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from idp.oauth.clients_file import read_clients_file
from idp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
KNOWN = {name for name, _, _ in Settings.variables()}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PYTHONS = {"3.11", "3.12", "3.13"}  # what the README promises


_SET_PASSWORD = {"MONGO_INITDB_ROOT_PASSWORD": "0123abcd"}


class ComposeRefuses(Exception):
    """A `${NAME:?message}` variable is unset: compose stops with the message."""


def _compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml as compose reads it, `${NAME:-default}` filled from env, and
    `${NAME:?message}` required (ComposeRefuses when env lacks it)."""
    env = _SET_PASSWORD if env is None else env

    def fill(match: re.Match[str]) -> str:
        name, kind, rest = match[1], match[2], match[3]
        if env.get(name):
            return env[name]
        if kind == "?":
            raise ComposeRefuses(rest)
        return rest

    text = re.sub(r"\$\{(\w+):([-?])([^}]*)\}", fill, (ROOT / "docker-compose.yml").read_text())
    assert "${" not in text, "a variable compose cannot fill"
    return yaml.safe_load(text)


def test_compose_uses_known_settings_and_its_own_services() -> None:
    services = _compose()["services"]
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


def test_compose_mongo_has_credentials_and_the_app_logs_in_with_them() -> None:
    chosen = {"MONGO_INITDB_ROOT_USERNAME": "operator", "MONGO_INITDB_ROOT_PASSWORD": "0123abcd"}
    services = _compose(chosen)["services"]
    mongo_env = services["mongo"]["environment"]
    assert {k: mongo_env[k] for k in chosen} == chosen
    uri = urlsplit(services["idp"]["environment"]["IDP_MONGO_URI"])
    assert (uri.username, uri.password) == ("operator", "0123abcd")
    assert parse_qs(uri.query)["authSource"] == ["admin"]  # where the root user lives
    assert "ports" not in services["mongo"]  # reachable only on the compose network

    defaults = _compose()["services"]["mongo"]["environment"]
    assert defaults["MONGO_INITDB_ROOT_USERNAME"]


def test_compose_refuses_to_start_without_a_mongodb_password() -> None:
    """No known fallback password: a missing .env stops compose with what to do."""
    with pytest.raises(ComposeRefuses, match="MONGO_INITDB_ROOT_PASSWORD"):
        _compose({})


def test_compose_publishes_metrics_on_no_host_interface() -> None:
    idp = _compose()["services"]["idp"]
    metrics_port = idp["environment"]["IDP_METRICS_ADDR"].rsplit(":", 1)[1]
    assert not any(str(p).split(":")[-1].split("/")[0] == metrics_port for p in idp.get("ports", []))
    assert all(str(p).startswith("127.0.0.1:") for p in idp.get("ports", []))


def _dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_runs_idp_serve_as_non_root_with_known_settings() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert 'CMD ["idp", "serve"]' in text
    assert set(re.findall(r"\b(IDP_[A-Z_]+)=", text)) <= KNOWN


def test_dockerfile_healthcheck_asks_the_configured_port() -> None:
    [check] = [i for i in _dockerfile_instructions() if i.startswith("HEALTHCHECK")]
    assert "/readyz" in check and "IDP_PORT" in check
    assert not re.search(r":8000\b", check), "a hard-coded port"


def test_dockerfile_installs_from_the_lock_file_only() -> None:
    runs = " ".join(i for i in _dockerfile_instructions() if i.startswith("RUN"))
    assert "--require-hashes -r requirements/runtime.txt" in runs
    assert "--require-hashes -r requirements/build.txt" in runs
    assert re.search(r"pip install [^&]*--no-deps[^&]* \.(\s|$)", runs), "the package pulls in unlocked deps"


def _dockerignore_excludes(path: str) -> bool:
    """Whether Docker leaves path out of the build context (last matching rule wins;
    a rule for a folder covers what is inside it)."""
    excluded = False
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        pattern = rule.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]")
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not negated
    return excluded


@pytest.mark.parametrize("path", [
    "keys/signing-key.pem", ".venv/bin/python", ".git/config", ".env",
    ".test-mongo/data/db.sqlite", ".pytest_cache/v/cache", "idp/__pycache__/app.cpython-312.pyc",
    "clients.json", "tests/test_users.py", "build/lib/idp/app.py", "idp.egg-info/PKG-INFO",
])
def test_dockerignore_keeps_secrets_and_clutter_out_of_the_build(path: str) -> None:
    assert _dockerignore_excludes(path)


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    sources = [src for i in _dockerfile_instructions() if i.startswith("COPY") and "--from" not in i
               for src in i.split()[1:-1]]
    assert sources
    for src in sources:
        probe = f"{src.rstrip('/')}/x.py" if src.endswith("/") or (ROOT / src).is_dir() else src
        assert not _dockerignore_excludes(probe), src
    assert not _dockerignore_excludes("requirements/runtime.txt")


def _circleci() -> dict[str, Any]:
    return yaml.safe_load((ROOT / ".circleci" / "config.yml").read_text())


def test_circleci_runs_the_suite_on_memory_and_on_mongodb() -> None:
    config = _circleci()
    jobs = config["jobs"]
    commands = {name: [s["run"]["command"] for s in job["steps"] if isinstance(s, dict) and "run" in s]
                for name, job in jobs.items()}
    assert all(any("./scripts/test" in c for c in cmds) for cmds in commands.values())
    mongo_jobs = [j for j in jobs.values() if "IDP_TEST_MONGO_URI" in j.get("environment", {})]
    assert mongo_jobs and any(img["image"].startswith("mongo:") for img in mongo_jobs[0]["docker"])
    workflow_jobs = {next(iter(j)) if isinstance(j, dict) else j for j in config["workflows"]["test"]["jobs"]}
    assert workflow_jobs == set(jobs)


def test_circleci_tests_every_promised_python_from_the_lock_with_a_pip_cache() -> None:
    config = _circleci()
    [in_memory] = [j for j in config["workflows"]["test"]["jobs"]
                   if isinstance(j, dict) and "test-in-memory" in j]
    pythons = in_memory["test-in-memory"]["matrix"]["parameters"]["python"]
    assert set(pythons) == PYTHONS
    assert PYPROJECT["project"]["requires-python"] == f">={min(pythons, key=lambda v: tuple(map(int, v.split('.'))))}"
    assert config["jobs"]["test-in-memory"]["docker"][0]["image"] == "cimg/python:<< parameters.python >>"

    install = config["commands"]["install-from-lock"]["steps"]
    [restore] = [s["restore_cache"] for s in install if "restore_cache" in s]
    [save] = [s["save_cache"] for s in install if "save_cache" in s]
    for lock in ("requirements/build.txt", "requirements/test.txt"):
        assert f'{{{{ checksum "{lock}" }}}}' in save["key"] == restore["keys"][0]
    assert "<< parameters.python >>" in save["key"]
    assert any("pip" in p for p in save["paths"])
    assert any(s.get("run", {}).get("command") == "./scripts/bootstrap test" for s in install)
    assert all("install-from-lock" in job["steps"][1] for job in config["jobs"].values())


def _locked(name: str) -> dict[str, set[str]]:
    """The versions a lock file pins, by package, after checking each line carries hashes."""
    text = re.sub(r"\\\n", " ", (ROOT / "requirements" / name).read_text())
    pins: dict[str, set[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        spec, _, hashes = line.partition(" --hash=")
        assert hashes, f"{name}: no hash for {spec}"
        req = Requirement(spec)
        [pin] = req.specifier
        assert pin.operator == "==", f"{name}: {spec} is not pinned"
        pins.setdefault(canonicalize_name(req.name), set()).add(pin.version)
    return pins


@pytest.mark.parametrize(("lock", "wanted"), [
    ("runtime.txt", PYPROJECT["project"]["dependencies"]),
    ("test.txt", PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]),
    ("build.txt", PYPROJECT["build-system"]["requires"]),
])
def test_the_lock_files_pin_every_dependency_within_its_range(lock: str, wanted: list[str]) -> None:
    pins = _locked(lock)
    for dependency in map(Requirement, wanted):
        versions = pins.get(canonicalize_name(dependency.name))
        assert versions, f"{dependency.name} is not in requirements/{lock}: run scripts/lock"
        assert all(dependency.specifier.contains(v, prereleases=True) for v in versions), (
            f"requirements/{lock} pins {dependency.name} {versions}, pyproject.toml asks "
            f"{dependency.specifier}: run scripts/lock")


def test_the_lock_files_agree_with_each_other() -> None:
    test = _locked("test.txt")
    for lock in ("runtime.txt", "build.txt"):
        for name, versions in _locked(lock).items():
            assert versions == test.get(name, versions), f"{lock} and test.txt disagree on {name}"


FAKE_PYTHON = """#!/usr/bin/env bash
# stands in for python3 and the venv's python: records pip calls, makes a venv dir
echo "$*" >> "$LOG"
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi
"""


def test_bootstrap_says_what_it_installs_once_and_then_stays_quiet(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap", tmp_path / "scripts" / "bootstrap")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {**os.environ, "PYTHON": str(fake), "LOG": str(log)}

    def bootstrap() -> str:
        log.write_text("")
        done = subprocess.run([tmp_path / "scripts" / "bootstrap", "test"], env=env,
                              capture_output=True, text=True, check=True)
        return done.stderr

    first = bootstrap()
    assert f"installing idp and its dependencies into {tmp_path / '.venv'} (first run only" in first
    calls = log.read_text()
    assert "--require-hashes" in calls and "requirements/test.txt" in calls
    assert "--no-deps" in calls

    assert bootstrap() == "" and log.read_text() == ""  # nothing changed: no pip at all

    later = (tmp_path / ".venv" / ".bootstrap-stamp-test").stat().st_mtime + 10
    os.utime(tmp_path / "requirements" / "test.txt", (later, later))  # after scripts/lock, a pull
    assert "updating" in bootstrap() and "--require-hashes" in log.read_text()
