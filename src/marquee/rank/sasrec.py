"""SASRec: a causal self-attention sequence model trained with full-softmax cross-entropy."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from marquee.data.interactions import Interactions
from marquee.random import as_generator
from marquee._validate import ints, non_negative, positive, require
from marquee.rank.base import Recommender

__all__ = ["SASRec", "SASRecConfig"]


@dataclass(frozen=True)
class SASRecConfig:
    """Args:
    max_len: titles of history the network reads (the most recent ones).
    hidden: embedding and model width.
    blocks: transformer blocks.
    heads: attention heads per block; must divide ``hidden``.
    dropout: dropout on embeddings, residual branches and inside the feed-forward layers.
    epochs: passes over all members' sequences.
    batch_size: sequences per optimiser step.
    learning_rate: AdamW step size.
    weight_decay: AdamW decoupled weight decay.
    seed: seed of initialisation, dropout and batch order.
    """

    max_len: int = 200
    hidden: int = 64
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        o = "SASRecConfig"
        ints(self, "max_len", "hidden", "blocks", "heads", "epochs", "batch_size")
        ints(self, "seed", minimum=None)
        require(self.hidden % self.heads == 0, o, "heads", f"a divisor of hidden={self.hidden}", self.heads)
        non_negative(self, "dropout", "weight_decay")
        require(self.dropout < 1, o, "dropout", "in [0, 1)", self.dropout)
        positive(self, "learning_rate")


class _Block(nn.Module):
    """Pre-LN transformer block: ``x + Attn(LN(x))`` then ``x + FFN(LN(x))``."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, hidden))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(b, n, d) -> (b, n, d), or (b, 1, d) for the last position only when ``last_only``
        (what scoring needs from the final block: its other queries are computed and dropped)."""
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if last_only:
            x, q, mask = x[:, -1:], q[:, :, -1:], mask[:, :, -1:]
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.drop(self.out(att.transpose(1, 2).reshape(b, x.shape[1], d)))
        return x + self.drop(self.ffn(self.norm2(x)))


class _Net(nn.Module):
    """Title + position embeddings, causal blocks, and a final norm; title 0 is padding."""

    def __init__(self, n_titles: int, c: SASRecConfig) -> None:
        super().__init__()
        self.items = nn.Embedding(n_titles + 1, c.hidden, padding_idx=0)
        self.positions = nn.Embedding(c.max_len, c.hidden)
        self.blocks = nn.ModuleList(_Block(c.hidden, c.heads, c.dropout) for _ in range(c.blocks))
        self.norm = nn.LayerNorm(c.hidden)
        self.drop = nn.Dropout(c.dropout)
        self.scale = math.sqrt(c.hidden)
        nn.init.normal_(self.items.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, seq: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(b, n) left-padded shifted titles -> (b, n, hidden) states, or (b, 1, hidden) with ``last_only``."""
        n = seq.shape[1]
        x = self.drop(self.items(seq) * self.scale + self.positions.weight[-n:])
        # Causal, ignoring padded keys; every position may see itself so no row is empty.
        causal = torch.ones(n, n, dtype=torch.bool, device=seq.device).tril()
        mask = (causal & (seq != 0)[:, None, :]) | torch.eye(n, dtype=torch.bool, device=seq.device)
        mask = mask[:, None]
        for i, block in enumerate(self.blocks):
            x = block(x, mask, last_only and i == len(self.blocks) - 1)
        return self.norm(x)

    def logits(self, states: torch.Tensor) -> torch.Tensor:
        """Scores of every real title (shared input/output embeddings)."""
        return states @ self.items.weight[1:].T


class _Scorer(nn.Module):
    """(b, n) sequences -> (b, n_titles) scores of the next title: the graph that is served."""

    def __init__(self, net: _Net) -> None:
        super().__init__()
        self.net = net

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        return self.net.logits(self.net(seq, last_only=True)[:, -1])


