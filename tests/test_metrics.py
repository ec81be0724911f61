import numpy as np
import pytest

from instrid.metrics import choose_threshold, multilabel_report, single_label_report, table3
from instrid.windows import excerpt_scores


def test_single_label_metrics_match_a_hand_computed_case():
    # true: a a b b c ; predicted: a b b b a
    report = single_label_report([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ("a", "b", "c"))
    assert report["accuracy"] == pytest.approx(3 / 5)
    a, b, c = (report["classes"][k] for k in "abc")
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((1 / 2, 1 / 2, 1 / 2))
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    assert (c["precision"], c["recall"], c["f1"]) == (0.0, 0.0, 0.0)
    assert report["macro"]["f1"] == pytest.approx((0.5 + 0.8 + 0) / 3)
    assert report["micro"]["f1"] == pytest.approx(3 / 5)  # single-label: micro F1 = accuracy
    assert report["weighted"]["f1"] == pytest.approx((2 * 0.5 + 2 * 0.8 + 1 * 0) / 5)
    assert report["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    text = table3(report)
    assert "Micro Avg" in text and "Weighted Avg" in text and len(text.splitlines()) == 1 + 3 + 3


def test_excerpt_scores_are_the_mean_divided_by_its_maximum():
    windows = np.array([[0.8, 0.2, 0.0], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(excerpt_scores(windows), [1.0, 0.5, 0.1 / 0.6])


def test_threshold_is_chosen_where_it_separates_the_labels():
    scores = np.array([[1.0, 0.6, 0.1], [0.3, 1.0, 0.5], [1.0, 0.2, 0.7]])
    targets = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]])
    theta, f1 = choose_threshold(scores, targets)
    assert 0.3 < theta <= 0.5 and f1 == 1.0  # every theta in (0.3, 0.5] is perfect; the smallest on the grid wins
    report = multilabel_report(targets, (scores >= theta).astype(int), ("x", "y", "z"))
    assert report["micro"]["f1"] == 1.0 and report["exact_match"] == 1.0
