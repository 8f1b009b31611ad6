"""The token, revocation and introspection endpoints as the HTTP layer awaits them.

Authlib's server is synchronous: each call runs it in a thread of the bridge's bounded
I/O pool, where its storage hooks hand their coroutines back to the loop. This is the
one door between the HTTP layer and that thread pool.
"""

from __future__ import annotations

from functools import partial

from idp.oauth.authlib.bridge import Bridge
from idp.oauth.authlib.requests import OAuthRequest
from idp.oauth.authlib.server import OAuthServer, Response


class OAuthEndpoints:
    def __init__(self, server: OAuthServer, bridge: Bridge) -> None:
        self.server = server
        self._bridge = bridge

    async def token(self, request: OAuthRequest) -> Response:
        return await self._bridge.run_sync(self.server.create_token_response, request)

    async def revocation(self, request: OAuthRequest) -> Response:
        return await self._bridge.run_sync(partial(self.server.create_endpoint_response, "revocation"), request)

    async def introspection(self, request: OAuthRequest) -> Response:
        return await self._bridge.run_sync(partial(self.server.create_endpoint_response, "introspection"), request)

    def shutdown(self) -> None:
        self._bridge.shutdown()
