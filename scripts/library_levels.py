"""How loud each sample library's clips are, as musicnn hears them: the mel power of the loudest frame of each
clip's first 3 s window (dB, on musicnn's front end), median and 10th-90th percentiles per library. The
levels differ by library, and musicnn's log-mel depends on the level: what ``--set normalise_level=true`` is for.

    python scripts/library_levels.py data/libraries REAL_SAMPLES data/mixtures data/singing data/negatives
"""

import sys
from collections import defaultdict

import numpy as np

from instrid.audio import load_audio
from instrid.data import load_dataset
from instrid.features import MUSICNN_MEL, log_mel
from instrid.models.musicnn import MUSICNN_FRAMES


def loudest_frame_db(path) -> float:
    mel = log_mel(load_audio(path, sr=MUSICNN_MEL.sample_rate, min_samples=MUSICNN_MEL.min_samples), MUSICNN_MEL)
    power = (10 ** mel[:, :MUSICNN_FRAMES].astype(np.float64) - 1) / 10_000  # undo log10(1 + 10000 power)
    return float(10 * np.log10(power.sum(axis=0).max() + 1e-12))


def main(folders: list[str]):
    levels = defaultdict(list)
    for folder in folders:
        for clip in load_dataset(folder):
            if clip.task == "mix-long":
                continue
            group = clip.source if len(clip.labels) == 1 else "mixtures" if clip.labels else "no instrument"
            levels[group].append(loudest_frame_db(clip.path))
    for group, values in sorted(levels.items(), key=lambda kv: np.median(kv[1])):
        p10, median, p90 = np.percentile(values, [10, 50, 90])
        print(f"{group:32s} {len(values):5d} clips  median {median:5.1f} dB  (10-90 %: {p10:5.1f} to {p90:5.1f})")


if __name__ == "__main__":
    main(sys.argv[1:])
