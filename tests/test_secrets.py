"""Credentials encrypted at rest: Fernet round trip, wrong key, key file creation and permissions."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from core.config import Settings
from core.security.secrets import KEY_ENV, SecretBox, SecretError, load_or_create_key_file

SECRET = "s3cr3t-client-secret-value"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip_and_nothing_in_clear() -> None:
    box = SecretBox(SecretBox.generate_key())
    token = box.encrypt({"client_id": "acme", "client_secret": SECRET})
    assert SECRET.encode() not in token and b"acme" not in token
    assert box.decrypt(token) == {"client_id": "acme", "client_secret": SECRET}


def test_wrong_key_is_a_clear_error() -> None:
    token = SecretBox(SecretBox.generate_key()).encrypt({"password": SECRET})
    with pytest.raises(SecretError) as caught:
        SecretBox(SecretBox.generate_key()).decrypt(token)
    assert str(caught.value) == ("credentials cannot be decrypted with this key "
                                 "(was EXPENSIS_SECRET_KEY or the key file changed?)")


def test_mask_keeps_key_names_only() -> None:
    assert SecretBox.mask({"client_id": "x", "client_secret": SECRET}) == {
        "client_id": "****", "client_secret": "****"}


def test_repr_does_not_show_the_key() -> None:
    key = SecretBox.generate_key()
    assert key.decode() not in repr(SecretBox(key))


def test_key_file_created_on_first_use_with_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "nested" / "data")
    box = SecretBox.from_settings(settings, environ={})
    key_file = tmp_path / "nested" / "data" / "secret.key"
    assert key_file.is_file() and mode(key_file) == 0o600
    token = box.encrypt({"user": "u"})
    # The next process reads the same key from the file.
    assert SecretBox.from_settings(settings, environ={}).decrypt(token) == {"user": "u"}
    assert [p.name for p in key_file.parent.iterdir()] == ["secret.key"]  # no temp file left


def test_key_file_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_or_create_key_file(tmp_path / "secret.key")
    finally:
        os.umask(old)
    assert mode(tmp_path / "secret.key") == 0o600


@pytest.mark.parametrize("bad_mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, bad_mode: int) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_bytes(Fernet.generate_key())
    key_file.chmod(bad_mode)
    with pytest.raises(SecretError, match=r"accessible by group or others .*chmod 600"):
        SecretBox.from_settings(Settings(data_dir=tmp_path), environ={})


def test_configured_key_file_location(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_key_file=tmp_path / "keys" / "expensis.key")
    SecretBox.from_settings(settings, environ={})
    assert mode(tmp_path / "keys" / "expensis.key") == 0o600
    assert not (tmp_path / "data").exists()


def test_environment_key_wins_and_no_file_is_created(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    box = SecretBox.from_settings(Settings(data_dir=tmp_path), environ={KEY_ENV: key.decode()})
    assert Fernet(key).decrypt(box.encrypt({"a": "b"})) == b'{"a":"b"}'
    assert not (tmp_path / "secret.key").exists()


def test_environment_key_read_from_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key()
    monkeypatch.setenv(KEY_ENV, key.decode())
    token = SecretBox.from_settings(Settings(data_dir=tmp_path)).encrypt({"a": "b"})
    assert SecretBox(key).decrypt(token) == {"a": "b"}


def test_invalid_keys_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="EXPENSIS_SECRET_KEY is not a valid Fernet key"):
        SecretBox.from_settings(Settings(data_dir=tmp_path), environ={KEY_ENV: "too-short"})
    key_file = tmp_path / "secret.key"
    key_file.write_text("garbage\n")
    key_file.chmod(0o600)
    with pytest.raises(SecretError, match=r"key file .*secret.key is not a valid Fernet key"):
        SecretBox.from_settings(Settings(data_dir=tmp_path), environ={})


def test_concurrent_first_use_agrees_on_one_key(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    keys: list[bytes] = []
    start = threading.Barrier(8)

    def take() -> None:
        start.wait()
        keys.append(load_or_create_key_file(key_file))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and keys[0] == key_file.read_bytes().strip()
