"""Wire types of the service.

The hot path decodes and validates with msgspec (one C pass, errors that name the field);
the same shapes are declared in pydantic for FastAPI's OpenAPI docs. A test keeps them equal.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_ID", "MAX_ID_CHARS", "Context", "MemberId", "RecommendationRequest", "RecommendationResponse", "RequestDoc", "ResponseDoc",
    "ScoredTitle",
]  # fmt: skip

MAX_K = 500
#: The most bytes a request body may have, on every endpoint.
MAX_BODY_BYTES = 64 * 1024
#: The largest integer id (int64, what the data layer and the logs store).
MAX_ID = 2**63 - 1
#: The longest string id.
MAX_ID_CHARS = 256
Device = Literal["tv", "mobile", "web", "tablet", "console", "other"]

#: A member id on the wire: an integer in [0, 2**63 - 1] or a non-empty string of at most 256
#: characters, passed on as given (the ranker's id index knows which kind it holds).
MemberId = Annotated[int, msgspec.Meta(ge=0, le=MAX_ID)] | Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]


class Context(msgspec.Struct, forbid_unknown_fields=True):
    device: Device | None = None
    local_hour: Annotated[int, msgspec.Meta(ge=0, le=23)] | None = None


class RecommendationRequest(msgspec.Struct, forbid_unknown_fields=True):
    member_id: MemberId
    k: Annotated[int, msgspec.Meta(ge=1, le=MAX_K)] = 10
    context: Context | None = None
    latency_budget_ms: Annotated[float, msgspec.Meta(gt=0, le=60_000)] | None = None
    model: Literal["auto", "heavy", "light"] = "auto"
    priority: Literal["critical", "prefetch"] = "critical"


class ScoredTitle(msgspec.Struct):
    title_id: int | str
    score: float


class RecommendationResponse(msgspec.Struct):
    member_id: int | str
    items: list[ScoredTitle]
    model_used: str
    model_version: str
    fallback_reason: str | None
    latency_ms: float
    context_stage: str | None = None
    staleness_s: float | None = None


# ---- the same shapes for the OpenAPI document -------------------------------------------
class ContextDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Context")
    device: Device | None = Field(None, description="Device class of the session.")
    local_hour: int | None = Field(None, ge=0, le=23, description="Member's local hour, 0-23.")


class RequestDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", title="RecommendationRequest")
    member_id: Annotated[int, Field(ge=0, le=MAX_ID)] | Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)] = Field(
        ..., description="The member: an integer id (MovieLens user_id for the demo data) or a string id, echoed in the answer."
    )
    k: int = Field(10, ge=1, le=MAX_K, description="How many titles to return.")
    context: ContextDoc | None = None
    latency_budget_ms: float | None = Field(None, gt=0, le=60_000, description="Server-side budget; default from the service config.")
    model: Literal["auto", "heavy", "light"] = Field("auto", description="auto: best model that fits the budget.")
    priority: Literal["critical", "prefetch"] = Field(
        "critical", description="critical (a member opening the app) or prefetch (a background refresh, shed first under overload: 429 with Retry-After)."
    )


class ScoredTitleDoc(BaseModel):
    model_config = ConfigDict(title="ScoredTitle")
    title_id: int | str = Field(..., description="The title: an integer or a string id, as the catalog has it.")
    score: float


class ResponseDoc(BaseModel):
    model_config = ConfigDict(title="RecommendationResponse")
    member_id: int | str = Field(..., description="The member id of the request, as sent.")
    items: list[ScoredTitleDoc]
    model_used: str = Field(..., description="heavy, light or popular.")
    model_version: str = Field(..., description="Registry reference of the model that answered.")
    fallback_reason: str | None = Field(..., description="Why a lighter model answered (unknown_member, deadline, error); null when none.")
    latency_ms: float = Field(..., description="Server-side latency of this request.")
    context_stage: str | None = Field(
        None, description="Registry reference of the context stage that re-ranked the list for the request's device and hour; null when none did."
    )
    staleness_s: float | None = Field(None, description="Age in seconds of the precomputed row that answered; null when a model answered online.")
