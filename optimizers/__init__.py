"""Search strategies for the promptc compiler (installed as ``promptc.optimizers``)."""

from promptc.optimizers._labeled import LabeledFewShot
from promptc.optimizers._random import RandomSearch

OPTIMIZERS = {"labeled": LabeledFewShot, "random": RandomSearch}

__all__ = ["OPTIMIZERS", "LabeledFewShot", "RandomSearch"]
