"""Search strategies for the promptc compiler (installed as ``promptc.optimizers``)."""

from promptc.optimizers._ease import EASE
from promptc.optimizers._labeled import LabeledFewShot
from promptc.optimizers._racing import Racing
from promptc.optimizers._random import RandomSearch
from promptc.optimizers._thompson import ThompsonSampling

OPTIMIZERS = {
    "ease": EASE,
    "labeled": LabeledFewShot,
    "racing": Racing,
    "random": RandomSearch,
    "thompson": ThompsonSampling,
}

__all__ = ["EASE", "OPTIMIZERS", "LabeledFewShot", "Racing", "RandomSearch", "ThompsonSampling"]
