"""Trust maths (issue 7): decay, each component's bounds and direction, the formula and its
explanation, policy validation, and the learned model with its fallback to the formula."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import ConfigError, InvalidInput
from core.trust import (
    COMPONENTS,
    MODEL_FEATURES,
    LogisticTrustModel,
    TrustInputs,
    TrustPolicy,
    components,
    cross_validated_accuracy,
    explain,
    feature_vector,
    load_policy,
    policy_from_dict,
    policy_path,
    quarantine_reason,
    score_item,
    train_if_enough,
    weighted_score,
)

POLICY = load_policy()


def item(**kw: object) -> TrustInputs:
    base: dict[str, object] = {"collection": "facts", "source": "wiki", "age_days": 0.0}
    base.update(kw)
    return TrustInputs(**base)  # type: ignore[arg-type]


def comp(name: str, **kw: object) -> float:
    return components(item(**kw), POLICY)[name]


# --- policy -------------------------------------------------------------------------------------------


def test_shipped_policy_loads_with_its_documented_values() -> None:
    assert POLICY.quarantine_below == 0.35 and POLICY.contradiction_above == 0.7 and POLICY.high_above == 0.75
    assert POLICY.min_reviews == 30 and POLICY.default_reliability == 0.7
    assert POLICY.half_life("meetings") == 90.0 and POLICY.half_life("unknown") == 365.0
    assert POLICY.reliability("facts", "hr-handbook") == 0.9  # the source beats the collection
    assert POLICY.reliability("facts", "someone") == 0.75
    assert POLICY.reliability("elsewhere", "someone") == 0.7
    assert math.isclose(sum(POLICY.normalised_weights().values()), 1.0)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "trust.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_empty_policy_file_takes_the_defaults(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, ""))
    assert policy.weights == TrustPolicy().weights and policy.min_reviews == 30


@pytest.mark.parametrize(("text", "needle"), [
    ("[weights\nsource = 1", "not valid TOML"),
    ("[weights]\nsource = -0.1", "weights.source must be at least 0"),
    ("[weights]\nsource = 'high'", "weights.source must be a finite number"),
    ("[weights]\nsource = true", "weights.source must be a finite number"),
    ("[weights]\nsoruce = 0.2", "unknown key(s) in [weights]: soruce"),
    ("[weigths]\nsource = 0.2", "unknown table(s) weigths"),
    ("[weights]\nsource=0\nfreshness=0\nusage=0\ncorroboration=0\nconsistency=0\nreview=0", "every weight is 0"),
    ("[freshness]\ndefault_half_life_days = 0", "must be above 0"),
    ("[freshness.half_life_days]\nfacts = -3", "half_life_days.facts must be above 0"),
    ("[freshness]\nhalf_life_days = 5", "must be a table"),
    ("[source]\ndefault_reliability = 1.5", "at most 1"),
    ("[source.by_source]\nwiki = -0.2", "by_source.wiki must be at least 0"),
    ("[thresholds]\nquarantine_below = 2", "at most 1"),
    ("[model]\nmin_reviews = 1", "min_reviews must be a whole number of at least 2"),
    ("[model]\nmin_reviews = 30.5", "min_reviews"),
    ("weights = 3", "[weights] must be a table"),
])
def test_bad_policies_are_refused_with_the_key_named(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_policy(write(tmp_path, text))
    assert needle in str(err.value)
    assert isinstance(err.value, InvalidInput)


def test_a_data_dir_policy_replaces_the_defaults(tmp_path: Path) -> None:
    assert policy_path(tmp_path) == policy_path(None)
    write(tmp_path, "[thresholds]\nquarantine_below = 0.5")
    assert load_policy(policy_path(tmp_path)).quarantine_below == 0.5


def test_missing_policy_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read trust policy"):
        load_policy(tmp_path / "absent.toml")


def test_policy_from_dict_rejects_a_non_table() -> None:
    with pytest.raises(ConfigError):
        policy_from_dict([], "x")  # type: ignore[arg-type]


# --- components ---------------------------------------------------------------------------------------------


def test_freshness_is_one_when_new_and_halves_every_half_life() -> None:
    hl = POLICY.half_life("facts")
    assert comp("freshness", age_days=0) == 1.0
    assert math.isclose(comp("freshness", age_days=hl), 0.5)
    assert math.isclose(comp("freshness", age_days=2 * hl), 0.25)
    assert math.isclose(comp("freshness", age_days=3 * hl), 0.125)
    assert comp("freshness", age_days=-5) == 1.0  # a clock step back is not fresher than new
    assert comp("freshness", age_days=math.inf) == 0.0
    # a meeting goes stale faster than a fact of the same age
    assert comp("freshness", age_days=90, collection="meetings") < comp("freshness", age_days=90)
    ages = [0, 1, 10, 100, 1000, 10_000]
    values = [comp("freshness", age_days=a) for a in ages]
    assert values == sorted(values, reverse=True) and all(0 <= v <= 1 for v in values)


def test_source_starts_at_config_and_follows_the_review_record() -> None:
    assert comp("source") == 0.75
    assert comp("source", source="slack-import") == 0.5
    good = [comp("source", source_approved=n) for n in (0, 1, 10, 1000)]
    bad = [comp("source", source_rejected=n) for n in (0, 1, 10, 1000)]
    assert good == sorted(good) and good[-1] < 1 and good[-1] > 0.99
    assert bad == sorted(bad, reverse=True) and bad[-1] > 0 and bad[-1] < 0.01
    assert math.isclose(comp("source", source_approved=10, source_rejected=10), (7.5 + 10) / 30)


def test_usage_is_neutral_unrated_and_moves_with_thumbs() -> None:
    assert comp("usage") == 0.5
    assert comp("usage", retrieved=500) == 0.5  # being found often is not being right
    assert math.isclose(comp("usage", helpful=1), 2 / 3)
    up = [comp("usage", helpful=n) for n in (0, 1, 5, 100)]
    down = [comp("usage", unhelpful=n) for n in (0, 1, 5, 100)]
    assert up == sorted(up) and down == sorted(down, reverse=True)
    assert 0 < down[-1] < up[-1] < 1
    assert comp("usage", helpful=7, unhelpful=7) == 0.5


def test_corroboration_saturates() -> None:
    values = [comp("corroboration", corroborations=n) for n in range(0, 30)]
    assert values[0] == 0.0 and math.isclose(values[2], 1 - math.exp(-1))
    assert all(b > a for a, b in itertools.pairwise(values) if b < 1.0)
    assert values[-1] <= 1.0 and values[-1] > 0.99
    gains = [b - a for a, b in itertools.pairwise(values)]
    assert gains == sorted(gains, reverse=True)  # each extra neighbour adds less


def test_consistency_falls_with_contradictions() -> None:
    assert comp("consistency") == 1.0
    assert comp("consistency", open_contradictions=1, max_contradiction=0.3) == pytest.approx(0.7)
    assert comp("consistency", open_contradictions=1, max_contradiction=1.0) == 0.0
    by_score = [comp("consistency", open_contradictions=1, max_contradiction=s) for s in (0, 0.2, 0.5, 0.9, 1)]
    by_count = [comp("consistency", open_contradictions=n, max_contradiction=0.4) for n in (1, 2, 4, 8)]
    assert by_score == sorted(by_score, reverse=True)
    assert by_count == sorted(by_count, reverse=True) and by_count[-1] > 0


def test_review_component() -> None:
    assert comp("review", review="approved") == 1.0
    assert comp("review", review="rejected") == 0.0
    assert comp("review") == 0.5


def test_components_are_all_in_range_for_extreme_inputs() -> None:
    extremes = [item(), item(age_days=1e9, helpful=10**6, corroborations=10**6, open_contradictions=10**6,
                             max_contradiction=1.0, review="rejected", source_rejected=10**6),
                item(collection="x", source="y", unhelpful=10**6, source_approved=10**6, review="approved")]
    for inputs in extremes:
        comps = components(inputs, POLICY)
        assert list(comps) == list(COMPONENTS)
        assert all(0.0 <= v <= 1.0 for v in comps.values())


@pytest.mark.parametrize("kw", [
    {"helpful": -1}, {"corroborations": 1.5}, {"retrieved": True}, {"max_contradiction": 1.2},
    {"review": "maybe"}, {"age_days": float("nan")}, {"age_days": "3"}, {"source_rejected": -2},
])
def test_impossible_inputs_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        components(item(**kw), POLICY)


# --- formula and explanation ----------------------------------------------------------------------------


def test_weighted_score_is_the_weighted_mean_and_explain_sums_to_it() -> None:
    inputs = item(age_days=400, helpful=3, unhelpful=1, corroborations=2, open_contradictions=1,
                  max_contradiction=0.6, source="slack-import")
    comps = components(inputs, POLICY)
    score = weighted_score(comps, POLICY)
    w = POLICY.normalised_weights()
    assert math.isclose(score, sum(w[c] * comps[c] for c in COMPONENTS))
    lines = explain(comps, POLICY)
    assert sorted(line.component for line in lines) == sorted(COMPONENTS)
    assert math.isclose(sum(line.contribution for line in lines), score)
    assert all(math.isclose(line.contribution, line.value * line.weight) for line in lines)
    impacts = [line.weight * abs(line.value - 0.5) for line in lines]
    assert impacts == sorted(impacts, reverse=True)
    assert lines[-1].component == "review"  # unreviewed: neutral, no impact


def test_weighted_score_bounds_and_weights_matter() -> None:
    ones = dict.fromkeys(COMPONENTS, 1.0)
    zeros = dict.fromkeys(COMPONENTS, 0.0)
    assert weighted_score(ones, POLICY) == pytest.approx(1.0)
    assert weighted_score(zeros, POLICY) == 0.0
    only_review = replace(POLICY, weights={c: (1.0 if c == "review" else 0.0) for c in COMPONENTS})
    assert weighted_score({**zeros, "review": 1.0}, only_review) == 1.0
    assert weighted_score({**ones, "review": 0.0}, only_review) == 0.0
    with pytest.raises(InvalidInput, match="missing"):
        weighted_score({"source": 1.0}, POLICY)
    with pytest.raises(InvalidInput, match="in \\[0, 1\\]"):
        weighted_score({**ones, "usage": 1.5}, POLICY)


def test_score_improves_with_each_good_signal() -> None:
    base = item(age_days=200)
    s0 = score_item(base, POLICY).score
    better: list[dict[str, Any]] = [{"helpful": 5}, {"corroborations": 3}, {"review": "approved"},
                                    {"source_approved": 20}, {"age_days": 10}]
    worse: list[dict[str, Any]] = [{"unhelpful": 5}, {"open_contradictions": 1, "max_contradiction": 0.9},
                                   {"review": "rejected"}, {"age_days": 2000}]
    for change in better:
        assert score_item(replace(base, **change), POLICY).score > s0, change
    for change in worse:
        assert score_item(replace(base, **change), POLICY).score < s0, change


def test_quarantine_reasons() -> None:
    clean = item()
    assert quarantine_reason(0.9, clean, POLICY) is None
    assert "below 0.35" in (quarantine_reason(0.2, clean, POLICY) or "")
    conflict = item(open_contradictions=1, max_contradiction=0.85)
    assert "contradiction" in (quarantine_reason(0.9, conflict, POLICY) or "")
    assert quarantine_reason(0.9, item(open_contradictions=1, max_contradiction=0.5), POLICY) is None
    assert quarantine_reason(0.1, replace(conflict, review="approved"), POLICY) is None


# --- learned model -----------------------------------------------------------------------------------------


def synthetic(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Admins approve items that are consistent and from good sources, reject the rest; a margin
    around the boundary keeps the set separable."""
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    labels: list[float] = []
    while len(rows) < n:
        x = rng.uniform(0, 1, len(MODEL_FEATURES))
        margin = x[0] + x[4] - 1.0  # source + consistency
        if abs(margin) < 0.15:
            continue
        rows.append(x)
        labels.append(1.0 if margin > 0 else 0.0)
    return np.array(rows), np.array(labels)


