"""Browser sign-in members of the clients file: checked at start, carried into the client model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from idp.oauth.clients_file import read_clients_file
from idp.oauth.clients import Client
from idp.settings import ConfigError


def _app(**members: Any) -> dict[str, Any]:
    return {"client_id": "app", "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"], "scope": "openid", **members}


def _read(tmp_path: Path, *entries: dict[str, Any]) -> list[Any]:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(list(entries)))
    return read_clients_file(path)


@pytest.mark.parametrize("uri", [
    "https://app.example.com/callback",
    "https://app.example.com/cb?tenant=1",
    "http://127.0.0.1:8080/callback",
    "http://127.5.6.7/callback",
    "http://[::1]:3000/cb",
    "http://localhost:3000/cb",
    "com.example.app:/callback",
    "com.example.app:/oauth2redirect/example-provider",
])
def test_acceptable_redirect_uris(tmp_path: Path, uri: str) -> None:
    (entry,) = _read(tmp_path, _app(redirect_uris=[uri], post_logout_redirect_uris=[uri]))
    assert entry.redirect_uris == [uri]


@pytest.mark.parametrize("uri, message", [
    ("https://app.example.com/cb#done", "has a fragment"),
    ("https://*.example.com/cb", "wildcard"),
    ("https://app.example.com/*", "wildcard"),
    ("http://app.example.com/cb", "plain http off loopback"),
    ("http://192.168.1.2/cb", "plain http off loopback"),
    ("http://localhost.example.com/cb", "plain http off loopback"),
    ("https:///cb", "has no host"),
    ("https://app.example.com:99999/cb", "malformed host or port"),
    ("http://127.0.0.1:port/cb", "malformed host or port"),
    ("myapp:/callback", "private-use scheme in reverse-domain style"),
    ("javascript:alert(1)", "private-use scheme"),
    ("/callback", "not an absolute URI"),
    ("", "empty"),
    ("https://app.example.com/a b", "spaces"),
])
def test_each_mistake_is_one_clear_line(tmp_path: Path, uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        _read(tmp_path, _app(redirect_uris=["https://ok.example.com/cb", uri]))
    assert "\n" not in str(caught.value)
    assert "client #1: redirect_uris.1:" in str(caught.value)


def test_post_logout_redirect_uris_follow_the_same_rules(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="post_logout_redirect_uris.0: .* has a fragment"):
        _read(tmp_path, _app(redirect_uris=["https://a.example.com/cb"],
                             post_logout_redirect_uris=["https://a.example.com/#bye"]))


def test_authorization_code_needs_a_redirect_uri(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="authorization_code grant needs at least one redirect_uris"):
        _read(tmp_path, _app())


def test_first_party_must_be_a_boolean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="first_party"):
        _read(tmp_path, _app(redirect_uris=["https://a.example.com/cb"], first_party="yes"))


def test_the_members_reach_the_client_model(tmp_path: Path) -> None:
    (entry,) = _read(tmp_path, _app(redirect_uris=["https://a.example.com/cb", "https://a.example.com/cb"],
                                    post_logout_redirect_uris=["https://a.example.com/bye"],
                                    first_party=True))
    client = Client.from_document(entry.document())
    assert client.redirect_uris == ("https://a.example.com/cb",)
    assert client.post_logout_redirect_uris == ("https://a.example.com/bye",)
    assert client.first_party is True
    assert client.check_response_type("code") and not client.check_response_type("token")


def test_first_party_defaults_to_false_and_old_documents_still_load(tmp_path: Path) -> None:
    (entry,) = _read(tmp_path, _app(redirect_uris=["https://a.example.com/cb"]))
    assert Client.from_document(entry.document()).first_party is False
    old = {"_id": "old", "token_endpoint_auth_method": "none", "grant_types": ["password"], "scope": ""}
    client = Client.from_document(old)
    assert client.redirect_uris == () and not client.first_party
    assert not client.check_response_type("code")


@pytest.mark.parametrize("candidate", [
    "https://a.example.com/cb/",
    "https://a.example.com/cb?x=1",
    "https://A.example.com/cb",
    "https://a.example.com/CB",
    "https://a.example.com:443/cb",
    "https://a.example.com/cb#",
    "https://a.example.com/c",
    "https://a.example.com/cb ",
])
def test_redirect_uris_are_compared_as_exact_strings(candidate: str) -> None:
    client = Client("app", "none", ("authorization_code",), "openid",
                    redirect_uris=("https://a.example.com/cb",),
                    post_logout_redirect_uris=("https://a.example.com/cb",))
    assert client.check_redirect_uri("https://a.example.com/cb")
    assert not client.check_redirect_uri(candidate)
    assert not client.check_post_logout_redirect_uri(candidate)


def test_default_redirect_uri_only_when_exactly_one_is_registered() -> None:
    def client(*uris: str) -> Client:
        return Client("app", "none", ("authorization_code",), "openid", redirect_uris=uris)

    assert client("https://a.example.com/cb").get_default_redirect_uri() == "https://a.example.com/cb"
    assert client("https://a.example.com/1", "https://a.example.com/2").get_default_redirect_uri() is None
    assert client().get_default_redirect_uri() is None


def test_the_browser_sessions_client_id_is_reserved(tmp_path: Path) -> None:
    """Browser sessions are logins of client `~browser`: a real client of that name would
    make their cookies work as its refresh tokens."""
    with pytest.raises(ConfigError, match="client_id '~browser' is reserved"):
        _read(tmp_path, _app(client_id="~browser", redirect_uris=["https://app.example.com/cb"]))
