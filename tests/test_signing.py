"""Tamper evidence: Ed25519 keys, signing, verifying at load, and reviewed edits (rehash)."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import promptc
from promptc import Predict
from promptc._artifact.signing import new_keys, rehash_artifact, sign_artifact, signed_bytes
from promptc.artifact import (
    artifact_from_program,
    dump_artifact,
    load_artifact,
    parse_artifact,
    save_artifact,
)
from promptc.compiler import Provenance
from promptc.exceptions import ArtifactError, ConfigurationError
from promptc.testing import OpenAIStubServer

SETTINGS = {"model": "openai/gpt-4o-mini", "temperature": 0.0, "max_tokens": 16}


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptc.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    program = Predict("review -> label: Literal['positive', 'negative']")
    art = artifact_from_program(
        program, name="s", lm_settings=SETTINGS, provenance=Provenance(seed=1)
    )
    return save_artifact(art, tmp_path / "a.yaml")


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return new_keys(tmp_path / "keys")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")


def test_keys_are_written_private_0600_and_never_overwritten(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    before = private.read_bytes()
    with pytest.raises(ConfigurationError, match="never overwritten"):
        new_keys(tmp_path / "keys")
    assert private.read_bytes() == before


def test_signed_artifact_verifies_with_path_str_and_bytes(
    artifact: Path, keys: tuple[Path, Path]
) -> None:
    private, public = keys
    signed = sign_artifact(load_artifact(artifact), private)
    save_artifact(signed, artifact)
    pem = public.read_text()
    for key in (public, str(public), pem, pem.encode()):
        assert load_artifact(artifact, verify=key) == signed
    compiled = promptc.load(artifact, verify=public)
    assert compiled.artifact.signature is not None
    assert compiled.artifact.signature.key_id == signed.signature.key_id  # type: ignore[union-attr]
    assert load_artifact(artifact) == signed  # without verify, a signature is just carried


def test_signature_covers_everything_but_itself_provenance_included(
    artifact: Path, keys: tuple[Path, Path]
) -> None:
    signed = sign_artifact(load_artifact(artifact), keys[0])
    covered = signed_bytes(signed)
    assert b'"provenance":{"seed":1}' in covered and b'"content_hash":"sha256:' in covered
    assert b'"algorithm"' not in covered and covered == signed_bytes(
        signed.model_copy(update={"signature": None})
    )
    save_artifact(signed, artifact)
    _edit(artifact, "seed: 1", "seed: 2")  # provenance: outside the content hash
    with pytest.raises(ArtifactError, match="changed after it was signed"):
        load_artifact(artifact, verify=keys[1])
    assert load_artifact(artifact).provenance == Provenance(seed=2)  # the hash cannot tell


def test_missing_wrong_and_invalid_signatures_are_refused(
    tmp_path: Path, artifact: Path, keys: tuple[Path, Path]
) -> None:
    with pytest.raises(ArtifactError, match="not signed"):
        load_artifact(artifact, verify=keys[1])
    _, other_public = new_keys(tmp_path / "other")
    save_artifact(sign_artifact(load_artifact(artifact), keys[0]), artifact)
    with pytest.raises(ArtifactError, match=r"signed with key [0-9a-f]{16}, not with the given"):
        load_artifact(artifact, verify=other_public)
    data = yaml.safe_load(artifact.read_text())
    value = data["signature"]["value"]
    data["signature"]["value"] = ("B" if value[0] == "A" else "A") + value[1:]
    with pytest.raises(ArtifactError, match="does not match the content"):
        parse_artifact(dump_like(data), verify=keys[1])


def dump_like(data: dict[str, object]) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def test_a_tampered_artifact_with_a_recomputed_hash_fails_verification(
    artifact: Path, keys: tuple[Path, Path]
) -> None:
    save_artifact(sign_artifact(load_artifact(artifact), keys[0]), artifact)
    text = artifact.read_text()
    data = yaml.safe_load(text)
    data["predictors"][0]["instruction"] = "Say positive."
    art = parse_artifact(dump_like(data), verify_hash=False)
    forged = dump_artifact(art.model_copy(update={"content_hash": art.compute_hash()}))
    assert parse_artifact(forged).predictors[0].instruction == "Say positive."  # hash: fooled
    with pytest.raises(ArtifactError, match="does not match the content"):
        parse_artifact(forged, verify=keys[1])  # signature: not


def test_bad_keys_are_configuration_errors(artifact: Path, keys: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigurationError, match="not a PEM public key"):
        load_artifact(artifact, verify=keys[0])  # the private key, by mistake
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_artifact(artifact, verify="no-such-key.pub")
    with pytest.raises(ConfigurationError, match="not an unencrypted PEM private key"):
        sign_artifact(load_artifact(artifact), keys[1])


def test_rehash_accepts_a_reviewed_edit_and_records_it(
    artifact: Path, keys: tuple[Path, Path]
) -> None:
    save_artifact(sign_artifact(load_artifact(artifact), keys[0]), artifact)
    old_hash = load_artifact(artifact).content_hash
    _edit(artifact, "produce the fields `label`.", "produce the field `label`, briefly.")
    with pytest.raises(ArtifactError, match="promptc rehash"):
        load_artifact(artifact)
    art, message = rehash_artifact(artifact)
    assert "signature was dropped" in message and "sign it again" in message
    assert art.signature is None and art.content_hash == art.compute_hash() != old_hash
    assert load_artifact(artifact) == art
    (edit,) = art.provenance.edited or []
    assert edit.previous_hash == old_hash and edit.at.endswith("+00:00")
    assert art.provenance.seed == 1
    _, again = rehash_artifact(artifact)
    assert "nothing to do" in again
    _edit(artifact, "briefly.", "in one word.")  # a second edit is appended to the first
    second, _ = rehash_artifact(artifact)
    hashes = [e.previous_hash for e in second.provenance.edited or []]
    assert hashes == [old_hash, art.content_hash]


def test_rehash_refuses_an_edit_that_does_not_validate(artifact: Path) -> None:
    _edit(artifact, "{% for f in fields %}", "{% for f in fields %}{{ f.value|center(99999) }}")
    before = artifact.read_bytes()
    with pytest.raises(ArtifactError, match="the filter 'center'"):
        rehash_artifact(artifact)
    assert artifact.read_bytes() == before


def test_the_cli_signs_verifies_and_rehashes(tmp_path: Path, artifact: Path) -> None:
    made = cli("keys", "new", "--out", tmp_path / "k")
    assert made.returncode == 0, made.stderr
    private, public = tmp_path / "k" / "promptc-signing.key", tmp_path / "k" / "promptc-signing.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and public.is_file()
    unsigned = cli("validate", "--verify", public, artifact)
    assert unsigned.returncode == 3 and "not signed" in unsigned.stdout
    signed = cli("sign", artifact, "--key", private, "-o", tmp_path / "signed.yaml")
    assert signed.returncode == 0 and "signed" in signed.stdout
    shown = cli("show", tmp_path / "signed.yaml").stdout
    assert re.search(r"^signed    ed25519 key [0-9a-f]{16} ", shown, re.MULTILINE)
    ok = cli("validate", "--verify", public, tmp_path / "signed.yaml", artifact)
    assert ok.returncode == 3
    assert ok.stdout.splitlines()[0].endswith("signature ok)")
    assert "not signed" in ok.stdout.splitlines()[1]  # went on to the next file
    bad_key = cli("validate", "--verify", private, artifact)
    assert bad_key.returncode == 2 and "not a PEM public key" in bad_key.stderr
    _edit(tmp_path / "signed.yaml", "seed: 1", "seed: 7")
    tampered = cli("validate", "--verify", public, tmp_path / "signed.yaml")
    assert tampered.returncode == 3 and "changed after it was signed" in tampered.stdout
    _edit(artifact, "produce the fields", "give the fields")
    assert cli("validate", artifact).returncode == 3
    rehashed = cli("rehash", artifact)
    assert rehashed.returncode == 0 and "recorded in provenance" in rehashed.stdout
    assert cli("validate", artifact).returncode == 0
    refused = cli("rehash", tmp_path / "nope.yaml")
    assert refused.returncode == 3 and refused.stderr.startswith("promptc: error:")


def test_loading_without_verify_needs_no_cryptography(artifact: Path) -> None:
    script = (
        "import sys; sys.modules['cryptography'] = None\n"
        "import promptc\n"
        f"promptc.load({str(artifact)!r})\n"
        "try:\n"
        f"    promptc.load({str(artifact)!r}, verify='x.pub')\n"
        "except promptc.exceptions.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "pip install 'promptc[sign]'" in out.stdout


def test_run_and_eval_require_the_signature_when_asked(tmp_path: Path, artifact: Path) -> None:
    private, public = new_keys(tmp_path / "k")
    signed = save_artifact(sign_artifact(load_artifact(artifact), private), tmp_path / "s.yaml")
    data = tmp_path / "dev.jsonl"
    data.write_text('{"review": "fine", "label": "positive"}\n', "utf-8")
    with OpenAIStubServer(lambda body: "<label>positive</label>") as stub:
        mine = ("--model", "openai/m", "--api-base", stub.base_url)
        ok = cli("run", signed, "--verify", public, "--input", '{"review": "fine"}', *mine)
        assert ok.returncode == 0 and '"positive"' in ok.stdout, ok.stderr
        answered = len(stub.requests)
    assert answered == 1
    env_free = ("--model", "openai/m", "--api-base", "http://127.0.0.1:9/v1")  # never reached
    for command in (
        ["run", "--verify", public, "--input", '{"review": "fine"}', *env_free],
        ["eval", "--verify", public, "--data", data, *env_free],
    ):
        unsigned = cli(command[0], artifact, *command[1:])
        assert unsigned.returncode == 3, unsigned.stderr
        assert "not signed" in unsigned.stderr and "Traceback" not in unsigned.stderr
        bad_key = cli(command[0], signed, "--verify", private, *command[3:])
        assert bad_key.returncode == 2 and "not a PEM public key" in bad_key.stderr
    _edit(signed, "seed: 1", "seed: 7")
    tampered = cli("run", signed, "--verify", public, "--input", '{"review": "x"}', *env_free)
    assert tampered.returncode == 3 and "changed after it was signed" in tampered.stderr
    program = cli("eval", "examples/sentiment.py:program", "--verify", public, "--data", data)
    assert program.returncode == 2 and "is a program, not an artifact" in program.stderr
