"""The JSON bodies of the account endpoints: validated here, before any service sees them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from idp.emails import InvalidEmail, normalise
from idp.errors import invalid_request
from idp.password_rules import MAX_LENGTH, MIN_LENGTH, password_problem

NAME_MAX = 200


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _name(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= NAME_MAX:
        raise ValueError(f"must be 1 to {NAME_MAX} characters after trimming")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters")
    return value


def _email(value: str) -> str:
    try:
        return normalise(value)[0]
    except InvalidEmail as exc:
        raise ValueError(f"is not a valid e-mail address: {exc}") from None


def _new_password(value: str) -> str:
    problem = password_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# Each type carries its own rule, so every model that uses it checks it the same way.
Name = Annotated[str, Field(description=f"trimmed, then 1 to {NAME_MAX} characters"), AfterValidator(_name)]
Email = Annotated[str, Field(max_length=254, json_schema_extra={"format": "email"},
                             description="compared case-insensitively"), AfterValidator(_email)]
NewPassword = Annotated[str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH,
                                   description="not one of the most common passwords"),
                        AfterValidator(_new_password)]


class Registration(_Body):
    name: Name
    email: Email
    password: NewPassword


class ProfileChange(_Body):
    name: Name | None = None
    email: Email | None = None
    password: NewPassword | None = None
    current_password: str | None = None

    @property
    def changes_credentials(self) -> bool:
        """Changing the e-mail or the password needs the current password."""
        return self.email is not None or self.password is not None


class Deletion(_Body):
    current_password: str


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
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str | None = None
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
