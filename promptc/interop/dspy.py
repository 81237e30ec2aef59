"""DSPy interop: a DSPy program in, a promptc compile back out, one LM for both.

- :func:`from_dspy` turns a DSPy program into a promptc program. A ``dspy.Predict`` or
  ``dspy.ChainOfThought`` becomes a promptc :class:`~promptc.Predict` /
  :class:`~promptc.ChainOfThought` (instruction, field names, descriptions and types, and the
  demos it carries). Your own ``dspy.Module`` becomes a :class:`DSPyProgram`: a copy of it whose
  ``forward`` runs as you wrote it, with each DSPy predictor swapped for its promptc twin, so
  ``promptc.compile`` tunes them. What promptc cannot run as a prompt (ReAct and its tools,
  ProgramOfThought, Refine, a custom adapter, per-predictor call settings, ...) is refused with
  one line naming it.
- :func:`to_dspy` writes a compile's result (per predictor: instruction and ordered demos) into a
  DSPy program, so ``program.save(path)`` and ``load(path)`` keep it in DSPy's own format.
  DSPy renders those with its own adapter: the prompt text is DSPy's, not the artifact's
  templates (``promptc.load`` runs the exact artifact).
- :func:`dspy_lm` is a ``dspy.LM`` that answers through a :class:`promptc.LM` (a litellm custom
  provider), so DSPy and promptc call the same model, fake or cache, and every DSPy request is
  counted in the promptc LM's usage.

DSPy is imported when one of these is called, never by ``import promptc``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python

from promptc._artifact.artifact import Artifact
from promptc._program.module import ChainOfThought, Module, Predict, Prediction
from promptc._program.signature import Field, Signature, derive_signature
from promptc.exceptions import ConfigurationError, SignatureError
from promptc.interop._lm import PROVIDER, dspy_lm

__all__ = ["PROVIDER", "DSPyProgram", "dspy_lm", "from_dspy", "to_dspy"]

logger = logging.getLogger(__name__)

# Built-in DSPy modules that are more than a prompt, and why promptc cannot run them.
_WHY = {
    "ReAct": "it calls tools in a loop, and promptc has no tools",
    "ReActV2": "it calls tools in a loop, and promptc has no tools",
    "CodeAct": "it writes and runs code with tools, and promptc has no tools",
    "ProgramOfThought": "it runs the code the model writes",
    "RLM": "it runs the code the model writes",
    "Refine": "it resamples against a reward function",
    "BestOfN": "it resamples against a reward function",
    "MultiChainComparison": "it compares several sampled completions",
    "Parallel": "it is DSPy's thread pool",
    "KNN": "it retrieves demos per input with an embedder",
}
_FORMATS = ("ChatAdapter", "JSONAdapter", "XMLAdapter")  # replaced by promptc's own formats


def _import_dspy() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # else litellm's import fetches
    try:
        import dspy  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        raise ConfigurationError(
            f"DSPy interop needs DSPy ({exc}); install it with pip install 'promptc[dspy]'"
        ) from None
    return dspy


# -- DSPy -> promptc ---------------------------------------------------------------------------


class DSPyProgram(Module):
    """A DSPy program running in promptc, made by :func:`from_dspy`.

    Its ``forward`` is the DSPy program's own, run on a copy of it in which every
    ``dspy.Predict`` / ``dspy.ChainOfThought`` is replaced by its promptc twin; the twins are
    also attributes of this module under the same names, so :meth:`named_predictors` (and a
    compile) finds them. A ``dspy.Prediction`` that ``forward`` returns becomes a promptc
    :class:`~promptc.Prediction`.
    """

    def __init__(self, dspy_module: Any, children: dict[str, Any]) -> None:
        self._dspy_module = dspy_module
        for name, child in children.items():
            setattr(self, name, child)

    def _run(self, /, *args: Any, **inputs: Any) -> Any:
        out = self._dspy_module(*args, **inputs)
        if isinstance(out, Prediction) or not hasattr(out, "items"):
            return out
        dspy = _import_dspy()
        return Prediction(dict(out.items())) if isinstance(out, dspy.Prediction) else out


class _Node(Module):
    """A promptc mirror of one of your nested DSPy modules: it only holds the predictors."""


@functools.cache
def _program_class(cls: Any) -> type[DSPyProgram]:
    """A :class:`DSPyProgram` subclass named after ``cls`` whose ``forward`` takes its inputs."""
    params = list(inspect.signature(cls.forward).parameters.values())

    def forward(self: DSPyProgram, /, *args: Any, **inputs: Any) -> Any:
        return self._run(*args, **inputs)

    forward.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    ns = {"forward": forward, "__module__": __name__, "__doc__": cls.__doc__}
    return type(cls.__name__, (DSPyProgram,), ns)


@functools.cache
def _node_class(name: str) -> type[_Node]:
    return type(name, (_Node,), {"__module__": __name__})


def _where(name: str) -> str:
    return repr(name or "self")


def _kind(dspy: Any, value: Any, name: str) -> str:
    """``"predict"``, ``"cot"`` or ``"module"`` (yours, walked); anything else is refused."""
    cls = type(value)
    if cls is dspy.Predict:
        return "predict"
    if cls is dspy.ChainOfThought:
        return "cot"
    for base in (dspy.Predict, dspy.ChainOfThought):
        if isinstance(value, base):
            raise ConfigurationError(
                f"cannot convert DSPy module {_where(name)}: {cls.__name__} subclasses "
                f"dspy.{base.__name__} with code of its own; use dspy.{base.__name__} itself "
                "and put your code in the forward of a dspy.Module around it"
            )
    if cls.__module__.split(".")[0] == "dspy":
        why = _WHY.get(cls.__name__, "promptc converts Predict, ChainOfThought and your modules")
        raise ConfigurationError(
            f"cannot convert DSPy module {_where(name)}: dspy.{cls.__name__} ({why})"
        )
    return "module"


def _check_adapter(dspy: Any) -> None:
    adapter = dspy.settings.adapter
    kind = type(adapter).__name__
    if adapter is None or (kind in _FORMATS and type(adapter) is getattr(dspy, kind)):
        return
    raise ConfigurationError(
        f"cannot convert a DSPy program configured with the custom adapter {kind}: "
        "promptc formats prompts with its own adapter (formats xml, markdown, plain); "
        "configure dspy without it (dspy.configure(adapter=None))"
    )


def _field(name: str, info: Any) -> Field:
    extra = info.json_schema_extra or {}
    desc = str(extra.get("desc") or "")
    if desc == f"${{{name}}}":  # DSPy's placeholder for "no description"
        desc = ""
    return Field(name, str(extra.get("__dspy_field_type")), info.annotation, desc)


def _dspy_type(annotation: Any) -> str | None:
    """The name of a DSPy type (``dspy.Image``, ``dspy.History``, ...) inside ``annotation``."""
    if isinstance(annotation, type) and annotation.__module__.split(".")[0] == "dspy":
        return annotation.__name__
    return next(filter(None, map(_dspy_type, typing.get_args(annotation))), None)


def _signature(sig: Any, name: str, *, drop: str | None = None) -> type[Signature]:
    """A promptc signature with a DSPy signature's instruction, fields, types and descriptions."""
    fields = [_field(n, info) for n, info in sig.fields.items() if n != drop]
    for field in fields:
        special = _dspy_type(field.annotation)
        if special is not None:
            raise ConfigurationError(
                f"cannot convert DSPy predictor {_where(name)}: field {field.name!r} has the DSPy "
                f"type dspy.{special}, which promptc's prompts do not carry (text, numbers, "
                "bools, Literal, lists, dicts and pydantic models do)"
            )
    base: type[Signature] = type(sig.__name__, (Signature,), {"__module__": __name__})
    try:
        return derive_signature(
            base,
            instruction=str(sig.instructions).strip() or None,
            input_fields={f.name: f for f in fields if f.kind == "input"},
            output_fields={f.name: f for f in fields if f.kind == "output"},
        )
    except SignatureError as exc:
        raise ConfigurationError(f"cannot convert DSPy predictor {_where(name)}: {exc}") from None


