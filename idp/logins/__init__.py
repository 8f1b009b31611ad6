"""One owner per login lifecycle: logins, refresh, codes, browser sessions, consents,
access tokens, the pending authorization and the decision; no HTTP, no Authlib."""
