"""Configuration: defaults, parsing, and a bad value stopping the start with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idp.oauth.clients_file import read_clients_file
from idp.settings import ConfigError, Settings


def test_defaults_follow_the_contract() -> None:
    settings = Settings.from_env({})
    assert settings.issuer == "http://localhost:8000"  # passkeys need a domain name
    assert settings.audience == settings.issuer
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.mongo_uri == "memory://" and settings.mongo_db == "idp"
    assert settings.access_token_ttl == 900 and settings.refresh_token_ttl == 2_592_000
    assert settings.max_body_bytes == 65_536
    assert (settings.login_max_failures, settings.ip_max_failures, settings.register_max_per_ip) == (10, 100, 100)
    assert settings.login_window == 900
    assert settings.workers == settings.hash_workers == (os.cpu_count() or 1)
    assert settings.io_workers == 32 and settings.keep_alive_timeout == 75


@pytest.mark.parametrize("env, issuer", [
    ({"IDP_PORT": "8600"}, "http://localhost:8600"),
    ({"IDP_HOST": "127.0.0.2", "IDP_PORT": "9000"}, "http://localhost:9000"),
    ({"IDP_HOST": "::1"}, "http://localhost:8000"),
    ({"IDP_HOST": "localhost"}, "http://localhost:8000"),
    ({"IDP_HOST": "10.1.2.3", "IDP_PORT": "9000"}, "http://10.1.2.3:9000"),
    ({"IDP_HOST": "fd00::5"}, "http://[fd00::5]:8000"),
    ({"IDP_HOST": "id.internal"}, "http://id.internal:8000"),
    ({"IDP_HOST": "0.0.0.0", "IDP_ISSUER": "https://id.example.com"}, "https://id.example.com"),
    ({"IDP_PORT": "8600", "IDP_ISSUER": "https://id.example.com"}, "https://id.example.com"),
])
def test_issuer_follows_host_and_port_unless_set(env: dict[str, str], issuer: str) -> None:
    settings = Settings.from_env(env)
    assert settings.issuer == issuer
    assert settings.audience == issuer


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::]"])
def test_a_wildcard_host_without_an_issuer_stops_the_start_in_one_line(host: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"IDP_HOST": host})
    message = str(error.value)
    assert "\n" not in message and "IDP_ISSUER" in message and host in message


def test_environment_overrides() -> None:
    settings = Settings.from_env({"IDP_ISSUER": "https://id.example.com/", "IDP_AUDIENCE": "api",
                                  "IDP_ACCESS_TOKEN_TTL": "60", "IDP_MONGO_URI": "mongodb://db:27017"})
    assert settings.issuer == "https://id.example.com"
    assert settings.audience == "api"
    assert settings.access_token_ttl == 60


@pytest.mark.parametrize("env, message", [
    ({"IDP_PORT": "eighty"}, "IDP_PORT must be an integer"),
    ({"IDP_PORT": "70000"}, "IDP_PORT"),
    ({"IDP_ACCESS_TOKEN_TTL": "0"}, "IDP_ACCESS_TOKEN_TTL"),
    ({"IDP_MONGO_URI": "postgres://x"}, "IDP_MONGO_URI"),
    ({"IDP_ISSUER": "not a url"}, "IDP_ISSUER"),
    ({"IDP_WORKERS": "0"}, "IDP_WORKERS must be a positive integer"),
    ({"IDP_HASH_WORKERS": "-1"}, "IDP_HASH_WORKERS"),
    ({"IDP_IO_WORKERS": "many"}, "IDP_IO_WORKERS must be an integer"),
    ({"IDP_KEEP_ALIVE_TIMEOUT": "0"}, "IDP_KEEP_ALIVE_TIMEOUT"),
])
def test_bad_values_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"client_id": "x"}', "JSON list"),
    ('[{"client_id": "x", "token_endpoint_auth_method": "none", "grant_types": ["password"], "extra": 1}]', "extra"),
    ('[{"client_id": "x", "token_endpoint_auth_method": "client_secret_basic", "grant_types": ["password"]}]',
     "client_secret"),
    ('[{"client_id": "x", "token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}]',
     "confidential"),
    ('[{"client_id": "x", "token_endpoint_auth_method": "none", "grant_types": ["implicit"]}]', "grant_types"),
    ('[{"client_id": "x", "token_endpoint_auth_method": "none", "grant_types": ["password"]},'
     ' {"client_id": "x", "token_endpoint_auth_method": "none", "grant_types": ["password"]}]', "more than once"),
])
def test_malformed_clients_file_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "clients.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        read_clients_file(path)


def test_clients_file_stores_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps([{"client_id": "c", "client_secret": "s3cret-s3cret-s3cret",
                                 "token_endpoint_auth_method": "client_secret_post",
                                 "grant_types": ["client_credentials"], "scope": "read"}]))
    document = read_clients_file(path)[0].document()
    assert "s3cret-s3cret-s3cret" not in json.dumps(document)
    assert document["secret_hash"]


def _run_idp(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    full_env.update({"IDP_KEYS_DIR": str(tmp_path / "keys"), **env})
    return subprocess.run([sys.executable, "-m", "idp.cli", *args], env=full_env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)


@pytest.mark.parametrize("env", [
    {"IDP_MONGO_URI": "mongodb://[bad"},
    {"IDP_CLIENTS_FILE": "missing.json"},
    {"IDP_KEYS_DIR": "/proc/version/keys"},
    {"IDP_LOGIN_WINDOW": "-5"},
])
def test_bad_configuration_stops_serve_with_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    result = _run_idp(tmp_path, env, "serve")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("idp: configuration error:"), result.stderr


def test_keys_rotate_refuses_a_folder_without_a_ring_unless_told_to_create_one(tmp_path: Path) -> None:
    refused = _run_idp(tmp_path, {}, "keys", "rotate")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (f"idp: {tmp_path / 'keys'} holds no key ring (no ring.json): set IDP_KEYS_DIR "
                              "to the server's keys folder, or pass --create to start a new ring there\n")
    assert not (tmp_path / "keys").exists()

    created = _run_idp(tmp_path, {}, "keys", "rotate", "--create")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith(f"keys folder: {tmp_path / 'keys'}\ncreated a new key ring; key ")
    rotated = _run_idp(tmp_path, {}, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    lines = rotated.stdout.splitlines()
    assert lines[0] == f"keys folder: {tmp_path / 'keys'}"
    assert lines[1].startswith("added key ") and ": published now, signs from " in lines[1]

    listed = json.loads(_run_idp(tmp_path, {}, "keys", "list", "--json").stdout)
    assert listed["folder"] == str(tmp_path / "keys")
    assert [key["state"] for key in listed["keys"]] == ["active", "next"]
    assert listed["keys"][1]["kid"] == lines[1].split()[2].rstrip(":")
    assert listed["keys"][0]["until"] == listed["keys"][1]["until"]


@pytest.mark.parametrize("uri, hosts", [
    ("mongodb://user:pa%40ss@db1:27017,db2:27018/idp?authSource=admin", "db1:27017,db2:27018"),
    ("mongodb+srv://u:p@cluster0.example.net/?retryWrites=true", "cluster0.example.net"),
    ("mongodb://db", "db"),
    ("memory://", "memory://"),
])
def test_mongo_hosts_name_where_and_never_the_password(uri: str, hosts: str) -> None:
    assert Settings(mongo_uri=uri).mongo_hosts == hosts
