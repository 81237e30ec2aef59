"""The production runtime: load an artifact, render its prompts, run it.

Loading imports nothing of the compiler (no optuna, numpy, torch or sentence-transformers):
an artifact is data, rendered by the templates it carries and parsed by promptc's adapter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptc._artifact.artifact import Artifact, KeySource, load_artifact, predictor_from_spec
from promptc._lm.backend import Message
from promptc._lm.context import context, current_lm, naming
from promptc._lm.lm import LM
from promptc._program.module import Module, Params, Predict, Prediction
from promptc.exceptions import ArtifactError, ConfigurationError

__all__ = ["CompiledProgram", "load"]

# Model prefixes an LM is built with from an artifact's word alone: the embedded model, or an
# OpenAI-compatible endpoint whose host and key are the loading process's (api_base= or
# $OPENAI_BASE_URL, $OPENAI_API_KEY). Any other prefix is litellm's, and it picks a host and an
# environment key (ANTHROPIC_API_KEY, GROQ_API_KEY, ...), so only the loader may name one.
_FROM_ARTIFACT = ("local/", "openai/")


class CompiledProgram:
    """A loaded artifact: callable when it holds one predictor, or bound onto your program.

    Attributes:
        artifact: the validated artifact.
        predictors: a :class:`Predict` per stored predictor, by name.
    """

    def __init__(
        self,
        artifact: Artifact,
        *,
        lm: LM | None = None,
        program: Module | None = None,
        api_base: str | None = None,
        api_key: str | None = None,
    ):
        if lm is not None and (api_base is not None or api_key is not None):
            raise ConfigurationError(
                "load() got both lm= and api_base=/api_key=: give the endpoint and key to "
                "your LM (LM(model, api_base=..., api_key=...)), or leave lm out"
            )
        self.artifact = artifact
        self.predictors: dict[str, Predict] = {
            spec.name: predictor_from_spec(spec) for spec in artifact.predictors
        }
        self._lm = lm
        if api_base is not None or api_key is not None:
            self._lm = self._artifact_lm(api_base, api_key)
        self._program = self._bind(program) if program is not None else None
        self._named: tuple[Module, dict[int, str]] | None = None

    @property
    def name(self) -> str:
        """The program's name."""
        return self.artifact.program.name

    def lm(self) -> LM:
        """The LM to run with: the one given, the one in context, else the artifact's settings."""
        if self._lm is not None:
            return self._lm
        chosen = current_lm()
        if chosen is not None:
            return chosen
        self._lm = self._artifact_lm(None, None)
        return self._lm

    def _artifact_lm(self, api_base: str | None, api_key: str | None) -> LM:
        first = next((p.lm for p in self.artifact.predictors if p.lm is not None), None)
        if first is None:
            raise ConfigurationError(
                f"artifact {self.name} records no LM settings; pass load(path, lm=LM(...))"
            )
        if not first.model.startswith(_FROM_ARTIFACT):
            raise ConfigurationError(
                f"artifact {self.name} records the model {first.model!r}, which litellm serves: "
                "its provider prefix picks the host your inputs go to and which of your API "
                "keys is sent, and an artifact is untrusted, so promptc builds only 'local/' and "
                "'openai/' models from one. Name the model yourself: "
                f"load(path, lm=LM({first.model!r})) or `promptc run ... --model {first.model}`"
            )
        return LM(
            first.model,
            api_base=api_base,
            api_key=api_key,
            temperature=first.temperature,
            max_tokens=first.max_tokens,
            params=dict(first.params),
            cache=False,
        )

    def _bind(self, program: Module) -> Module:
        own = dict(program.named_predictors())
        if set(own) != set(self.predictors):
            raise ArtifactError(
                f"program has predictors {sorted(own)}, the artifact {sorted(self.predictors)}"
            )
        for name, p in own.items():
            stored = self.predictors[name].signature
            if list(p.signature.fields()) != list(stored.fields()):
                raise ArtifactError(
                    f"predictor {name!r}: program fields {list(p.signature.fields())} differ from "
                    f"the artifact's {list(stored.fields())}"
                )
        bound = program.with_params(
            {n: Params(p.signature.instruction, tuple(p.demos)) for n, p in self.predictors.items()}
        )
        for name, p in bound.named_predictors():
            p.adapter = self.predictors[name].adapter
        return bound

    def _target(self) -> Module:
        if self._program is not None:
            return self._program
        if len(self.predictors) == 1:
            return next(iter(self.predictors.values()))
        raise ConfigurationError(
            f"artifact {self.name} holds {len(self.predictors)} predictors; its forward() is "
            "your code: load(path, program=YourProgram()) to run it, or render() each prompt"
        )

    def _names(self, target: Module) -> dict[int, str]:
        """The predictor names of ``target``, found once: a loaded program's tree is fixed."""
        if self._named is None or self._named[0] is not target:
            self._named = (target, target._predictor_ids())
        return self._named[1]

    def __call__(self, /, **inputs: Any) -> Any:
        """Run the program on one input."""
        target = self._target()
        names = self._names(target)
        with context(lm=self.lm()), naming(lambda: names):
            return target(**inputs)

    async def acall(self, /, **inputs: Any) -> Any:
        """Async twin of :meth:`__call__`."""
        target = self._target()
        names = self._names(target)
        with context(lm=self.lm()), naming(lambda: names):
            return await target.acall(**inputs)

    def render(self, predictor: str | None = None, /, **inputs: Any) -> list[Message]:
        """The exact chat messages a predictor sends for ``inputs`` (for your own LM client).

        Args:
            predictor: which predictor, by name, given positionally (any keyword is an input
                field, so a field may be called ``predictor``); optional with one predictor.
            inputs: the input field values.
        """
        return self._predictor(predictor).messages(**inputs)

    def parse(self, completion: str, predictor: str | None = None) -> Prediction:
        """Parse a completion from your own LM client into typed outputs."""
        p = self._predictor(predictor)
        return Prediction(p.adapter.parse(p.signature, completion))

    def _predictor(self, name: str | None) -> Predict:
        if name is None:
            if len(self.predictors) != 1:
                raise ConfigurationError(
                    f"artifact {self.name} has predictors {list(self.predictors)}; name one"
                )
            return next(iter(self.predictors.values()))
        if name not in self.predictors:
            raise ConfigurationError(f"no predictor {name!r}; have {list(self.predictors)}")
        return self.predictors[name]


