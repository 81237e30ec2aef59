"""The winner's curse: how much of the winner's validation score is luck of the choice.

The compile keeps the candidate with the best mean on the validation rows. With many
candidates and few rows, the best mean is partly noise that happened to favour one of them, so
the winner scores less on new rows than on the rows it was chosen on. This module estimates
how much less, from the per-row scores the board already holds (no LM request): resample the
validation rows with replacement, choose the winner on the drawn rows by the compile's own rule,
and score that choice on the rows *not* drawn. Averaged per row, then over rows (Efron's
leave-one-out bootstrap), that is the expected score of "choose the best of these candidates" on
rows the choice did not see. It is slightly pessimistic (each choice sees about 63% of the
distinct rows), and it covers the candidates scored on every row only: a strategy that screened
more candidates on a subset of rows first had more chances to be lucky than it counts.
"""

from __future__ import annotations

import random

from promptc._artifact.provenance import Selection
from promptc._compile.board import Board

__all__ = ["winners_curse"]

#: Resamples of the validation rows: enough that the estimate's own noise (about
#: 0.5 / sqrt(500) of a row's spread) sits far below the rounding shown.
RESAMPLES = 500


def winners_curse(board: Board, seed: int, resamples: int = RESAMPLES) -> Selection | None:
    """The expected score on new rows of choosing the best complete candidate on ``board``.

    The choice follows the compile's rule (:meth:`Board.incumbent`): the highest mean, the
    earliest candidate winning ties, so the uncompiled program (first on the board) is kept
    unless something beats it.

    Args:
        board: every candidate's per-row validation scores.
        seed: seeds the resamples (the compile's seed: the estimate is reproducible).
        resamples: bootstrap resamples of the validation rows.

    Returns:
        The estimate, or ``None`` when nothing was chosen between (one complete candidate) or
        there are fewer than 2 validation rows.
    """
    complete = board.complete()
    n = board.n_rows
    if len(complete) < 2 or n < 2:
        return None
    table = [[board.scores(c)[r] for r in range(n)] for c in complete]
    winner = board.incumbent()
    won = board.mean(winner)
    rng = random.Random(f"winners-curse:{seed}")
    totals, counts = [0.0] * n, [0] * n  # per row: the choices made without it, scored on it
    for _ in range(resamples):
        drawn = [rng.randrange(n) for _ in range(n)]
        pick = table[_best(table, drawn)]
        for r in set(range(n)).difference(drawn):
            totals[r] += pick[r]
            counts[r] += 1
    seen = [t / c for t, c in zip(totals, counts, strict=True) if c]
    if not seen:
        return None
    expected = sum(seen) / len(seen)
    return Selection(
        candidates=len(complete),
        rows=n,
        expected=round(expected, 6),
        optimism=round(won - expected, 6),
    )


def _best(table: list[list[float]], rows: list[int]) -> int:
    """The index of the candidate with the highest total over ``rows`` (earliest on ties)."""
    best, best_total = 0, float("-inf")
    for i, scores in enumerate(table):
        total = sum(scores[r] for r in rows)
        if total > best_total + 1e-12:
            best, best_total = i, total
    return best