def _mask_seen(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> None:
    """Set, in place, the logits of titles already in the prefix to ``-inf``, as at recommendation.

    Args:
        logits: (b * n, n_titles) scores of positions ``(b, n)``, row-major.
        x: (b, n) shifted input titles (0 pads); y: (b, n) target titles (-1 pads), never masked.
    """
    b, n = x.shape
    query, key = torch.tril_indices(n, n)
    items = x[:, key] - 1
    valid = (items >= 0) & (items != y[:, query])
    rows = (torch.arange(b)[:, None] * n + query)[valid]
    logits[rows, items[valid]] = float("-inf")


class SASRec(Recommender):
    """Self-Attentive Sequential Recommendation (Kang & McAuley, ICDM 2018).

    A causal pre-LN transformer reads a member's last ``max_len`` titles ``s_1..s_t``; the state
    ``h_t`` scores title ``i`` as ``h_t · e_i`` with the input embeddings ``e``. Training predicts
    ``s_{t+1}`` at every position with a softmax over the whole catalog (Klenitskiy & Vasilev,
    RecSys 2023) instead of sampled negatives: ``-log softmax(h_t Eᵀ)[s_{t+1}]``, where titles already
    in ``s_1..s_t`` get ``-inf``, as recommendation never offers them.
    """

    Config = SASRecConfig
    name = "sasrec"

    def _fit(self, data: Interactions) -> None:
        """Train on each member's last ``max_len + 1`` titles."""
        c = self.config
        self.history_indptr_ = data.member_indptr.astype(np.int64)
        self.history_items_ = data.title_idx.astype(np.int64)
        # Each member's last max_len + 1 titles: inputs are all but the last, targets all but the first.
        seqs = self._sequences(np.arange(data.n_members), c.max_len + 1)
        seqs = seqs[(seqs != 0).sum(axis=1) >= 2]
        inputs, targets = torch.from_numpy(seqs[:, :-1]), torch.from_numpy(seqs[:, 1:] - 1)
        lengths = (seqs[:, 1:] != 0).sum(axis=1)
        rng = as_generator(c.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            self.net_ = _Net(len(self.titles_), c)
            params = self.net_.parameters()
            opt = torch.optim.AdamW(params, lr=c.learning_rate, betas=(0.9, 0.98), weight_decay=c.weight_decay)
            self.net_.train()
            for _ in range(c.epochs):
                for batch in self._batches(lengths, rng):
                    # Batches hold similar lengths, so most left padding can be cropped away.
                    n = int(lengths[batch].max())
                    x, y = inputs[batch, -n:], targets[batch, -n:]
                    logits = self.net_.logits(self.net_(x)).flatten(0, 1)
                    _mask_seen(logits, x, y)
                    loss = F.cross_entropy(logits, y.flatten(), ignore_index=-1)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
        self.net_.eval()

    def _batches(self, lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Shuffled batches of sequences of similar length (sorted with jitter, batch order shuffled)."""
        order = np.argsort(lengths + rng.uniform(0, self.config.max_len / 8, lengths.size), kind="stable")
        batches = np.array_split(order, math.ceil(lengths.size / self.config.batch_size)) if lengths.size else []
        return [batches[i] for i in rng.permutation(len(batches))]

    def _sequences(self, member_idx: np.ndarray, length: int) -> np.ndarray:
        """(n, length) int64: each member's last ``length`` titles shifted by +1, left-padded with 0."""
        out = np.zeros((member_idx.size, length), np.int64)
        for row, u in enumerate(member_idx.tolist()):
            items = self.history_items_[self.history_indptr_[u] : self.history_indptr_[u + 1]][-length:]
            if items.size:
                out[row, -items.size :] = items + 1
        return out

    def score_index(self, member_idx: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Scores of every title, in groups of members with similar history lengths.

        Each group is cropped to its longest history: left padding is masked out of attention,
        so cropping changes no score, and most ML-100K members have far fewer titles than
        ``max_len``. A group grows while padding stays under 30% of its cells.
        """
        self._check_fitted()
        member_idx = np.asarray(member_idx, dtype=np.int64)
        out = np.empty((member_idx.size, len(self.titles_)), np.float32)
        lengths = np.minimum(self.history_indptr_[member_idx + 1] - self.history_indptr_[member_idx], self.config.max_len)
        for group in _length_groups(np.maximum(lengths, 1), batch_size):
            seq = self._sequences(member_idx[group], max(int(lengths[group].max()), 1))
            out[group] = self._run(seq)
        return out

    def _run(self, seq: np.ndarray) -> np.ndarray:
        session = getattr(self, "session_", None)
        if session is not None:
            return session.run(seq)
        with torch.inference_mode():
            return _Scorer(self.net_.eval())(torch.from_numpy(seq)).numpy()

    def for_serving(self, *, threads: int = 1) -> SASRec:
        """Score through ONNX Runtime from now on (exported and checked against torch on first
        use, then saved with the model); ``threads`` sizes its intra-op pool."""
        from marquee.rank import onnx_runtime

        self._check_fitted()
        if getattr(self, "graph_", None) is None:
            probe = self._sequences(np.arange(min(len(self.members_), 8)), min(self.config.max_len, 16))
            self.graph_ = onnx_runtime.export(_Scorer(self.net_.eval()), probe, max_len=self.config.max_len)
        self.session_ = onnx_runtime.Session(self.graph_, threads=threads)
        return self

    def _state(self) -> dict[str, np.ndarray]:
        weights = {f"net.{k}": v.detach().cpu().numpy().copy() for k, v in self.net_.state_dict().items()}
        graph = getattr(self, "graph_", None)
        extra = {} if graph is None else {"onnx_graph": np.frombuffer(graph, np.uint8)}
        return {**weights, "history_indptr": self.history_indptr_, "history_items": self.history_items_, **extra}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.history_indptr_ = np.asarray(state["history_indptr"], np.int64)
        self.history_items_ = np.asarray(state["history_items"], np.int64)
        if self.history_indptr_.size != len(self.members_) + 1:
            raise ValueError("history does not match the saved member index")
        self.net_ = _Net(len(self.titles_), self.config)
        weights = {k[4:]: torch.from_numpy(np.array(v)) for k, v in state.items() if k.startswith("net.")}
        self.net_.load_state_dict(weights, strict=True)
        self.net_.eval()
        if "onnx_graph" in state:
            self.graph_ = np.asarray(state["onnx_graph"], np.uint8).tobytes()


def _length_groups(lengths: np.ndarray, batch_size: int, slack: float = 1.3) -> list[np.ndarray]:
    """Positions of ``lengths`` grouped by similar length: sorted, a group closes when padding to
    its longest member would exceed ``slack`` x its real cells, or at ``batch_size`` members."""
    order = np.argsort(lengths, kind="stable")
    groups, start, cells = [], 0, 0
    for i, pos in enumerate(order.tolist()):
        n = int(lengths[pos])
        if i > start and ((i - start + 1) * n > slack * (cells + n) or i - start == batch_size):
            groups.append(order[start:i])
            start, cells = i, 0
        cells += n
    if order.size:
        groups.append(order[start:])
    return groups