def _demos(demos: list[Any], sig: type[Signature]) -> list[dict[str, Any]]:
    """The demos as dicts of the signature's fields; like DSPy, a demo without an input or an
    output field is dropped."""
    out = []
    for demo in demos:
        values = {f: demo[f] for f in sig.fields() if f in demo}
        if any(f in values for f in sig.input_fields) and any(
            f in values for f in sig.output_fields
        ):
            out.append(to_jsonable_python(values))
    return out


def _predictor(dspy: Any, module: Any, name: str, cot: bool) -> Predict:
    inner = module.predict if cot else module
    if type(inner) is not dspy.Predict:
        raise ConfigurationError(
            f"cannot convert DSPy predictor {_where(name)}: its inner predictor is a "
            f"{type(inner).__name__}, not a dspy.Predict"
        )
    if inner.config:
        raise ConfigurationError(
            f"cannot convert DSPy predictor {_where(name)}: it carries call settings "
            f"{sorted(inner.config)}; promptc takes sampling settings on its LM "
            "(promptc.LM(model, temperature=..., params=...)): drop them from the predictor"
        )
    if inner.lm is not None:
        logger.warning(
            "DSPy predictor %s has its own LM (%s); promptc runs it with the LM of its context",
            _where(name),
            getattr(inner.lm, "model", inner.lm),
        )
    sig = _signature(inner.signature, name, drop="reasoning" if cot else None)
    predictor = ChainOfThought(sig) if cot else Predict(sig)
    predictor.demos = _demos(list(inner.demos), predictor.signature)
    return predictor


