"""The strategies' command-line options: each strategy declares its own
(:attr:`~promptc._compile.strategy.Optimizer.cli_options`); these two functions add them to a
parser and turn the parsed flags into the chosen strategy's constructor arguments."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from promptc._compile.auto import AUTO
from promptc._compile.strategy import Optimizer, StrategyOption
from promptc.exceptions import ConfigurationError

__all__ = ["add_strategy_options", "strategy_options"]


def _strategies() -> dict[str, type[Optimizer]]:
    """The registered strategy classes (a lazily imported one, EASE, only once imported)."""
    # Lazy: promptc never imports promptc.optimizers at module level (arrows point one way).
    from promptc.optimizers import OPTIMIZERS  # type: ignore[import-not-found,unused-ignore]

    return {n: f for n, f in OPTIMIZERS.items() if isinstance(f, type)}


def _declared(strategies: Mapping[str, type[Optimizer]]) -> dict[str, list[str]]:
    """Flag -> the names of the strategies that take it, flags in first-declared order."""
    flags: dict[str, list[str]] = {}
    for name, cls in sorted(strategies.items()):
        for option in cls.cli_options:
            flags.setdefault(option.flag, []).append(name)
    return flags


def _option(strategy: type[Optimizer], flag: str) -> StrategyOption:
    return next(o for o in strategy.cli_options if o.flag == flag)


def _dest(flag: str) -> str:
    return "strategy_" + flag.lstrip("-").replace("-", "_")


def add_strategy_options(
    parser: argparse.ArgumentParser, strategies: Mapping[str, type[Optimizer]] | None = None
) -> None:
    """Add every flag a registered strategy declares, once each, naming who takes it."""
    strategies = _strategies() if strategies is None else strategies
    for flag, names in _declared(strategies).items():
        option = _option(strategies[names[0]], flag)
        default = "" if option.default is None else f"; default {option.default}"
        parser.add_argument(
            flag,
            dest=_dest(flag),
            metavar=flag.lstrip("-").upper(),
            type=option.type,
            default=None,
            help=f"{option.help} ({', '.join(names)}{default})",
        )


def strategy_options(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """Constructor arguments of strategy ``name`` from the flags parsed by a parser that
    :func:`add_strategy_options` built (``{}`` for an unknown name: resolving it says so).

    Raises:
        ConfigurationError: a flag was given that strategy ``name`` does not take (with
            ``auto``, which chooses its strategy's settings itself: any flag).
    """
    from promptc.optimizers import OPTIMIZERS, strategy_class  # type: ignore[import-not-found,unused-ignore]

    if name == AUTO:
        for flag, names in _declared(_strategies()).items():
            if getattr(args, _dest(flag), None) is not None:
                raise ConfigurationError(
                    f"{flag} sets a setting of {' and '.join(names)}, but --optimizer auto (the "
                    f"default) chooses the strategy and its settings itself; name the strategy "
                    f"to set it: --optimizer {names[0]} {flag} ..."
                )
        return {}
    if name not in OPTIMIZERS:
        return {}
    strategy: type[Optimizer] = strategy_class(name)
    strategies = {**_strategies(), name: strategy}
    for flag, names in _declared(strategies).items():
        taken = any(o.flag == flag for o in strategy.cli_options)
        if not taken and getattr(args, _dest(flag), None) is not None:
            hint = _option(strategies[names[0]], flag).hint
            raise ConfigurationError(
                f"{flag} needs --optimizer {' or '.join(names)}, not {name!r}"
                + (f"; {hint}" if hint else "")
            )
    kwargs: dict[str, Any] = {}
    for option in strategy.cli_options:
        value = getattr(args, _dest(option.flag), None)
        value = option.default if value is None else value
        if value is not None:
            kwargs[option.param] = value
    return kwargs
