"""Synthetic CDN request streams from a TRAGEN traffic model (footprint descriptors, sizes, popularities).

After TRAGEN: Sabnis & Sitaraman, "TRAGEN: A Synthetic Trace Generator for Realistic Cache Simulations", ACM IMC
2021, and its code, https://github.com/UMass-LIDS/Tragen (BSD-2-Clause; the shipped model files keep that
licence, ``LICENSE.Tragen``). This module is an independent implementation of the idea: no code is copied.

The model
---------
:func:`read_tragen_model` reads a TRAGEN model folder (``FOOTPRINT_DESCRIPTORS/<class>/`` of the TRAGEN repository)
or an archive of one; with no path it reads the shipped Akamai *video* class
(``shipped_path("tragen_akamai_video")``). The files, as TRAGEN's ``traffic_modeler.py`` writes them:

``fd.txt`` / ``bfd.txt`` -- the request / byte **footprint descriptor**. The first line is six numbers about the
trace that was modelled: ``requests total_KB start_s end_s miss_requests miss_KB`` (the shipped
``981112 800194518 2907 153747 389025 319541853``: 981,112 requests moving 800 GB in 150,840 s, 39.7 % of them, 39.9 %
of the bytes, misses of an unbounded LRU cache: first requests of an object). Every other line is
``iat_s sd_KB p``: the share ``p`` of requests (``fd.txt``) or of requested bytes (``bfd.txt``) whose previous request
for the same object was ``iat_s`` seconds and ``sd_KB`` kilobytes of distinct objects earlier. Both are floored to
bins (200 s and 200,000 KB = 200 MB in TRAGEN). ``sd`` counts the bytes of every distinct object from the top of the
LRU stack down to and including the requested object, so a request hits an LRU cache of ``C`` bytes iff its
``sd <= C``. The ``p`` plus the miss share sum to 1.

``sz.txt`` -- object sizes: blocks, each a one-number line (the objects' mean inter-arrival bin, ``-1`` for objects
requested once) followed by ``size_KB share_of_objects`` lines. The generator uses the size marginal (all blocks
summed), as TRAGEN does. ``iat_sz_all.txt`` (optional) has the same layout for the 981k-request sample behind the
shipped ``fd.txt``; ``size_source="sample"`` draws sizes from it instead.

``popularity.txt`` -- blocks, each a one-number line (a request count ``k``) followed by ``size_KB share`` lines:
the share of objects requested ``k`` times (and of that size). Kept as :attr:`TragenModel.popularity`; see below.

Units (assumptions, stated because the files carry none): sizes and stack distances are **kilobytes of 1000 bytes**
(TRAGEN's README asks for traces "object_size (in KB)" and its ``constants.py`` counts ``MB = 1000`` KB); times are
seconds. A size of 0 KB is read as 1 KB, as TRAGEN's modeller does.

The generator
-------------
:func:`generate` follows TRAGEN's construction. It keeps a *future* stack: objects in the order of their next
request, holding at least the deepest stack distance of the descriptor plus one bin of bytes. Each step draws a
stack distance from the descriptor (``bfd.txt`` for ``hitrate="byte"``, the default and TRAGEN's ``bhr``;
``fd.txt`` for ``"request"``): "miss" with the miss share, else a bin and a uniform point ``d`` inside it. One of
the top ``window`` objects (50, as in TRAGEN) is requested and, unless the draw was "miss", put back below the
shortest run of objects from the top that holds ``d`` minus its own size: every one of those is requested before
it comes back (each once, as distinct bytes), so its next request has stack distance ``d`` and the trace's LRU
hit-ratio curve is the descriptor's. After a "miss" draw the object leaves for good (its last request) and new
objects, with sizes drawn from ``sz.txt``, join at the bottom until the stack holds its bytes again; they are
first requested when they reach the top, so first requests (the misses) keep the descriptor's share.

Which of the top ``window`` objects: each object carries a number of requests drawn from :func:`request_counts`;
the ones with more requests left are given the shorter distances (the draw's position in the distance
distribution, uniform on (0, 1), picks the rank), and a "miss" goes to the one with fewest left. This is TRAGEN's
heuristic (it ranks by its inclusive bin CDF; here the position inside the bin is used too). It makes popular
objects popular *now*, which gives the heavy-tailed requests-per-object distribution of real traffic: with
``window=1`` every object gets the same distance distribution and the counts are near geometric. The price: an
object can be requested up to ``window - 1`` places early or late, so distances below roughly ``window`` objects'
bytes (about 0.1-0.2 GB for the shipped model) are not reproduced; the hit-ratio curve is from about 0.5 GB up.

The future stack is a linked list of blocks of up to 128 objects with per-block byte sums: placing ``d`` walks
the block sums, then one block. That is an order-statistic search by bytes with inserts anywhere, written in numba
because no numpy or scipy routine offers one and a per-request Python loop would be ~100x too slow. The first
fill of the stack is all new objects, so nothing is emitted until every one of them has been requested once (a
warmed-up stack; about 150k steps for the shipped model). A replay from an empty cache still misses objects last
requested before the returned stream: compare hit ratios after a warm-up (``warmup_requests`` of
:func:`measured_hit_ratio`).

Popularity: with the descriptor's miss share fixed, a stream has ``1 / miss share`` requests per object on average
(2.50 for the shipped byte descriptor), while the shipped ``popularity.txt`` (like ``sz.txt``, from TRAGEN's
``FOOTPRINT_DESCRIPTORS/v``) averages 3.43: no trace matches both. :func:`request_counts` adds objects requested once to
``popularity.txt`` until the mean agrees and the generator draws from that; the counts a finite stream shows are
near it (tests state the distance), not equal to it.

Byte versus request hit ratios: object sizes are drawn independently of request counts (as TRAGEN does), so the
few objects that carry the most requests -- and, being requested at short distances, most hits of small caches --
have whatever sizes they drew. ``sz.txt`` is skewed (38 % of objects are 40 KB or less, the mean is 1.8 MB), so
the byte hit ratio of one stream scatters around the descriptor's by a few hundredths (typically below it: the
hottest objects are usually small), while the request hit ratio stays within about 0.01. Leaving out the 1000
most requested objects, byte and request hit ratios of a stream agree within 0.005.

Sizes and rates: ``sz.txt`` (TRAGEN's ``FOOTPRINT_DESCRIPTORS/v``, not the sample behind the descriptors) averages
1.83 MB an object; the descriptors' sample moved 0.82 MB a request. With the default byte clock the stream
therefore runs at the model's byte rate and about 3 requests/s, not the sample's 6.5; ``size_source="sample"`` keeps both rates close (its sizes are even more skewed:
median 27 KB, so its byte hit ratios scatter more).

Times: TRAGEN advances its clock by one second per ``byte_rate`` of requested bytes. Here ``arrivals="bytes"``
(default) does the same without rounding: a request's time is the bytes requested before it divided by the model's
byte rate (``total_KB * 1000 / (end - start)`` bytes/s); ``arrivals="poisson"`` spaces requests by exponential gaps
at the model's request rate. The descriptors' inter-arrival column is not used to place requests.
"""

