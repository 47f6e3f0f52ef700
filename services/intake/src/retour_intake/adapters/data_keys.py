"""Intake's key store: one data key per returnee, kept wrapped by a master key.

The data key seals the returnee's personal block on Kafka (retour_contracts.sealing). The
table holds it only wrapped (AES-256-GCM under the master key, with the returnee's id as
associated data, so a wrapped key copied onto another returnee's row does not unwrap). The
master key comes from the environment and never reaches the database; ``KeyWrapping`` is the
seam where a KMS or Vault's transit engine replaces it (docs/data-protection.md).

Deleting a returnee's row is crypto-shredding: every sealed copy of their personal block, on
any topic, dead letters and backups included, can no longer be opened by anyone.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from retour_contracts import ReturneeRegistered, new_data_key
from retour_intake.domain.history import HistoryKeys
from retour_kit.db import Connection

MASTER_KEY_BYTES = 32
_NONCE_BYTES = 12


class MasterKeyUnavailableError(Exception):
    """A data key is wrapped by a master key this process does not hold, or does not unwrap
    (a wrong key under a known id). Names the master key id only."""


@dataclass(frozen=True)
class WrappedKey:
    master_key_id: str
    blob: bytes
    """nonce || ciphertext || tag"""


class KeyWrapping(Protocol):
    """Wraps and unwraps data keys. Async so that a KMS call can implement it."""

    @property
    def current_id(self) -> str: ...

    async def wrap(self, key: bytes, *, returnee_id: UUID) -> WrappedKey: ...

    async def unwrap(self, wrapped: WrappedKey, *, returnee_id: UUID) -> bytes: ...


@dataclass(frozen=True)
class MasterKey:
    id: str
    key: bytes

    @classmethod
    def parse(cls, text: str) -> MasterKey:
        """``<id>:<base64 of 32 bytes>``; raises ValueError saying what is wrong (never the key)."""
        key_id, separator, encoded = text.strip().partition(":")
        if not separator or not key_id.strip():
            raise ValueError("a master key is written <id>:<base64 of 32 random bytes>")
        # The messages never quote the value: an id and a key given the wrong way round would
        # put the key in a start-up error.
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a master key's part after the ':' is not base64") from None
        if len(key) != MASTER_KEY_BYTES:
            raise ValueError(f"a master key's part after the ':' must be {MASTER_KEY_BYTES} bytes")
        return cls(key_id.strip(), key)

    def __repr__(self) -> str:  # never the key itself, in a traceback or a log
        return f"MasterKey(id={self.id!r})"


class LocalMasterKeys:
    """Master keys from the environment: the current one wraps, older ones still unwrap until
    ``retour-intake rewrap-keys`` has moved every data key to the current one."""

    def __init__(self, current: MasterKey, previous: Iterable[MasterKey] = ()) -> None:
        self._current = current
        self._by_id = {key.id: key for key in (*previous, current)}

    @property
    def current_id(self) -> str:
        return self._current.id

    async def wrap(self, key: bytes, *, returnee_id: UUID) -> WrappedKey:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._current.key).encrypt(nonce, key, _context(returnee_id))
        return WrappedKey(self._current.id, nonce + sealed)

    async def unwrap(self, wrapped: WrappedKey, *, returnee_id: UUID) -> bytes:
        master = self._by_id.get(wrapped.master_key_id)
        if master is None:
            raise MasterKeyUnavailableError(
                f"data keys wrapped by master key {wrapped.master_key_id!r}, which is not set"
            )
        nonce, sealed = wrapped.blob[:_NONCE_BYTES], wrapped.blob[_NONCE_BYTES:]
        try:
            return AESGCM(master.key).decrypt(nonce, sealed, _context(returnee_id))
        except InvalidTag:
            raise MasterKeyUnavailableError(
                f"master key {master.id!r} does not unwrap a data key it should"
            ) from None


def _registration(record: str | dict[str, object]) -> ReturneeRegistered:
    # jsonb arrives decoded through the services' pools, as text through a bare connection.
    if isinstance(record, str):
        return ReturneeRegistered.model_validate_json(record)
    return ReturneeRegistered.model_validate(record)


def _context(returnee_id: UUID) -> bytes:
    return f"retour:data-key:{returnee_id}".encode()


class WrappedKeyTable:
    """A table of data keys, one per owner id, each kept wrapped by the master key with its
    owner's id as associated data. Subclasses name the table and its id column (constants,
    never input)."""

    table = ""
    id_column = ""

    def __init__(self, conn: Connection, wrapping: KeyWrapping) -> None:
        self._conn = conn
        self._wrapping = wrapping

    async def issue(self, owner_id: UUID) -> bytes:
        return (await self.issue_many([owner_id]))[owner_id]

    async def issue_many(self, owner_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """A new key for each of ``owner_ids``, stored in one statement (a manifest's wave)."""
        keys = {owner_id: new_data_key() for owner_id in owner_ids}
        wrapped = [await self._wrapping.wrap(key, returnee_id=i) for i, key in keys.items()]
        await self._conn.execute(
            f"INSERT INTO {self.table} ({self.id_column}, master_key_id, wrapped_key)"  # noqa: S608
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[])",
            list(keys),
            [w.master_key_id for w in wrapped],
            [w.blob for w in wrapped],
        )
        return keys

    async def of(self, owner_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        rows = await self._conn.fetch(
            f"SELECT {self.id_column} AS owner_id, master_key_id, wrapped_key"  # noqa: S608
            f" FROM {self.table} WHERE {self.id_column} = ANY($1::uuid[])",
            list(owner_ids),
        )
        return {
            row["owner_id"]: await self._wrapping.unwrap(
                WrappedKey(row["master_key_id"], row["wrapped_key"]),
                returnee_id=row["owner_id"],
            )
            for row in rows
        }

    async def destroy(self, owner_ids: Sequence[UUID]) -> None:
        """Crypto-shredding: no sealed copy under these keys opens again."""
        await self._conn.execute(
            f"DELETE FROM {self.table} WHERE {self.id_column} = ANY($1::uuid[])",  # noqa: S608
            list(owner_ids),
        )

    async def rewrap(self, *, batch: int = 500) -> int:
        """Moves up to ``batch`` data keys wrapped by an older master key to the current one;
        0 when none is left. Rows are claimed with SKIP LOCKED, so two runs share the work."""
        rows = await self._conn.fetch(
            f"SELECT {self.id_column} AS owner_id, master_key_id, wrapped_key"  # noqa: S608
            f" FROM {self.table} WHERE master_key_id <> $1 LIMIT $2 FOR UPDATE SKIP LOCKED",
            self._wrapping.current_id,
            batch,
        )
        ids, blobs = [], []
        for row in rows:
            owner_id = row["owner_id"]
            key = await self._wrapping.unwrap(
                WrappedKey(row["master_key_id"], row["wrapped_key"]), returnee_id=owner_id
            )
            ids.append(owner_id)
            blobs.append((await self._wrapping.wrap(key, returnee_id=owner_id)).blob)
        await self._conn.execute(
            f"UPDATE {self.table} SET master_key_id = $1, wrapped_key = new.blob"  # noqa: S608
            " FROM unnest($2::uuid[], $3::bytea[]) AS new (owner_id, blob)"
            f" WHERE {self.table}.{self.id_column} = new.owner_id",
            self._wrapping.current_id,
            ids,
            blobs,
        )
        return len(rows)


class PgDataKeys(WrappedKeyTable):
    """The ``data_keys`` table: each returnee's key, on one unit of work's connection."""

    table = "data_keys"
    id_column = "returnee_id"

    async def for_sealing_history(self, returnee_ids: Sequence[UUID]) -> HistoryKeys:
        """The keys of those of ``returnee_ids`` who are registered and not erased, issued now
        for those who have none (registered before sealing existed, or their key lost with a
        master key), whose registration comes along. Locks their rows against a concurrent
        erasure until the transaction ends."""
        living = await self._conn.fetch(
            "SELECT r.returnee_id, r.record, k.returnee_id IS NOT NULL AS has_key"
            " FROM returnees r LEFT JOIN data_keys k USING (returnee_id)"
            " WHERE r.returnee_id = ANY($1::uuid[]) AND r.erased_at IS NULL"
            " ORDER BY r.returnee_id FOR UPDATE OF r",
            list(returnee_ids),
        )
        keys = await self.of([row["returnee_id"] for row in living if row["has_key"]])
        reissued = {}
        for row in living:
            if not row["has_key"]:
                keys[row["returnee_id"]] = await self.issue(row["returnee_id"])
                reissued[row["returnee_id"]] = ReturneeRegistered.model_validate_json(row["record"])
        return HistoryKeys(keys, reissued)


class PgExpectedDataKeys(WrappedKeyTable):
    """The ``expected_data_keys`` table: each expected person's own key (migration 0009)."""

    table = "expected_data_keys"
    id_column = "expected_id"
