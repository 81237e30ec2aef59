"""Errors raised by promptc.

Every error promptc raises on purpose derives from :class:`PromptcError`. Leaves also inherit the
built-in exception a caller would already catch (``ValueError``, ``TimeoutError``, ...)::

    PromptcError
    ├── SignatureError (ValueError)         a signature or field declaration is malformed
    ├── ConfigurationError (ValueError)     a module, LM or option is set up wrongly
    │   └── DataError                       a dataset file cannot be read (names file and line)
    ├── LMError                             an LM call failed in transport
    │   ├── TransientLMError                retried with backoff
    │   │   ├── LMTimeoutError (TimeoutError)
    │   │   ├── RateLimitError
    │   │   └── ServerError
    │   ├── LMRequestError (ValueError)     never retried: bad request, auth, unknown model
    │   │   └── LMConfigurationError (ConfigurationError)  unknown model, missing API key:
    │   │                                   every call would fail alike, so runs stop at once
    │   └── RetriesExhaustedError           transient errors outlasted the retry budget
    ├── ModelNotAvailableError (ImportError) an embedded model or runtime is not installed
    ├── OutputParseError (ValueError)       a completion could not be parsed into typed outputs
    ├── CacheError                          the LM cache file is unusable
    ├── ArtifactError (ValueError)          an artifact is malformed, edited, unsigned or unsafe
    ├── BudgetExhaustedError                a compile's LM-call budget is spent
    └── DecompositionError (RuntimeError)   a decomposition exceeded its step or depth bound

Transport errors (the LM did not answer) are kept apart from parse errors (the LM answered, but not
in the requested form): the first are about the provider, the second about the prompt.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArtifactError",
    "BudgetExhaustedError",
    "CacheError",
    "ConfigurationError",
    "DataError",
    "DecompositionError",
    "LMConfigurationError",
    "LMError",
    "LMRequestError",
    "LMTimeoutError",
    "ModelNotAvailableError",
    "OutputParseError",
    "PromptcError",
    "RateLimitError",
    "RetriesExhaustedError",
    "ServerError",
    "SignatureError",
    "TransientLMError",
]


class PromptcError(Exception):
    """Root of every error promptc raises on purpose."""


class SignatureError(PromptcError, ValueError):
    """A signature, or one of its fields, is declared wrongly."""


class ConfigurationError(PromptcError, ValueError):
    """A module, LM or option is configured wrongly (e.g. no LM is set)."""


class DataError(ConfigurationError):
    """A dataset file cannot be read; the message names the file and line."""


class LMError(PromptcError):
    """An LM call failed before a completion was obtained."""

    def __init__(self, message: str, *, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model


class TransientLMError(LMError):
    """A failure that may go away when retried (timeouts, rate limits, 5xx)."""


class LMTimeoutError(TransientLMError, TimeoutError):
    """The LM did not answer within the per-call timeout."""


class RateLimitError(TransientLMError):
    """The provider answered 429 (too many requests)."""


class ServerError(TransientLMError):
    """The provider answered with a server error (5xx) or the connection broke."""


class LMRequestError(LMError, ValueError):
    """The request itself is wrong (bad parameters, auth, unknown model); retrying cannot help."""


class LMConfigurationError(LMRequestError, ConfigurationError):
    """The LM cannot be called at all: an unknown model string, or the provider's API key is
    not set. Every call would fail the same way, so evaluations and compiles stop at the first
    one instead of scoring each example 0."""


class RetriesExhaustedError(LMError):
    """Transient errors persisted through every retry.

    Attributes:
        attempts: how many calls were made.
        last_error: the last transient error seen.
    """

    def __init__(
        self, message: str, *, model: str | None, attempts: int, last_error: BaseException
    ) -> None:
        super().__init__(message, model=model)
        self.attempts = attempts
        self.last_error = last_error


class ModelNotAvailableError(PromptcError, ImportError):
    """An embedded model is not pulled (``promptc models pull NAME``) or fails verification, or
    the runtime that runs it is not installed."""


class OutputParseError(PromptcError, ValueError):
    """A completion could not be parsed into the signature's typed outputs.

    Attributes:
        raw: the last raw completion text.
        attempts: how many completions were requested (the first try plus parse retries).
        usage: token usage summed over all attempts.
        field: the output field that failed, if one did.
    """

    def __init__(
        self,
        message: str,
        *,
        raw: str,
        attempts: int = 1,
        usage: dict[str, Any] | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.raw = raw
        self.attempts = attempts
        self.usage = usage or {}
        self.field = field


class CacheError(PromptcError):
    """The LM cache database cannot be used (corrupted, wrong schema, not writable)."""


class DecompositionError(PromptcError, RuntimeError):
    """A decomposition ran past its step or recursion bound, or called an unknown sub-task."""


class ArtifactError(PromptcError, ValueError):
    """An artifact file is malformed, edited after compiling (hash mismatch), not signed by the
    required key, from a newer promptc, or unsafe to load."""


class BudgetExhaustedError(PromptcError):
    """A compile reached its LM-call budget; no further calls are made."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit
