"""``optimizer="auto"``, the default: the strategy a compile uses unless told otherwise.

Chosen from the budget, the program and whether a stronger LM proposes instructions, by the
evidence of issue 16 (the README's "Which strategy: auto" has the measured figures):

1. **No search** (``labeled``: the first ``k`` training rows as demos, scored once) when the
   budget pays for fewer than four evaluations of the validation rows: the uncompiled program
   and at most two candidates, too few for a choice between candidates to beat its noise. A
   program none of whose steps the rows label then stays as written, and the reason says the
   budget that would pay for a search.
2. **Instructions and demos together** (``tpe``) when ``proposer=`` names an LM to write
   instructions: asked for, instruction search is worth its requests only with a proposer
   that can write them. With Qwen2.5-Coder-1.5B proposing for the 0.5B task model, TPE tied
   demo-only random search (antonyms 0.475 vs 0.500, boolean_expressions 0.700 vs 0.650, 40
   test rows, within the CIs) and beat TPE with the 0.5B proposing on antonyms (0.175).
3. **Bootstrapped demos, their order and the prompt format** (``tpe`` without instruction
   proposals) when no predictor can be shown labeled demos, because the training rows lack its
   fields (a multi-hop pipeline's query steps and an answer step that reads retrieved
   passages): random demo-set search would have nothing to search (it stopped after the
   uncompiled program's scoring on HotPotQA's multi-hop program), and, as in rule 4, the task
   model's proposed instructions are not worth their requests (on HotPotQA and GSM8K the
   0.5B's proposals restated a training question or told the answer step to "write query").
4. **Demo sets** (``random``) otherwise: a small model cannot write instructions better than
   the one the program has, and choosing its exemplars is what moves it ("Teach Better or
   Show Smarter?"). As many candidates as the budget pays for on every validation row, at most
   8: fewer candidates each scored on more rows is a smaller winner's curse than more
   candidates on fewer rows. EASE (ordered exemplar sets, a neural bandit) was within 0.03 of
   random search on every task of the seed-0 evidence run while spending more requests and
   needing numpy and an embedding model, so it stays an explicit choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptc._compile.strategy import Optimizer

__all__ = ["AUTO", "AutoChoice", "choose_strategy"]

AUTO = "auto"
MAX_CANDIDATES = 8
MIN_EVALUATIONS = 4  # the uncompiled program and three candidates on every validation row


@dataclass(frozen=True)
class AutoChoice:
    """The strategy ``auto`` chose and why (recorded as the artifact's
    ``provenance.optimizer.chosen_by``)."""

    optimizer: Optimizer
    reason: str


def choose_strategy(
    *,
    n_val: int,
    budget: int | None,
    per_row: int,
    proposer_given: bool,
    labeled_demos: bool = True,
) -> AutoChoice:
    """The strategy for a compile (see the module docstring).

    Args:
        n_val: validation rows candidates are scored on.
        budget: LM requests the search may spend (the compile's budget less what held-out
            rows keep back); ``None``: no cap.
        per_row: LM requests one validation row costs (the program's predictors).
        proposer_given: ``proposer=`` names an LM to write instructions.
        labeled_demos: some predictor's fields are all in the training rows, so it can be
            shown labeled demos (not so for a pipeline whose steps' fields the rows lack).
    """
    from promptc._compile.driver import resolve_optimizer

    evals = None if budget is None else budget // (max(1, per_row) * max(1, n_val))
    paid = "no budget cap" if evals is None else f"the budget pays for {evals} evaluations"
    where = f"{paid} of the {n_val} validation rows"
    if evals is not None and evals < MIN_EVALUATIONS:
        if not labeled_demos:
            needed = MIN_EVALUATIONS * max(1, per_row) * max(1, n_val)
            return AutoChoice(
                resolve_optimizer("labeled"),
                f"auto: {where}, too few to choose between candidates, and no step's fields "
                "are all in the training rows, so there are no labeled demos to show: the "
                f"program stays as written; a search budget of at least {needed} requests "
                "pays for searching bootstrapped demos (tpe)",
            )
        return AutoChoice(
            resolve_optimizer("labeled"),
            f"auto: {where}, too few to choose between candidates; labeled demos, no search",
        )
    if proposer_given:
        return AutoChoice(
            resolve_optimizer("tpe"),
            f"auto: {where}; proposer= writes instructions, so instructions and demos are "
            "searched together (tpe)",
        )
    if not labeled_demos:
        return AutoChoice(
            resolve_optimizer("tpe", num_instructions=0, num_variants=0),
            f"auto: {where}; no step's fields are all in the training rows, so there are no "
            "labeled demo sets to search: demos bootstrapped from passing runs, their order "
            "and the prompt format are searched (tpe, instructions kept); pass proposer= to "
            "search instructions too",
        )
    count = MAX_CANDIDATES if evals is None else min(MAX_CANDIDATES, evals - 1)
    return AutoChoice(
        resolve_optimizer("random", num_candidates=count),
        f"auto: {where}; demo sets searched (random, {count} candidates, each on every "
        "validation row); pass proposer= to search instructions too",
    )
