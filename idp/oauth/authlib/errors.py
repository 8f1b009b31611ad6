"""The one table from domain outcomes (idp.logins, idp.accounts) to Authlib's errors,
and so to the token endpoint's answers."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidGrantError

from idp.accounts.factors import SecondFactorRequired
from idp.accounts.recovery import EmailNotVerified
from idp.logins.codes import CodeReplayed, CodeUnusable, SignInEnded
from idp.logins.logins import CredentialsChanged
from idp.logins.refresh import RefreshReused, RefreshUnknown
from idp.oauth.authlib.bridge import wait

T = TypeVar("T")

WRONG_CREDENTIALS = "The e-mail address or password is wrong."
UNVERIFIED_EMAIL = ("Confirm your e-mail address first: open the link in the message this server sent to it, "
                    "or ask for a new one.")
REUSED = "The refresh token was already used; this login has ended. Sign in again."
UNKNOWN_REFRESH_TOKEN = ("The refresh token is unknown, expired or revoked, or was issued to another client; "
                         "sign in again.")
UNUSABLE_CODE = ("The code is unknown, expired, already used, or was issued to another client; "
                 "start the sign-in again.")
REPLAYED_CODE = "The code was already used; the login it started has ended. Start the sign-in again."
SECOND_FACTOR = "this account uses a second factor: sign in through the browser"
SIGN_IN_ENDED = "The sign-in ended (logout or a password change) before the code was used; start it again."

ERRORS: dict[type[Exception], Callable[[], OAuth2Error]] = {
    RefreshUnknown: lambda: InvalidGrantError(UNKNOWN_REFRESH_TOKEN),
    RefreshReused: lambda: InvalidGrantError(REUSED),
    CodeUnusable: lambda: InvalidGrantError(UNUSABLE_CODE),
    CodeReplayed: lambda: InvalidGrantError(REPLAYED_CODE),
    SignInEnded: lambda: InvalidGrantError(SIGN_IN_ENDED),
    CredentialsChanged: lambda: InvalidGrantError(WRONG_CREDENTIALS),
    SecondFactorRequired: lambda: InvalidGrantError(SECOND_FACTOR),
    EmailNotVerified: lambda: InvalidGrantError(UNVERIFIED_EMAIL),
}
_DOMAIN = tuple(ERRORS)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """From an Authlib hook (a worker thread): run a domain coroutine on the loop and
    turn its domain outcome into the Authlib error the table maps it to."""
    try:
        return wait(coro)
    except _DOMAIN as exc:
        raise ERRORS[type(exc)]() from None
