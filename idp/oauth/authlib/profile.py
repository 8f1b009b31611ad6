"""The person's claims in an ID token, read where Authlib builds it (its thread, so the
read is handed to the loop by errors.run)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from idp.oauth.authlib.errors import run
from idp.oauth.oidc import email_claims
from idp.store.users import UserStore


def id_token_profile(users: UserStore) -> Callable[[str, str], dict[str, Any]]:
    """`email` and `email_verified` for a scope with `email` (one read by `_id`), as userinfo
    says them; nothing otherwise."""

    def claims(user_id: str, scope: str) -> dict[str, Any]:
        if "email" not in scope.split():
            return {}
        user = run(users.by_id(user_id))
        return email_claims(user) if user is not None else {}

    return claims
