"""Int8 variants of heavy rankers: the served graph with int8 weights, made without retraining."""

from __future__ import annotations

import numpy as np

from marquee.data.interactions import Interactions
from marquee.errors import ConfigError
from marquee.rank import onnx_runtime
from marquee.rank.sasrec import SASRec

__all__ = ["QuantizedSASRec", "quantize"]


class QuantizedSASRec(SASRec):
    """SASRec scored by its ONNX graph after dynamic int8 quantization of the matrix products
    (weights int8 per output channel; activations quantized per call). Made by :func:`quantize`
    from a fitted :class:`SASRec`; holds the graph and the members' histories, not torch weights."""

    name = "sasrec-int8"

    def _fit(self, data: Interactions) -> None:
        raise ConfigError("a QuantizedSASRec is made from a fitted SASRec, not trained: use quantize(model)")

    def _run(self, seq: np.ndarray) -> np.ndarray:
        if getattr(self, "session_", None) is None:
            self.session_ = onnx_runtime.Session(self.graph_)
        return self.session_.run(seq)

    def for_serving(self, *, threads: int = 1) -> QuantizedSASRec:
        self._check_fitted()
        self.session_ = onnx_runtime.Session(self.graph_, threads=threads)
        return self

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "history_indptr": self.history_indptr_,
            "history_items": self.history_items_,
            "onnx_graph": np.frombuffer(self.graph_, np.uint8),
        }

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.history_indptr_ = np.asarray(state["history_indptr"], np.int64)
        self.history_items_ = np.asarray(state["history_items"], np.int64)
        if self.history_indptr_.size != len(self.members_) + 1:
            raise ValueError("history does not match the saved member index")
        self.graph_ = np.asarray(state["onnx_graph"], np.uint8).tobytes()


def quantize(model: SASRec) -> QuantizedSASRec:
    """An int8 copy of a fitted SASRec (exports its ONNX graph first if it has none)."""
    if type(model) is not SASRec:
        raise ConfigError(f"int8 quantization is implemented for SASRec, got {type(model).__name__}")
    model._check_fitted()
    if getattr(model, "graph_", None) is None:
        model.for_serving()
    q = QuantizedSASRec(model.config)
    q.members_, q.titles_, q.seen_ = model.members_, model.titles_, model.seen_
    q.history_indptr_, q.history_items_ = model.history_indptr_, model.history_items_
    q.graph_ = onnx_runtime.quantize_int8(model.graph_)
    return q
