"""Who may sign in to the review app and what they may see: a users file of argon2id password hashes,
each account a moderator of some channels or an admin of all.

Locally the file is the identity store (`python -m review add-user` writes it); in AWS the same app
sits behind the platform's identity provider (see docs/moderating.md, "Reviewing messages").
"""

import hmac
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field

_HASHER = PasswordHasher()  # argon2id, the library's current parameters
# Verified when the name is unknown, so a missing account costs what a wrong password does.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class Account(BaseModel):
    """One person: a moderator sees and decides the items of their channels; an admin, of every one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    password_hash: str = Field(repr=False)
    role: Literal["moderator", "admin"] = "moderator"
    channels: tuple[str, ...] = ()

    def may_see(self, channel_id: str) -> bool:
        return self.role == "admin" or channel_id in self.channels


class UserBook(BaseModel):
    """The users file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = Field(default=1, ge=1)
    accounts: tuple[Account, ...] = ()

    @classmethod
    def load(cls, path: Path) -> "UserBook":
        return cls.model_validate_json(path.read_text()) if path.exists() else cls()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)

    def account(self, username: str) -> Account | None:
        return next((a for a in self.accounts if hmac.compare_digest(a.username, username)), None)

    def with_account(self, account: Account) -> "UserBook":
        others = tuple(a for a in self.accounts if a.username != account.username)
        return self.model_copy(update={"accounts": (*others, account)})

    def channels(self) -> tuple[str, ...]:
        """Every channel some moderator moderates."""
        return tuple(sorted({c for a in self.accounts for c in a.channels}))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def authenticate(book: UserBook, username: str, password: str) -> Account | None:
    """The account when the password is its own, else None (an unknown name costs the same work)."""
    account = book.account(username)
    try:
        _HASHER.verify(account.password_hash if account else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return account
