"""A self-hosted OAuth2 identity provider: Quart, Authlib, MongoDB."""
