"""Inference of torch rankers through ONNX Runtime: export, int8 quantization, and a scoring session.

Why: at serving batch sizes eager torch spends most of a call dispatching Python modules
(bench/distill.py: SASRec at batch 1 runs 2.5x faster in ONNX Runtime than eager, one thread). The exported graph
is checked against eager torch on a probe batch, so a served score never differs from the
trained model's beyond float tolerance. The graph travels inside the model's safetensors file
as bytes (an ONNX protobuf holds no code, unlike a pickle).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from marquee.errors import ArtifactError

if TYPE_CHECKING:
    import onnxruntime
    import torch

__all__ = ["Session", "export", "quantize_int8"]

#: Largest absolute score difference allowed between the exported graph and eager torch.
TOLERANCE = 1e-3


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's and quantizer's progress prints, log lines and deprecation notes."""
    loggers = [logging.getLogger(), logging.getLogger("torch.onnx"), logging.getLogger("torch.onnx._internal")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export(module: torch.nn.Module, probe: np.ndarray, *, max_batch: int = 4096, max_len: int) -> bytes:
    """Export ``module`` (int64 ``(batch, length)`` sequences -> float32 ``(batch, n_titles)`` scores).

    Batch and sequence length stay dynamic. The graph is run on ``probe`` and compared with
    eager torch; a difference above :data:`TOLERANCE` raises :class:`ArtifactError`.

    Returns:
        The ONNX model, serialised, weights included.
    """
    import onnx
    import torch

    module = module.eval()
    example = torch.from_numpy(probe)
    dims = {"seq": {0: torch.export.Dim("batch", min=1, max=max_batch), 1: torch.export.Dim("length", min=1, max=max_len)}}
    with _quiet(), tempfile.TemporaryDirectory() as tmp:
        program = torch.onnx.export(
            module, (example,), input_names=["seq"], output_names=["scores"], dynamic_shapes=dims, dynamo=True, verbose=False
        )
        path = Path(tmp) / "model.onnx"
        program.save(str(path))
        graph = onnx.load(str(path)).SerializeToString()  # external weights folded back in
    with torch.inference_mode():
        expected = module(example).numpy()
    got = Session(graph).run(probe)
    if not np.allclose(got, expected, rtol=0, atol=TOLERANCE):
        raise ArtifactError(
            f"the exported ONNX graph differs from eager torch by {np.abs(got - expected).max():.2e} "
            f"(allowed {TOLERANCE}); serve the torch model instead"
        )
    return graph


def quantize_int8(graph: bytes) -> bytes:
    """Dynamic int8 quantization of the graph's matrix products (weights int8 per channel,
    activations quantized on the fly), via ONNX Runtime's quantizer."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet(), tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(graph)
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True)
        return dst.read_bytes()


class Session:
    """An ONNX Runtime session over a serialised graph; ``threads`` bounds its intra-op pool
    (1 for a server pinned to a core, where requests, not matrix tiles, are the parallel unit)."""

    def __init__(self, graph: bytes, *, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self._session: onnxruntime.InferenceSession = ort.InferenceSession(
                graph, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for a malformed graph
            raise ArtifactError(f"ONNX Runtime refused the model's graph ({exc}); re-export or retrain it") from None

    def run(self, seq: np.ndarray) -> np.ndarray:
        """(batch, length) int64 -> (batch, n_titles) float32."""
        return self._session.run(None, {"seq": seq})[0]
