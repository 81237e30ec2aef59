"""Search strategies for the promptc compiler (installed as ``promptc.optimizers``).

EASE needs numpy and its embedding stack (the ``[compile]`` extra); it is imported only when
used, so the other strategies work on a base install.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from promptc.compiler import Optimizer
from promptc.exceptions import ConfigurationError

from ._labeled import LabeledFewShot
from ._racing import APE, Racing
from ._random import RandomSearch
from ._thompson import ThompsonSampling
from ._tpe import TPE

if TYPE_CHECKING:
    from ._ease import EASE


def _ease_class() -> type[Optimizer]:
    try:
        from ._ease import EASE
    except ImportError as exc:
        raise ConfigurationError(
            f"the 'ease' optimizer needs {exc.name or 'numpy'}; install it with: "
            "pip install 'promptc[compile]'"
        ) from None
    return EASE


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


def strategy_class(name: str) -> type[Optimizer]:
    """The class of the strategy registered as ``name`` (importing EASE when asked for)."""
    return _ease_class() if name == "ease" else OPTIMIZERS[name]  # type: ignore[return-value]


def __getattr__(name: str) -> Any:
    if name == "EASE":
        return _ease_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "APE",
    "EASE",
    "OPTIMIZERS",
    "TPE",
    "LabeledFewShot",
    "Racing",
    "RandomSearch",
    "ThompsonSampling",
    "strategy_class",
]
