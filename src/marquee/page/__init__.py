"""The home page: candidate rows, the page policies that arrange them, and the model of how a member
responds to a whole page. Library code: no HTTP (the service renders pages in :mod:`marquee.serve.web`)::

    from marquee import page

    candidates = page.RowCandidates().fit(interactions, catalog)
    builder = page.PageBuilder(candidates, page.RuleTemplate(genres=candidates.genres_))
    home = builder.page(ranker.score_one(member_idx), candidates.history(member_idx))
    [(row.label, row.items) for row in home.rows]
"""

from marquee.page.model import Impressions, PageModel, PageParams, intent_shares, standardise
from marquee.page.policy import GreedyPolicy, MemberState, Page, PageBuilder, PagePolicy, RuleTemplate, ShuffledTemplate
from marquee.page.replay import ReplayEstimate, slot_replay
from marquee.page.rows import ROW_KINDS, History, Row, RowCandidates

__all__ = [
    "ROW_KINDS",
    "GreedyPolicy",
    "History",
    "Impressions",
    "MemberState",
    "Page",
    "PageBuilder",
    "PageModel",
    "PageParams",
    "PagePolicy",
    "ReplayEstimate",
    "Row",
    "RowCandidates",
    "RuleTemplate",
    "ShuffledTemplate",
    "intent_shares",
    "slot_replay",
    "standardise",
]
