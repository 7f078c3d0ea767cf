"""``marquee search "query" --member 42``: typo-tolerant, as-you-type title search, personalised for the member."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from marquee.cli._common import DATASET_OPTION, HOME_OPTION, console, err_console, load_dataset, status
from marquee.errors import ConfigError

MAX_QUERY_CHARS = 256


def _check_query(query: str) -> str:
    """The query, or a ConfigError saying what is wrong with it (before anything is loaded)."""
    if len(query) > MAX_QUERY_CHARS:
        raise ConfigError(f"the query is {len(query):,} characters long; search takes at most {MAX_QUERY_CHARS}")
    bad = [c for c in query if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn")]
    if bad:
        raise ConfigError(f"the query holds control character {bad[0]!a}; type the words of a title")
    if not query.strip():
        raise ConfigError('the query is empty; type (the start of) a title, e.g. marquee search "toy st"')
    return query


def search(
    query: str = typer.Argument(..., help="What the member typed: words of a title, the last one may be unfinished (\"toy st\")."),
    member: str | None = typer.Option(
        None, "--member", metavar="ID", help="Member id to personalise for; absent or unknown: the non-personalised order."
    ),
    k: int = typer.Option(10, "--k", "-k", min=1, max=100, help="How many titles."),
    dataset: str = DATASET_OPTION,
    model: str = typer.Option(
        "ease", "--model", "-m", help="Ranker fitted on the fly on --dataset (default config): popular, item_knn, ease, als, bpr, sasrec."
    ),
    seed: int = typer.Option(0, help="Seed of the simulated search log the blend is fitted on."),
    home: Path = HOME_OPTION,
) -> None:
    """Search the dataset's titles, ranked for --member.

    Nothing is read from the model registry: the ranker (--model) is fitted on the fly on --dataset without
    each member's last play, and the blend of text relevance, the member's ranker score and popularity is
    learned from searches made of those last plays (each typed as a 2-4 character prefix or the first word
    of the title). Takes a few seconds on MovieLens-100K.
    """
    from marquee.rank import RANKERS
    from marquee.search import Personalized, SearchIndex
    from marquee.sim.search import log_searches

    query = _check_query(query)
    if model not in RANKERS:
        raise ConfigError(f"--model {model!r} is not a ranker; known: {', '.join(RANKERS)}")
    ds = load_dataset(dataset, home)
    if ds.catalog.table.column("name").null_count == len(ds.catalog):
        raise ConfigError(f"dataset {ds.name!r} has no title names to search; import a catalog with names, or use movielens-100k")
    with status(f"fitting {model} and the search blend on {ds.name}"):
        rest, searches = log_searches(ds.interactions, seed=seed)
        ranker = RANKERS[model]().fit(rest)
        index = SearchIndex().build(ds.catalog)
        blend = Personalized(index, ranker).fit(searches.to_log(rest.members.ids, ds.catalog))
    known = member is not None and bool(ranker.members_.lookup([member])[0] >= 0)
    hits = blend.search(query, k, member_id=member if known else None)
    who = f"member {escape(member)} · {model} blend" if known else "non-personalised (text and popularity)"
    table = Table(title=f"{escape(query)!r} · {who} · {ds.name}", caption="; ".join(hits.warnings) or None)
    for name, justify in (("rank", "right"), ("title_id", "right"), ("title", "left"), ("year", "right"), ("genres", "left"),
                          ("matched", "left"), ("score", "right")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    t = ds.catalog.table
    names, years, genres = (t.column(c).to_pylist() for c in ("name", "year", "genres"))
    for r, (p, tid, score, fields) in enumerate(
        zip(hits.positions.tolist(), hits.title_ids.tolist(), hits.scores.tolist(), hits.matched_fields, strict=True), start=1
    ):
        table.add_row(
            str(r), escape(str(tid)), escape(names[p] or ""), "" if years[p] is None else str(years[p]),
            escape(", ".join(genres[p] or [])), ", ".join(fields), f"{score:.3f}",
        )  # fmt: skip
    console.print(table)
    if member is not None and not known:
        err_console.print(f"member {escape(member)} is unknown to {model} on {ds.name}: the non-personalised order", highlight=False)
    if not len(hits):
        err_console.print("no title matches", highlight=False)
