"""promptc's benchmark harness: side-by-side measurements on real data sets.

Run each benchmark from the repository root as a module::

    python -m benchmarks.compile_tasks --help   # the task table: promptc strategies vs. DSPy
    python -m benchmarks.preferences --help     # compile from simulated preferences vs. labels
    python -m benchmarks.plot RESULTS.json      # its plot, from any results file (--curves:
                                                # best validation score vs. LM requests)
    python -m benchmarks.overhead               # runtime overhead, import time, throughput
    python -m benchmarks.production             # the core install's size
    python -m benchmarks.reliability            # faults, concurrency, fuzzing (fakes only)
    python -m benchmarks.ease_order             # EASE vs. random where demo order matters
    python -m benchmarks.local_lm_speed         # the embedded models' speed

The task table compares :class:`benchmarks.systems.System` objects (promptc strategies, DSPy's
optimizers, the uncompiled program) on the splits of :mod:`benchmarks.tasks`; its rows are the
typed records of :mod:`benchmarks.records`, written to ``benchmarks/results/`` cell by cell
(:mod:`benchmarks.cells`, so a run resumes), and read over seeds by :mod:`benchmarks.evidence`.
"""
