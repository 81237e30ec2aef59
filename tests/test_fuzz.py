"""Property-based fuzzing: the signature factory, the artifact loader and the output parser.

Whatever the input, the only exceptions that escape are promptc's own, documented ones:
``SignatureError`` from :func:`make_signature`, ``ArtifactError`` from the loader (and only
``PromptcError``s from a program built on a loaded artifact), ``ParseFailure`` from
:meth:`ChatAdapter.parse` and ``OutputParseError`` from a predictor. The targets (inputs and
checks) live in :mod:`benchmarks.fuzz`, which the reliability benchmark runs at a larger scale;
here each runs ``PROMPTC_FUZZ_EXAMPLES`` examples (default 150).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from benchmarks.fuzz import TARGETS, FuzzTarget

FUZZ = settings(
    max_examples=int(os.environ.get("PROMPTC_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


@pytest.mark.parametrize("target", TARGETS, ids=[t.label for t in TARGETS])
def test_raises_only_documented_errors(target: FuzzTarget) -> None:
    @FUZZ
    @given(target.inputs)
    def run(value: Any) -> None:
        target.body(value)

    run()