def test_model_learns_a_separable_set() -> None:
    x, y = synthetic(200)
    model = LogisticTrustModel(l2=0.1).fit(x, y)
    coefs = model.coefficients()
    assert set(coefs) == {"intercept", *MODEL_FEATURES}
    assert coefs["source"] > 1 and coefs["consistency"] > 1
    assert abs(coefs["usage"]) < coefs["source"] / 3  # an irrelevant feature stays small
    assert float(np.mean(model.predict(x) == y)) > 0.95
    proba = model.predict_proba(x)
    assert proba.shape == (200,) and np.all((proba >= 0) & (proba <= 1))
    assert cross_validated_accuracy(x, y, k=5, seed=0, l2=0.1) > 0.9


def test_train_if_enough_trains_and_reports_cv_accuracy() -> None:
    x, y = synthetic(60)
    model, reason = train_if_enough(x, y, POLICY)
    assert model is not None and model.cv_accuracy is not None and model.cv_accuracy > 0.85
    assert "trained on 60 reviews" in reason and "cross-validated accuracy" in reason
    assert model.n_train == 60


def test_too_few_reviews_or_one_class_falls_back_to_the_formula() -> None:
    x, y = synthetic(60)
    model, reason = train_if_enough(x[:29], y[:29], POLICY)
    assert model is None and "29 review(s)" in reason and "formula" in reason
    ones = np.ones(40)
    model, reason = train_if_enough(x[:40], ones, POLICY)
    assert model is None and "all 40 reviews were approved" in reason
    model, reason = train_if_enough(x[:40], np.zeros(40), POLICY)
    assert model is None and "rejected" in reason
    with pytest.raises(InvalidInput, match="both"):
        LogisticTrustModel().fit(x[:5], np.ones(5))


