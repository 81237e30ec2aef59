"""Modules: ``Predict``, ``ChainOfThought`` and user programs composed in plain Python.

Modules compose like PyTorch modules: a program is a ``Module`` whose ``forward`` calls other
modules; :meth:`Module.named_predictors` walks the tree to find every tunable prompt. ``__init__``
only stores what it is given (no LM calls), and running a program never changes it: tunable
parameters (instruction and demos) change only through :meth:`Module.with_params`, which returns a
new program.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from promptc._context import TraceEntry, current_lm, current_trace, naming, predictor_name
from promptc._lm.backend import LMResponse, Message
from promptc._lm.lm import LM
from promptc._lm.usage import Usage
from promptc._program.adapter import ChatAdapter, ParseFailure, format_templates
from promptc._program.signature import Signature, make_signature
from promptc.exceptions import ConfigurationError, OutputParseError, SignatureError

__all__ = ["ChainOfThought", "Module", "Params", "Predict", "Prediction"]


class Prediction(Mapping[str, Any]):
    """The outputs of a predictor: read as ``pred.answer`` or ``pred["answer"]``."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(
                f"prediction has no field {name!r}; fields: {list(self._values)}"
            ) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return "Prediction(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"

    def to_dict(self) -> dict[str, Any]:
        """The outputs as a plain dict."""
        return dict(self._values)


@dataclass(frozen=True)
class Params:
    """The tunable parameters of one predictor: its instruction and its ordered demos.

    Attributes:
        instruction: the instruction.
        demos: the ordered demos.
        format: a named prompt format to switch the predictor's adapter to (``"xml"``,
            ``"markdown"``, ``"plain"``: see ``promptc._program.adapter.PROMPT_FORMATS``); ``None``
            keeps the adapter it has. The templates themselves are what an artifact stores.
    """

    instruction: str
    demos: tuple[dict[str, Any], ...] = ()
    format: str | None = None


def _forward_unimplemented(self: Module, /, **inputs: Any) -> Any:
    """Run the program; composes other modules in plain Python."""
    raise NotImplementedError(f"{type(self).__name__} must define forward(**inputs)")


class Module:
    """Base class of every program. Subclasses define ``forward``, with the inputs they take.

    ``forward`` is declared as a callable of any signature (as PyTorch declares
    ``nn.Module.forward``), so a subclass's ``def forward(self, question: str) -> Prediction``
    is a valid override under ``mypy --strict``, and its named inputs are what a compile reads
    from each dataset row.
    """

    forward: Callable[..., Any] = _forward_unimplemented

    def __call__(self, /, **inputs: Any) -> Any:
        with naming(self._predictor_ids):
            return self.forward(**inputs)

    async def acall(self, /, **inputs: Any) -> Any:
        """Run the program from async code (``aforward`` if defined, else in a thread)."""
        with naming(self._predictor_ids):
            aforward = getattr(self, "aforward", None)
            if aforward is not None:
                return await aforward(**inputs)
            import asyncio  # imported by async code only: it costs ~20 ms at import time

            return await asyncio.to_thread(self.forward, **inputs)

    def _predictor_ids(self) -> dict[int, str]:
        return {id(p): name for name, p in self.named_predictors()}

    def named_modules(self, prefix: str = "") -> list[tuple[str, Module]]:
        """Every module in the tree (this one first), depth first, each once."""
        found: list[tuple[str, Module]] = []
        seen: set[int] = set()
        _walk(self, prefix, found, seen)
        return found

    def named_predictors(self) -> list[tuple[str, Predict]]:
        """Every tunable prompt in the program, with its dotted name."""
        return [(name or "self", m) for name, m in self.named_modules() if isinstance(m, Predict)]

    def predictors(self) -> list[Predict]:
        """Every tunable prompt in the program."""
        return [p for _, p in self.named_predictors()]

    def get_params(self) -> dict[str, Params]:
        """The instruction and demos of every predictor, by name."""
        return {name: p.params for name, p in self.named_predictors()}

    def with_params(self, params: Mapping[str, Params]) -> Module:
        """A copy of this program with some predictors' parameters replaced.

        Raises:
            ConfigurationError: a name matches no predictor (the message lists the names).
        """
        clone = self.clone()
        predictors = dict(clone.named_predictors())
        unknown = [n for n in params if n not in predictors]
        if unknown:
            raise ConfigurationError(
                f"no predictor named {unknown}; this program has {list(predictors)}"
            )
        for name, value in params.items():
            predictors[name]._set_params(value)
        return clone

    def clone(self) -> Module:
        """A deep copy (LMs are shared, not copied)."""
        return copy.deepcopy(self)