from __future__ import annotations

import lzma
import math
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numba import njit

from marquee.cdn.requests import Requests, requests_from_arrays
from marquee.errors import ConfigError, DataError

__all__ = [
    "FootprintDescriptor",
    "TragenModel",
    "generate",
    "measured_hit_ratio",
    "read_tragen_model",
    "request_counts",
]

#: Bytes in TRAGEN's kilobyte (its constants count decimal units).
KB = 1000

_REQUIRED = ("fd.txt", "bfd.txt", "sz.txt", "popularity.txt")
_OPTIONAL = ("iat_sz_all.txt",)


@dataclass(frozen=True, eq=False)
class FootprintDescriptor:
    """One descriptor file: the modelled trace's totals and its (iat, sd) -> share table.

    ``weights`` are request shares (``fd.txt``) or byte shares (``bfd.txt``); :attr:`miss_share` is the matching
    share of misses from the header. Stack distances are kept in bytes.
    """

    source: str
    requests: int
    total_bytes: int
    start_s: float
    end_s: float
    miss_requests: int
    miss_bytes: int
    byte_weighted: bool
    iat_s: np.ndarray  # (m,) float64, bin floor
    sd_bytes: np.ndarray  # (m,) int64, bin floor
    weights: np.ndarray  # (m,) float64
    sd_bin_bytes: int

    @property
    def miss_share(self) -> float:
        return self.miss_bytes / self.total_bytes if self.byte_weighted else self.miss_requests / self.requests

    def sd_marginal(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct stack-distance bins (bytes, ascending) and their summed shares (iat summed out)."""
        bins, inv = np.unique(self.sd_bytes, return_inverse=True)
        return bins, np.bincount(inv.reshape(-1), weights=self.weights, minlength=bins.shape[0])

    def hit_ratio(self, cache_bytes: float) -> float:
        """The LRU hit ratio (byte ratio for ``bfd.txt``) the descriptor predicts for a cache of ``cache_bytes``.

        A request hits iff its stack distance is at most the cache size; inside a bin the distances are taken as
        uniform (linear interpolation). Shares are normalised to sum to 1 with the miss share.
        """
        bins, w = self.sd_marginal()
        total = w.sum() + self.miss_share
        covered = np.clip((cache_bytes - bins) / self.sd_bin_bytes, 0.0, 1.0)
        return float((w * covered).sum() / total)


@dataclass(frozen=True, eq=False)
class TragenModel:
    """A TRAGEN traffic model: request and byte footprint descriptors, size and popularity distributions.

    Distributions are ``(values, shares)`` pairs with shares summing to 1; sizes are bytes.
    """

    source: str
    fd: FootprintDescriptor
    bfd: FootprintDescriptor
    sizes: np.ndarray  # (s,) int64 bytes, ascending -- sz.txt marginal over objects
    size_shares: np.ndarray
    popularity: np.ndarray  # (p,) int64 requests per object, ascending -- popularity.txt marginal
    popularity_shares: np.ndarray
    sample_sizes: np.ndarray | None = None  # iat_sz_all.txt marginal, when present
    sample_size_shares: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        return float(self.fd.end_s - self.fd.start_s)

    @property
    def request_rate(self) -> float:
        """Requests per second of the modelled trace."""
        return self.fd.requests / self.duration_s

    @property
    def byte_rate(self) -> float:
        """Bytes per second of the modelled trace."""
        return self.fd.total_bytes / self.duration_s

    @property
    def max_stack_distance(self) -> int:
        """Upper end of the deepest stack-distance bin, bytes (over both descriptors)."""
        return int(max(self.fd.sd_bytes.max(initial=0), self.bfd.sd_bytes.max(initial=0)) + self.fd.sd_bin_bytes)

    def mean_size(self, size_source: Literal["sz", "sample"] = "sz") -> float:
        v, p = self._size_table(size_source)
        return float((v * p).sum())

    def hit_ratio(self, cache_bytes: float, weight: Literal["byte", "request"] = "byte") -> float:
        """The LRU hit ratio (``"byte"``: from ``bfd.txt``; ``"request"``: from ``fd.txt``) at ``cache_bytes``."""
        if weight not in ("byte", "request"):
            raise ConfigError(f"weight {weight!r}: use 'byte' or 'request'")
        return (self.bfd if weight == "byte" else self.fd).hit_ratio(cache_bytes)

    def _size_table(self, size_source: str) -> tuple[np.ndarray, np.ndarray]:
        if size_source == "sz":
            return self.sizes, self.size_shares
        if size_source == "sample":
            if self.sample_sizes is None or self.sample_size_shares is None:
                raise ConfigError(f"{self.source} has no iat_sz_all.txt; use size_source='sz'")
            return self.sample_sizes, self.sample_size_shares
        raise ConfigError(f"size_source {size_source!r}: use 'sz' (sz.txt) or 'sample' (iat_sz_all.txt)")


# ----------------------------------------------------------------------------------------------------------- reading


def read_tragen_model(path: str | os.PathLike | None = None) -> TragenModel:
    """Read a TRAGEN model: a folder holding ``fd.txt``, ``bfd.txt``, ``sz.txt``, ``popularity.txt`` (and optionally
    ``iat_sz_all.txt``), or a ``.tar``/``.tar.xz``/``.tar.gz`` archive with those files in one folder.

    ``None`` reads the shipped Akamai video model. A missing or malformed file raises :class:`DataError` naming the
    file, the 1-based line and the field.
    """
    if path is None:
        from marquee.cdn.shipped import shipped_path

        path = shipped_path("tragen_akamai_video")
    p = Path(path)
    texts: dict[str, tuple[str, str]] = {}  # name -> (where, text)
    if p.is_dir():
        for name in _REQUIRED + _OPTIONAL:
            f = p / name
            if f.is_file():
                texts[name] = (str(f), _decode(f.read_bytes(), str(f)))
    elif p.is_file():
        try:
            with tarfile.open(p, "r:*") as tar:
                for member in tar.getmembers():
                    name = Path(member.name).name
                    if member.isfile() and name in _REQUIRED + _OPTIONAL:
                        if name in texts:
                            raise DataError(f"the archive holds two {name} files; keep one model per archive",
                                            source=str(p))
                        fh = tar.extractfile(member)
                        assert fh is not None
                        where = f"{p}:{member.name}"
                        texts[name] = (where, _decode(fh.read(), where))
        except (tarfile.TarError, lzma.LZMAError, EOFError, OSError) as exc:
            raise DataError(f"cannot read the model archive ({exc})", source=str(p)) from None
    else:
        raise DataError("no such TRAGEN model folder or archive", source=str(p))
    for name in _REQUIRED:
        if name not in texts:
            raise DataError(f"the model has no {name} (needs {', '.join(_REQUIRED)})", source=str(p))
    fd = _read_descriptor(*texts["fd.txt"], byte_weighted=False)
    bfd = _read_descriptor(*texts["bfd.txt"], byte_weighted=True)
    sizes, size_shares = _blocks_marginal(*texts["sz.txt"], use="value", key_field="mean inter-arrival bin")
    pop, pop_shares = _blocks_marginal(*texts["popularity.txt"], use="key", key_field="request count")
    if pop[0] < 1:
        raise DataError(f"request count {pop[0]} is below 1", source=texts["popularity.txt"][0],
                        column="request count")
    sample = sample_shares = None
    if "iat_sz_all.txt" in texts:
        sample, sample_shares = _blocks_marginal(*texts["iat_sz_all.txt"], use="value",
                                                 key_field="mean inter-arrival bin")
    return TragenModel(
        source=str(p), fd=fd, bfd=bfd, sizes=sizes * KB, size_shares=size_shares, popularity=pop,
        popularity_shares=pop_shares,
        sample_sizes=None if sample is None else sample * KB, sample_size_shares=sample_shares,
    )


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not text (byte {exc.start} is not UTF-8)", source=where) from None


def _number(token: str, where: str, line: int, fieldname: str, *, integer: bool = False) -> float:
    try:
        value = float(token)
    except ValueError:
        raise DataError(f"line {line}: {fieldname} {token!r} is not a number", source=where, row=line,
                        column=fieldname) from None
    if not math.isfinite(value):
        raise DataError(f"line {line}: {fieldname} {token!r} is not finite", source=where, row=line, column=fieldname)
    if integer and value != math.floor(value):
        raise DataError(f"line {line}: {fieldname} {token!r} is not a whole number", source=where, row=line,
                        column=fieldname)
    return value


_HEADER = ("requests", "total KB", "start time", "end time", "miss requests", "miss KB")


def _read_descriptor(where: str, text: str, *, byte_weighted: bool) -> FootprintDescriptor:
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError(f"line 1: expected the header {' '.join(_HEADER)}, the file is empty", source=where, row=1,
                        column="header")
    head = lines[0].split()
    if len(head) != 6:
        raise DataError(f"line 1: the header has {len(head)} fields, expected 6 ({' '.join(_HEADER)})",
                        source=where, row=1, column="header")
    vals = [_number(t, where, 1, name) for t, name in zip(head, _HEADER)]
    requests, total_kb, start, end, miss_req, miss_kb = vals
    for v, name in zip(vals, _HEADER):
        if v < 0:
            raise DataError(f"line 1: {name} {v} is negative", source=where, row=1, column=name)
    if requests < 1 or total_kb <= 0:
        raise DataError("line 1: the modelled trace has no requests or no bytes", source=where, row=1,
                        column="requests")
    if not end > start:
        raise DataError(f"line 1: end time {end} is not after start time {start}", source=where, row=1,
                        column="end time")
    if miss_req > requests or miss_kb > total_kb * (1 + 1e-9):
        raise DataError("line 1: more misses than requests (or miss KB above total KB)", source=where, row=1,
                        column="miss requests")
    n = len(lines) - 1
    iat = np.empty(n)
    sd = np.empty(n)
    w = np.empty(n)
    k = 0
    for i, ln in enumerate(lines[1:], start=2):
        parts = ln.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise DataError(f"line {i}: {len(parts)} fields, expected 3 (iat_s sd_KB share)", source=where, row=i,
                            column="line")
        vals3 = []
        for token, name in zip(parts, ("iat_s", "sd_KB", "share")):
            v = _number(token, where, i, name)
            if v < 0:
                raise DataError(f"line {i}: {name} {token} is negative", source=where, row=i, column=name)
            vals3.append(v)
        iat[k], sd[k], w[k] = vals3
        k += 1
    if k == 0:
        raise DataError("no descriptor lines after the header (expected 'iat_s sd_KB share' lines)", source=where,
                        row=2, column="line")
    iat, sd, w = iat[:k], sd[:k], w[:k]
    miss_share = miss_kb / total_kb if byte_weighted else miss_req / requests
    total = w.sum() + miss_share
    if abs(total - 1.0) > 0.02:
        last = len(lines)
        raise DataError(f"line {last}: shares plus the miss share sum to {total:.4f}, not 1: is the file truncated "
                        f"after line {last}?", source=where, row=last, column="share")
    sd_bytes = np.round(sd * KB).astype(np.int64)
    steps = np.diff(np.unique(sd_bytes))
    sd_bin = int(steps.min()) if steps.size else 200_000 * KB
    return FootprintDescriptor(
        source=where, requests=int(requests), total_bytes=round(total_kb * KB), start_s=start, end_s=end,
        miss_requests=int(miss_req), miss_bytes=round(miss_kb * KB), byte_weighted=byte_weighted,
        iat_s=iat, sd_bytes=sd_bytes, weights=w, sd_bin_bytes=sd_bin,
    )


def _blocks_marginal(where: str, text: str, *, use: Literal["key", "value"], key_field: str
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Parse TRAGEN's block layout (a one-number key line, then ``size_KB share`` lines) into a marginal.

    ``use="value"`` sums shares per size (sizes in KB, 0 read as 1); ``use="key"`` sums shares per key.
    """
    keys: list[float] = []
    vals: list[float] = []
    shares: list[float] = []
    key: float | None = None
    for i, ln in enumerate(text.splitlines(), start=1):
        parts = ln.split()
        if not parts:
            continue
        if len(parts) == 1:
            key = _number(parts[0], where, i, key_field, integer=True)
            continue
        if len(parts) != 2:
            raise DataError(f"line {i}: {len(parts)} fields, expected a key line (1) or 'size_KB share' (2)",
                            source=where, row=i, column="line")
        if key is None:
            raise DataError(f"line {i}: a 'size_KB share' line before any {key_field} line", source=where, row=i,
                            column=key_field)
        size = _number(parts[0], where, i, "size_KB")
        share = _number(parts[1], where, i, "share")
        if size < 0:
            raise DataError(f"line {i}: size_KB {parts[0]} is negative", source=where, row=i, column="size_KB")
        if share < 0:
            raise DataError(f"line {i}: share {parts[1]} is negative", source=where, row=i, column="share")
        keys.append(key)
        vals.append(max(size, 1.0))
        shares.append(share)
    if not shares:
        raise DataError("no 'size_KB share' lines", source=where, row=1, column="line")
    w = np.asarray(shares)
    total = w.sum()
    if not total > 0:
        raise DataError("all shares are 0", source=where, column="share")
    if abs(total - 1.0) > 0.02:
        last = len(text.splitlines())
        raise DataError(f"line {last}: shares sum to {total:.4f}, not 1: is the file truncated after line {last}?",
                        source=where, row=last, column="share")
    by = np.asarray(keys if use == "key" else vals)
    uniq, inv = np.unique(np.round(by).astype(np.int64), return_inverse=True)
    marginal = np.bincount(inv.reshape(-1), weights=w, minlength=uniq.shape[0])
    return uniq, marginal / marginal.sum()


# -------------------------------------------------------------------------------------------------------- generation


_CAP = 128  # objects per block of the future stack


@njit(cache=True)
def _grow2(a, rows):
    out = np.zeros((rows, a.shape[1]), dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def _grow1(a, n, fill):
    out = np.full(n, fill, dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def _draw_index(cdf):
    return min(np.searchsorted(cdf, np.random.random(), side="right"), cdf.shape[0] - 1)


@njit(cache=True)
def _grow_pool(bo, bsz, brem, st, cnt, bsum, nxt, free, n_free, nb):
    """Double the block pool; the new blocks go on the free list."""
    old = nb
    nb = nb * 2
    bo = _grow2(bo, nb)
    bsz = _grow2(bsz, nb)
    brem = _grow2(brem, nb)
    st = _grow1(st, nb, 0)
    cnt = _grow1(cnt, nb, 0)
    bsum = _grow1(bsum, nb, 0)
    nxt = _grow1(nxt, nb, -1)
    free = _grow1(free, nb, 0)
    for b in range(nb - 1, old - 1, -1):
        free[n_free] = b
        n_free += 1
    return bo, bsz, brem, st, cnt, bsum, nxt, free, n_free, nb


@njit(cache=True)
def _select(keys, n, rank):
    """The ``rank``-th smallest of ``keys[:n]`` (distinct values), partially reordering them (quickselect)."""
    lo = 0
    hi = n - 1
    while lo < hi:
        pivot = keys[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while keys[i] < pivot:
                i += 1
            while keys[j] > pivot:
                j -= 1
            if i <= j:
                tmp = keys[i]
                keys[i] = keys[j]
                keys[j] = tmp
                i += 1
                j -= 1
        if rank <= j:
            hi = j
        elif rank >= i:
            lo = i
        else:
            return keys[rank]
    return keys[rank]


@njit(cache=True)
def _future_stack_walk(seed, n_out, need, size_vals, size_cdf, pop_vals, pop_cdf, miss, sd_bins, sd_cdf, sd_bin,
                       window, out_obj, out_size):
    """TRAGEN's future stack, as a linked list of blocks of up to ``_CAP`` objects with per-block byte sums.

    The stack lists objects in the order of their next request. Each step draws a stack distance ``d`` (or "last
    request"), requests one of the top ``window`` objects (ranked by requests left against ``d``) and puts it back
    below the shortest run of objects from the top holding ``d - its size`` bytes: all of those are requested, once
    each, before it comes back, so its next request has stack distance ``d``. A last request takes it out, and new
    objects (drawn size and request count) join at the bottom until the stack again holds ``need`` bytes. Finding
    the place of ``d`` walks the block sums, then one block: an order statistic by bytes with inserts anywhere, which
    no numpy or scipy routine provides. Requests are emitted once every object of the first fill has been requested
    (a warmed-up stack). Returns the number of warm-up steps and of objects made.
    """
    np.random.seed(seed)
    cap = _CAP
    nb = 64
    bo = np.zeros((nb, cap), dtype=np.int64)  # per block slot: object,
    bsz = np.zeros((nb, cap), dtype=np.int64)  # its size,
    brem = np.zeros((nb, cap), dtype=np.int64)  # its requests left (kept beside it: the top is scanned every step)
    st = np.zeros(nb, dtype=np.int64)  # first used slot of a block
    cnt = np.zeros(nb, dtype=np.int64)  # used slots
    bsum = np.zeros(nb, dtype=np.int64)  # bytes held
    nxt = np.full(nb, -1, dtype=np.int64)  # next block down the stack
    free = np.empty(nb, dtype=np.int64)
    n_free = 0
    for b in range(nb - 1, -1, -1):
        free[n_free] = b
        n_free += 1
    head = -1
    tail = -1
    total = np.int64(0)
    n_obj = 0
    n_first = -1
    seen = np.zeros(1, dtype=np.bool_)
    keys = np.empty(window, dtype=np.int64)  # the top `window` objects' requests left, ranked
    untouched = 0
    warm = 0
    t_out = 0
    step = 0
    while t_out < n_out:
        # ---- keep two free blocks for this step's insert (a refill grows the pool itself)
        if n_free < 2:
            bo, bsz, brem, st, cnt, bsum, nxt, free, n_free, nb = _grow_pool(bo, bsz, brem, st, cnt, bsum, nxt, free,
                                                                             n_free, nb)
        # ---- refill the bottom with new objects
        while total < need:
            o = n_obj
            n_obj += 1
            s = size_vals[_draw_index(size_cdf)]
            if tail == -1 or st[tail] + cnt[tail] == cap:
                if tail != -1 and cnt[tail] < cap:  # room at the tail block's start: compact it
                    b = tail
                    for q in range(cnt[b]):
                        bo[b, q] = bo[b, st[b] + q]
                        bsz[b, q] = bsz[b, st[b] + q]
                        brem[b, q] = brem[b, st[b] + q]
                    st[b] = 0
                else:
                    if n_free == 0:
                        bo, bsz, brem, st, cnt, bsum, nxt, free, n_free, nb = _grow_pool(
                            bo, bsz, brem, st, cnt, bsum, nxt, free, n_free, nb)
                    n_free -= 1
                    b = free[n_free]
                    st[b] = 0
                    cnt[b] = 0
                    bsum[b] = 0
                    nxt[b] = -1
                    if tail == -1:
                        head = b
                    else:
                        nxt[tail] = b
                    tail = b
            b = tail
            j = st[b] + cnt[b]
            bo[b, j] = o
            bsz[b, j] = s
            brem[b, j] = pop_vals[_draw_index(pop_cdf)]
            cnt[b] += 1
            bsum[b] += s
            total += s
        if n_first < 0:
            n_first = n_obj
            untouched = n_obj
            seen = np.zeros(n_first, dtype=np.bool_)
        # ---- this request's stack distance: the chosen object's next one (or none: its last request)
        if np.random.random() < miss:
            d = np.int64(-1)
            pr = 0.0
        else:
            k = _draw_index(sd_cdf)
            frac = np.random.random()
            d = sd_bins[k] + 1 + np.int64(frac * sd_bin)
            lo = sd_cdf[k - 1] if k > 0 else 0.0
            pr = lo + (sd_cdf[k] - lo) * frac  # where d falls in the reuse distribution: uniform on (0, 1)
        # ---- which of the top `window` objects is requested: the more requests left, the shorter its next d
        nc = 0
        b = head
        while nc < window and b != -1:
            for i in range(st[b], min(st[b] + cnt[b], st[b] + window - nc)):
                keys[nc] = brem[b, i] * window + nc  # ties go to the object nearer the top
                nc += 1
            b = nxt[b]
        rank = 0 if d < 0 else nc - 1 - min(int(pr * nc), nc - 1)
        j = 0 if nc == 1 else _select(keys, nc, rank) % window
        b = head  # find the j-th object from the top again, and the block above its block
        pb = -1
        while j >= cnt[b]:
            j -= cnt[b]
            pb = b
            b = nxt[b]
        i = st[b] + j
        o = bo[b, i]
        s = bsz[b, i]
        r = brem[b, i] - 1
        for q in range(i, st[b], -1):  # close the gap from above (at most `window` moves)
            bo[b, q] = bo[b, q - 1]
            bsz[b, q] = bsz[b, q - 1]
            brem[b, q] = brem[b, q - 1]
        st[b] += 1
        cnt[b] -= 1
        bsum[b] -= s
        total -= s
        if cnt[b] == 0:
            if b == head:
                head = nxt[b]
            else:
                nxt[pb] = nxt[b]
            if tail == b:
                tail = pb
            free[n_free] = b
            n_free += 1
        step += 1
        if untouched == 0:
            out_obj[t_out] = o
            out_size[t_out] = s
            t_out += 1
        elif o < n_first and not seen[o]:
            seen[o] = True
            untouched -= 1
            if untouched == 0:
                warm = step
        if d < 0:
            continue  # its last request: it leaves the stack (the refill replaces its bytes)
        above = d - s
        if head == -1 or total <= above:  # as deep as the whole stack: the bottom
            b = tail
            if b == -1 or st[b] + cnt[b] == cap:
                n_free -= 1
                c = free[n_free]
                st[c] = 0
                cnt[c] = 0
                bsum[c] = 0
                nxt[c] = -1
                if tail == -1:
                    head = c
                else:
                    nxt[tail] = c
                tail = c
                b = c
            i = st[b] + cnt[b]
        else:
            # the block, then the slot, where the bytes from the top first reach `above`
            acc = np.int64(0)
            b = head
            while acc + bsum[b] < above:
                acc += bsum[b]
                b = nxt[b]
            i = st[b]
            while acc < above:
                acc += bsz[b, i]
                i += 1
            if cnt[b] == cap:  # full (so st == 0): split it in two
                n_free -= 1
                c = free[n_free]
                half = cap // 2
                moved = np.int64(0)
                for q in range(cap - half):
                    bo[c, q] = bo[b, half + q]
                    bsz[c, q] = bsz[b, half + q]
                    brem[c, q] = brem[b, half + q]
                    moved += bsz[c, q]
                st[c] = 0
                cnt[c] = cap - half
                bsum[c] = moved
                nxt[c] = nxt[b]
                nxt[b] = c
                if tail == b:
                    tail = c
                cnt[b] = half
                bsum[b] -= moved
                if i > half:
                    i -= half
                    b = c
            if st[b] + cnt[b] == cap:  # no slot after the last: move the objects to the block's start
                shift = st[b]
                for q in range(cnt[b]):
                    bo[b, q] = bo[b, shift + q]
                    bsz[b, q] = bsz[b, shift + q]
                    brem[b, q] = brem[b, shift + q]
                st[b] = 0
                i -= shift
            for q in range(st[b] + cnt[b], i, -1):
                bo[b, q] = bo[b, q - 1]
                bsz[b, q] = bsz[b, q - 1]
                brem[b, q] = brem[b, q - 1]
        bo[b, i] = o
        bsz[b, i] = s
        brem[b, i] = r
        cnt[b] += 1
        bsum[b] += s
        total += s
    return warm, n_obj


def request_counts(model: TragenModel, hitrate: Literal["byte", "request"] = "byte") -> tuple[np.ndarray, np.ndarray]:
    """The requests-per-object distribution :func:`generate` draws from: ``popularity.txt`` made to agree with the
    descriptor.

    A stream has ``1 / miss share`` requests per object on average. When ``popularity.txt`` averages more (the
    shipped one: 3.43 against the video descriptor's 2.50), objects requested once are added: the result is
    ``a * popularity + (1 - a) * [k = 1]`` with the mean ``1 / miss share``, so the shape over objects requested
    twice or more is ``popularity.txt``'s exactly. When it averages less, objects with its largest count are added
    instead. Returns ``(counts, shares)``.
    """
    desc = _descriptor(model, hitrate)
    target = 1.0 / desc.miss_share
    k = model.popularity.astype(np.float64)
    p = model.popularity_shares
    mean = float((k * p).sum())
    anchor = 1.0 if mean > target else float(k[-1])
    if abs(mean - anchor) < 1e-12:
        return model.popularity.copy(), p.copy()
    a = (target - anchor) / (mean - anchor)
    a = min(max(a, 0.0), 1.0)
    out = p * a
    out[np.searchsorted(model.popularity, int(anchor))] += 1.0 - a
    return model.popularity.copy(), out / out.sum()


def _descriptor(model: TragenModel, hitrate: str) -> FootprintDescriptor:
    if hitrate not in ("byte", "request"):
        raise ConfigError(f"hitrate {hitrate!r}: use 'byte' (bfd.txt) or 'request' (fd.txt)")
    desc = model.bfd if hitrate == "byte" else model.fd
    if not 0 < desc.miss_share < 1:
        raise DataError(f"miss share {desc.miss_share} must be in (0, 1) to generate", source=desc.source, row=1,
                        column="miss requests")
    return desc


def generate(
    model: TragenModel,
    n_requests: int,
    *,
    seed: int = 0,
    hitrate: Literal["byte", "request"] = "byte",
    size_source: Literal["sz", "sample"] = "sz",
    arrivals: Literal["bytes", "poisson"] = "bytes",
    window: int = 50,
) -> Requests:
    """A synthetic request stream of ``n_requests`` whose LRU hit-ratio curve is the model's.

    ``hitrate`` picks the descriptor the stack distances are drawn from (``"byte"``: ``bfd.txt``, matching byte hit
    ratios, TRAGEN's ``bhr``; ``"request"``: ``fd.txt``). ``size_source`` picks object sizes (``"sz"``:
    ``sz.txt``; ``"sample"``: ``iat_sz_all.txt``). Request counts per object follow :func:`request_counts`;
    ``window`` is how many objects at the top of the future stack compete for each request (TRAGEN's 50; 1 turns
    the popularity heuristic off). Generation is one compiled loop, about 2 microseconds a request. Times are seconds from 0 (see the module notes). Object ids are ``uint64`` in order of creation. The same
    ``seed`` gives the same arrays.
    """
    if isinstance(n_requests, bool) or not isinstance(n_requests, (int, np.integer)) or n_requests < 0:
        raise ConfigError(f"n_requests must be a whole number >= 0, not {n_requests!r}")
    if arrivals not in ("bytes", "poisson"):
        raise ConfigError(f"arrivals {arrivals!r}: use 'bytes' (TRAGEN's byte-rate clock) or 'poisson'")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or not 1 <= window <= 4096:
        raise ConfigError(f"window must be a whole number in [1, 4096], not {window!r}")
    desc = _descriptor(model, hitrate)
    size_values, size_shares = model._size_table(size_source)
    n = int(n_requests)
    bins, w = desc.sd_marginal()
    counts, count_shares = request_counts(model, hitrate)
    seq = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, 0x7A6E])
    walk_seed, time_seed = seq.spawn(2)

    def cdf(shares: np.ndarray) -> np.ndarray:
        c = np.cumsum(shares)
        return np.ascontiguousarray(c / c[-1])

    obj = np.empty(n, dtype=np.int64)
    size = np.empty(n, dtype=np.int64)
    need = np.int64(model.max_stack_distance + desc.sd_bin_bytes)
    if n:
        _future_stack_walk(
            int(walk_seed.generate_state(1)[0]), n, need,
            np.ascontiguousarray(size_values, dtype=np.int64), cdf(size_shares),
            np.ascontiguousarray(counts, dtype=np.int64), cdf(count_shares),
            float(desc.miss_share), np.ascontiguousarray(bins, dtype=np.int64), cdf(w), np.int64(desc.sd_bin_bytes),
            int(window), obj, size,
        )
    if arrivals == "bytes":
        before = np.concatenate([[0], np.cumsum(size)[:-1]]) if n else np.zeros(0)
        time = before.astype(np.float64) / model.byte_rate
    else:
        gaps = np.random.default_rng(time_seed).exponential(1.0 / model.request_rate, size=n)
        time = np.concatenate([[0.0], np.cumsum(gaps)[:-1]]) if n else np.zeros(0)
    return requests_from_arrays(time, obj.astype(np.uint64), size, source=f"tragen:{Path(model.source).name}")


def measured_hit_ratio(requests: Requests, cache_bytes: int, *, warmup_requests: int = 0,
                       weight: Literal["byte", "request"] = "byte") -> float:
    """The LRU hit ratio of ``requests`` at ``cache_bytes`` counted from request ``warmup_requests`` on.

    The replay starts empty at request 0 (``cdn.run(requests, "lru", cache_bytes)``); only the hits of later requests
    count, so a warmed-up cache is measured, as the model's descriptor was.
    """
    from marquee.cdn.replay import run

    if weight not in ("byte", "request"):
        raise ConfigError(f"weight {weight!r}: use 'byte' or 'request'")
    if not 0 <= warmup_requests < len(requests):
        raise ConfigError(f"warmup_requests {warmup_requests} must be in [0, {len(requests)})")
    hit = run(requests, "lru", int(cache_bytes), keep_hits=True).hit
    assert hit is not None
    h = hit[warmup_requests:]
    if weight == "request":
        return float(h.mean())
    s = requests.size[warmup_requests:]
    return float(s[h].sum() / s.sum())

