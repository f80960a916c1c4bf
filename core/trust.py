"""Trust scores for memory items: six explainable components, a configured formula, a learned model.

A trust score in [0, 1] is only useful if a person can see why an item got it, so the score is never
stored alone: ``components`` turns an item's facts (source, age, ratings, neighbours, contradictions,
review) into six numbers in [0, 1], each with a plain meaning, and ``explain`` shows how much each one
moved the score. The weights, half-lives, source reliabilities and thresholds live in
``data/policies/trust.toml`` (``load_policy``), because what counts as stale or reliable differs per
deployment.

Once admins have approved or rejected enough items, a logistic regression over the same components
(``LogisticTrustModel``) learns the weights from their decisions; until then, or when every review
went the same way, the configured formula rules. Everything here is pure: no database, no clock, so the
storage layer and the background worker decide when to score and what to keep.

The formula needs only the standard library; numpy is imported when a model is trained or used, so
importing this module stays cheap for the CLI's start-up.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from core.errors import ConfigError, InvalidInput
from core.paths import resource_dir

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    from numpy.typing import NDArray

COMPONENTS = ("source", "freshness", "usage", "corroboration", "consistency", "review")
# The learned model never sees ``review``: it is the label it learns from, and an admin's verdict on an
# item already reviewed is applied on top of the model's prediction (see ``score_item``).
MODEL_FEATURES = ("source", "freshness", "usage", "corroboration", "consistency")
REVIEWS = ("approved", "rejected")
METHODS = ("formula", "learned")
MODEL_FORMAT = 1


# --- policy -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustPolicy:
    """Everything the scoring maths is configured by; see ``data/policies/trust.toml`` for the meaning."""

    weights: dict[str, float] = field(default_factory=lambda: {
        "source": 0.20, "freshness": 0.15, "usage": 0.15, "corroboration": 0.10, "consistency": 0.20,
        "review": 0.20})
    default_half_life_days: float = 365.0
    half_life_days: dict[str, float] = field(default_factory=dict)
    default_reliability: float = 0.7
    source_prior_strength: float = 10.0
    reliability_by_source: dict[str, float] = field(default_factory=dict)
    reliability_by_collection: dict[str, float] = field(default_factory=dict)
    usage_prior_strength: float = 2.0
    corroboration_scale: float = 2.0
    quarantine_below: float = 0.35
    contradiction_above: float = 0.7
    high_above: float = 0.75
    min_reviews: int = 30
    l2: float = 1.0
    source: str = "<defaults>"

    def half_life(self, collection: str) -> float:
        """The collection's freshness half-life in days, or the default."""
        return self.half_life_days.get(collection, self.default_half_life_days)

    def reliability(self, collection: str, source: str) -> float:
        """Configured reliability: the source's own value, else its collection's, else the default.
        The source wins because one source (a handbook, a chat import) is equally good in any collection."""
        if source in self.reliability_by_source:
            return self.reliability_by_source[source]
        return self.reliability_by_collection.get(collection, self.default_reliability)

    def normalised_weights(self) -> dict[str, float]:
        """Weights scaled to sum to 1, so a contribution is a share of the score."""
        total = sum(self.weights.values())
        return {name: self.weights[name] / total for name in COMPONENTS}


_SCHEMA: dict[str, set[str]] = {
    "weights": set(COMPONENTS),
    "freshness": {"default_half_life_days", "half_life_days"},
    "source": {"default_reliability", "prior_strength", "by_source", "by_collection"},
    "usage": {"prior_strength"},
    "corroboration": {"scale"},
    "thresholds": {"quarantine_below", "contradiction_above", "high_above"},
    "model": {"min_reviews", "l2"},
}


def default_policy_path() -> Path:
    """The shipped defaults, ``data/policies/trust.toml``."""
    return resource_dir() / "policies" / "trust.toml"


def policy_path(data_dir: Path | None = None) -> Path:
    """The data dir's ``trust.toml`` when it has one, else the shipped defaults (as for privacy rules)."""
    override = data_dir / "trust.toml" if data_dir is not None else None
    return override if override is not None and override.exists() else default_policy_path()


