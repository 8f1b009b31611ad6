"""What a person asks of their account — register, change, delete — as validated values.

Every rule of a field (trimming, e-mail syntax, the password rules) lives in its type
here, so the JSON API, the sign-up page and `idp users add` check it the same way.
`validate` raises InvalidForm naming every offending field; the HTTP layer turns that
into a 400, a page shows it beside the fields, the admin command prints it.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from idp.accounts.emails import InvalidEmail, normalise
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


class InvalidForm(ValueError):
    """Fields that break their rules: name -> what is wrong, in words for people."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(f"Invalid field(s): {', '.join(sorted(fields))}.")
        self.fields = fields


Form = TypeVar("Form", bound=_Body)


def validate(model: type[Form], body: dict[str, Any]) -> Form:
    """Validate body against model; InvalidForm naming every offending field otherwise.

    An explicit null is refused (it is a wrong type, not "leave unchanged").
    """
    fields = {name: "must not be null" for name, value in body.items() if value is None}
    try:
        parsed = model.model_validate({k: v for k, v in body.items() if v is not None})
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            fields.setdefault(str(err["loc"][0]) if err["loc"] else "body", _message(err))
    if fields:
        raise InvalidForm(fields)
    return parsed


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "is not a known field"
    if err["type"] == "missing":
        return "is required"
    return str(err["msg"]).removeprefix("Value error, ")


class ResetRequest(_Body):
    email: Email


class ResetCompletion(_Body):
    token: Annotated[str, Field(max_length=200), BeforeValidator(_unicode)]
    password: NewPassword


class VerificationCompletion(_Body):
    token: Annotated[str, Field(max_length=200), BeforeValidator(_unicode)]


class NewPasswordOnly(_Body):
    """A password set by an administrator: the same rules as every new password."""

    password: NewPassword