Visit = Callable[[Any, str, bool], Any]


class _Walk:
    """Walks a DSPy module tree as DSPy does (attributes, lists, tuples, dicts), calls ``visit``
    on each predictor with its promptc name, and builds the promptc mirror of the tree.

    With ``swap``, each predictor in the (copied) DSPy tree is replaced by what ``visit``
    returned, so the DSPy program's forward calls it.
    """

    def __init__(self, dspy: Any, visit: Visit, *, swap: bool) -> None:
        self.dspy, self.visit, self.swap = dspy, visit, swap
        self.seen: dict[int, tuple[Any, Any]] = {}

    def value(self, value: Any, name: str) -> tuple[Any, Any]:
        """What the DSPy tree holds here afterwards, and the promptc mirror (None: no prompt)."""
        if id(value) in self.seen:  # a module reachable twice is converted once
            return self.seen[id(value)]
        if isinstance(value, self.dspy.Module):
            kind = _kind(self.dspy, value, name)
            if kind == "module":
                node = _node_class(type(value).__name__)()
                for attr, child in self.children(value, name).items():
                    setattr(node, attr, child)
                mirror = node if vars(node) else None
            else:
                mirror = self.visit(value, name, kind == "cot")
            pair = ((mirror if self.swap and kind != "module" else value), mirror)
            self.seen[id(value)] = pair
            return pair
        if isinstance(value, (list, tuple)):
            pairs = [self.value(v, f"{name}[{i}]") for i, v in enumerate(value)]
            if all(m is None for _, m in pairs):
                return value, None
            new = [n for n, _ in pairs]
            return (new if isinstance(value, list) else tuple(new)), [m for _, m in pairs]
        if isinstance(value, dict):
            found = {k: self.value(v, f"{name}[{k}]") for k, v in value.items()}
            if all(m is None for _, m in found.values()):
                return value, None
            mirrors = {k: m for k, (_, m) in found.items() if m is not None}
            return {k: n for k, (n, _) in found.items()}, mirrors
        return value, None

    def children(self, module: Any, name: str) -> dict[str, Any]:
        """The mirrors of ``module``'s attributes that hold prompts (swapping them in place)."""
        mirrors = {}
        for attr, child in list(vars(module).items()):
            path = f"{name}.{attr}" if name else attr
            new, mirror = self.value(child, path)
            if mirror is None:
                continue
            if attr.startswith("_"):
                raise ConfigurationError(
                    f"cannot convert DSPy module: the predictor at {path!r} is in a private "
                    "attribute, which promptc does not tune; rename it without the leading '_'"
                )
            if self.swap:
                setattr(module, attr, new)
            mirrors[attr] = mirror
        return mirrors


