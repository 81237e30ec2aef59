"""The embedded local models: the pinned registry, pulling weights, the llama.cpp backend."""
