"""Readable views of artifacts: ``show`` one, ``diff`` two."""

from __future__ import annotations

import difflib
import json
import textwrap
from typing import Any

from promptc._artifact.artifact import Artifact, PredictorSpec
from promptc._artifact.provenance import Provenance, ScoreRecord
from promptc._program.adapter import PROMPT_FORMATS, format_templates

__all__ = ["diff_artifacts", "show_artifact"]


def _short(value: Any, width: int | None = 70) -> str:
    """``value`` on one line, cut at ``width`` (None: never) with how much was cut said, so a
    reviewer knows there is more (a demo's tail can carry an injected instruction)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    if width is None or len(text) <= width:
        return text
    return f"{text[: width - 3]}... (+{len(text) - width + 3} chars; --full shows all)"


def _demo_line(spec: PredictorSpec, demo: dict[str, Any], full: bool = False) -> str:
    cut_in, cut_out = (None, None) if full else (50, 30)
    ins = [
        f"{f.name}: {_short(demo[f.name], cut_in)}" for f in spec.signature.inputs if f.name in demo
    ]
    outs = [
        f"{f.name}: {_short(demo[f.name], cut_out)}"
        for f in spec.signature.outputs
        if f.name in demo
    ]
    return "; ".join(ins) + " -> " + "; ".join(outs)


def _score_line(key: str, s: ScoreRecord) -> str:
    lo, hi = s.ci95
    return f"  {key:<9} {s.mean:.3f}  (95% CI {lo:.3f}-{hi:.3f}, n={s.n}, errors={s.errors})"


def _scores(provenance: Provenance) -> list[str]:
    scores = provenance.scores
    if scores is None:
        return []
    pairs = (("baseline", scores.baseline), ("compiled", scores.compiled))
    lines = [_score_line(key, s) for key, s in pairs if s is not None]
    if scores.gain is not None:
        lines.append(f"  gain      {scores.gain.text()}")
    if scores.selection is not None:
        lines.append(f"  new rows  {scores.selection.text()}")
    if scores.holdout is not None and scores.holdout.gain is not None:
        held = scores.holdout.gain
        lines.append(f"  held-out  gain {held.text()} (n={held.n})")
    return lines


def show_artifact(a: Artifact, full: bool = False) -> str:
    """A readable, reviewable view of an artifact (``full``: demo values uncut)."""
    out = [
        f"program   {a.program.name}" + (f"  ({a.program.entry})" if a.program.entry else ""),
        f"hash      {a.content_hash}",
        f"versions  schema {a.schema_version}, promptc {a.promptc_version}",
    ]
    if a.signature is not None:
        out.append(
            f"signed    {a.signature.algorithm} key {a.signature.key_id} "
            "(checked with --verify PUBLIC_KEY: promptc validate, run, eval)"
        )
    prov = a.provenance
    if prov.model_fields_set:
        opt, spent = prov.optimizer, prov.spent
        out.append(
            f"compiled  optimizer {opt and opt.name} {json.dumps(opt.config if opt else {})}, "
            f"seed {prov.seed}, metric {prov.scores and prov.scores.metric}"
        )
        if opt and opt.chosen_by:
            out.append(f"  strategy  {opt.chosen_by}")
        out.extend(_scores(prov))
        if spent:
            out.append(
                f"  spent     {spent.lm_requests} LM requests (budget {spent.budget}), "
                f"{spent.prompt_tokens}+{spent.completion_tokens} tokens"
            )
    for spec in a.predictors:
        sig = spec.signature
        ins = ", ".join(f"{f.name}: {f.type}" for f in sig.inputs)
        outs = ", ".join(f"{f.name}: {f.type}" for f in sig.outputs)
        out.append("")
        out.append(f"predictor {spec.name}  [{sig.name}: {ins} -> {outs}]")
        if spec.lm:
            params = f", params {json.dumps(spec.lm.params)}" if spec.lm.params else ""
            out.append(
                f"  lm          {spec.lm.model}, temperature {spec.lm.temperature}, "
                f"max_tokens {spec.lm.max_tokens}{params}"
            )
        out.extend(_templates_lines(spec.adapter.templates))
        out.append("  instruction")
        out.extend(textwrap.indent(spec.instruction, "    ").splitlines())
        out.append(f"  demos ({len(spec.demos)})")
        out.extend(f"    {i}. {_demo_line(spec, d, full)}" for i, d in enumerate(spec.demos, 1))
    return "\n".join(out)


def _format_of(templates: dict[str, str]) -> str | None:
    """The built-in prompt format these templates are, if any."""
    return next((f for f in PROMPT_FORMATS if format_templates(f) == templates), None)


def _templates_lines(templates: dict[str, str]) -> list[str]:
    """The format's name when built in; else every template in full: they shape each prompt,
    and a reviewer must see text a stranger put there."""
    known = _format_of(templates)
    if known is not None:
        return [f"  format      {known} (built in)"]
    lines = ["  format      custom templates:"]
    for part, source in templates.items():
        lines.append(f"    [{part}]")
        lines.extend(textwrap.indent(source, "      ").splitlines())
    return lines


def _key(demo: dict[str, Any]) -> str:
    return json.dumps(demo, sort_keys=True, ensure_ascii=False)


def _text_diff(old: str, new: str) -> list[str]:
    """The changed lines of ``old`` -> ``new`` (unified, one line of context), indented."""
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1)
    return ["    " + ln for ln in list(diff)[2:]]


def _diff_predictor(old: PredictorSpec, new: PredictorSpec) -> list[str]:
    lines: list[str] = []
    if old.signature != new.signature:
        lines.append("  signature changed")
    if old.instruction != new.instruction:
        lines.append("  instruction:")
        lines.extend(_text_diff(old.instruction, new.instruction))
    old_keys, new_keys = [_key(d) for d in old.demos], [_key(d) for d in new.demos]
    removed = [d for d, k in zip(old.demos, old_keys, strict=True) if k not in new_keys]
    added = [d for d, k in zip(new.demos, new_keys, strict=True) if k not in old_keys]
    lines.extend(f"  - demo {_demo_line(old, d, full=True)}" for d in removed)  # every word
    lines.extend(f"  + demo {_demo_line(new, d, full=True)}" for d in added)
    common_old = [k for k in old_keys if k in new_keys]
    common_new = [k for k in new_keys if k in old_keys]
    if not removed and not added and common_old != common_new:
        order = [common_old.index(k) + 1 for k in common_new]
        lines.append(f"  demos reordered: now in old order {order}")
    if old.adapter != new.adapter:
        before, after = _format_of(old.adapter.templates), _format_of(new.adapter.templates)
        lines.append(f"  format: {before or 'custom'} -> {after or 'custom'}")
        for part in sorted(old.adapter.templates.keys() | new.adapter.templates.keys()):
            a, b = old.adapter.templates.get(part, ""), new.adapter.templates.get(part, "")
            if a != b:
                lines.append(f"  template {part}:")
                lines.extend(_text_diff(a, b))
    if old.lm != new.lm:
        lines.append(f"  lm: {old.lm and old.lm.model_dump()} -> {new.lm and new.lm.model_dump()}")
    return lines


def diff_artifacts(old: Artifact, new: Artifact) -> str:
    """What changed from ``old`` to ``new``: instructions, demos, order, settings, scores.

    Returns an empty string when the two behave the same (same content hash) and scored the same.
    """
    lines: list[str] = []
    if old.program.entry != new.program.entry:  # the code `promptc run` imports
        lines.append(f"program entry: {old.program.entry} -> {new.program.entry}")
    if old.program.name != new.program.name:
        lines.append(f"program name: {old.program.name} -> {new.program.name}")
    old_p = {p.name: p for p in old.predictors}
    new_p = {p.name: p for p in new.predictors}
    for name in old_p.keys() - new_p.keys():
        lines.append(f"- predictor {name}")
    for name in new_p.keys() - old_p.keys():
        lines.append(f"+ predictor {name}")
    for name in [n for n in new_p if n in old_p]:
        body = _diff_predictor(old_p[name], new_p[name])
        if body:
            lines.append(f"predictor {name}:")
            lines.extend(body)
    old_hash, new_hash = (old.compute_hash(), new.compute_hash()) if not lines else ("", "")
    if old_hash != new_hash:
        lines.append(
            f"content hash: {old_hash} -> {new_hash} (a change not itemized above, e.g. in the "
            "program's module tree)"
        )
    old_s, new_s = _scores(old.provenance), _scores(new.provenance)
    if (lines and (old_s or new_s)) or old_s != new_s:
        lines.append("scores (old):")
        lines.extend(old_s or ["  (none)"])
        lines.append("scores (new):")
        lines.extend(new_s or ["  (none)"])
    return "\n".join(lines)