def from_dspy(module: Any) -> Module:
    """A promptc program from a DSPy program.

    Args:
        module: a ``dspy.Predict``, a ``dspy.ChainOfThought``, or your own ``dspy.Module`` whose
            ``forward`` calls them. It is not changed: a converted module runs on a copy.

    Returns:
        A :class:`~promptc.Predict` / :class:`~promptc.ChainOfThought`, or a
        :class:`DSPyProgram` whose predictors have the names DSPy gives them (a
        ``ChainOfThought``'s without its ``.predict``).

    Raises:
        ConfigurationError: ``module`` holds something promptc cannot run as a prompt (the
            message names it and where), or DSPy is not installed.
    """
    dspy = _import_dspy()
    if not isinstance(module, dspy.Module):
        raise ConfigurationError(
            "from_dspy takes a dspy.Module (dspy.Predict, dspy.ChainOfThought or your own "
            f"dspy.Module), got {type(module).__name__}"
        )
    _check_adapter(dspy)
    kind = _kind(dspy, module, "")
    if kind != "module":
        return _predictor(dspy, module, "self", kind == "cot")
    twin = module.deepcopy()
    walk = _Walk(dspy, functools.partial(_predictor, dspy), swap=True)
    children = walk.children(twin, "")
    if not children:
        raise ConfigurationError(
            f"{type(module).__name__} holds no dspy.Predict or dspy.ChainOfThought: nothing "
            "for promptc to tune; convert a module whose attributes hold them"
        )
    cls: Any = type(module)
    return _program_class(cls)(twin, children)


# -- promptc -> DSPy ---------------------------------------------------------------------------


def _artifact(compiled: Any) -> Artifact:
    if isinstance(compiled, Artifact):
        return compiled
    if isinstance(compiled, (str, os.PathLike)):
        from promptc._artifact.runtime import load

        return load(Path(compiled)).artifact
    artifact = getattr(compiled, "artifact", None)
    if isinstance(artifact, Artifact):
        return artifact
    raise ConfigurationError(
        "to_dspy takes a CompileResult, a loaded artifact (promptc.load(path)), an Artifact or "
        f"an artifact's path, got {type(compiled).__name__}"
    )


def _dspy_predictors(dspy: Any, program: Any) -> dict[str, Any]:
    """Each ``dspy.Predict`` in ``program`` by its promptc name (a ChainOfThought's inner one)."""
    found: dict[str, Any] = {}

    def visit(module: Any, name: str, cot: bool) -> Any:
        found[name or "self"] = module.predict if cot else module
        return module

    if not isinstance(program, dspy.Module):
        raise ConfigurationError(f"to_dspy writes into a dspy.Module, got {type(program).__name__}")
    _Walk(dspy, visit, swap=False).value(program, "")
    return found


def _check_fields(name: str, predict: Any, spec: Any) -> None:
    ours = ([f.name for f in spec.signature.inputs], [f.name for f in spec.signature.outputs])
    theirs = (list(predict.signature.input_fields), list(predict.signature.output_fields))
    if [sorted(x) for x in ours] != [sorted(x) for x in theirs]:
        raise ConfigurationError(
            f"predictor {name!r}: the DSPy program's fields {theirs[0]} -> {theirs[1]} differ "
            f"from the compiled {ours[0]} -> {ours[1]}; write into the program that was compiled"
        )


def to_dspy(compiled: Any, into: Any) -> Any:
    """Write a promptc compile into a DSPy program: per predictor, instruction and ordered demos.

    Args:
        compiled: a :class:`~promptc.CompileResult`, a loaded artifact (``promptc.load(path)``),
            an artifact, or an artifact's path (loaded with every check ``promptc.load`` makes).
        into: the DSPy program that was compiled (converted with :func:`from_dspy`), or a fresh
            instance of it. It is changed in place, as DSPy's own ``load`` changes it.

    Returns:
        ``into``, ready for ``into.save(path)``; DSPy renders the instructions and demos with
        its own adapter.

    Raises:
        ConfigurationError: the predictor names or fields of ``into`` differ from the compiled
            program's.
    """
    dspy = _import_dspy()
    artifact = _artifact(compiled)
    specs = {spec.name: spec for spec in artifact.predictors}
    predictors = _dspy_predictors(dspy, into)
    if set(predictors) != set(specs):
        raise ConfigurationError(
            f"the DSPy program has predictors {sorted(predictors)}, the compiled program "
            f"{sorted(specs)}; write into the program that was compiled"
        )
    for name, predict in predictors.items():
        spec = specs[name]
        _check_fields(name, predict, spec)
        inputs = [f.name for f in spec.signature.inputs]
        predict.signature = predict.signature.with_instructions(spec.instruction)
        predict.demos = [
            dspy.Example(**demo).with_inputs(*[n for n in inputs if n in demo])
            for demo in spec.demos
        ]
    return into