def _walk(obj: Module, prefix: str, found: list[tuple[str, Module]], seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    found.append((prefix, obj))
    for attr, value in vars(obj).items():
        if attr.startswith("_"):
            continue
        for name, child in _children(attr, value):
            _walk(child, f"{prefix}.{name}" if prefix else name, found, seen)


def _children(attr: str, value: Any) -> Iterator[tuple[str, Module]]:
    if isinstance(value, Module):
        yield attr, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if isinstance(item, Module):
                yield f"{attr}[{i}]", item
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, Module):
                yield f"{attr}[{key}]", item


class Predict(Module):
    """One prompt: a signature, an instruction (the signature's), ordered demos, an adapter.

    Args:
        signature: a :class:`Signature` subclass or a shorthand such as ``"question -> answer"``.
        demos: ordered demonstrations, each a dict with the signature's field values.
        lm: the LM for this predictor; by default the one set with :func:`promptc.context`.
        adapter: formats prompts and parses replies (:class:`ChatAdapter` by default).
        max_parse_retries: how often an unparsable reply is shown back to the model with the
            error before :class:`~promptc.exceptions.OutputParseError` is raised.
    """

    def __init__(
        self,
        signature: type[Signature] | str,
        *,
        demos: list[dict[str, Any]] | None = None,
        lm: LM | None = None,
        adapter: ChatAdapter | None = None,
        max_parse_retries: int = 1,
    ) -> None:
        if isinstance(signature, str):
            signature = make_signature(signature)
        if not (isinstance(signature, type) and issubclass(signature, Signature)):
            raise SignatureError(
                f"Predict needs a Signature subclass or a 'inputs -> outputs' string, "
                f"got {signature!r}"
            )
        signature.check()
        self.signature = signature
        self.demos = [dict(d) for d in demos or []]
        self.lm = lm
        self.adapter = adapter or ChatAdapter()
        self.max_parse_retries = max_parse_retries
        self._prefix: _Prefix | None = None

    def __repr__(self) -> str:
        sig = self.signature
        return (
            f"{type(self).__name__}({sig.__name__}: {list(sig.input_fields)} -> "
            f"{list(sig.output_fields)}, demos={len(self.demos)})"
        )

    @property
    def params(self) -> Params:
        """This predictor's tunable parameters."""
        return Params(self.signature.instruction, tuple(dict(d) for d in self.demos))

    def _set_params(self, params: Params) -> None:
        # Only called on a fresh clone by Module.with_params.
        if params.instruction != self.signature.instruction:
            self.signature = self.signature.with_instruction(params.instruction)
        self.demos = [dict(d) for d in params.demos]
        if params.format is not None:
            self.adapter = ChatAdapter(format_templates(params.format))

    def _lm(self) -> LM:
        lm = self.lm or current_lm()
        if lm is None:
            raise ConfigurationError(
                f"no LM for predictor {self.signature.__name__}: pass Predict(..., lm=LM(...)) or "
                "run it inside `with promptc.context(lm=promptc.LM('local/qwen2.5-coder-0.5b')):`"
            )
        return lm

    def messages(self, /, **inputs: Any) -> list[Message]:
        """The chat messages this predictor would send for ``inputs``."""
        return self._messages(self.signature.validate_inputs(inputs))

    def _messages(self, values: dict[str, Any]) -> list[Message]:
        """Format validated inputs; the system message and demo turns are rendered once for as
        long as the signature, the demos and the adapter stay the same (a compiled predictor's
        never change), and only the user turn per call."""
        memo = self._prefix
        if (
            memo is None
            or memo.signature is not self.signature
            or memo.adapter is not self.adapter
            or memo.demos != self.demos
        ):
            prefix = tuple(self.adapter.prefix(self.signature, self.demos))
            memo = _Prefix(self.signature, self.adapter, copy.deepcopy(self.demos), prefix)
            self._prefix = memo
        return [*map(dict, memo.messages), self.adapter.turn(self.signature, values)]

    def forward(self, /, **inputs: Any) -> Prediction:
        values = self.signature.validate_inputs(inputs)
        messages = self._messages(values)
        lm, name = self._lm(), predictor_name(self, self.signature.__name__)
        run = _Attempts(self, name, values)
        for _ in range(self.max_parse_retries + 1):
            response = lm(messages, tag=name)
            messages = run.consume(response, messages)
            if run.outputs is not None:
                return run.finish()
            lm.record_parse_error(name)
        raise run.fail()

    async def aforward(self, /, **inputs: Any) -> Prediction:
        values = self.signature.validate_inputs(inputs)
        messages = self._messages(values)
        lm, name = self._lm(), predictor_name(self, self.signature.__name__)
        run = _Attempts(self, name, values)
        for _ in range(self.max_parse_retries + 1):
            response = await lm.acall(messages, tag=name)
            messages = run.consume(response, messages)
            if run.outputs is not None:
                return run.finish()
            lm.record_parse_error(name)
        raise run.fail()