def test_training_and_cv_are_deterministic() -> None:
    x, y = synthetic(80, seed=3)
    y[::7] = 1 - y[::7]  # some noise so folds matter
    a = LogisticTrustModel().fit(x, y).coefficients()
    b = LogisticTrustModel().fit(x, y).coefficients()
    assert a == b
    assert cross_validated_accuracy(x, y, seed=4) == cross_validated_accuracy(x, y, seed=4)
    # a tiny minority class still cross-validates (unstratified folds)
    y2 = np.zeros(20)
    y2[:2] = 1
    assert 0.0 <= cross_validated_accuracy(x[:20], y2, k=5) <= 1.0


def test_bad_training_data_is_refused() -> None:
    x, y = synthetic(10)
    with pytest.raises(InvalidInput, match="columns"):
        LogisticTrustModel().fit(x[:, :3], y)
    with pytest.raises(InvalidInput, match="labels"):
        LogisticTrustModel().fit(x, y * 2)
    with pytest.raises(InvalidInput, match="rows"):
        LogisticTrustModel().fit(x, y[:5])
    with pytest.raises(InvalidInput, match="not trained"):
        LogisticTrustModel().predict_proba(x)
    with pytest.raises(InvalidInput):
        LogisticTrustModel(l2=-1)


def test_model_round_trips_through_json() -> None:
    x, y = synthetic(60)
    model, _ = train_if_enough(x, y, POLICY)
    assert model is not None
    stored = json.loads(json.dumps(model.to_dict()))
    again = LogisticTrustModel.from_dict(stored)
    assert again.coefficients() == model.coefficients()
    assert again.cv_accuracy == model.cv_accuracy and again.n_train == model.n_train
    assert np.array_equal(again.predict_proba(x), model.predict_proba(x))


