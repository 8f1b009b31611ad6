"""The protocol: authorization requests, clients and the clients file, access tokens and OIDC claims;
Authlib drives the token endpoints from the adapter in `authlib/`."""
