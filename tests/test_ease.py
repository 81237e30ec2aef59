"""EASE: the numpy MiniLM embedder, the optimal-transport filter, the NeuralUCB surrogate, and
the strategy end to end against a fake world where the ORDER of the demos matters."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest
from conftest import Watch, last_field, reply

import promptc
from promptc import LM, LMRequest, Module, Predict
from promptc.compiler import CompileResult
from promptc.metrics import exact_match
from promptc.optimizers import EASE, OPTIMIZERS
from promptc.optimizers._embed import MiniLM, resolve_embedder
from promptc.optimizers._neural_ucb import NeuralUCB
from promptc.optimizers._transport import ot_distance, ot_filter
from promptc.testing import WordTask

MakeLM = Callable[..., LM]
needs_minilm = pytest.mark.requires_model("all-minilm-l6-v2")


@cache
def minilm() -> MiniLM:
    """One loaded model for the whole module (loading takes a quarter of a second)."""
    return MiniLM()


# --- the embedder -------------------------------------------------------------------------


@needs_minilm
def test_minilm_matches_the_published_similarities() -> None:
    # sentence-transformers' quickstart prints these cosine similarities for all-MiniLM-L6-v2.
    vectors = minilm().embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] == pytest.approx(0.6660, abs=2e-3)
    assert sims[0, 2] == pytest.approx(0.1046, abs=2e-3)
    assert sims[1, 2] == pytest.approx(0.1411, abs=2e-3)


@needs_minilm
def test_minilm_semantics_order_and_long_texts() -> None:
    food, bread, stocks = minilm().embed(
        ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell."]
    )
    assert food @ bread > 0.6 > 0.2 > food @ stocks
    demos = ["word: apple\nlabel: a", "word: stone\nlabel: b", "word: ocean\nlabel: a"]
    forward, backward = minilm().embed(["\n\n".join(demos), "\n\n".join(reversed(demos))])
    assert 0.9 < forward @ backward < 0.9999  # the same demos, a different order: close, not equal
    long = " ".join(f"Sentence number {i} talks about rivers." for i in range(120))
    tail = long + " The last part is about volcanoes erupting lava."
    a, b = minilm().embed([long, tail])  # both beyond one 256-token window
    assert a @ b < 0.9999  # text past the first window still moves the vector


def test_embedders_resolve_by_name() -> None:
    assert isinstance(resolve_embedder("minilm"), MiniLM)
    mine = minilm()
    assert resolve_embedder(mine) is mine
    with pytest.raises(ValueError, match="unknown embedder"):
        resolve_embedder("word2vec")


# --- the optimal-transport filter -----------------------------------------------------------


def test_ot_distance_known_values() -> None:
    e1, e2 = np.eye(2)
    assert ot_distance(np.stack([e1, e2]), np.stack([e2, e1])) == pytest.approx(0.0)
    # Half the mass must move from e2 to e1, at cosine distance 1.
    assert ot_distance(np.stack([e1, e2]), np.stack([e1, e1])) == pytest.approx(0.5)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_ot_filter_keeps_sets_drawn_from_the_validation_distribution() -> None:
    rng = np.random.default_rng(0)
    centre, far = np.eye(16)[0], np.eye(16)[1]
    targets = _unit(centre + 0.1 * rng.normal(size=(30, 16)))
    near_items = _unit(centre + 0.1 * rng.normal(size=(12, 16)))
    far_items = _unit(far + 0.1 * rng.normal(size=(12, 16)))
    items = np.vstack([near_items, far_items])  # 0..11 near, 12..23 far
    sets = [tuple(rng.choice(24, 4, replace=False)) for _ in range(200)]
    near = {i for i, s in enumerate(sets) if max(s) < 12}
    assert len(near) >= 5
    kept = ot_filter(sets, items, targets, keep=len(near))
    assert set(kept) == near  # exactly the sets made wholly of near items
    distances = [ot_distance(items[list(sets[i])], targets) for i in kept]
    assert distances == sorted(distances)
    # A set that covers both halves of a two-mode validation set beats one that sits on a mode.
    two_modes = np.vstack([targets[:15], _unit(far + 0.1 * rng.normal(size=(15, 16)))])
    covering = (0, 1, 12, 13)
    one_sided = (0, 1, 2, 3)
    assert ot_filter([one_sided, covering], items, two_modes, keep=1) == [1]


# --- the NeuralUCB surrogate ----------------------------------------------------------------


def _sphere(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = _unit(rng.normal(size=(n, dim)))
    return x, x @ _unit(rng.normal(size=dim))


def _search(f: np.ndarray, x: np.ndarray, seed: int, rounds: int) -> list[int]:
    rng = np.random.default_rng(seed)
    seen = [int(i) for i in rng.choice(len(x), 3, replace=False)]
    for _ in range(rounds):
        model = NeuralUCB(seed=seed).fit(x[seen], f[seen] + 0.05 * rng.normal(size=len(seen)))
        ucb = model.ucb(x)
        ucb[seen] = -np.inf
        seen.append(int(np.argmax(ucb)))
    return seen


def test_surrogate_finds_the_argmax_of_a_known_function_in_a_few_rounds() -> None:
    x, f = _sphere(120, 8, seed=1)
    ranks = np.argsort(np.argsort(-f))
    found = [int(min(ranks[_search(f, x, seed, rounds=12)])) for seed in range(5)]
    # 15 of 120 points looked at: random picks miss the argmax 7 times in 8.
    assert found.count(0) >= 4, found


def test_surrogate_bonus_shrinks_where_data_is_dense() -> None:
    x, f = _sphere(120, 8, seed=2)
    dense, elsewhere = x[:20], x[20:]
    model = NeuralUCB().fit(np.repeat(dense, 5, axis=0), np.repeat(f[:20], 5))
    assert model.bonus(dense).mean() < 0.5 * model.bonus(elsewhere).mean()
    once = NeuralUCB().fit(x[:1], f[:1]).bonus(x[:1])[0]
    five = NeuralUCB().fit(np.repeat(x[:1], 5, axis=0), np.repeat(f[:1], 5)).bonus(x[:1])[0]
    assert five < once
    fitted = NeuralUCB().fit(x[:80], f[:80])
    assert np.corrcoef(fitted.predict(x[80:]), f[80:])[0, 1] > 0.8  # it learns the function


def test_surrogate_fit_is_deterministic() -> None:
    x, f = _sphere(30, 8, seed=3)
    a = NeuralUCB(seed=4).fit(x, f).ucb(x)
    b = NeuralUCB(seed=4).fit(x, f).ucb(x)
    np.testing.assert_array_equal(a, b)


# --- EASE end to end: a fake model with recency bias -----------------------------------------

SIGNATURE = WordTask.SIGNATURE
WORDS = [
    "apple", "river", "stone", "cloud", "tiger", "bread", "chair", "lemon", "piano", "sugar",
    "wheel", "grass", "honey", "knife", "ocean", "mouse", "eagle", "table", "olive", "plant",
    "igloo", "brick", "snake", "onion", "glass", "uncle", "flame", "house", "earth", "radio",
    "arrow", "candle",
]  # fmt: skip
GOLD = {"honey", "ocean"}  # the fake model answers well only right after one of these


ROWS = WordTask.rows(WORDS)
TRAIN, VAL = ROWS[:16], ROWS[16:]


def last_demo_word(request: LMRequest) -> str | None:
    messages = request.message_list
    if len(messages) < 4:  # system + the query: no demos
        return None
    m = re.search(r"<word>\n(.*?)\n</word>", messages[-3]["content"], re.DOTALL)
    return m.group(1) if m else None


def world(request: LMRequest) -> str:
    """Recency bias: right after a gold demo the model is right, otherwise it copies the last
    demo's label (and answers "b" with no demos at all)."""
    word = last_field(request, "word")
    last = last_demo_word(request)
    if last in GOLD:
        return reply(label=WordTask.label(word))
    return reply(label=WordTask.label(last) if last else "b")


