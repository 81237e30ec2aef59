from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from promptc import Prediction
from promptc.exceptions import ConfigurationError
from promptc.metrics import (
    METRICS,
    choice_letter_match,
    contains,
    exact_match,
    normalize,
    numeric_match,
    resolve_metric,
    token_f1,
)

BUILTINS = [exact_match, contains, token_f1, numeric_match, choice_letter_match]


def test_normalize_is_squad_style() -> None:
    assert normalize("  The  Eiffel-Tower, in PARIS!  ") == "eiffeltower in paris"
    assert normalize("an apple a day") == "apple day"
    assert normalize(42) == "42"


@pytest.mark.parametrize(
    ("metric", "name"),
    [(m, n) for n, m in METRICS.items() if n not in ("em", "f1")],
)
def test_builtins_carry_their_registry_name(metric: Any, name: str) -> None:
    assert metric.__name__ == name  # error messages and provenance use it


def test_exact_match_on_dict_prediction_normalizes() -> None:
    example = {"question": "tallest tower?", "answer": "the Eiffel Tower"}
    assert exact_match(example, {"answer": "Eiffel tower."}) == 1.0
    assert exact_match(example, {"answer": "Eiffel"}) == 0.0


def test_exact_match_on_non_dict_prediction_uses_target_column() -> None:
    assert exact_match({"target": "Paris"}, "paris!") == 1.0
    assert exact_match({"target": "Paris"}, "Lyon") == 0.0


def test_prediction_objects_are_read_like_dicts() -> None:
    assert exact_match({"answer": "4"}, Prediction({"answer": 4})) == 1.0


def test_targets_list_adds_accepted_answers() -> None:
    example = {"answer": "NYC", "targets": ["New York City", "new york"]}
    assert exact_match(example, {"answer": "New York"}) == 1.0
    assert exact_match(example, {"answer": "nyc"}) == 1.0
    assert exact_match(example, {"answer": "Boston"}) == 0.0
    assert exact_match({"target": "4", "targets": ["four"]}, "Four") == 1.0


def test_targets_are_ignored_when_several_fields_are_compared() -> None:
    example = {"city": "NYC", "country": "USA", "targets": ["New York"]}
    assert exact_match(example, {"city": "New York", "country": "USA"}) == 0.5


def test_shared_fields_are_averaged_and_reasoning_is_skipped() -> None:
    example = {"city": "Paris", "country": "France", "reasoning": "gold reasoning"}
    pred = {"reasoning": "something else", "city": "Paris", "country": "Spain", "extra": "x"}
    assert exact_match(example, pred) == 0.5
    assert exact_match(example, {"reasoning": "r", "city": "paris", "country": "france"}) == 1.0


@pytest.mark.parametrize("metric", BUILTINS, ids=lambda m: m.__name__)
def test_no_shared_field_raises_naming_both_sides(metric: Any) -> None:
    with pytest.raises(ValueError, match=r"\['label'\] share none with the example's \['answer'\]"):
        metric({"answer": "x"}, {"label": "x"})


@pytest.mark.parametrize("metric", BUILTINS, ids=lambda m: m.__name__)
def test_non_dict_prediction_without_target_column_raises(metric: Any) -> None:
    with pytest.raises(ValueError, match="needs a 'target' column"):
        metric({"answer": "x"}, "x")


def test_contains_matches_whole_normalized_words() -> None:
    assert contains({"answer": "Paris"}, {"answer": "It is Paris, in France."}) == 1.0
    assert contains({"answer": "par"}, {"answer": "Paris"}) == 0.0
    assert contains({"target": "the moon"}, "Moon") == 1.0
    assert contains({"target": ""}, "anything") == 0.0
    assert contains({"target": "x", "targets": ["blue whale"]}, "the Blue Whale is big") == 1.0


def test_token_f1_scores_overlap() -> None:
    assert token_f1({"answer": "cat sat on mat"}, {"answer": "The cat sat"}) == pytest.approx(2 / 3)
    assert token_f1({"answer": "cat"}, {"answer": "dog"}) == 0.0
    assert token_f1({"target": "a big red dog"}, "big red dog") == 1.0
    assert token_f1({"target": "the"}, "an") == 1.0  # both empty after normalization
    assert token_f1({"target": "red", "targets": ["red dog"]}, "dog") == pytest.approx(2 / 3)


