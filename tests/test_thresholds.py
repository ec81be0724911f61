import numpy as np

from instrid.thresholds import IGNORE, choose_rule, class_thresholds, named


def test_each_class_reaches_its_own_threshold_and_the_predominance_rule():
    scores = np.array([[0.9, 0.35, 0.2], [0.3, 0.25, 0.05]])
    thetas = np.array([0.5, 0.3, 0.1])
    assert named(scores, thetas).tolist() == [[True, True, True], [False, False, False]]
    assert named(scores, thetas, relative=0.3).tolist() == [[True, True, False], [False, False, False]]  # 0.2 < 0.3 * 0.9
    spec = {"value": 0.4, "per_class": {"b": 0.2}}
    assert class_thresholds(spec, ["a", "b"]).tolist() == [0.4, 0.2]
    assert class_thresholds(spec, ["a", "b"], override=0.7).tolist() == [0.7, 0.7]


def test_the_rule_is_chosen_per_class_and_ignores_what_the_folds_heard():
    """Class a's held-out scores separate at 0.6, class b's at 0.2: one theta cannot fit both, a theta each can.
    Entries marked IGNORE (a mixture's parts the fold trained on) count neither way."""
    rng = np.random.default_rng(0)
    n = 200
    truth = rng.integers(0, 2, (n, 2))
    scores = np.where(truth, [0.7, 0.3], [0.5, 0.1]) + rng.uniform(-0.04, 0.04, (n, 2))
    targets = truth.copy()
    rule = choose_rule(scores, targets, ["a", "b"], "test")
    assert 0.5 < rule["per_class"]["a"] <= 0.65 and 0.1 < rule["per_class"]["b"] <= 0.25
    assert np.array_equal(named(scores, np.array([rule["per_class"]["a"], rule["per_class"]["b"]]), rule["relative"]), truth.astype(bool))
    assert rule["micro"]["precision"][1] == 1.0 and rule["micro"]["recall"][1] == 1.0
    assert rule["micro"]["precision"][0] < 1.0 or rule["micro"]["recall"][0] < 1.0  # the pooled theta alone could not

    ignored = targets.copy()
    ignored[:, 1] = np.where(truth[:, 1] == 0, IGNORE, 1)  # b's negatives unknown: any theta low enough is as good
    loose = choose_rule(scores, ignored, ["a", "b"], "test")
    assert loose["per_class"]["b"] == 0.05 and loose["per_class_effect"]["b"]["positives"] == truth[:, 1].sum()
    few = choose_rule(scores[:10], targets[:10], ["a", "b"], "test")  # under MIN_POSITIVES: the pooled theta
    assert few["per_class"]["a"] == few["per_class"]["b"] == few["value"]
