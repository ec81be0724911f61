"""Can a detector of "an instrument plays" on musicnn's embedding tell instruments from what is not one?

A logistic regression on the frozen pooled embedding (standardised), trained on every instrument clip
(positives, mixtures included) and the training negatives, per window; a clip's score is its windows' mean.
Measured the way it would be used:

- instruments: each library (SoundFont or source of real recordings) left out in turn, with every mixture
  that uses it; the share of its clips the detector would silence at each threshold;
- no instrument: the out-of-set set (other kits, other seeds, other speech), never trained on; the share
  it silences, per kind.

    python scripts/gate_study.py --data data/libraries --extra-data REAL_SAMPLES --extra-data data/negatives \
        --extra-data data/mixtures --extra-data data/singing --extra-data data/freepats --test data/out-of-set
"""

import argparse
import collections
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from instrid.data import load_dataset
from instrid.data.layouts import uses_library
from instrid.libraries import library_clips
from instrid.models import get_entry
from instrid.models.musicnn import MusicnnClassifier, MusicnnConfig
from instrid.store import ensure_features
from instrid.train import embed_split, embedding_store, extra_clips, make_split
from instrid.windows import mean_by_clip

GATES = (0.1, 0.2, 0.3, 0.5)


def embeddings(clips, entry, net, cache: Path, classes):
    packed = ensure_features(clips, entry, cache, progress=True)
    clips = [c for c in clips if c.clip_id in packed]
    split = make_split(packed, clips, entry, classes, hop=entry.window)
    return clips, embed_split(net, split, torch.device("cpu"), "fp32", embedding_store(cache, net, "fp32"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--extra-data", action="append", default=[])
    p.add_argument("--test", required=True, help="a labels.csv set of sounds with no instrument, never trained on")
    p.add_argument("--c", type=float, default=0.1, help="inverse regularisation strength")
    args = p.parse_args()
    entry = get_entry("musicnn")
    net = MusicnnClassifier(MusicnnConfig(normalise_level=True)).eval()
    cache = Path(args.data) / "features"
    clips = [c for c in load_dataset(args.data) if c.task in ("solo", "mix", "")] + extra_clips(args.extra_data)
    classes = tuple(sorted({label for c in clips for label in c.labels}))
    clips, split = embeddings(clips, entry, net, cache, classes)
    x, present = split.inputs["embedding"], split.targets.max(axis=1) > 0  # (N, D), (N,)
    test, test_split = embeddings(load_dataset(args.test), entry, net, cache, classes)

    def fit(keep: np.ndarray):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=args.c, class_weight="balanced", max_iter=300))
        return model.fit(x[keep], present[keep])

    by_library = library_clips(clips, "solo+mix")
    index = {c.clip_id: i for i, c in enumerate(clips)}
    silenced, total = np.zeros(len(GATES)), 0  # held-out instrument clips below each gate, and all of them
    print(f"{'held-out library':32s} {'clips':>5s}  " + "  ".join(f"silenced@{g}" for g in GATES))
    for library, held in by_library.items():
        out = np.array([uses_library(c, library) for c in clips])[split.clip_index]
        model = fit(~out)
        rows = np.isin(split.clip_index, [index[c.clip_id] for c in held])
        owners = np.unique(split.clip_index[rows], return_inverse=True)[1]
        scores = mean_by_clip(model.predict_proba(x[rows])[:, 1:], owners, len(held))[:, 0]  # (held,)
        silenced, total = silenced + [(scores < g).sum() for g in GATES], total + len(held)
        shares = "  ".join(f"{(scores < g).mean():11.1%}" for g in GATES)
        print(f"{library[:32]:32s} {len(held):5d}  {shares}", flush=True)
    print(f"{'all held-out instrument clips':32s} {total:5d}  " + "  ".join(f"{s / total:11.1%}" for s in silenced))

    model = fit(np.ones(len(x), bool))
    plays = model.predict_proba(test_split.inputs["embedding"])[:, 1:]  # (windows, 1)
    scores = mean_by_clip(plays, test_split.clip_index, len(test))[:, 0]
    kinds = collections.defaultdict(list)
    for c, s in zip(test, scores):
        kinds[c.source.rsplit("-", 1)[0]].append(s)
    print(f"\n{'out-of-set kind':32s} {'clips':>5s}  " + "  ".join(f"silenced@{g}" for g in GATES))
    for kind, s in sorted(kinds.items()):
        s = np.array(s)
        print(f"{kind[:32]:32s} {len(s):5d}  " + "  ".join(f"{(s < g).mean():11.1%}" for g in GATES))
    print(f"{'all':32s} {len(scores):5d}  " + "  ".join(f"{(scores < g).mean():11.1%}" for g in GATES))


if __name__ == "__main__":
    main()
