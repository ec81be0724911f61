"""Would pYIN's voicing tell instruments from percussion? The mean voiced probability of each file's loud frames
(within 40 dB of its loudest), per class of ``real-samples`` and per kit of real percussion: the Hydrogen kits of
``make_out_of_set.py --training`` and the kits of the out-of-set set. A gate ("no instrument where the mean is
below g") helps only if every instrument class sits above every kit.

    python scripts/voicing_study.py REAL_SAMPLES data/out-of-set      # needs hydrogen-drumkits (apt-get)
"""

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import soxr

from instrid import audio
from instrid.data import load_dataset
from instrid.pitch import pyin

sys.path.insert(0, str(Path(__file__).parent))
import make_out_of_set

SR, FRAME, HOP = 16_000, 1_024, 256  # the musicnn model's rate; 64 ms frames hold four periods of C2


def mean_voicing(y: np.ndarray) -> float:
    _, _, voiced_prob = pyin(y, fmin=65.4, fmax=2093.0, sr=SR, frame_length=FRAME, hop_length=HOP)
    rms = np.sqrt(np.convolve(y**2, np.ones(HOP) / HOP, "same")[::HOP])
    rms = np.pad(rms, (0, max(0, len(voiced_prob) - len(rms))))[: len(voiced_prob)]
    loud = rms > rms.max() * 10 ** (-40 / 20)
    return float(np.mean(voiced_prob[loud] if loud.any() else voiced_prob))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("real_samples", type=Path)
    parser.add_argument("out_of_set", type=Path)
    args = parser.parse_args()
    groups = defaultdict(list)  # (set, class or kit) -> mean voicing per file
    rng = np.random.default_rng(5)
    for name, y in make_out_of_set.kit_sounds(make_out_of_set.hydrogen_kits(test=False), 3, rng).items():
        y = soxr.resample(y, make_out_of_set.RENDER_SR, SR).astype(np.float32)
        groups[("training kits", name.split("-")[1])].append(mean_voicing(y))
    for clip in load_dataset(args.out_of_set):
        if clip.source.startswith("kit-"):
            groups[("test kits", clip.source.split("-")[1])].append(mean_voicing(audio.load_audio(clip.path, sr=SR)))
    for clip in load_dataset(args.real_samples):
        if len(clip.labels) != 1:
            continue
        groups[("real samples", clip.labels[0])].append(mean_voicing(audio.load_audio(clip.path, sr=SR)))
    print(f"{'set':<14}{'class or kit':<26}{'files':>6}{'10th pct':>10}{'median':>8}{'90th pct':>10}")
    for (where, what), values in sorted(groups.items()):
        v = np.array(values)
        print(
            f"{where:<14}{what:<26}{len(v):>6}{np.percentile(v, 10):>10.2f}{np.median(v):>8.2f}{np.percentile(v, 90):>10.2f}"
        )


if __name__ == "__main__":
    main()
