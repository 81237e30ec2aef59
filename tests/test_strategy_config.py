"""A strategy's recorded config is derived from its constructor (scikit-learn's get_params)."""

from __future__ import annotations

import pytest

from promptc.compiler import Optimizer, SearchSpace, Trial
from promptc.optimizers import APE, OPTIMIZERS, TPE, ThompsonSampling


class Plain(Optimizer):
    name = "plain"

    def __init__(self, k: int = 2, label: str | None = None, scorer: object = None) -> None:
        self.k = k
        self.label = label
        self.scorer = scorer

    def setup(self, space: SearchSpace) -> None:
        pass

    def ask(self) -> Trial | None:
        return None


class Forgetful(Plain):
    def __init__(self, k: int = 2, rounds: int = 3) -> None:
        super().__init__(k)


def test_config_reads_each_constructor_parameter_back_in_signature_order() -> None:
    assert Plain(k=5, label="x").config() == {"k": 5, "label": "x", "scorer": None}
    assert list(Plain().config()) == ["k", "label", "scorer"]


def test_a_value_that_is_not_plain_data_is_recorded_by_its_type_name() -> None:
    class Scorer:
        pass

    assert Plain(scorer=Scorer()).config()["scorer"] == "Scorer"


def test_a_parameter_not_stored_under_its_name_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"takes 'rounds' but does not store it as self\.rounds"):
        Forgetful().config()


def test_a_subclass_records_its_bases_parameters_too() -> None:
    config = APE(num_instructions=2).config()
    assert config["num_instructions"] == 2
    # APE fixes these through Racing's constructor: they are recorded as Racing's.
    assert (config["num_demo_sets"], config["bootstrap"], config["eta"]) == (0, 0, 2)
    assert list(config)[:5] == [
        "num_instructions",
        "num_variants",
        "num_demo_sets",
        "k",
        "bootstrap",
    ]


def test_unrecorded_parameters_are_left_out() -> None:
    config = TPE(storage="s.log", study_name="s", num_trials=7).config()
    assert config["num_trials"] == 7
    assert not {"storage", "study_name", "stale_after"} & set(config)


def test_counts_are_named_num_star() -> None:
    assert ThompsonSampling(num_trials=3).config()["num_trials"] == 3
    names = {
        n
        for factory in OPTIMIZERS.values()
        if factory is not OPTIMIZERS["ease"]
        for n in factory().config()
    }
    assert not {n for n in names if n.startswith(("n_", "max_"))}
