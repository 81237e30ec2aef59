"""Ready-made promptc programs (installed as ``promptc.programs``)."""

__all__: list[str] = []
