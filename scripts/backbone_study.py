"""Which pretrained musicnn carries over better to a sample library it never heard: MagnaTagATune or the
Million Song Dataset weights?

For each backbone, the frozen pooled embedding of every single-instrument clip (level-normalised, as the
shipped recipe), and a logistic regression standing in for the head, trained leave-one-library-out: per
library, on every other library's clips, scored on its own (a clip's score: its windows' mean). Prints each
library's top-1 accuracy per backbone and the means.

    python scripts/backbone_study.py --data data/libraries --extra-data REAL_SAMPLES --extra-data data/freepats
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from instrid.data import load_dataset
from instrid.libraries import library_clips
from instrid.models import get_entry
from instrid.models.musicnn import BACKBONES, MusicnnClassifier, MusicnnConfig
from instrid.store import ensure_features
from instrid.train import embed_split, embedding_store, extra_clips, make_split
from instrid.windows import mean_by_clip


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--extra-data", action="append", default=[])
    p.add_argument("--c", type=float, default=0.1, help="inverse regularisation strength")
    args = p.parse_args()
    entry, cache = get_entry("musicnn"), Path(args.data) / "features"
    clips = load_dataset(args.data) + extra_clips(args.extra_data)
    by_library = library_clips(clips, "solo+mix")
    clips = [c for group in by_library.values() for c in group]
    classes = tuple(sorted({c.labels[0] for c in clips}))
    packed = ensure_features(clips, entry, cache, progress=False)
    clips = [c for c in clips if c.clip_id in packed]
    split = make_split(packed, clips, entry, classes, hop=entry.window)
    library = np.array([c.source for c in clips])[split.clip_index]  # (N,) per window
    accuracy = {}
    for backbone in BACKBONES:
        net = MusicnnClassifier(MusicnnConfig(backbone=backbone, normalise_level=True)).eval()
        store = embedding_store(cache, net, "fp32")
        x = embed_split(net, split, torch.device("cpu"), "fp32", store).inputs["embedding"]  # (N, 1506)
        for name in by_library:
            out = library == name
            model = make_pipeline(StandardScaler(), LogisticRegression(C=args.c, max_iter=300)).fit(x[~out], split.labels[~out])
            owners, index = np.unique(split.clip_index[out], return_inverse=True)
            per_clip = mean_by_clip(model.predict_proba(x[out]), index, len(owners))  # (clips, classes seen)
            predicted = model.classes_[per_clip.argmax(axis=1)]
            accuracy[backbone, name] = float(np.mean(predicted == split.clip_labels[owners]))
    print(f"{'held-out library':32s} {'clips':>5s}  " + "  ".join(f"{b:>6s}" for b in BACKBONES))
    for name, group in by_library.items():
        print(f"{name[:32]:32s} {len(group):5d}  " + "  ".join(f"{accuracy[b, name]:6.1%}" for b in BACKBONES))
    print(f"{'mean':32s} {'':5s}  " + "  ".join(f"{np.mean([accuracy[b, n] for n in by_library]):6.1%}" for b in BACKBONES))


if __name__ == "__main__":
    main()
