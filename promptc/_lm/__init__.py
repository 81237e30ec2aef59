"""The LM layer: LM, backends (OpenAI-compatible, litellm), cache, sampling settings, usage."""
