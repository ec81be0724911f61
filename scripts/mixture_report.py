"""How a model's names go wrong on a ``labels.csv`` set of mixtures (``instrid mix``'s): each file scored as
``instrid predict`` scores it, the precision and recall of its names at several θ, the recall of naming each
mixture's top k classes for k its true number of instruments (a count no rule knows: the best these scores
allow at precision = recall), and per class how often it is named in a mixture it is not in.

    python scripts/mixture_report.py data/notes-mixes [--run RUN]
"""

import argparse
from pathlib import Path

import numpy as np

from instrid.data import load_dataset
from instrid.labels import full_name
from instrid.predict import Recognizer
from instrid.thresholds import counts, named_by_rule, precision_recall

THETAS = (0.2, 0.3, 0.4, 0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a labels.csv set of mixtures, every instrument labelled")
    parser.add_argument("--run", type=Path, default=None, help="a run folder (default: the shipped model)")
    args = parser.parse_args()
    recognizer = Recognizer.load(args.run)
    clips = [c for c in load_dataset(args.data) if len(c.labels) > 1]
    scores = np.array([[x.score for x in recognizer.predict(c.path).scores] for c in clips])  # (N, C)
    present = np.array([[code in c.labels for code in recognizer.labels] for c in clips])  # (N, C) bool
    print(f"{len(clips)} mixtures, {present.sum()} instruments")
    for theta in THETAS:
        precision, recall = precision_recall(*counts(scores >= theta, present))
        print(f"θ {theta:.2f}: names right {precision:.1%}, instruments found {recall:.1%}")
    k = present.sum(axis=1)
    top = np.argsort(-scores, axis=1)
    found = sum(present[i, top[i, : k[i]]].sum() for i in range(len(clips)))
    print(f"the top k classes, k the true count: {found / present.sum():.1%} found (and right)")
    chosen = named_by_rule(scores, recognizer.run["threshold"], recognizer.labels)
    print("named in a mixture it is not in (by the run's own rule, as instrid predict names):")
    for c, code in enumerate(recognizer.labels):
        print(f"  {full_name(code):<18}{np.mean(chosen[~present[:, c], c]):6.1%}")


if __name__ == "__main__":
    main()
