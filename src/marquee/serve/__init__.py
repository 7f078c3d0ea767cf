"""Serving: the model registry (and, next, the inference service with model switching)."""

from marquee.serve.registry import AliasMove, ModelRegistry, ModelVersion

__all__ = ["AliasMove", "ModelRegistry", "ModelVersion"]
