"""Tamper evidence for artifacts: Ed25519 signatures, signing keys, and reviewed hand edits.

The content hash is an unkeyed sha256: it catches accidental edits, but whoever can edit a file
can recompute it. A signature needs a key. Ed25519 (asymmetric) rather than an HMAC (one shared
secret): the production box holds only the *public* key, which verifies but cannot sign, so a
compromised verifier cannot forge artifacts, and the private key stays where artifacts are built.

The signature covers the canonical JSON (sorted keys, no whitespace, UTF-8) of everything in the
artifact but the signature block itself, provenance and content hash included, prefixed with a
domain string. ``cryptography`` is imported only here, only when signing or verifying:
``pip install 'promptc[sign]'``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from promptc._artifact.artifact import (
    Artifact,
    ArtifactSignature,
    KeySource,
    load_artifact,
    save_artifact,
)
from promptc._artifact.provenance import Edit
from promptc.exceptions import ArtifactError, ConfigurationError

__all__ = [
    "KEY_FILE",
    "check_public_key",
    "new_keys",
    "rehash_artifact",
    "sign_artifact",
    "signed_bytes",
    "verify_signature",
]

KEY_FILE = "promptc-signing"  # the private key is KEY_FILE.key, the public key KEY_FILE.pub
_DOMAIN = b"promptc artifact signature v1\n"
_MAX_KEY_BYTES = 64 * 1024


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise ConfigurationError(
            "signing and verifying artifacts needs the 'cryptography' package: "
            "pip install 'promptc[sign]'"
        ) from None
    return serialization, ed25519


def signed_bytes(artifact: Artifact) -> bytes:
    """What a signature covers: the canonical JSON of the artifact minus its signature."""
    data = artifact.model_dump(mode="json", exclude={"signature"})
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return _DOMAIN + blob.encode("utf-8")


def _key_id(public_key: Any) -> str:
    serialization, _ = _crypto()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _pem(source: KeySource, what: str) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        return source.encode("ascii", "replace")
    path = Path(source)
    if not path.is_file():
        raise ConfigurationError(f"{what} {path} does not exist; give a PEM file or PEM text")
    if path.stat().st_size > _MAX_KEY_BYTES:
        raise ConfigurationError(f"{what} {path} is too large to be a PEM key")
    return path.read_bytes()


def _public_key(source: KeySource) -> Any:
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_public_key(_pem(source, "public key"))
    except ValueError as exc:
        raise ConfigurationError(
            f"not a PEM public key ({exc}); give the .pub file written by `promptc keys new`"
        ) from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigurationError(f"the public key is a {type(key).__name__}, not Ed25519")
    return key


def check_public_key(source: KeySource) -> None:
    """Refuse what is not an Ed25519 public key (before any artifact is read with it).

    Raises:
        ConfigurationError: saying what the key is instead.
    """
    _public_key(source)


def _private_key(source: KeySource) -> Any:
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(_pem(source, "private key"), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"not an unencrypted PEM private key ({exc}); give the .key file written by "
            "`promptc keys new`"
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigurationError(f"the private key is a {type(key).__name__}, not Ed25519")
    return key


def new_keys(out: str | Path) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair into ``out``: the private key 0600, the public key beside it.

    Returns:
        The private and the public key's paths.

    Raises:
        ConfigurationError: a key file is already there (keys are never overwritten).
    """
    serialization, ed25519 = _crypto()
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(
            f"{folder} is a file, and a key pair is written into a directory: give --out a "
            "directory (new or existing)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / f"{KEY_FILE}.key", folder / f"{KEY_FILE}.pub"
    for path in (private, public):
        if path.exists() or path.is_symlink():
            raise ConfigurationError(f"{path} exists; keys are never overwritten: choose --out")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask: only the owner reads a private key
        os.write(fd, pem)
    finally:
        os.close(fd)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def sign_artifact(artifact: Artifact, private_key: KeySource) -> Artifact:
    """The artifact with a ``signature`` block by ``private_key`` (any old one is replaced)."""
    key = _private_key(private_key)
    unsigned = artifact.model_copy(update={"signature": None})
    value = base64.b64encode(key.sign(signed_bytes(unsigned))).decode("ascii")
    block = ArtifactSignature(algorithm="ed25519", key_id=_key_id(key.public_key()), value=value)
    return unsigned.model_copy(update={"signature": block})


def verify_signature(artifact: Artifact, public_key: KeySource, *, source: str = "") -> None:
    """Check that ``artifact`` carries a valid signature by ``public_key``.

    Raises:
        ArtifactError: it is not signed, signed by another key, or the signature does not match
            its content (it was changed after signing).
        ConfigurationError: the key is not an Ed25519 public key, or cryptography is missing.
    """
    key = _public_key(public_key)
    where = f"{source}: " if source else ""
    block = artifact.signature
    if block is None:
        raise ArtifactError(
            f"{where}not signed, and a signature is required; sign it where it was built: "
            f"promptc sign {source or 'ARTIFACT'} --key PRIVATE_KEY"
        )
    expected = _key_id(key)
    if block.key_id != expected:
        raise ArtifactError(
            f"{where}signed with key {block.key_id}, not with the given key {expected}"
        )
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(base64.b64decode(block.value), signed_bytes(artifact))
    except (InvalidSignature, ValueError):
        raise ArtifactError(
            f"{where}the signature does not match the content: the artifact was changed after "
            "it was signed"
        ) from None


def rehash_artifact(path: str | Path) -> tuple[Artifact, str]:
    """Accept a reviewed hand edit: validate the file fully, then rewrite its content hash.

    Everything but the hash is checked as at load (schema, LM settings, templates, field types);
    the previous hash and the time are recorded under ``provenance.edited``; a signature, no
    longer valid, is dropped. An unchanged file is left alone.

    Returns:
        The artifact as written, and a one-line message saying what was done.
    """
    art = load_artifact(path, verify_hash=False)
    fresh = art.compute_hash()
    if art.content_hash == fresh:
        return art, f"{path}: the content hash already matches; nothing to do"
    edit = Edit(
        previous_hash=art.content_hash,
        at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    provenance = art.provenance.model_copy(
        update={"edited": [*(art.provenance.edited or []), edit]}
    )
    new = art.model_copy(update={"provenance": provenance, "content_hash": fresh})
    message = f"{path}: content hash {fresh[:19]}... written; the edit is recorded in provenance"
    if art.signature is not None:
        new = new.model_copy(update={"signature": None})
        message += "; its signature was dropped: sign it again with promptc sign"
    save_artifact(new, path)
    return load_artifact(path), message
