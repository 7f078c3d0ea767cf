"""The baseline of bench/serving.py: the same light model behind a plain FastAPI handler.

What a team would write first: a pydantic request and response model and one ``async def``
endpoint that calls the model, run by the same uvicorn (uvloop + httptools, no access log).
Run: ``MARQUEE_BENCH_MODEL=<artifact dir> uvicorn bench.plain_fastapi:app``.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from pydantic import BaseModel, Field

from marquee.rank.base import Recommender

model = Recommender.load(os.environ["MARQUEE_BENCH_MODEL"]).for_serving(threads=1)
app = FastAPI(title="plain FastAPI baseline")


class Request(BaseModel):
    member_id: int = Field(..., ge=0)
    k: int = Field(10, ge=1, le=500)
    latency_budget_ms: float | None = None
    model: str = "light"


class Item(BaseModel):
    title_id: int
    score: float


class Response(BaseModel):
    member_id: int
    items: list[Item]
    model_used: str


@app.post("/v1/recommendations", response_model=Response)
async def recommend(req: Request) -> Response:
    # The same single-member model call as Marquee's router makes, so the ratio measures the serving stack.
    idx, scores = model.recommend_one(model.members_.position(req.member_id), req.k)
    titles = model.titles_.ids[idx]
    items = [Item(title_id=t, score=s) for t, s in zip(titles.tolist(), scores.tolist(), strict=True)]
    return Response(member_id=req.member_id, items=items, model_used="light")
