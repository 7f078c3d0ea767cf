"""Serving: the model registry, the router with per-request model switching, micro-batching, the
service (``service.py``), its bare-ASGI hot paths (``hot_path.py``) and the ASGI app (``app.py``).

Only the registry is imported here; the service's modules load FastAPI and are imported where used."""

from marquee.serve.registry import AliasMove, ModelRegistry, ModelVersion

__all__ = ["AliasMove", "ModelRegistry", "ModelVersion"]
