"""Each strategy declares its ``promptc compile`` flags; one function serves them all."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from conftest import run_cli

from promptc._compile.options import add_strategy_options, strategy_options
from promptc.exceptions import ConfigurationError
from promptc.optimizers import OPTIMIZERS, strategy_class

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sentiment.py"
TRAIN = ROOT / "examples" / "data" / "reviews_train.jsonl"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_strategy_options(parser)
    return parser.parse_args(argv)


def test_every_declared_flag_is_added_once_naming_who_takes_it() -> None:
    parser = argparse.ArgumentParser()
    add_strategy_options(parser)
    text = parser.format_help()
    for flag in ("--k", "--candidates", "--trials", "--storage", "--study"):
        assert text.count(f"{flag} ") >= 1
    assert "candidates (ape, racing, random, thompson; default 8)" in " ".join(text.split())


def test_each_registered_strategy_declares_only_its_own_constructor_parameters() -> None:
    import inspect

    for name in OPTIMIZERS:
        if name == "ease":
            pytest.importorskip("numpy")
        cls = strategy_class(name)
        params = {p for k in cls.__mro__ for p in inspect.signature(k.__init__).parameters}
        assert {o.param for o in cls.cli_options} <= params, name


def test_flags_become_the_chosen_strategys_constructor_arguments() -> None:
    args = parse("--trials", "7", "--storage", "t.log", "--study", "s")
    assert strategy_options(args, "tpe") == {"num_trials": 7, "storage": "t.log", "study_name": "s"}
    # Not given: the CLI's declared default (8 candidates), else nothing (the constructor's).
    assert strategy_options(parse(), "racing") == {"num_candidates": 8}
    assert strategy_options(parse("--k", "2"), "labeled") == {"k": 2}
    assert strategy_options(parse(), "unknown") == {}  # resolving the name reports it


@pytest.mark.parametrize(
    ("argv", "strategy", "message"),
    [
        (("--storage", "t.log"), "random", "--storage needs --optimizer tpe, not 'random'"),
        (("--candidates", "3"), "labeled", "--candidates needs --optimizer ape or racing"),
        (("--trials", "3"), "thompson", "--trials needs --optimizer tpe, not 'thompson'"),
    ],
)
def test_a_flag_the_chosen_strategy_does_not_take_is_refused(
    argv: tuple[str, ...], strategy: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        strategy_options(parse(*argv), strategy)


def test_the_cli_refuses_storage_without_tpe_in_one_line(tmp_path: Path) -> None:
    proc = run_cli(
        "compile", f"{EXAMPLE}:program", "--train", TRAIN, "--optimizer", "random",
        "--storage", "t.log", "--dry-run", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode != 0
    first = proc.stderr.splitlines()[0]
    assert first == (
        "promptc: error: --storage needs --optimizer tpe, not 'random'; other strategies "
        "resume from the LM cache: run the same command again"
    )
