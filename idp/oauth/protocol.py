"""What this server speaks, named once: grant types, client authentication methods,
the scope grammar, and the scopes the server itself understands."""

from __future__ import annotations

from typing import Literal, get_args

GrantType = Literal["authorization_code", "password", "refresh_token", "client_credentials"]
GRANT_TYPES: tuple[str, ...] = get_args(GrantType)

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
AUTH_METHODS: tuple[str, ...] = get_args(AuthMethod)
CONFIDENTIAL_METHODS = ("client_secret_basic", "client_secret_post")

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), joined by single spaces
SCOPE_PATTERN = r"[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*"

ACCOUNT_SCOPE = "account"  # lets a user's token use /users/me
OPENID_SCOPE = "openid"
PROFILE_SCOPE = "profile"
EMAIL_SCOPE = "email"
SCOPES_UNDERSTOOD = (ACCOUNT_SCOPE, OPENID_SCOPE, PROFILE_SCOPE, EMAIL_SCOPE)
