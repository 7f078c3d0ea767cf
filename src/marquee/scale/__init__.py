"""Beyond one process: batch scoring of every member (serially, on a process pool, or on Ray Data) into
the precomputed table the service serves as a fallback tier. Ray is imported only in
:mod:`marquee.scale.ray_data`, and only when the ``ray`` engine is asked for."""

from marquee.scale.batch import ENGINES, BatchScores, batch_score, score_block

__all__ = ["ENGINES", "BatchScores", "batch_score", "score_block"]
