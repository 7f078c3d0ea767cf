"""Which intervention helps whom: uplift meta-learners on a randomized retention trial.

Members were randomly assigned to control (arm 0) or one of ``K`` interventions (arms ``1..K``) with known
probabilities ``e_a(x)``; ``y = 1`` if the member was still subscribed at the horizon. The gain of intervention
``k`` for a member with covariates ``x`` is

    ``tau_k(x) = mu_k(x) - mu_0(x)``,   ``mu_a(x) = P(y = 1 | x, arm a)``.

Four learners: three meta-learners with scikit-learn's histogram gradient boosting as the base model, and one
penalised logistic model:

- ``"t"``: one outcome classifier per arm on that arm's rows; ``tau_k = mu_k - mu_0``.
- ``"x"`` (Künzel, Sekhon, Bickel & Yu, "Metalearners for estimating heterogeneous treatment effects using
  machine learning", PNAS 2019): cross-fitted outcome models impute each member's effect — ``y - mu_0(x)`` on arm
  ``k``'s rows, ``mu_k(x) - y`` on control's — a regressor per side learns it, and the two are blended with
  ``g = e_k / (e_0 + e_k)``: ``tau_k = g tau_k^(0) + (1 - g) tau_k^(1)``.
- ``"dr"`` (Kennedy, "Towards optimal doubly robust estimation of heterogeneous causal effects", EJS 2023):
  cross-fitted outcome models give every member the pseudo-outcome

    ``phi_k = mu_k - mu_0 + 1[T = k] (y - mu_k) / e_k - 1[T = 0] (y - mu_0) / e_0``

  whose conditional mean is ``tau_k(x)`` whatever the outcome models (the propensities are known), and a
  regressor of ``phi_k`` on ``x`` over all members is the effect.

- ``"glm"``: one logistic model of retention over all arms (an S-learner) whose design lets every arm bend it:
  ``logit mu_a(x) = z(x) beta + 1[a > 0] (gamma_a + z(x) delta_a)``, with ``z(x)`` cubic B-splines of each numeric
  covariate, each two-valued covariate as it is, and the products of every pair of (standardised) covariates.
  ``beta`` is shared by all arms, so the baseline is learned from every member rather than from control alone, and
  the arms' deviations ``delta_a`` carry a ridge penalty of their own, much heavier than the baseline's: the model
  starts from "the intervention shifts everyone's odds alike" and bends only as far as the data insist (the
  hierarchical shrinkage of Imai & Ratkovic, "Estimating treatment effect heterogeneity in randomized program
  evaluation", AoAS 2013, and the modified-covariate family of Tian et al., JASA 2014). The deviation penalty is
  chosen from a grid by cross-validated log-loss, with how much more lightly than the products the splines in
  the deviations are penalised. Effects a few points wide, estimated from binary outcomes,
  are where the boosted learners' variance costs most (bench/retention.py measures all four).

Cross-fitting (Chernozhukov et al. 2018): members are split into ``n_folds`` folds, stratified by arm, and each
member's outcome predictions come from models that did not see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np

from marquee._threads import one_thread
from marquee._validate import Configured, ints, non_negative, positive, require
from marquee.errors import DataError, NotFittedError
from marquee.random import as_generator

__all__ = ["UpliftConfig", "UpliftModel", "check_propensity", "check_trial"]

LEARNERS = ("t", "x", "dr", "glm")


@dataclass(frozen=True)
class UpliftConfig:
    """Args:
    learner: ``"t"`` (one model per arm), ``"x"`` (Künzel et al. 2019), ``"dr"`` (Kennedy 2023) or ``"glm"``
        (penalised logistic S-learner with arm interactions).
    max_iter: boosting iterations of each base model.
    learning_rate: boosting learning rate.
    max_leaf_nodes: leaves per boosted tree.
    min_samples_leaf: members per leaf at least.
    l2_regularization: L2 penalty on the leaf values.
    n_folds: cross-fitting folds of the outcome models (``"x"`` and ``"dr"``); every arm needs at least
        ``2 * n_folds`` members.
    cv_folds: ``"glm"``: cross-validation folds that choose its penalty.
    seed: fold assignment and the boosting's randomness.
    interaction_penalty: ``"glm"``: ridge penalty of the arms' deviations (the baseline's is ``base_penalty``), on
        standardised features, against the log-loss summed over members; ``None`` chooses it from
        ``penalty_grid`` by cross-validated log-loss.
    penalty_grid: ``"glm"``: the candidates of ``interaction_penalty``.
    base_penalty: ``"glm"``: ridge penalty of the shared baseline.
    spline_knots: ``"glm"``: knots of each numeric covariate's cubic B-spline (at its quantiles).
    spline_ratios: ``"glm"``: candidates of how many times as much as the linear terms and products the splines'
        columns in the arms' deviations are penalised; chosen with the penalty by cross-validation (below 1: an
        arm's effect may bend along one covariate more readily than it may depend on a product of two).
    """

    learner: Literal["t", "x", "dr", "glm"] = "dr"
    max_iter: int = 100
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 50
    l2_regularization: float = 1.0
    early_stopping: bool = False
    n_folds: int = 2
    seed: int = 0
    interaction_penalty: float | None = None
    penalty_grid: tuple[float, ...] = (300.0, 1000.0, 3000.0, 10000.0)
    cv_folds: int = 3
    base_penalty: float = 1.0
    spline_knots: int = 5
    spline_ratios: tuple[float, ...] = (0.1, 0.3, 1.0)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        require(self.learner in LEARNERS, owner, "learner", f"one of {LEARNERS}", self.learner)
        ints(self, "spline_knots", "cv_folds", minimum=2)
        positive(self, "base_penalty")
        ratios = tuple(self.spline_ratios)
        object.__setattr__(self, "spline_ratios", ratios)
        require(len(ratios) > 0 and all(np.isfinite(r) and r > 0 for r in ratios), owner, "spline_ratios",
                "one or more positive ratios", self.spline_ratios)  # fmt: skip
        if self.interaction_penalty is not None:
            positive(self, "interaction_penalty")
        grid = tuple(self.penalty_grid)
        object.__setattr__(self, "penalty_grid", grid)  # a list from JSON compares equal to the tuple it was
        require(len(grid) > 0 and all(np.isfinite(g) and g > 0 for g in grid), owner, "penalty_grid",
                "one or more positive penalties", self.penalty_grid)  # fmt: skip
        ints(self, "max_iter", "min_samples_leaf")
        ints(self, "max_leaf_nodes", "n_folds", minimum=2)
        ints(self, "seed", minimum=0)
        positive(self, "learning_rate")
        non_negative(self, "l2_regularization")


def _first_bad(bad: np.ndarray) -> int:
    """1-based row of the first True (any column of a 2-D mask)."""
    rows = bad.any(axis=1) if bad.ndim == 2 else bad
    return int(np.flatnonzero(rows)[0]) + 1


def check_propensity(propensity: Any, n: int, n_arms: int) -> np.ndarray:
    """Known assignment probabilities as ``(n, n_arms)`` float64: a ``(n_arms,)`` vector is shared by all members.

    Each must lie in ``(0, 1]`` and each member's must sum to 1 (to 1e-6).

    Raises:
        DataError: naming ``propensity`` and the first bad row (1-based) where the input is per member.
    """
    e = np.asarray(propensity, np.float64)
    if e.shape not in ((n_arms,), (n, n_arms)):
        raise DataError(
            f"must have shape ({n_arms},) or ({n}, {n_arms}) (one probability per arm), got {e.shape}",
            column="propensity",
        )
    row = None
    bad = ~np.isfinite(e) | (e <= 0) | (e > 1)
    if bad.any():
        row = _first_bad(bad) if e.ndim == 2 else None
        raise DataError(
            "probabilities must lie in (0, 1]; every member must have a chance of every arm",
            row=row,
            column="propensity",
        )
    off = np.abs(e.sum(axis=-1) - 1.0) > 1e-6
    if np.any(off):
        row = _first_bad(off) if e.ndim == 2 else None
        raise DataError("each member's probabilities must sum to 1 over the arms", row=row, column="propensity")
    return np.broadcast_to(e, (n, n_arms))


def check_trial(treatment: Any, outcome: Any, n: int, *, min_per_arm: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
    """Arms ``(n,)`` int64 in ``0..K``, outcomes ``(n,)`` float64 in {0, 1}, and ``K``.

    Raises:
        DataError: naming the argument and the first bad row (1-based), or the arm with too few members.
    """
    t = np.asarray(treatment)
    if t.shape != (n,):
        raise DataError(f"must have one arm per member, shape ({n},), got {t.shape}", column="treatment")
    if t.dtype.kind not in "iuf" or t.dtype == bool:
        raise DataError(
            f"must be integer arms (0 = control, 1..K = interventions), got dtype {t.dtype}", column="treatment"
        )
    bad = ~np.isfinite(t) | (t < 0) | (t != np.round(t)) if t.dtype.kind == "f" else t < 0
    if bad.any():
        raise DataError(
            f"arms must be integers >= 0 (0 = control), got {t[bad][0].item()!r}",
            row=_first_bad(bad),
            column="treatment",
        )
    t = t.astype(np.int64)
    n_arms = int(t.max()) + 1 if n else 0
    if n_arms < 2:
        raise DataError("needs control (arm 0) and at least one intervention (arm 1)", column="treatment")
    counts = np.bincount(t, minlength=n_arms)
    short = np.flatnonzero(counts < min_per_arm)
    if short.size:
        a = int(short[0])
        raise DataError(
            f"arm {a} has {counts[a]} members; every arm 0..{n_arms - 1} needs at least {min_per_arm}",
            column="treatment",
        )
    y = np.asarray(outcome, np.float64) if np.asarray(outcome).dtype.kind in "biuf" else None
    if y is None or y.shape != (n,):
        got = np.asarray(outcome)
        raise DataError(
            f"must be one 0/1 outcome per member, shape ({n},), got {got.shape} {got.dtype}", column="outcome"
        )
    bad = (y != 0) & (y != 1)
    if bad.any():
        raise DataError(
            f"must be 0 (left) or 1 (retained), got {y[bad][0].item()!r}", row=_first_bad(bad), column="outcome"
        )
    return t, y, n_arms - 1


def _check_x(X: Any, n_features: int | None = None) -> np.ndarray:
    x = np.asarray(X, np.float64) if np.asarray(X).dtype.kind in "biuf" else None
    if x is None or x.ndim != 2:
        raise DataError(f"must be a 2-D numeric array (n_members, n_features), got {np.asarray(X).shape}", column="X")
    if n_features is not None and x.shape[1] != n_features:
        raise DataError(f"the model was fitted on {n_features} features, got {x.shape[1]}", column="X")
    bad = ~np.isfinite(x)
    if bad.any():
        raise DataError("covariates must be finite (impute missing values first)", row=_first_bad(bad), column="X")
    return x


class _Constant:
    """Stand-in for a base model whose training target has one value (an arm where everyone stayed)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(x.shape[0], self.value)