@dataclass(frozen=True)
class _Prefix:
    """A predictor's rendered system message and demo turns, and what they were rendered from."""

    signature: type[Signature]
    adapter: ChatAdapter
    demos: list[dict[str, Any]]
    messages: tuple[Message, ...]


class _Attempts:
    """The parse-retry loop's state for one predictor call (shared by sync and async)."""

    def __init__(self, predictor: Predict, name: str, inputs: dict[str, Any]) -> None:
        self.predictor = predictor
        self.name = name
        self.inputs = inputs
        self.raw: list[str] = []
        self.usage = Usage()
        self.error = ""
        self.field: str | None = None
        self.outputs: dict[str, Any] | None = None

    def consume(self, response: LMResponse, messages: list[Message]) -> list[Message]:
        """Parse a reply; return the messages for the next attempt if it failed."""
        self.raw.append(response.text)
        self.usage.add(Usage.served(response))
        sig, adapter = self.predictor.signature, self.predictor.adapter
        try:
            self.outputs = adapter.parse(sig, response.text)
        except ParseFailure as exc:
            self.error, self.field = str(exc), exc.field
            return messages + adapter.feedback(sig, response.text, self.error)
        return messages

    def _record(self, error: str | None) -> None:
        recorder = current_trace()
        if recorder is None:
            return
        p = self.predictor
        recorder.add(
            TraceEntry(
                predictor=self.name,
                signature=p.signature.__name__,
                instruction=p.signature.instruction,
                inputs=dict(self.inputs),
                outputs=dict(self.outputs or {}),
                demos=[dict(d) for d in p.demos],
                raw=list(self.raw),
                usage=self.usage.to_dict(),
                error=error,
            )
        )

    def finish(self) -> Prediction:
        assert self.outputs is not None
        self._record(None)
        return Prediction(self.outputs)

    def fail(self) -> OutputParseError:
        message = (
            f"{self.name}: could not parse the LM's reply after {len(self.raw)} attempt(s): "
            f"{self.error}. Last reply: {self.raw[-1][:300]!r}"
        )
        self._record(message)
        return OutputParseError(
            message,
            raw=self.raw[-1],
            attempts=len(self.raw),
            usage=self.usage.to_dict(),
            field=self.field,
        )


class ChainOfThought(Predict):
    """A predictor that writes its reasoning before the answer fields.

    Args:
        signature: as for :class:`Predict`; a ``reasoning: str`` output is put first.
        kwargs: as for :class:`Predict`.
    """

    def __init__(self, signature: type[Signature] | str, **kwargs: Any) -> None:
        if isinstance(signature, str):
            signature = make_signature(signature)
        if "reasoning" not in signature.output_fields:
            signature = signature.with_fields(
                outputs={"reasoning": (str, "think step by step, briefly, before answering")},
                prepend_outputs=True,
            )
        super().__init__(signature, **kwargs)
