"""Artifacts: the schema, the safe YAML loader, signing, and the production runtime."""