def load_policy(path: Path | str | None = None) -> TrustPolicy:
    """Read and validate a trust policy file (the shipped defaults when ``path`` is None).

    Raises ``ConfigError`` (an ``InvalidInput``) naming the file and the bad key, so a typo in a
    weight is reported instead of quietly scoring with a default."""
    p = Path(path) if path is not None else default_policy_path()
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read trust policy {p}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}",
                          hint="fix it, or delete the data dir's trust.toml to use the defaults") from exc
    return policy_from_dict(raw, str(p))


def policy_from_dict(raw: Mapping[str, Any], source: str = "<dict>") -> TrustPolicy:
    """Validate a parsed policy. Missing tables and keys take the defaults; unknown ones are errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the trust policy must be a table")
    unknown = sorted(set(raw) - set(_SCHEMA))
    if unknown:
        raise ConfigError(f"{source}: unknown table(s) {', '.join(unknown)}",
                          hint=f"the tables are {', '.join(sorted(_SCHEMA))}")
    tables: dict[str, dict[str, Any]] = {}
    for name, keys in _SCHEMA.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        bad = sorted(set(table) - keys)
        if bad:
            raise ConfigError(f"{source}: unknown key(s) in [{name}]: {', '.join(bad)}",
                              hint=f"[{name}] takes {', '.join(sorted(keys))}")
        tables[name] = table
    d = TrustPolicy()

    def num(table: str, key: str, default: float, lo: float = 0.0, hi: float = math.inf,
            lo_open: bool = False) -> float:
        value = tables[table].get(key, default)
        return _number(f"{source}: {table}.{key}", value, lo, hi, lo_open)

    def mapping(table: str, key: str, lo: float, hi: float, lo_open: bool) -> dict[str, float]:
        value = tables[table].get(key, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{table}.{key}] must be a table of names to numbers")
        return {str(k): _number(f"{source}: {table}.{key}.{k}", v, lo, hi, lo_open) for k, v in value.items()}

    weights = {c: num("weights", c, d.weights[c]) for c in COMPONENTS}
    if sum(weights.values()) <= 0:
        raise ConfigError(f"{source}: every weight is 0", hint="give at least one component a weight above 0")
    min_reviews = tables["model"].get("min_reviews", d.min_reviews)
    if isinstance(min_reviews, bool) or not isinstance(min_reviews, int) or min_reviews < 2:
        raise ConfigError(f"{source}: model.min_reviews must be a whole number of at least 2, got {min_reviews!r}")
    return TrustPolicy(
        weights=weights,
        default_half_life_days=num("freshness", "default_half_life_days", d.default_half_life_days, lo_open=True),
        half_life_days=mapping("freshness", "half_life_days", 0.0, math.inf, True),
        default_reliability=num("source", "default_reliability", d.default_reliability, 0.0, 1.0),
        source_prior_strength=num("source", "prior_strength", d.source_prior_strength, lo_open=True),
        reliability_by_source=mapping("source", "by_source", 0.0, 1.0, False),
        reliability_by_collection=mapping("source", "by_collection", 0.0, 1.0, False),
        usage_prior_strength=num("usage", "prior_strength", d.usage_prior_strength, lo_open=True),
        corroboration_scale=num("corroboration", "scale", d.corroboration_scale, lo_open=True),
        quarantine_below=num("thresholds", "quarantine_below", d.quarantine_below, 0.0, 1.0),
        contradiction_above=num("thresholds", "contradiction_above", d.contradiction_above, 0.0, 1.0),
        high_above=num("thresholds", "high_above", d.high_above, 0.0, 1.0),
        min_reviews=min_reviews,
        l2=num("model", "l2", d.l2),
        source=source,
    )


def _number(label: str, value: Any, lo: float, hi: float, lo_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{label} must be a finite number, got {value!r}")
    x = float(value)
    if x < lo or (lo_open and x == lo) or x > hi:
        low = f"above {lo:g}" if lo_open else f"at least {lo:g}"
        rng = low if math.isinf(hi) else f"{low} and at most {hi:g}"
        raise ConfigError(f"{label} must be {rng}, got {value!r}")
    return x


# --- components -----------------------------------------------------------------------------------------


@dataclass
class TrustInputs:
    """What the store and the episode log know about one item, gathered by the caller.

    ``source_approved``/``source_rejected`` are the admin decisions on *other* items from the same
    source; include the item's own review there and its score counts that review twice."""

    collection: str
    source: str
    age_days: float  # since the item's last update
    retrieved: int = 0  # episodes that used it; shown, not scored (being found often is not being right)
    helpful: int = 0  # thumbs up on episodes that used it
    unhelpful: int = 0  # thumbs down on episodes that used it
    corroborations: int = 0  # near neighbours that agree with it
    open_contradictions: int = 0
    max_contradiction: float = 0.0  # the highest score among the open contradictions, in [0, 1]
    review: str | None = None  # "approved", "rejected" or None
    source_approved: int = 0
    source_rejected: int = 0

    def validate(self) -> None:
        """Reject impossible inputs here, so a bug upstream is not hidden by a plausible score."""
        if isinstance(self.age_days, bool) or not isinstance(self.age_days, int | float) \
                or math.isnan(self.age_days):
            raise InvalidInput(f"age_days must be a number of days, got {self.age_days!r}")
        for name in ("retrieved", "helpful", "unhelpful", "corroborations", "open_contradictions",
                     "source_approved", "source_rejected"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(f"{name} must be a count (a whole number >= 0), got {value!r}")
        m = self.max_contradiction
        if isinstance(m, bool) or not isinstance(m, int | float) or not 0.0 <= m <= 1.0:
            raise InvalidInput(f"max_contradiction must be a score in [0, 1], got {m!r}")
        if self.review not in (None, *REVIEWS):
            raise InvalidInput(f"review must be approved, rejected or None, got {self.review!r}")


def source_component(inputs: TrustInputs, policy: TrustPolicy) -> float:
    """How far the item's source is believed. The configured reliability is a Beta prior worth
    ``policy.source_prior_strength`` reviews, updated by the source's approve/reject record: a
    source starts where config puts it and moves toward what admins actually decided about it."""
    r = policy.reliability(inputs.collection, inputs.source)
    k = policy.source_prior_strength
    return (r * k + inputs.source_approved) / (k + inputs.source_approved + inputs.source_rejected)


def freshness_component(inputs: TrustInputs, policy: TrustPolicy) -> float:
    """``2 ** (-age / half_life)``: 1 when just written, 0.5 after one half-life of the collection.
    A negative age (a clock step back) counts as new rather than fresher than new."""
    age = max(0.0, float(inputs.age_days))
    if math.isinf(age):
        return 0.0
    return float(2.0 ** (-age / policy.half_life(inputs.collection)))


def usage_component(inputs: TrustInputs, policy: TrustPolicy) -> float:
    """The helpful share of its ratings with ``policy.usage_prior_strength`` pseudo-ratings at 0.5:
    0.5 when never rated, and a single thumb moves it only part of the way. Retrieval alone is not
    counted, because a wrong memory can be retrieved as often as a right one."""
    p = policy.usage_prior_strength
    return (inputs.helpful + 0.5 * p) / (inputs.helpful + inputs.unhelpful + p)


def corroboration_component(inputs: TrustInputs, policy: TrustPolicy) -> float:
    """``1 - exp(-n / scale)``: saturating, because the tenth agreeing copy adds little to the third,
    and 0 (not a penalty below neutral) when nothing agrees, since most true facts are said once."""
    return 1.0 - math.exp(-inputs.corroborations / policy.corroboration_scale)


def consistency_component(inputs: TrustInputs, policy: TrustPolicy) -> float:
    """``(1 - max_score) ** (1 + log2(n))`` for n open contradictions: 1 with none, ``1 - score`` with
    one, and each doubling of their number counts once more, so many weak conflicts add up but a
    single certain one (score 1) already gives 0."""
    n = inputs.open_contradictions
    if n == 0:
        return 1.0
    return float((1.0 - float(inputs.max_contradiction)) ** (1.0 + math.log2(n)))


def review_component(inputs: TrustInputs, policy: TrustPolicy) -> float:
    """An admin's verdict: 1 approved, 0 rejected, 0.5 (no information) when nobody has reviewed it."""
    return {"approved": 1.0, "rejected": 0.0}.get(inputs.review or "", 0.5)


_COMPONENT_FUNCS = {
    "source": source_component,
    "freshness": freshness_component,
    "usage": usage_component,
    "corroboration": corroboration_component,
    "consistency": consistency_component,
    "review": review_component,
}


def components(inputs: TrustInputs, policy: TrustPolicy) -> dict[str, float]:
    """The six components of one item, each in [0, 1], in ``COMPONENTS`` order."""
    inputs.validate()
    return {name: min(1.0, max(0.0, _COMPONENT_FUNCS[name](inputs, policy))) for name in COMPONENTS}


# --- the configured formula ---------------------------------------------------------------------------------


class Contribution(NamedTuple):
    """One line of an explanation: ``weight`` is normalised, ``contribution = value * weight``."""

    component: str
    value: float
    weight: float
    contribution: float


def _check_components(comps: Mapping[str, float]) -> None:
    missing = [c for c in COMPONENTS if c not in comps]
    if missing:
        raise InvalidInput(f"missing trust component(s): {', '.join(missing)}")
    for name in COMPONENTS:
        v = comps[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
            raise InvalidInput(f"trust component {name} must be in [0, 1], got {v!r}")


def weighted_score(comps: Mapping[str, float], policy: TrustPolicy) -> float:
    """The configured formula: the weighted mean of the components, in [0, 1]."""
    _check_components(comps)
    w = policy.normalised_weights()
    return min(1.0, max(0.0, sum(w[c] * float(comps[c]) for c in COMPONENTS)))


def explain(comps: Mapping[str, float], policy: TrustPolicy) -> list[Contribution]:
    """Each component's share of the formula score (the contributions sum to ``weighted_score``),
    largest impact first. Impact is how far a component pulled the score away from where a neutral
    0.5 would have left it, ``weight * |value - 0.5|``, so both what lifted and what sank an item
    come to the top."""
    _check_components(comps)
    w = policy.normalised_weights()
    rows = [Contribution(c, float(comps[c]), w[c], w[c] * float(comps[c])) for c in COMPONENTS]
    return sorted(rows, key=lambda r: (-r.weight * abs(r.value - 0.5), COMPONENTS.index(r.component)))


def quarantine_reason(score: float, inputs: TrustInputs, policy: TrustPolicy) -> str | None:
    """Why policy quarantines this item, or None. An admin's approval overrides both rules: the
    admin has looked, and quarantining it again would undo their decision."""
    if inputs.review == "approved":
        return None
    if inputs.open_contradictions and inputs.max_contradiction >= policy.contradiction_above:
        return (f"open contradiction scoring {inputs.max_contradiction:.2f}"
                f" (threshold {policy.contradiction_above:.2f})")
    if score < policy.quarantine_below:
        return f"trust {score:.2f} is below {policy.quarantine_below:.2f}"
    return None


# --- the learned model --------------------------------------------------------------------------------------


def feature_vector(comps: Mapping[str, float]) -> list[float]:
    """The model's input for one item: the components in ``MODEL_FEATURES`` order."""
    _check_components(comps)
    return [float(comps[c]) for c in MODEL_FEATURES]


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    import numpy as np

    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)  # no overflow for large |z|


def _as_xy(x: Any, y: Any | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    import numpy as np

    xa = np.asarray(x, dtype=np.float64)
    if xa.ndim != 2 or xa.shape[1] != len(MODEL_FEATURES):
        raise InvalidInput(f"X must be a table of {len(MODEL_FEATURES)} columns ({', '.join(MODEL_FEATURES)}),"
                           f" got shape {xa.shape}")
    if not np.all(np.isfinite(xa)):
        raise InvalidInput("X holds a missing or infinite value")
    if y is None:
        return xa, np.zeros(0)
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    if ya.shape[0] != xa.shape[0]:
        raise InvalidInput(f"X has {xa.shape[0]} rows but y has {ya.shape[0]} labels")
    if not np.all((ya == 0) | (ya == 1)):
        raise InvalidInput("labels must be 1 (approved) or 0 (rejected)")
    return xa, ya


class LogisticTrustModel:
    """L2-regularised logistic regression over ``MODEL_FEATURES``, predicting P(an admin approves).

    Fitted by Newton's method (iteratively reweighted least squares) from zero: deterministic, and
    with five features and at most thousands of reviews it converges in a handful of steps. The
    intercept is not penalised, so the base approval rate is learned freely."""

    def __init__(self, l2: float = 1.0) -> None:
        if isinstance(l2, bool) or not isinstance(l2, int | float) or not math.isfinite(l2) or l2 < 0:
            raise InvalidInput(f"l2 must be a finite number >= 0, got {l2!r}")
        self.l2 = float(l2)
        self.intercept = 0.0
        self.coef: list[float] = [0.0] * len(MODEL_FEATURES)
        self.fitted = False
        self.n_train = 0
        self.cv_accuracy: float | None = None

    def fit(self, x: Any, y: Any, max_iter: int = 100, tol: float = 1e-10) -> LogisticTrustModel:
        """Fit on rows of ``MODEL_FEATURES`` values and labels 1 (approved) / 0 (rejected). Both
        classes are required: with one, the unpenalised intercept would run off to infinity."""
        import numpy as np

        xa, ya = _as_xy(x, y)
        if len(set(ya.tolist())) < 2:
            raise InvalidInput("training needs both approved and rejected reviews")
        n, d = xa.shape
        x1 = np.hstack([np.ones((n, 1)), xa])
        penalty = np.diag([0.0] + [self.l2] * d)
        w = np.zeros(d + 1)
        for _ in range(max_iter):
            p = _sigmoid(x1 @ w)
            grad = x1.T @ (p - ya) + penalty @ w
            hess = x1.T @ (x1 * (p * (1.0 - p))[:, None]) + penalty + 1e-9 * np.eye(d + 1)
            step = np.linalg.solve(hess, grad)
            w = w - step
            if float(np.max(np.abs(step))) < tol:
                break
        self.intercept = float(w[0])
        self.coef = [float(v) for v in w[1:]]
        self.fitted = True
        self.n_train = int(n)
        return self

    def decision_function(self, x: Any) -> NDArray[np.float64]:
        """The log-odds of approval for each row."""
        import numpy as np

        if not self.fitted:
            raise InvalidInput("the trust model is not trained yet")
        xa, _ = _as_xy(x)
        return np.asarray(xa @ np.asarray(self.coef) + self.intercept, dtype=np.float64)

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        """P(approved) for each row, in [0, 1]."""
        return _sigmoid(self.decision_function(x))

    def predict(self, x: Any) -> NDArray[np.float64]:
        """1 where approval is more likely than not, else 0."""
        import numpy as np

        return np.asarray(self.predict_proba(x) >= 0.5, dtype=np.float64)

    def coefficients(self) -> dict[str, float]:
        """The learned weight of each feature (log-odds per unit), plus ``intercept``."""
        return {"intercept": self.intercept, **dict(zip(MODEL_FEATURES, self.coef, strict=True))}

    def explain(self, comps: Mapping[str, float]) -> list[Contribution]:
        """Each feature's log-odds contribution ``coef * value``, largest magnitude first; the
        intercept and the contributions sum to the item's log-odds."""
        values = feature_vector(comps)
        rows = [Contribution(c, v, w, w * v) for c, v, w in zip(MODEL_FEATURES, values, self.coef, strict=True)]
        return sorted(rows, key=lambda r: (-abs(r.contribution), MODEL_FEATURES.index(r.component)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; ``from_dict`` restores exactly the same predictions."""
        return {"kind": "logistic", "format": MODEL_FORMAT, "features": list(MODEL_FEATURES), "l2": self.l2,
                "intercept": self.intercept, "coef": list(self.coef), "fitted": self.fitted,
                "n_train": self.n_train, "cv_accuracy": self.cv_accuracy}

    @classmethod
    def from_dict(cls, raw: Any) -> LogisticTrustModel:
        """Rebuild a stored model; anything that is not one raises ``InvalidInput``, so a corrupt row
        makes the caller fall back to the formula instead of scoring with garbage."""
        if not isinstance(raw, dict) or raw.get("kind") != "logistic":
            raise InvalidInput("not a stored logistic trust model")
        if raw.get("format") != MODEL_FORMAT:
            raise InvalidInput(f"trust model format {raw.get('format')!r} is not {MODEL_FORMAT}",
                               hint="retrain the model")
        if raw.get("features") != list(MODEL_FEATURES):
            raise InvalidInput(f"the stored model uses features {raw.get('features')!r},"
                               f" not {list(MODEL_FEATURES)}", hint="retrain the model")
        coef, intercept = raw.get("coef"), raw.get("intercept")
        numbers = [*coef, intercept] if isinstance(coef, list) else []
        if len(numbers) != len(MODEL_FEATURES) + 1 or not all(
                not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v) for v in numbers):
            raise InvalidInput("the stored trust model has malformed coefficients", hint="retrain the model")
        model = cls(raw.get("l2", 1.0))
        model.coef = [float(v) for v in coef]  # type: ignore[union-attr]
        model.intercept = float(intercept)  # type: ignore[arg-type]
        model.fitted = bool(raw.get("fitted", True))
        model.n_train = int(raw.get("n_train", 0))
        cv = raw.get("cv_accuracy")
        model.cv_accuracy = float(cv) if isinstance(cv, int | float) and not isinstance(cv, bool) else None
        return model


def _folds(y: NDArray[np.float64], k: int, seed: int) -> list[NDArray[np.intp]]:
    """k test folds. Stratified (each fold keeps the class balance) when every class has at least
    k members; otherwise a plain shuffled split, which is all a tiny minority class allows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = y.shape[0]
    counts = [int(np.sum(y == c)) for c in (0.0, 1.0)]
    if min(counts) >= k:
        fold_of = np.empty(n, dtype=np.intp)
        offset = 0
        for c in (0.0, 1.0):
            idx = rng.permutation(np.flatnonzero(y == c))
            fold_of[idx] = (np.arange(idx.shape[0]) + offset) % k
            offset += idx.shape[0]
        return [np.flatnonzero(fold_of == f) for f in range(k)]
    order = rng.permutation(n)
    return [order[f::k] for f in range(k)]


def cross_validated_accuracy(x: Any, y: Any, k: int = 5, seed: int = 0, l2: float = 1.0) -> float:
    """Share of reviews predicted correctly by models that did not see them (k-fold). A training fold
    with one class predicts that class, as the formula would have nothing better to offer."""
    import numpy as np

    xa, ya = _as_xy(x, y)
    n = int(ya.shape[0])
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise InvalidInput(f"k must be a whole number of at least 2, got {k!r}")
    k = min(k, n)
    if k < 2:
        raise InvalidInput("cross-validation needs at least 2 reviews")
    correct = 0
    for test in _folds(ya, k, seed):
        train = np.setdiff1d(np.arange(n), test, assume_unique=True)
        if len(set(ya[train].tolist())) < 2:
            guess = np.full(test.shape[0], ya[train][0])
        else:
            guess = LogisticTrustModel(l2).fit(xa[train], ya[train]).predict(xa[test])
        correct += int(np.sum(guess == ya[test]))
    return correct / n


def train_if_enough(x: Any, y: Any, policy: TrustPolicy, k: int = 5,
                    seed: int = 0) -> tuple[LogisticTrustModel | None, str]:
    """The learned model with its cross-validated accuracy, or None and the reason the formula still
    rules: fewer reviews than ``policy.min_reviews``, or reviews that all went one way."""
    xa, ya = _as_xy(x, y)
    n = int(ya.shape[0])
    if n < policy.min_reviews:
        return None, f"{n} review(s), the learned model needs {policy.min_reviews}; using the formula"
    approved = int(ya.sum())
    if approved in (0, n):
        verdict = "approved" if approved else "rejected"
        return None, f"all {n} reviews were {verdict}; the model needs both kinds, using the formula"
    model = LogisticTrustModel(policy.l2).fit(xa, ya)
    model.cv_accuracy = cross_validated_accuracy(xa, ya, k=k, seed=seed, l2=policy.l2)
    return model, (f"trained on {n} reviews ({approved} approved, {n - approved} rejected),"
                   f" cross-validated accuracy {model.cv_accuracy:.2f}")


# --- one item -----------------------------------------------------------------------------------------------


class TrustResult(NamedTuple):
    """``score_item``'s answer: the score, the components it came from, and which method made it."""

    score: float
    components: dict[str, float]
    method: str  # "formula" or "learned"


def score_item(inputs: TrustInputs, policy: TrustPolicy, model: LogisticTrustModel | None = None) -> TrustResult:
    """Score one item with the learned model when one is given (and trained), else the formula.

    The model predicts what an admin would decide from the other five components; an admin's actual
    verdict on this item is then mixed in with the policy's review weight, ``(1 - w) * p + w * review``,
    so approving or rejecting an item moves its score the same way under both methods."""
    comps = components(inputs, policy)
    if model is None or not model.fitted:
        return TrustResult(weighted_score(comps, policy), comps, "formula")
    p = float(model.predict_proba([feature_vector(comps)])[0])
    w = policy.normalised_weights()["review"]
    score = p if inputs.review is None else (1.0 - w) * p + w * comps["review"]
    return TrustResult(min(1.0, max(0.0, score)), comps, "learned")