class Watching(Watch, EASE):
    """EASE that records its search space and every trial it asks for."""


def run(lm: LM, program: Module | None = None, **kwargs: Any) -> tuple[CompileResult, Watching]:
    options = {
        "bootstrap": 0,
        "keep_sets": 8,
        "num_orders": 6,
        "embedder": minilm(),
        **kwargs.pop("ease", {}),
    }
    optimizer = Watching(**options)
    result = promptc.compile(
        program or Predict(SIGNATURE),
        TRAIN,
        exact_match,
        valset=VAL,
        optimizer=optimizer,
        lm=lm,
        **kwargs,
    )
    return result, optimizer


def good(demos: tuple[dict[str, Any], ...]) -> bool:
    return bool(demos) and demos[-1]["word"] in GOLD


@needs_minilm
def test_ease_finds_an_order_that_ends_on_a_gold_demo(fake_lm: MakeLM) -> None:
    result, ease = run(fake_lm(world), seed=1, budget=120)
    assert result.best.mean == 1.0 > result.baseline.mean
    assert good(result.program.get_params()["self"].demos)
    # The OT filter keeps sets with gold demos; only some of their orders are good.
    assert any(good(c["self"].demos) for c in ease.candidates)
    assert not all(good(c["self"].demos) for c in ease.candidates)
    assert isinstance(OPTIMIZERS["ease"](), EASE)
    assert result.report.optimizer.config["embedder"] == "MiniLM"


@needs_minilm
def test_steps_walk_one_shared_row_order(fake_lm: MakeLM) -> None:
    _, ease = run(fake_lm(world), seed=2, budget=100)
    board = ease.space.board
    order = ease._order
    assert len(ease.asked) >= ease.warmup + 2
    for cand in ease.candidates:
        scored = set(board.scores(cand))
        assert scored == set(order[: len(scored)])


@needs_minilm
def test_the_search_stops_before_the_budget_cuts_a_trial(fake_lm: MakeLM) -> None:
    result, _ = run(fake_lm(world), seed=3, budget=50)
    assert not any(t.stopped == "budget" for t in result.trials)


@needs_minilm
def test_num_trials_stops_the_search(fake_lm: MakeLM) -> None:
    _, ease = run(fake_lm(world), seed=4, ease={"num_trials": 3})
    assert len(ease.asked) == 3


class TwoStep(Module):
    """Two predictors: a guesser, then a checker that sees the guess."""

    def __init__(self) -> None:
        self.guess = Predict("word -> label: Literal['a', 'b']")
        self.check = Predict("word, guess -> label: Literal['a', 'b']")

    def forward(self, word: str) -> Any:
        guess = self.guess(word=word).label
        return self.check(word=word, guess=guess)


@needs_minilm
def test_every_predictor_of_a_multi_module_program_is_searched(fake_lm: MakeLM) -> None:
    result, ease = run(fake_lm(world), program=TwoStep(), seed=6, budget=200, ease={"bootstrap": 6})
    names = {n for c in ease.candidates for n in c}
    assert names == {"guess", "check"}  # the checker's demos come from bootstrapped traces
    assert ease.vectors.shape == (len(ease.candidates), 2 * 384)
    np.testing.assert_allclose(np.linalg.norm(ease.vectors, axis=1), 1.0, atol=1e-5)
    assert result.best.mean == 1.0 > result.baseline.mean
