"""The language: signatures, modules, the adapter, typed values, decompositions, template checks."""