def _folds(t: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold of each member, round-robin within each arm after a seeded shuffle (every fold sees every arm)."""
    rng = as_generator(seed)
    folds = np.empty(t.size, np.int64)
    for a in np.unique(t):
        rows = np.flatnonzero(t == a)
        folds[rng.permutation(rows)] = np.arange(rows.size) % k
    return folds


class _Design:
    """The ``"glm"`` learner's features ``z(x)``: cubic B-splines of each numeric covariate (knots at quantiles),
    every covariate standardised, and the products of every pair of them; standardised.
    Constant columns are dropped."""

    def __init__(self, knots: int) -> None:
        self.knots = knots

    def fit(self, x: np.ndarray) -> _Design:
        from sklearn.preprocessing import SplineTransformer, StandardScaler

        sd = x.std(axis=0)
        keep = np.flatnonzero(sd > 0)
        # two-valued columns (one-hot categories, flags) enter linearly; the others get splines too
        self.numeric = np.array([j for j in keep if np.unique(x[:, j]).size > 2], np.int64)
        self.mean, self.sd = x[:, keep].mean(axis=0), sd[keep]
        self.keep = keep
        self.splines = (
            SplineTransformer(n_knots=self.knots, degree=3, knots="quantile", include_bias=False).fit(x[:, self.numeric])
            if self.numeric.size
            else None
        )
        self.scaler = StandardScaler().fit(self._raw(x))
        return self

    def _raw(self, x: np.ndarray) -> np.ndarray:
        z = (x[:, self.keep] - self.mean) / self.sd
        i, j = np.triu_indices(z.shape[1], 1)
        parts = [z, z[:, i] * z[:, j]]
        if self.splines is not None:
            parts.insert(0, self.splines.transform(x[:, self.numeric]))
        return np.column_stack(parts)

    @property
    def n_spline(self) -> int:
        """The first ``n_spline`` columns are the splines (the rest: linear terms and products)."""
        return 0 if self.splines is None else int(self.splines.n_features_out_)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return self.scaler.transform(self._raw(x))


class _ArmLogistic:
    """``logit mu_a = c + z beta + 1[a > 0](gamma_a + z delta_a)``, penalised by ``base/2 |beta|^2 +
    interaction/2 sum_a |delta_a|^2`` with the splines' entries of ``delta_a`` weighted by ``spline_ratio``
    (``c`` and ``gamma`` free), fitted by Newton's method with step halving.

    Written here rather than handed to a generic solver because the design is block-sparse: a member of arm ``a``
    touches only the shared block and its own arm's, so the Hessian is assembled from one weighted Gram matrix
    per arm (``n p^2`` work) instead of a dense design ``K + 1`` times as wide; a fit on 230k members takes
    seconds, which makes the cross-validated choice of the penalty affordable.
    """

    def __init__(self, arms: int, base: float, interaction: float, n_spline: int = 0, spline_ratio: float = 1.0,
                 max_iter: int = 50, tol: float = 1e-7) -> None:  # fmt: skip
        self.arms, self.base, self.interaction = arms, base, interaction
        self.n_spline, self.spline_ratio = n_spline, spline_ratio
        self.max_iter, self.tol = max_iter, tol

    @staticmethod
    def _by_arm(z: np.ndarray, arm: np.ndarray, k1: int, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per arm, its members' ``[1, z]`` rows and outcomes (split once; every step reuses them)."""
        out = []
        for a in range(k1):
            on = arm == a
            out.append((np.hstack([np.ones((int(on.sum()), 1)), z[on]]), y[on]))
        return out

    @staticmethod
    def _etas(blocks: list[tuple[np.ndarray, np.ndarray]], theta: np.ndarray) -> list[np.ndarray]:
        """Linear predictor per arm; ``theta`` is (K + 1, p + 1): row 0 the shared ``[c, beta]``, row ``a``
        ``[gamma_a, delta_a]``."""
        return [u @ (theta[0] + theta[a] if a else theta[0]) for a, (u, _) in enumerate(blocks)]

    @staticmethod
    def _loss(blocks: list[tuple[np.ndarray, np.ndarray]], etas: list[np.ndarray]) -> float:
        return float(sum(np.logaddexp(0.0, eta).sum() - eta @ y for (_, y), eta in zip(blocks, etas, strict=True)))

    def _objective(self, blocks: list[tuple[np.ndarray, np.ndarray]], theta: np.ndarray) -> float:
        return self._loss(blocks, self._etas(blocks, theta)) + 0.5 * self.base * float(
            theta[0, 1:] @ theta[0, 1:]
        ) + 0.5 * float((self._deviation_penalty(theta.shape[1]) * theta[1:] ** 2).sum())

    def _deviation_penalty(self, q: int) -> np.ndarray:
        """(q,) ridge penalty of each column of an arm's deviation: none on ``gamma``, ``spline_ratio`` times
        ``interaction`` on the splines' columns (their wiggle beyond the linear terms)."""
        pen = np.full(q, self.interaction)
        pen[0] = 0.0
        pen[1 : 1 + self.n_spline] *= self.spline_ratio
        return pen

    def fit(self, z: np.ndarray, arm: np.ndarray, y: np.ndarray, warm: _ArmLogistic | None = None) -> _ArmLogistic:
        from scipy.linalg import LinAlgError, cho_factor, cho_solve, solve

        k1, q = self.arms + 1, z.shape[1] + 1
        blocks = self._by_arm(z, arm, k1, y)
        theta = warm.theta.copy() if warm is not None else np.zeros((k1, q))
        shared = np.full(q, self.base)
        shared[0] = 0.0
        ridge = np.concatenate([shared] + [self._deviation_penalty(q)] * self.arms) + 1e-9
        current = self._objective(blocks, theta)
        for _ in range(self.max_iter):
            grads, grams = [], []
            for (u, ya), eta in zip(blocks, self._etas(blocks, theta), strict=True):
                mu = 0.5 * (1.0 + np.tanh(0.5 * eta))  # expit, without overflow warnings
                grads.append(u.T @ (mu - ya))
                grams.append((u * (mu * (1.0 - mu))[:, None]).T @ u)
            hess = np.zeros((k1 * q, k1 * q))
            grad = np.zeros(k1 * q)
            hess[:q, :q] = sum(grams)
            grad[:q] = sum(grads)
            for a in range(1, k1):
                blk = slice(a * q, (a + 1) * q)
                hess[:q, blk] = hess[blk, :q] = hess[blk, blk] = grams[a]
                grad[blk] = grads[a]
            grad += ridge * theta.ravel()
            hess[np.diag_indices_from(hess)] += ridge
            try:
                step = cho_solve(cho_factor(hess), grad).reshape(k1, q)
            except LinAlgError:
                step = solve(hess, grad, assume_a="sym").reshape(k1, q)
            t = 1.0
            while True:  # step halving keeps every step downhill
                trial = theta - t * step
                value = self._objective(blocks, trial)
                if value <= current or t < 1e-4:
                    break
                t *= 0.5
            theta, done = trial, float(np.abs(t * step).max()) < self.tol or current - value < 1e-10 * abs(current)
            current = value
            if done:
                break
        self.theta = theta
        return self

    def proba(self, z: np.ndarray) -> np.ndarray:
        """(n, K + 1) ``mu_a`` for every arm."""
        u = np.hstack([np.ones((z.shape[0], 1)), z])
        base = u @ self.theta[0]
        etas = [base] + [base + u @ self.theta[a] for a in range(1, self.arms + 1)]
        return np.column_stack([0.5 * (1.0 + np.tanh(0.5 * e)) for e in etas])

    def log_loss(self, z: np.ndarray, arm: np.ndarray, y: np.ndarray) -> float:
        """Summed log-loss of the members' own arms."""
        blocks = self._by_arm(z, arm, self.arms + 1, y)
        return self._loss(blocks, self._etas(blocks, self.theta))


class UpliftModel(Configured):
    """Per-member effect of each intervention on retention, ``tau_k(x)``, from a randomized trial.

    Example::

        model = UpliftModel(learner="dr").fit(X, treatment, retained, propensity=[0.4, 0.2, 0.2, 0.2])
        tau = model.effect(X_new)                 # (n, K): arm k+1 minus control
        plan = budgeted_plan(tau, cost=[1.0, 3.0, 8.0], budget=5_000)

    Attributes (after ``fit``):
        arms_: ``K``, the number of interventions (arms ``1..K``; arm 0 is control).
        n_features_: covariates per member.
        outcome_models_: per fold, the ``K + 1`` fitted outcome models (one fold for ``"t"``; for ``"glm"`` one
            model of every arm).
        penalty_, spline_ratio_, cv_loss_, design_: ``"glm"`` only: the deviation penalty and spline ratio used,
            the held-out log-loss of each candidate pair, and the features ``z(x)``.
        effect_models_: ``"dr"``: ``K`` regressors; ``"x"``: ``K`` pairs (control side, treated side).
        blend_: ``"x"`` only: ``(K,)`` weight ``g_k`` of the control-side model, the mean of ``e_k / (e_0 + e_k)``.
    """

    Config = UpliftConfig
    config: UpliftConfig

    # ---- base models ---------------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "max_iter": cfg.max_iter,
            "learning_rate": cfg.learning_rate,
            "max_leaf_nodes": cfg.max_leaf_nodes,
            "min_samples_leaf": cfg.min_samples_leaf,
            "l2_regularization": cfg.l2_regularization,
            "early_stopping": cfg.early_stopping,
            "validation_fraction": 0.1,
            "n_iter_no_change": 10,
            "random_state": cfg.seed,
        }

    def _classifier(self, x: np.ndarray, y: np.ndarray) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        if np.all(y == y[0]):
            return _Constant(float(y[0]))
        return HistGradientBoostingClassifier(**self._params()).fit(x, y.astype(np.int64))

    def _regressor(self, x: np.ndarray, y: np.ndarray) -> Any:
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(**self._params()).fit(x, y)

    @staticmethod
    def _proba(model: Any, x: np.ndarray) -> np.ndarray:
        return model.predict(x) if isinstance(model, _Constant) else model.predict_proba(x)[:, 1]

    # ---- training ------------------------------------------------------------------------
    def fit(self, X: np.ndarray, treatment: np.ndarray, outcome: np.ndarray, propensity: np.ndarray) -> Self:
        """Fit the outcome models and (``"x"``, ``"dr"``) the effect models.

        Args:
            X: (n, p) float covariates.
            treatment: (n,) int arm of each member, 0 = control, ``1..K`` the interventions.
            outcome: (n,) 0/1, 1 = still subscribed at the horizon.
            propensity: (K + 1,) or (n, K + 1) known assignment probabilities of the arms.

        Raises:
            DataError: naming the argument and the first bad row (1-based): non-finite covariates, negative or
                fractional arms, an arm with fewer than ``2 * n_folds`` members, outcomes other than 0/1,
                propensities outside ``(0, 1]`` or not summing to 1.
        """
        cfg = self.config
        x = _check_x(X)
        n = x.shape[0]
        folds = cfg.cv_folds if cfg.learner == "glm" else cfg.n_folds
        t, y, k = check_trial(treatment, outcome, n, min_per_arm=2 * folds)
        e = check_propensity(propensity, n, k + 1)
        with one_thread():
            if cfg.learner == "glm":
                self._fit_glm(x, t, y, k)
                self.effect_models_ = []
            elif cfg.learner == "t":
                self.outcome_models_ = [[self._classifier(x[t == a], y[t == a]) for a in range(k + 1)]]
                self.effect_models_: list[Any] = []
            else:
                mu = self._cross_fit(x, t, y, k)
                if cfg.learner == "dr":
                    self.effect_models_ = [
                        self._regressor(x, self._pseudo_outcome(mu, t, y, e, a)) for a in range(1, k + 1)
                    ]
                else:
                    self.effect_models_ = []
                    for a in range(1, k + 1):
                        ctrl, trt = t == 0, t == a
                        self.effect_models_.append(
                            (
                                self._regressor(x[ctrl], mu[ctrl, a] - y[ctrl]),
                                self._regressor(x[trt], y[trt] - mu[trt, 0]),
                            )
                        )
                    self.blend_ = (e[:, 1:] / (e[:, :1] + e[:, 1:])).mean(axis=0)
        self.arms_ = k
        self.n_features_ = x.shape[1]
        return self

    def _fit_glm(self, x: np.ndarray, t: np.ndarray, y: np.ndarray, k: int) -> None:
        """The ``"glm"`` learner; its penalty and spline ratio by ``cv_folds``-fold cross-validated log-loss unless
        each has one candidate.

        Sets ``penalty_`` and ``spline_ratio_`` (those used) and ``cv_loss_`` ((penalty, ratio) -> summed held-out
        log-loss; empty when nothing was chosen)."""
        cfg = self.config
        self.design_ = design = _Design(cfg.spline_knots).fit(x)
        z = design.transform(x)
        penalties = sorted(cfg.penalty_grid) if cfg.interaction_penalty is None else [cfg.interaction_penalty]
        ratios = sorted(cfg.spline_ratios)
        self.cv_loss_: dict[tuple[float, float], float] = {}
        best = (penalties[0], ratios[0])
        if len(penalties) * len(ratios) > 1:
            folds = _folds(t, cfg.cv_folds, cfg.seed)
            loss = {(lam, r): 0.0 for lam in penalties for r in ratios}
            for j in range(cfg.cv_folds):
                train, held = folds != j, folds == j
                for r in ratios:
                    warm = None
                    for lam in reversed(penalties):  # heaviest first: each warm-starts the next
                        warm = _ArmLogistic(k, cfg.base_penalty, lam, design.n_spline, r).fit(
                            z[train], t[train], y[train], warm
                        )
                        loss[lam, r] += warm.log_loss(z[held], t[held], y[held])
            self.cv_loss_ = loss
            best = min(loss, key=lambda key: loss[key])
        self.penalty_, self.spline_ratio_ = float(best[0]), float(best[1])
        model = _ArmLogistic(k, cfg.base_penalty, self.penalty_, design.n_spline, self.spline_ratio_).fit(z, t, y)
        self.outcome_models_ = [[model]]

    def _cross_fit(self, x: np.ndarray, t: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
        """Out-of-fold ``mu_a(x_i)`` for every member and arm, (n, K + 1); keeps the fold models."""
        folds = _folds(t, self.config.n_folds, self.config.seed)
        mu = np.empty((x.shape[0], k + 1))
        self.outcome_models_ = []
        for j in range(self.config.n_folds):
            train, held = folds != j, folds == j
            models = [self._classifier(x[train & (t == a)], y[train & (t == a)]) for a in range(k + 1)]
            for a, model in enumerate(models):
                mu[held, a] = self._proba(model, x[held])
            self.outcome_models_.append(models)
        return mu

    @staticmethod
    def _pseudo_outcome(mu: np.ndarray, t: np.ndarray, y: np.ndarray, e: np.ndarray, a: int) -> np.ndarray:
        """Kennedy's DR pseudo-outcome of arm ``a`` against control, (n,)."""
        out = mu[:, a] - mu[:, 0]
        on, off = t == a, t == 0
        out[on] += (y[on] - mu[on, a]) / e[on, a]
        out[off] -= (y[off] - mu[off, 0]) / e[off, 0]
        return out

    # ---- prediction ----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "arms_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X, treatment, outcome, propensity) first"
            )

    def potential_outcomes(self, X: np.ndarray) -> np.ndarray:
        """The outcome models' ``P(y = 1 | x, arm a)``, averaged over the cross-fitting folds.

        Args:
            X: (n, p) float covariates.

        Returns:
            (n, K + 1) float64 in [0, 1], column ``a`` for arm ``a`` (column 0 control). Pass it to
            :func:`marquee.retention.plan.plan_value` for members the model was not fitted on.
        """
        self._check_fitted()
        x = _check_x(X, self.n_features_)
        if self.config.learner == "glm":
            with one_thread():
                return self.outcome_models_[0][0].proba(self.design_.transform(x))
        with one_thread():
            total = sum(np.column_stack([self._proba(m, x) for m in models]) for models in self.outcome_models_)
        return np.asarray(total, np.float64) / len(self.outcome_models_)

    def calibrate(self, X: np.ndarray, treatment: np.ndarray, outcome: np.ndarray, propensity: np.ndarray) -> Self:
        """Recalibrate the effects on randomised members the model was not fitted on (the best linear predictor of
        Chernozhukov, Demirer, Duflo & Fernández-Val, "Generic machine learning inference on heterogeneous
        treatment effects in randomized experiments", 2018/2023).

        Per intervention ``k``, the doubly robust pseudo-outcomes ``phi_k`` of the held-out members are regressed
        on the estimate: ``phi_k = alpha_k + beta_k (tau_hat_k - mean tau_hat_k) + e``; afterwards :meth:`effect`
        returns ``alpha_k + max(beta_k, 0) (tau_hat_k - mean tau_hat_k)``. ``alpha_k`` is the average effect and
        ``beta_k`` how much of the estimate's spread is signal (1: all of it; 0: none, every member gets the
        average). Noisy estimates are shrunk, so a budgeted plan stops chasing members whose estimated gain is
        mostly noise (the winner's curse of picking the top of noisy estimates).

        Sets ``calibration_`` (K, 3): ``alpha_k``, ``beta_k`` (before clipping) and the mean of ``tau_hat_k``.
        """
        self._check_fitted()
        x = _check_x(X, self.n_features_)
        t, y, _ = check_trial(treatment, outcome, x.shape[0])
        e = check_propensity(propensity, x.shape[0], self.arms_ + 1)
        mu = self.potential_outcomes(x)
        raw = self._raw_effect(x)
        calib = np.empty((self.arms_, 3))
        for a in range(1, self.arms_ + 1):
            phi = self._pseudo_outcome(mu, t, y.astype(np.float64), e, a)
            centred = raw[:, a - 1] - raw[:, a - 1].mean()
            var = float(centred @ centred)
            beta = float(centred @ (phi - phi.mean())) / var if var > 0 else 0.0
            calib[a - 1] = (float(phi.mean()), beta, float(raw[:, a - 1].mean()))
        self.calibration_ = calib
        return self

    def effect(self, X: np.ndarray, *, calibrated: bool = True) -> np.ndarray:
        """Estimated gain in retention probability of each intervention over control.

        Args:
            X: (n, p) float covariates.

        Returns:
            (n, K) float64: column ``k`` is ``tau_{k+1}(x)``, arm ``k + 1`` minus control (may be negative);
            recalibrated if :meth:`calibrate` was called (and ``calibrated``).
        """
        raw = self._raw_effect(X)
        if not calibrated or not hasattr(self, "calibration_"):
            return raw
        alpha, beta, mean = self.calibration_.T
        return alpha + np.maximum(beta, 0.0) * (raw - mean)

    def _raw_effect(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        x = _check_x(X, self.n_features_)
        if self.config.learner in ("t", "glm"):
            mu = self.potential_outcomes(x)
            return mu[:, 1:] - mu[:, :1]
        out = np.empty((x.shape[0], self.arms_))
        with one_thread():
            for a, model in enumerate(self.effect_models_):
                if self.config.learner == "dr":
                    out[:, a] = model.predict(x)
                else:
                    g = self.blend_[a]
                    out[:, a] = g * model[0].predict(x) + (1 - g) * model[1].predict(x)
        return out
