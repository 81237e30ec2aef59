"""Search strategies for the promptc compiler (installed as ``promptc.optimizers``).

EASE and the preference strategies (APOHF, RandomPairs) need numpy and the embedding stack (the
``[compile]`` extra); they are imported only when used, so the other strategies work on a base
install.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from promptc.compiler import DuelingOptimizer, Optimizer
from promptc.exceptions import ConfigurationError

from ._labeled import LabeledFewShot
from ._racing import APE, Racing
from ._random import RandomSearch
from ._thompson import ThompsonSampling
from ._tpe import TPE

if TYPE_CHECKING:
    from ._apohf import APOHF, RandomPairs
    from ._ease import EASE


def _needs(name: str, exc: ImportError) -> ConfigurationError:
    return ConfigurationError(
        f"the {name!r} optimizer needs {exc.name or 'numpy'}; install it with: "
        "pip install 'promptc[compile]'"
    )


def _ease_class() -> type[Optimizer]:
    try:
        from ._ease import EASE
    except ImportError as exc:
        raise _needs("ease", exc) from None
    return EASE


def _preference_class(name: str) -> type[DuelingOptimizer]:
    try:
        from ._apohf import APOHF, RandomPairs
    except ImportError as exc:
        raise _needs(name, exc) from None
    return APOHF if name == "apohf" else RandomPairs


def _apohf(**kwargs: Any) -> DuelingOptimizer:
    return _preference_class("apohf")(**kwargs)


def _random_pairs(**kwargs: Any) -> DuelingOptimizer:
    return _preference_class("random_pairs")(**kwargs)


def _ease(**kwargs: Any) -> Optimizer:
    return _ease_class()(**kwargs)


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "ape": APE,
    "ease": _ease,
    "labeled": LabeledFewShot,
    "racing": Racing,
    "random": RandomSearch,
    "thompson": ThompsonSampling,
    "tpe": TPE,
}

#: The strategies of a compile from preferences (``compile(..., feedback=...)``), by name.
PREFERENCE_OPTIMIZERS: dict[str, Callable[..., DuelingOptimizer]] = {
    "apohf": _apohf,
    "random_pairs": _random_pairs,
}


def strategy_class(name: str) -> type[Optimizer]:
    """The class of the strategy registered as ``name`` (importing EASE when asked for)."""
    return _ease_class() if name == "ease" else OPTIMIZERS[name]  # type: ignore[return-value]


def __getattr__(name: str) -> Any:
    if name == "EASE":
        return _ease_class()
    if name == "APOHF":
        return _preference_class("apohf")
    if name == "RandomPairs":
        return _preference_class("random_pairs")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "APE",
    "APOHF",
    "EASE",
    "OPTIMIZERS",
    "PREFERENCE_OPTIMIZERS",
    "TPE",
    "LabeledFewShot",
    "Racing",
    "RandomPairs",
    "RandomSearch",
    "ThompsonSampling",
    "strategy_class",
]
