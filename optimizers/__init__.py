"""Search strategies for the promptc compiler (installed as ``promptc.optimizers``)."""

from promptc.optimizers._ease import EASE
from promptc.optimizers._labeled import LabeledFewShot
from promptc.optimizers._racing import APE, Racing
from promptc.optimizers._random import RandomSearch
from promptc.optimizers._thompson import ThompsonSampling
from promptc.optimizers._tpe import TPE

OPTIMIZERS = {
    "ape": APE,
    "ease": EASE,
    "labeled": LabeledFewShot,
    "racing": Racing,
    "random": RandomSearch,
    "thompson": ThompsonSampling,
    "tpe": TPE,
}

__all__ = [
    "APE",
    "EASE",
    "OPTIMIZERS",
    "TPE",
    "LabeledFewShot",
    "Racing",
    "RandomSearch",
    "ThompsonSampling",
]
