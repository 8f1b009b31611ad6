"""The JSON bodies of the account endpoints: validated here, before any service sees them."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from idp.accounts.emails import InvalidEmail, normalise
from idp.http.errors import invalid_request
from idp.accounts.rules import MAX_LENGTH, MIN_LENGTH, normalise_password, password_problem

NAME_MAX = 200


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _unicode(value: Any) -> Any:
    """Refuse a lone surrogate: valid JSON ("\\ud800") but not text, so nothing can encode,
    hash or store it. Runs before every other check, so no work is spent on it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("is not valid Unicode text (it holds a lone surrogate)") from None
    return value


# Cc: C0 and C1 controls and DEL; Cf: format characters such as bidi overrides (U+202E)
# and zero-width characters, which make a name display as something it is not.
_INVISIBLE = ("Cc", "Cf")


def _name(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= NAME_MAX:
        raise ValueError(f"must be 1 to {NAME_MAX} characters after trimming")
    if any(unicodedata.category(c) in _INVISIBLE for c in value):
        raise ValueError("must not contain control or format characters (such as bidi overrides)")
    return value


def _email(value: str) -> str:
    try:
        return normalise(value)[0]
    except InvalidEmail as exc:
        raise ValueError(f"is not a valid e-mail address: {exc}") from None


def _new_password(value: str) -> str:
    """The rules apply to the NFKC form, the one that is hashed."""
    value = normalise_password(value)
    problem = password_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# Each type carries its own rule, so every model that uses it checks it the same way.
Text = Annotated[str, BeforeValidator(_unicode)]
Name = Annotated[str, Field(description=f"trimmed, then 1 to {NAME_MAX} characters"),
                 BeforeValidator(_unicode), AfterValidator(_name)]
Email = Annotated[str, Field(max_length=254, json_schema_extra={"format": "email"},
                             description="compared case-insensitively"),
                  BeforeValidator(_unicode), AfterValidator(_email)]
# The length limits are documented, not enforced by pydantic: they count the NFKC form,
# which _new_password computes first.
NewPassword = Annotated[str, Field(json_schema_extra={"minLength": MIN_LENGTH, "maxLength": MAX_LENGTH},
                                   description="counted after NFKC normalisation; "
                                               "not one of the most common passwords"),
                        BeforeValidator(_unicode), AfterValidator(_new_password)]


class Registration(_Body):
    name: Name
    email: Email
    password: NewPassword


class ProfileChange(_Body):
    name: Name | None = None
    email: Email | None = None
    password: NewPassword | None = None
    current_password: Text | None = None

    @property
    def changes_anything(self) -> bool:
        """current_password alone changes nothing."""
        return any(value is not None for value in (self.name, self.email, self.password))

    @property
    def changes_credentials(self) -> bool:
        """Changing the e-mail or the password needs the current password."""
        return self.email is not None or self.password is not None


class Deletion(_Body):
    current_password: Text


class User(BaseModel):
    """A user as the API returns it."""

    id: str
    name: str
    email: str
    created_at: str
    updated_at: str


def parse(model: type[_Body], body: dict[str, Any]) -> Any:
    """Validate body against model; a 400 naming every offending field otherwise.

    An explicit null is refused (it is a wrong type, not "leave unchanged").
    """
    fields = {name: "must not be null" for name, value in body.items() if value is None}
    try:
        parsed = model.model_validate({k: v for k, v in body.items() if v is not None})
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            fields.setdefault(str(err["loc"][0]) if err["loc"] else "body", _message(err))
    if fields:
        names = ", ".join(sorted(fields))
        raise invalid_request(f"Invalid field(s): {names}.", fields)
    return parsed


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "is not a known field"
    if err["type"] == "missing":
        return "is required"
    return err["msg"].removeprefix("Value error, ")


# -- response and form shapes, for the OpenAPI document -----------------------------------

class ErrorBody(BaseModel):
    """Every error: an RFC 6749-style code, a description, and the offending fields."""

    error: str
    error_description: str | None = None
    fields: dict[str, str] | None = None


class TokenForm(BaseModel):
    """POST /oauth/token (form-encoded). Which parameters are required depends on grant_type."""

    grant_type: str
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str | None = None
    id_token: str | None = None
    scope: str


class TokenForm7009(BaseModel):
    """POST /oauth/revoke and /oauth/introspect (form-encoded)."""

    token: str
    token_type_hint: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class Introspection(BaseModel):
    active: bool
    token_type: str | None = None
    scope: str | None = None
    client_id: str | None = None
    sub: str | None = None
    exp: int | None = None
    iat: int | None = None
    iss: str | None = None
    aud: str | list[str] | None = None
    jti: str | None = None
