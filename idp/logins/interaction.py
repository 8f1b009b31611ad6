"""The pending authorization (an interaction): created when an authorization request
needs the person (a login or consent page), advanced by the forms, ended when the app
gets its answer.

Its id is the only thing a form carries besides the step and the CSRF token: 256 random
bits, so that it cannot be guessed, and short-lived. What the person has done is bound
to the browser that did it: a password checked here counts only for the browser session
it started (`login_sid`), a consent only for the person who gave it (`consented_by`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from idp.store.interactions import Interaction, InteractionStore, Notice, PendingRequest, notice_document

LIFETIME = timedelta(minutes=15)
"""Long enough to type a password or create an account, short enough to be worth nothing later."""

ID_BYTES = 32


def new_interaction(request: PendingRequest, now: datetime) -> Interaction:
    """An interaction not stored yet: the decision runs on it before anything is written,
    so a request answered at once (a signed-in browser) costs no write."""
    return Interaction(interaction_id=secrets.token_urlsafe(ID_BYTES), request=request,
                       created_at=now, expires_at=now + LIFETIME)


class Interactions:
    def __init__(self, store: InteractionStore, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now

    async def save(self, interaction: Interaction) -> None:
        await self._store.create(interaction)

    async def find(self, interaction_id: str | None) -> Interaction | None:
        """The live interaction of that id, or None (unknown, expired, or finished)."""
        if not interaction_id or len(interaction_id) > 128:
            return None
        return await self._store.get(interaction_id, self._now())

    async def signed_in(self, interaction: Interaction, browser_sid: str) -> Interaction | None:
        """The password was checked in this interaction, starting browser session browser_sid."""
        return await self._set(interaction, login_sid=browser_sid, notice=None)

    async def consented(self, interaction: Interaction, user_id: str) -> Interaction | None:
        return await self._set(interaction, consented_by=user_id, notice=None)

    async def tell(self, interaction: Interaction, notice: Notice) -> Interaction | None:
        """Keep what the page shown next must say (a refused password, a field to correct)."""
        return await self._set(interaction, notice=notice)

    async def finish(self, interaction: Interaction) -> bool:
        """End the interaction as its answer goes to the app: True for exactly one caller,
        so one interaction never yields two codes."""
        return await self._store.delete(interaction.interaction_id)

    async def _set(self, interaction: Interaction, *, login_sid: str | None = None,
                   consented_by: str | None = None, notice: Notice | None) -> Interaction | None:
        fields: dict[str, object] = {"notice": notice_document(notice)}
        changed = replace(interaction, notice=notice)
        if login_sid is not None:
            fields["login_sid"] = login_sid
            changed = replace(changed, login_sid=login_sid)
        if consented_by is not None:
            fields["consented_by"] = consented_by
            changed = replace(changed, consented_by=consented_by)
        if not await self._store.update(interaction.interaction_id, self._now(), fields):
            return None
        return changed
