"""One TPE compile worker for the resume and multi-worker tests (run as a subprocess).

Usage: python tpe_worker.py STORAGE N_TRIALS LATENCY OUT.json
Prints nothing; writes what it did as JSON to OUT.json when it finishes.
"""

from __future__ import annotations

import json
import os
import sys

import promptc
from promptc import LM, Predict
from promptc.metrics import exact_match
from promptc.optimizers import TPE
from promptc.testing import FakeBackend, WordTask

ROWS = WordTask.rows(WordTask.words(48))
TRAIN, VAL = ROWS[:16], ROWS[16:]


def main() -> None:
    storage, num_trials, latency, out = (
        sys.argv[1],
        int(sys.argv[2]),
        float(sys.argv[3]),
        sys.argv[4],
    )
    backend = FakeBackend(WordTask(needs="instruction"), latency=latency)
    lm = LM("fake/world", backend=backend, cache=False)
    tpe = TPE(num_trials=num_trials, minibatch=4, storage=storage, bootstrap=4, full_eval_every=0)
    result = promptc.compile(
        Predict(WordTask.SIGNATURE), TRAIN, exact_match, valset=VAL, optimizer=tpe, lm=lm, seed=7
    )
    record = {
        "pid": os.getpid(),
        "evaluated": tpe.evaluated,
        "restored": tpe.restored,
        "calls": backend.calls,
        "best": result.best.mean,
        "instruction": result.program.get_params()["self"].instruction,
    }
    with open(out, "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main()
