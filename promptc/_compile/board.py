"""The board: per-row validation scores of every candidate a compile has evaluated."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, NewType, Protocol

from promptc._compile.evaluate import EvalResult, ExampleResult, bootstrap_ci
from promptc._program.adapter import PROMPT_FORMATS
from promptc._program.module import Params

__all__ = ["Board", "BoardView", "Candidate", "CandidateKey", "prompt_identity"]

Candidate = dict[str, Params]
#: A candidate's identity on the board: equal for candidates that make the same program. Compare
#: and hash it; what it encodes is the board's business.
CandidateKey = NewType("CandidateKey", str)


def prompt_identity(params: Params, base: Params | None = None) -> list[Any]:
    """What makes a predictor's prompt: instruction, demos and format (``None`` keeps
    ``base``'s). The default format (XML tags) is written as ``None``, as before formats had
    names, so stored keys and fingerprints stay the same."""
    fmt = params.format or (base.format if base is not None else None)
    return [params.instruction, list(params.demos), None if fmt == PROMPT_FORMATS[0] else fmt]


class BoardView(Protocol):
    """What a strategy may read of the board (:class:`Board` without its writers)."""

    @property
    def n_rows(self) -> int:
        """How many validation rows there are."""
        ...

    def key(self, candidate: Candidate) -> CandidateKey:
        """The candidate's identity (see :class:`CandidateKey`)."""
        ...

    def scores(self, candidate: Candidate) -> dict[int, float]:
        """Row index -> score for ``candidate`` (empty if never evaluated)."""
        ...

    def mean(self, candidate: Candidate, rows: Sequence[int] | None = None) -> float:
        """Mean score over ``rows`` (default: all rows it was evaluated on)."""
        ...

    def gain(self, candidate: Candidate) -> float:
        """Mean score minus the uncompiled program's, paired on the rows ``candidate`` has."""
        ...

    def candidates(self) -> list[Candidate]:
        """Every candidate on the board, in the order first seen (the baseline first)."""
        ...

    def complete(self) -> list[Candidate]:
        """Candidates scored on every validation row, in the order first seen."""
        ...

    def leader(self) -> Candidate:
        """The candidate with the largest paired gain (more rows scored wins ties)."""
        ...

    def incumbent(self) -> Candidate:
        """The best candidate among those scored on every row (the earliest wins ties)."""
        ...


class Board:
    """Per-row validation scores of every candidate evaluated so far (the paired record).

    Candidates are keyed by their full parameters, so a candidate that equals the uncompiled
    program on every predictor *is* the baseline.
    """

    def __init__(self, base: Mapping[str, Params], n_rows: int) -> None:
        self.base = dict(base)
        self.n_rows = n_rows
        self._results: dict[CandidateKey, dict[int, ExampleResult]] = {}
        self._candidates: dict[CandidateKey, Candidate] = {}

    def key(self, candidate: Candidate) -> CandidateKey:
        """A canonical key of the candidate's full parameters."""
        full = {**self.base, **candidate}
        text = json.dumps(
            {n: prompt_identity(p, self.base.get(n)) for n, p in sorted(full.items())},
            sort_keys=True,
            default=str,
        )
        return CandidateKey(text)

    def record(self, candidate: Candidate, rows: Sequence[int], result: EvalResult) -> None:
        """Store the per-example results of ``candidate`` on validation ``rows``."""
        stored = self._rows_of(candidate)
        for row, example in zip(rows, result.results, strict=True):
            stored[row] = replace(example, index=row)

    def restore(self, candidate: Candidate, scores: Mapping[int, float]) -> None:
        """Store per-row scores known from elsewhere (a resumed or parallel compile's storage).

        Rows already on the board keep their results; restored rows carry no prediction.
        """
        stored = self._rows_of(candidate)
        for row, score in scores.items():
            stored.setdefault(
                row, ExampleResult(index=row, inputs={}, prediction=None, score=score)
            )

    def _rows_of(self, candidate: Candidate) -> dict[int, ExampleResult]:
        """The stored per-row results of ``candidate``, registering it if new."""
        key = self.key(candidate)
        self._candidates.setdefault(key, dict(candidate))
        return self._results.setdefault(key, {})

    def scores(self, candidate: Candidate) -> dict[int, float]:
        """Row index -> score for ``candidate`` (empty if never evaluated)."""
        return {r: e.score for r, e in self._results.get(self.key(candidate), {}).items()}

    def mean(self, candidate: Candidate, rows: Sequence[int] | None = None) -> float:
        """Mean score over ``rows`` (default: all rows it was evaluated on)."""
        scores = self.scores(candidate)
        picked = [scores[r] for r in (rows if rows is not None else scores) if r in scores]
        return sum(picked) / len(picked) if picked else float("nan")

    def result(self, candidate: Candidate) -> EvalResult:
        """The candidate's results on every validation row, as one evaluation."""
        stored = self._results.get(self.key(candidate), {})
        results = [stored[r] for r in range(self.n_rows)]
        scores = [r.score for r in results]
        return EvalResult(
            results=results,
            mean=sum(scores) / len(scores),
            ci=bootstrap_ci(scores),
            errors=sum(r.error is not None for r in results),
        )

    def candidates(self) -> list[Candidate]:
        """Every candidate on the board, in the order first seen (the baseline first)."""
        return list(self._candidates.values())

    def complete(self) -> list[Candidate]:
        """Candidates scored on every validation row, in the order first seen."""
        return [self._candidates[k] for k, s in self._results.items() if len(s) == self.n_rows]

    def gain(self, candidate: Candidate) -> float:
        """Mean score minus the uncompiled program's, paired on the rows ``candidate`` has."""
        rows = list(self.scores(candidate))
        return self.mean(candidate, rows) - self.mean({}, rows) if rows else float("-inf")

    def leader(self) -> Candidate:
        """The candidate with the largest paired gain (more rows scored wins ties)."""
        best: Candidate = {}
        best_key = (0.0, self.n_rows)
        for cand in self._candidates.values():
            key = (self.gain(cand), len(self.scores(cand)))
            if key > best_key:
                best, best_key = cand, key
        return best

    def incumbent(self) -> Candidate:
        """The best candidate among those scored on every row (the earliest wins ties)."""
        best: Candidate = {}
        for cand in self.complete():
            if self.mean(cand) > self.mean(best) + 1e-12:
                best = cand
        return best
