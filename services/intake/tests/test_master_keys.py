"""Master keys: read from the environment, never shown, and binding each wrapped data key to
its returnee (unit tests: the wrapping is pure computation)."""

from __future__ import annotations

import base64
import os
from uuid import uuid4

import pytest
from pydantic import ValidationError

from retour_intake.adapters.data_keys import (
    LocalMasterKeys,
    MasterKey,
    MasterKeyUnavailableError,
    WrappedKey,
)
from retour_intake.settings import Settings
from retour_kit.settings import describe_errors

SECRET = base64.b64encode(os.urandom(32)).decode()


def settings(**values: str) -> Settings:
    return Settings(
        database_url="postgresql://intake@127.0.0.1:1/unused",
        auth_jwt_secret="test-secret-that-is-at-least-32-chars",
        **values,  # type: ignore[arg-type]
    )


def test_a_master_key_is_never_shown() -> None:
    key = MasterKey.parse(f"2026-11:{SECRET}")
    assert SECRET not in repr(key) and SECRET not in str(key)
    # An id and a key given the wrong way round: the start-up error does not quote the key.
    with pytest.raises(ValueError, match="not base64") as wrong_way_round:
        MasterKey.parse(f"{SECRET}:2026-11")
    assert SECRET not in str(wrong_way_round.value)
    with pytest.raises(ValidationError) as refused:
        settings(master_key=f"{SECRET}:2026-11")
    printed = describe_errors(refused.value)  # what load_settings prints before exiting
    assert printed.startswith("MASTER_KEY: ") and SECRET not in printed


@pytest.mark.parametrize(
    "value",
    ["CHANGE_ME", "REPLACE_ME", "id:", f"id:{base64.b64encode(b'short').decode()}", f":{SECRET}"],
)
def test_a_malformed_master_key_stops_intake_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="master_key"):
        settings(master_key=value)


def test_a_repeated_master_key_id_is_refused() -> None:
    other = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(ValidationError, match="repeat a master key id"):
        settings(master_key=f"a:{SECRET}", previous_master_keys=f"b:{other},a:{other}")


async def test_a_wrapped_key_opens_only_for_its_returnee_and_under_a_known_master_key() -> None:
    old, new = MasterKey("old", os.urandom(32)), MasterKey("new", os.urandom(32))
    returnee, other = uuid4(), uuid4()
    data_key = os.urandom(32)
    wrapped = await LocalMasterKeys(old).wrap(data_key, returnee_id=returnee)

    assert wrapped.master_key_id == "old" and data_key not in wrapped.blob
    rotated = LocalMasterKeys(new, [old])
    assert await rotated.unwrap(wrapped, returnee_id=returnee) == data_key
    assert (await rotated.wrap(data_key, returnee_id=returnee)).master_key_id == "new"
    with pytest.raises(MasterKeyUnavailableError):
        await rotated.unwrap(wrapped, returnee_id=other)  # copied onto another's row
    with pytest.raises(MasterKeyUnavailableError, match="'old'"):
        await LocalMasterKeys(new).unwrap(wrapped, returnee_id=returnee)  # old key gone
    forged = WrappedKey("old", bytes(60))
    with pytest.raises(MasterKeyUnavailableError):
        await rotated.unwrap(forged, returnee_id=returnee)
