"""A synthetic catalog of any size from the vocabulary of a real one, for scale tests and benchmarks.

Titles are drawn from a word-level bigram Markov chain fitted on the source catalog's display titles
(with probability ``jump`` the next word is drawn from all title words instead, so new titles appear);
genres and years are those of a random source title. Duplicate titles (after normalisation) are redrawn,
so every generated title is distinct.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from marquee.data.catalog import Catalog
from marquee.errors import ConfigError
from marquee.random import SeedLike, as_generator
from marquee.search._titles import split_title
from marquee.search.query import normalize

__all__ = ["synthetic_catalog"]

_END = ""


def synthetic_catalog(source: Catalog, n_titles: int, *, jump: float = 0.15, max_words: int = 8, seed: SeedLike = 0) -> Catalog:
    """``n_titles`` distinct titles (ids ``1..n_titles``) in the style of ``source``'s titles.

    Raises:
        ConfigError: ``n_titles`` < 1, ``jump`` outside [0, 1], or a source with no titles.
    """
    if not isinstance(n_titles, int) or n_titles < 1:
        raise ConfigError(f"n_titles must be an int >= 1, got {n_titles!r}")
    if not 0 <= jump <= 1:
        raise ConfigError(f"jump must be in [0, 1], got {jump!r}")
    rng = as_generator(seed)
    t = source.table
    names = [split_title(n)[0] for n in t.column("name").to_pylist() if n]
    if not names:
        raise ConfigError("the source catalog has no titles to learn words from; pass a catalog with names")
    follow: dict[str, list[str]] = defaultdict(list)
    for name in names:
        words = name.split()
        for a, b in zip(["<s>", *words], [*words, _END], strict=True):
            follow[a].append(b)
    vocabulary = sorted({w for n in names for w in n.split()})
    followers = {a: np.array(b, dtype=object) for a, b in follow.items()}
    genres, years = t.column("genres").to_pylist(), t.column("year").to_pylist()
    seen: set[str] = set()
    titles: list[str] = []
    for _ in range(50 * n_titles):
        if len(titles) == n_titles:
            break
        words, word = [], "<s>"
        while len(words) < max_words:
            nxt = followers.get(word)
            if nxt is None or (words and rng.random() < jump):
                word = vocabulary[int(rng.integers(len(vocabulary)))] if rng.random() < 0.7 or nxt is None else _END
            else:
                word = nxt[int(rng.integers(nxt.size))]
            if word == _END:
                break
            words.append(word)
        title = " ".join(words)
        key = normalize(title)
        if key and key not in seen:
            seen.add(key)
            titles.append(title)
    if len(titles) < n_titles:
        raise ConfigError(f"could draw only {len(titles)} distinct titles; lower n_titles or raise jump")
    src = rng.integers(len(genres), size=n_titles)
    return Catalog.from_arrays(
        np.arange(1, n_titles + 1, dtype=np.int64),
        names=titles,
        years=[years[i] for i in src.tolist()],
        genres=[genres[i] for i in src.tolist()],
    )