def test_numeric_match_compares_the_last_number() -> None:
    assert numeric_match({"answer": 1234}, {"answer": "The total is 1,234."}) == 1.0
    assert numeric_match({"answer": "3.5"}, {"answer": "3.50"}) == 1.0
    assert numeric_match({"answer": 5}, {"answer": "2 plus 3 is 5"}) == 1.0
    assert numeric_match({"answer": 2}, {"answer": "2 plus 3 is 5"}) == 0.0
    assert numeric_match({"target": -7}, "it fell to -7 degrees") == 1.0
    assert numeric_match({"target": 4}, "four") == 0.0
    assert numeric_match({"target": 4.0}, 4) == 1.0
    assert numeric_match({"target": "10", "targets": ["12"]}, "12") == 1.0


def test_numeric_match_does_not_read_bools_as_numbers() -> None:
    assert numeric_match({"target": 1}, True) == 0.0


def test_choice_letter_match_reads_documented_forms() -> None:
    assert choice_letter_match({"answer": "B"}, {"answer": "(b) Paris"}) == 1.0
    assert choice_letter_match({"answer": "(C)"}, {"answer": "C. Lyon"}) == 1.0
    assert choice_letter_match({"answer": "C"}, {"answer": "The answer is (C)."}) == 1.0
    assert choice_letter_match({"target": "D"}, "D") == 1.0
    assert choice_letter_match({"target": "D"}, "B") == 0.0
    assert choice_letter_match({"target": "B"}, "no option given") == 0.0
    assert choice_letter_match({"target": "A", "targets": ["(B)"]}, "B:") == 1.0


def test_choice_letter_match_prefers_a_parenthesized_letter_over_a_leading_word() -> None:
    assert choice_letter_match({"target": "B"}, "I think the answer is (B)") == 1.0
    assert choice_letter_match({"target": "C"}, "A good pick is (C)") == 1.0


def test_resolve_metric_by_builtin_name_and_alias() -> None:
    assert resolve_metric("exact_match") is exact_match
    assert resolve_metric("em") is exact_match
    assert resolve_metric("f1") is token_f1
    assert resolve_metric("choice_letter_match") is choice_letter_match


def test_resolve_metric_by_module_and_function() -> None:
    assert resolve_metric("promptc.metrics:token_f1") is token_f1
    assert resolve_metric("promptc.metrics:normalize") is normalize


def test_resolve_metric_passes_a_callable_through() -> None:
    def mine(example: Any, prediction: Any) -> float:
        return 0.5

    assert resolve_metric(mine) is mine


def test_resolve_metric_unknown_name_lists_the_builtins() -> None:
    with pytest.raises(ConfigurationError, match="unknown metric 'accuracy'") as info:
        resolve_metric("accuracy")
    for name in METRICS:
        assert repr(name) in str(info.value)
    assert "module:function" in str(info.value)


@pytest.mark.parametrize(
    "spec", ["promptc.metrics:no_such_metric", "promptc_no_such_module_xyz:metric"]
)
def test_resolve_metric_unloadable_reference_raises(spec: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(f"cannot load metric '{spec}'")):
        resolve_metric(spec)


def test_resolve_metric_non_callable_raises() -> None:
    expected = re.escape("metric 'promptc.metrics:METRICS' is not callable")
    with pytest.raises(ConfigurationError, match=expected):
        resolve_metric("promptc.metrics:METRICS")


def test_resolve_metric_from_a_file_path(tmp_path: Path) -> None:
    (tmp_path / "my_metrics.py").write_text(
        "def first_letter(example, prediction):\n"
        "    return float(prediction[0] == example['target'][0])\n"
    )
    metric = resolve_metric(f"{tmp_path / 'my_metrics.py'}:first_letter")
    assert metric({"target": "yes"}, "yep") == 1.0
    with pytest.raises(ConfigurationError, match="has no object 'nope'; it defines: first_letter"):
        resolve_metric(f"{tmp_path / 'my_metrics.py'}:nope")