def load(
    path: str | Path,
    *,
    lm: LM | None = None,
    program: Module | None = None,
    verify: KeySource | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
) -> CompiledProgram:
    """Load a compiled artifact for production use.

    An artifact records its model and sampling settings, never where the model is served or
    with which key: those come from your process, as ``api_base``/``api_key`` here or the
    provider's environment variables (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``). Only a
    ``local/`` or ``openai/`` model is built from the artifact's word: any other (litellm's)
    provider prefix picks a host and an environment key, so name such a model yourself (``lm=``).

    Args:
        path: the artifact's YAML file.
        lm: the LM to call (default: the one in context, else built from the artifact).
        program: your program object, for multi-predictor programs whose ``forward`` is code;
            the artifact's prompts are bound onto a copy of it.
        verify: a public key (a PEM file's path, or PEM text as ``str`` or ``bytes``): the
            artifact must carry a valid signature by it (``promptc sign``; needs
            ``pip install 'promptc[sign]'``).
        api_base: the endpoint for the LM built from the artifact's settings, e.g. a vLLM
            server's ``http://localhost:8000/v1`` (not with ``lm``).
        api_key: the key for that LM (not with ``lm``); kept in this process only.

    Raises:
        ArtifactError: the file is malformed, edited after compiling, unsafe, newer than this
            promptc, not signed by ``verify``, or does not match ``program``.
        ConfigurationError: ``lm`` given together with ``api_base`` or ``api_key``; or, when
            the LM is built from the artifact (at the first call), its model is not ``local/``
            or ``openai/``.
    """
    return CompiledProgram(
        load_artifact(path, verify=verify),
        lm=lm,
        program=program,
        api_base=api_base,
        api_key=api_key,
    )
