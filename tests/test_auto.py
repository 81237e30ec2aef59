"""``optimizer="auto"``, the default, and how a compile sizes its validation rows itself."""

from __future__ import annotations

import pytest

import promptc
from promptc import LM, Predict
from promptc._compile.auto import choose_strategy
from promptc._compile.data import MAX_VAL_ROWS, split_train_val, validation_size
from promptc._compile.options import strategy_options
from promptc.cli.show import show_artifact
from promptc.exceptions import ConfigurationError
from promptc.testing import FakeBackend, WordTask


@pytest.mark.parametrize(
    ("rows", "budget", "per_row", "expected"),
    [
        (46, 200, 1, 31),  # a third (15) stays for demos
        (46, None, 1, 31),
        (100, 200, 1, 40),  # a fifth of the budget: the baseline and four candidates
        (46, 200, 3, 13),  # three requests a row (a three-step program)
        (20, None, 1, 12),  # 8 stay for demos
        (10, None, 1, 5),  # half of fewer than 16
        (4, None, 1, 2),
        (5000, None, 1, MAX_VAL_ROWS),
        (46, 5, 1, 2),  # at least 2, however small the budget
    ],
)
def test_validation_takes_what_the_data_and_the_budget_allow(
    rows: int, budget: int | None, per_row: int, expected: int
) -> None:
    assert validation_size(rows, budget, per_row) == expected


def test_the_split_is_seeded_and_a_given_valset_is_kept() -> None:
    rows = [{"i": i} for i in range(46)]
    train, val = split_train_val(rows, None, 3, val_rows=31)
    assert (len(train), len(val)) == (15, 31)
    assert sorted(r["i"] for r in train + val) == list(range(46))
    assert split_train_val(rows, None, 3, val_rows=31) == (train, val)
    assert split_train_val(rows, None, 4, val_rows=31) != (train, val)
    assert split_train_val(rows, rows[:5], 3, val_rows=31) == (rows, rows[:5])


def test_auto_searches_demo_sets_with_the_candidates_the_budget_pays_for() -> None:
    choice = choose_strategy(n_val=31, budget=200, per_row=1, proposer_given=False)
    assert choice.optimizer.name == "random"
    assert choice.optimizer.config()["num_candidates"] == 5  # 6 evaluations: baseline + 5
    assert "the budget pays for 6 evaluations of the 31 validation rows" in choice.reason
    unbounded = choose_strategy(n_val=31, budget=None, per_row=1, proposer_given=False)
    assert unbounded.optimizer.config()["num_candidates"] == 8
    assert "no budget cap" in unbounded.reason


def test_auto_does_not_search_when_the_budget_cannot_choose() -> None:
    choice = choose_strategy(n_val=16, budget=50, per_row=1, proposer_given=True)
    assert choice.optimizer.name == "labeled"
    assert "3 evaluations of the 16 validation rows, too few" in choice.reason
    assert choose_strategy(n_val=16, budget=64, per_row=1, proposer_given=False).optimizer.name == (
        "random"
    )
    three_steps = choose_strategy(n_val=16, budget=64, per_row=3, proposer_given=False)
    assert three_steps.optimizer.name == "labeled"


def test_auto_searches_instructions_too_when_a_proposer_is_given() -> None:
    choice = choose_strategy(n_val=31, budget=200, per_row=1, proposer_given=True)
    assert choice.optimizer.name == "tpe" and "proposer=" in choice.reason


def test_auto_bootstraps_demos_when_no_step_can_be_shown_labeled_demos() -> None:
    choice = choose_strategy(
        n_val=13, budget=200, per_row=3, proposer_given=False, labeled_demos=False
    )
    assert choice.optimizer.name == "tpe"
    assert "no step's fields are all in the training rows" in choice.reason
    # the task model proposes no instructions (rule 4's evidence): demos, order, format only
    config = choice.optimizer.config()
    assert (config["num_instructions"], config["num_variants"], config["bootstrap"]) == (0, 0, 8)
    assert "instructions kept" in choice.reason and "pass proposer=" in choice.reason
    proposing = choose_strategy(
        n_val=13, budget=200, per_row=3, proposer_given=True, labeled_demos=False
    )
    assert proposing.optimizer.config()["num_instructions"] == 3
    # the budget still decides first: too little for a search is no search
    small = choose_strategy(
        n_val=13, budget=100, per_row=3, proposer_given=False, labeled_demos=False
    )
    assert small.optimizer.name == "labeled"
    # ... and says so, with the budget that would pay for a search (4 x 3 requests x 13 rows)
    assert "no labeled demos to show: the program stays as written" in small.reason
    assert "at least 156 requests pays for searching bootstrapped demos (tpe)" in small.reason
    ample = choose_strategy(
        n_val=13, budget=156, per_row=3, proposer_given=False, labeled_demos=False
    )
    assert ample.optimizer.name == "tpe"


