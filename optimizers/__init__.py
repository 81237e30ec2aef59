"""Search strategies for the promptc compiler (installed as ``promptc.optimizers``)."""

from promptc.optimizers._labeled import LabeledFewShot
from promptc.optimizers._racing import Racing
from promptc.optimizers._random import RandomSearch

OPTIMIZERS = {"labeled": LabeledFewShot, "racing": Racing, "random": RandomSearch}

__all__ = ["OPTIMIZERS", "LabeledFewShot", "Racing", "RandomSearch"]