@pytest.mark.parametrize("mutate", [
    lambda d: {**d, "kind": "forest"},
    lambda d: {**d, "format": 99},
    lambda d: {**d, "features": ["source"]},
    lambda d: {**d, "coef": [1.0, 2.0]},
    lambda d: {**d, "coef": [1.0, 2.0, "x", 4.0, 5.0]},
    lambda d: {**d, "intercept": None},
])
def test_corrupt_stored_models_are_refused(mutate: object) -> None:
    x, y = synthetic(40)
    good = LogisticTrustModel().fit(x, y).to_dict()
    with pytest.raises(InvalidInput):
        LogisticTrustModel.from_dict(mutate(good))  # type: ignore[operator]
    with pytest.raises(InvalidInput):
        LogisticTrustModel.from_dict("not a dict")


def test_score_item_uses_the_model_when_given() -> None:
    x, y = synthetic(60)
    model, _ = train_if_enough(x, y, POLICY)
    assert model is not None
    good = item(source="hr-handbook", source_approved=20)
    bad = item(source="slack-import", source_rejected=20, open_contradictions=2, max_contradiction=0.7)
    s_good, comps, method = score_item(good, POLICY, model)
    assert method == "learned" and set(comps) == set(COMPONENTS)
    s_bad = score_item(bad, POLICY, model).score
    assert 0 <= s_bad < 0.5 < s_good <= 1
    p = float(model.predict_proba([feature_vector(comps)])[0])
    assert math.isclose(s_good, p)  # unreviewed: the model's prediction as is
    approved = score_item(replace(good, review="approved"), POLICY, model).score
    rejected = score_item(replace(good, review="rejected"), POLICY, model).score
    assert rejected < s_good < approved
    assert score_item(good, POLICY).method == "formula"
    assert score_item(good, POLICY, LogisticTrustModel()).method == "formula"  # untrained: formula
    lines = model.explain(comps)
    logit = model.intercept + sum(line.contribution for line in lines)
    assert math.isclose(float(model.decision_function([feature_vector(comps)])[0]), logit)
