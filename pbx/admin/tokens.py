"""API tokens: random secrets shown once, kept only as their SHA-256.

A token is `pbx_` and 43 URL-safe characters (256 random bits). With that much entropy a plain
SHA-256 is the right hash (GitHub and PyPI keep API tokens so): a slow password hash would only
slow every request, and nobody can guess a preimage. A token has a name (who it was given to), a
role (sdk.admin.ROLES) and, for the agent role, the agent it is.

Tokens come from three places: `admin.tokens` in the config ({name, role, agent, sha256}: managed
with the config, e.g. for automation), PBX_ADMIN_TOKEN in the environment (an admin token, as a
container is given a secret) and the PBX database (`pbx token create`, shared by every
node on PostgreSQL). `Tokens` answers from memory and asks the database on a miss, so a token
created on another node works at once; one revoked there stops working within CACHE_SECONDS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable

import msgspec

from sdk.admin import ROLES, Principal, Role
from sdk.database import Database

__all__ = ["ADMIN_TOKEN_VARIABLE", "TokenRecord", "TokenStore", "Tokens", "hash_secret", "new_secret"]

PREFIX = "pbx_"
CACHE_SECONDS = 30.0
# An admin token given in the environment (a container's secret): it is kept as its hash too.
ADMIN_TOKEN_VARIABLE = "PBX_ADMIN_TOKEN"

MIGRATIONS = [
    """
    CREATE TABLE pbx_api_tokens (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        agent TEXT,
        sha256 TEXT NOT NULL UNIQUE,
        created_at DOUBLE PRECISION NOT NULL
    )
    """,
]


class TokenRecord(msgspec.Struct, frozen=True):
    name: str
    role: Role
    sha256: str
    agent: str | None = None
    created_at: float = 0.0
    source: str = "database"  # or "config"

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.agent)


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str, agent: str | None) -> None:
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if (role == "agent") != (agent is not None):
        raise ValueError("a token of the agent role names its agent (--agent), and only that role does")


class TokenStore:
    """The tokens kept in the PBX database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def setup(self) -> None:
        await self.database.migrate("pbx_api_tokens", MIGRATIONS)

    async def add(self, record: TokenRecord) -> None:
        try:
            await self.database.execute("INSERT INTO pbx_api_tokens VALUES (?, ?, ?, ?, ?)",
                                        (record.name, record.role, record.agent, record.sha256, record.created_at))
        except Exception as error:
            if "unique" in str(error).lower() or "duplicate" in str(error).lower():
                raise ValueError(f"a token named {record.name!r} exists: revoke it first") from None
            raise

    async def remove(self, name: str) -> bool:
        return await self.database.execute("DELETE FROM pbx_api_tokens WHERE name = ?", (name,)) > 0

    async def all(self) -> list[TokenRecord]:
        rows = await self.database.fetch_all("SELECT * FROM pbx_api_tokens ORDER BY name")
        return [TokenRecord(row["name"], row["role"], row["sha256"], row["agent"], row["created_at"]) for row in rows]

    async def find(self, sha256: str) -> TokenRecord | None:
        row = await self.database.fetch_one("SELECT * FROM pbx_api_tokens WHERE sha256 = ?", (sha256,))
        return None if row is None else TokenRecord(row["name"], row["role"], row["sha256"], row["agent"],
                                                    row["created_at"])


class Tokens:
    """Who a secret belongs to: from the config's tokens, memory, or the database."""

    def __init__(self, records: Iterable[TokenRecord] = (), store: TokenStore | None = None,
                 monotonic=time.monotonic) -> None:
        self.store = store
        self.monotonic = monotonic
        self._fixed = {record.sha256: record for record in records}  # the config's, and tests'
        self._cached: dict[str, tuple[TokenRecord | None, float]] = {}

    def issue(self, name: str, role: str, agent: str | None = None) -> str:
        """A new secret held in memory only (tests, a process's own use); returns the secret."""
        check_role(role, agent)
        secret = new_secret()
        self._fixed[hash_secret(secret)] = TokenRecord(name, role, hash_secret(secret), agent, source="memory")  # type: ignore[arg-type]
        return secret

    async def principal(self, secret: str) -> Principal | None:
        digest = hash_secret(secret)
        for known, record in self._fixed.items():
            if hmac.compare_digest(known, digest):
                return record.principal
        if self.store is None:
            return None
        cached = self._cached.get(digest)
        if cached is not None and self.monotonic() - cached[1] < CACHE_SECONDS:
            record = cached[0]
        else:
            record = await self.store.find(digest)
            if len(self._cached) > 10_000:  # a flood of wrong secrets must not grow memory
                self._cached.clear()
            self._cached[digest] = (record, self.monotonic())
        return None if record is None else record.principal

    @property
    def configured(self) -> int:
        return len(self._fixed)
