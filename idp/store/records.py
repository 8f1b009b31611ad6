"""The typed records the stores return: one frozen dataclass per kind of document."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

BROWSER = "~browser"
"""The client id under which browser sessions are stored beside the logins: no client's
(the clients file refuses it), so no grant, revocation or introspection finds one."""


@dataclass(frozen=True)
class Login:
    """One login (a refresh family, RFC 9700 §4.14.2): who, through which client, with
    what, until when, and the state of its refresh token."""

    sid: str
    user_id: str
    client_id: str
    scope: str
    created_at: datetime
    issued_at: datetime  # of the current refresh secret
    expires_at: datetime  # the refresh tokens' absolute expiry
    purge_at: datetime  # expires_at + one access-token lifetime
    generation: int
    secret_hash: str
    used_hashes: tuple[str, ...]  # oldest first: the last one was rotated away most recently
    revoked_jtis: frozenset[str]
    rotated_at: datetime | None = None  # when used_hashes[-1] was rotated away; None: no retry

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Login:
        return cls(
            sid=doc["_id"], user_id=doc["user_id"], client_id=doc["client_id"], scope=doc["scope"],
            created_at=doc["created_at"], issued_at=doc["issued_at"], expires_at=doc["expires_at"],
            purge_at=doc["purge_at"], generation=doc["generation"], secret_hash=doc["secret_hash"],
            used_hashes=tuple(doc.get("used_hashes", ())), revoked_jtis=frozenset(doc.get("revoked_jtis", ())),
            rotated_at=doc.get("rotated_at"),
        )

    def document(self) -> dict[str, Any]:
        return {
            "_id": self.sid, "user_id": self.user_id, "client_id": self.client_id, "scope": self.scope,
            "created_at": self.created_at, "issued_at": self.issued_at, "expires_at": self.expires_at,
            "purge_at": self.purge_at, "generation": self.generation, "secret_hash": self.secret_hash,
            "used_hashes": list(self.used_hashes), "revoked_jtis": sorted(self.revoked_jtis),
            "rotated_at": self.rotated_at,
        }


@dataclass(frozen=True)
class BrowserSession:
    """A person signed in on the sign-in page, named by a cookie.

    Stored beside the logins (client id BROWSER), so that the session cap, a password
    change, a deletion, a lock and logout end it as they end a login."""

    sid: str
    user_id: str
    stamp: str | None  # the credentials stamp its password check saw; its codes carry it on
    created_at: datetime  # when the password was checked: the auth_time of its codes
    expires_at: datetime
    purge_at: datetime
    secret_hash: str
    amr: tuple[str, ...] = ()  # how the person signed in (RFC 8176); its codes carry it on

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> BrowserSession:
        return cls(
            sid=doc["_id"], user_id=doc["user_id"], stamp=doc.get("stamp"), created_at=doc["created_at"],
            expires_at=doc["expires_at"], purge_at=doc["purge_at"], secret_hash=doc["secret_hash"],
            amr=tuple(doc.get("amr", ())),
        )

    def document(self) -> dict[str, Any]:
        return {
            "_id": self.sid, "user_id": self.user_id, "client_id": BROWSER, "scope": "", "stamp": self.stamp,
            "created_at": self.created_at, "issued_at": self.created_at, "expires_at": self.expires_at,
            "purge_at": self.purge_at, "generation": 0, "secret_hash": self.secret_hash,
            "used_hashes": [], "revoked_jtis": [], "amr": list(self.amr),
        }


@dataclass(frozen=True)
class Enrolment:
    """What a login learns when it adds itself to its user's list."""

    stamp: str | None  # None: the user is gone
    evicted: tuple[str, ...]  # the oldest logins beyond the limit, now to be ended


@dataclass(frozen=True)
class StoredCode:
    """An authorization code, by the SHA-256 of the code."""

    code_hash: str
    client_id: str
    redirect_uri: str | None  # as the authorization request sent it (None: omitted)
    scope: str
    nonce: str | None
    code_challenge: str
    user_id: str
    stamp: str | None
    browser_sid: str
    auth_time: int
    expires_at: datetime
    used_by: str | None = None  # the login its redemption started
    replayed: bool = False
    amr: tuple[str, ...] = ()  # how the person signed in: the browser session's, for the ID token

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> StoredCode:
        return cls(
            code_hash=doc["_id"], client_id=doc["client_id"], redirect_uri=doc.get("redirect_uri"),
            scope=doc["scope"], nonce=doc.get("nonce"), code_challenge=doc["code_challenge"],
            user_id=doc["user_id"], stamp=doc.get("stamp"), browser_sid=doc["browser_sid"],
            auth_time=doc["auth_time"], expires_at=doc["expires_at"], used_by=doc.get("used_by"),
            replayed=doc.get("replayed", False), amr=tuple(doc.get("amr", ())),
        )

    def document(self) -> dict[str, Any]:
        return {
            "_id": self.code_hash, "client_id": self.client_id, "redirect_uri": self.redirect_uri,
            "scope": self.scope, "nonce": self.nonce, "code_challenge": self.code_challenge,
            "user_id": self.user_id, "stamp": self.stamp, "browser_sid": self.browser_sid,
            "auth_time": self.auth_time, "expires_at": self.expires_at, "used_by": self.used_by,
            "replayed": self.replayed, "amr": list(self.amr),
        }