def test_a_pipeline_whose_steps_the_rows_do_not_label_is_compiled_with_tpe() -> None:
    from tests.pipeline_program import DraftThenPolish

    rows = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(46)]
    lm = LM("fake/words", backend=FakeBackend(WordTask(needs="demos")), cache=False)
    plan = promptc.compile(DraftThenPolish(), rows, "exact_match", lm=lm, budget=300, dry_run=True)
    assert plan.optimizer == "tpe"
    assert "no step's fields are all in the training rows" in plan.assumptions[0]
    # a step that the rows do label (polish, given drafts) keeps demo-set search
    drafted = [{**row, "draft": "d"} for row in rows]
    plan = promptc.compile(
        DraftThenPolish(), drafted, "exact_match", lm=lm, budget=300, dry_run=True
    )
    assert plan.optimizer == "random"


def _words(n: int) -> list[dict[str, str]]:
    return WordTask.rows(WordTask.words(n))


def test_the_default_compile_sizes_validation_and_records_its_choice() -> None:
    lm = LM("fake/words", backend=FakeBackend(WordTask(needs="demos")), cache=False)
    result = promptc.compile(
        Predict(WordTask.SIGNATURE), _words(46), "exact_match", lm=lm, budget=200
    )
    record = result.artifact.provenance.optimizer
    assert record is not None and record.name == "random"
    assert record.config["num_candidates"] == 5
    assert record.chosen_by is not None and record.chosen_by.startswith("auto: the budget pays")
    data = result.artifact.provenance.data
    assert data is not None and (data.train.rows, data.val.rows) == (15, 31)
    assert result.best.mean == 1.0 and result.spent.lm_requests <= 200  # demos found
    assert f"  strategy    {record.chosen_by}" in str(result).splitlines()
    assert record.chosen_by in show_artifact(result.artifact)
    named = promptc.compile(
        Predict(WordTask.SIGNATURE), _words(46), "exact_match", lm=lm, budget=200, optimizer="auto"
    )
    assert named.artifact.content_hash == result.artifact.content_hash


def test_a_named_strategy_records_no_choice_and_keeps_its_settings() -> None:
    lm = LM("fake/words", backend=FakeBackend(WordTask(needs="demos")), cache=False)
    rows = _words(46)
    result = promptc.compile(
        Predict(WordTask.SIGNATURE), rows, "exact_match", lm=lm, budget=200, optimizer="random"
    )
    record = result.artifact.provenance.optimizer
    assert record is not None and record.chosen_by is None
    assert "chosen_by" not in record.model_dump() and record.config["num_candidates"] == 8
    assert "strategy" not in str(result)


def test_a_proposer_makes_auto_search_instructions() -> None:
    lm = LM("fake/words", backend=FakeBackend(WordTask(needs="instruction")), cache=False)
    result = promptc.compile(
        Predict(WordTask.SIGNATURE),
        _words(46),
        "exact_match",
        lm=lm,
        proposer=lm,
        budget=200,
    )
    record = result.artifact.provenance.optimizer
    assert record is not None and record.name == "tpe"


def test_a_dry_run_says_what_auto_chose() -> None:
    lm = LM("fake/words", backend=FakeBackend(WordTask(needs="demos")), cache=False)
    plan = promptc.compile(
        Predict(WordTask.SIGNATURE), _words(46), "exact_match", lm=lm, budget=40, dry_run=True
    )
    assert plan.optimizer == "random"
    assert plan.assumptions[0].startswith("auto: the budget pays for 5 evaluations of the 8")
    assert plan.requests <= 40
    labeled = promptc.compile(
        Predict(WordTask.SIGNATURE),
        _words(30),
        "exact_match",
        lm=lm,
        budget=40,
        valset=_words(16),
        dry_run=True,
    )
    assert labeled.optimizer == "labeled" and "too few to choose" in labeled.assumptions[0]


def test_strategy_flags_are_refused_with_auto() -> None:
    import argparse

    from promptc._compile.options import add_strategy_options

    parser = argparse.ArgumentParser()
    add_strategy_options(parser)
    args = parser.parse_args(["--candidates", "3"])
    with pytest.raises(ConfigurationError, match=r"--candidates sets a setting of ape and racing"):
        strategy_options(args, "auto")
    assert strategy_options(parser.parse_args([]), "auto") == {}


def test_an_unknown_strategy_names_auto_among_the_choices() -> None:
    lm = LM("fake/words", backend=FakeBackend(WordTask(needs="demos")), cache=False)
    with pytest.raises(
        ConfigurationError, match=r"unknown optimizer 'fast'; choose one of \['auto'"
    ):
        promptc.compile(
            Predict(WordTask.SIGNATURE), _words(20), "exact_match", lm=lm, optimizer="fast"
        )
