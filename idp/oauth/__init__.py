"""The OAuth2 side: Authlib's protocol handling wired to our stores through the bridge."""
