"""Does an augmentation close the gap between sample libraries? Leave-one-library-out with and without it.

    pip install pedalboard   # the effects (Spotify's audio effects library); not an instrid dependency
    python scripts/augmentation_study.py --data data/libraries --extra-data ../real-samples eq comp codec chorus reverb noise

For each effect, one augmented copy of every clip (rendered and real) is made, and its frozen musicnn embedding
(the 1506-d pooled features the shipped head reads) computed once and cached under ``--cache``. A logistic
regression on the embeddings then stands in for the head: per library L, it is trained on every other
library's clips (plus their augmented copies when an effect is studied) and scored on L's original clips.
The table gives the mean accuracy over libraries, over the rendered and over the real ones.
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from instrid import audio
from instrid.data import load_dataset
from instrid.extraction import extract_audio
from instrid.labels import IRMAS_CLASSES
from instrid.models import get_entry
from instrid.models.musicnn import load_pretrained
from instrid.windows import clip_windows

SR = 16_000


def effects():
    import pedalboard as pb

    def u(rng, a, b):
        return float(rng.uniform(a, b))

    def board(*fx):
        return lambda y: pb.Pedalboard(list(fx))(y[None], SR)[0]

    def eq(y, rng):  # spectral tilt (two shelves) and two random peaks, +-9 dB
        peaks = [pb.PeakFilter(cutoff_frequency_hz=float(np.exp(u(rng, np.log(150), np.log(7000)))), gain_db=u(rng, -9, 9),
                               q=u(rng, 0.7, 2.5)) for _ in range(2)]  # fmt: skip
        return board(pb.LowShelfFilter(cutoff_frequency_hz=u(rng, 150, 500), gain_db=u(rng, -9, 9)),
                     pb.HighShelfFilter(cutoff_frequency_hz=u(rng, 2000, 6000), gain_db=u(rng, -9, 9)), *peaks)(y)  # fmt: skip

    def comp(y, rng):
        return board(pb.Compressor(threshold_db=u(rng, -35, -10), ratio=u(rng, 2, 10), attack_ms=u(rng, 1, 30),
                                   release_ms=u(rng, 50, 300)))(y)  # fmt: skip

    def codec(y, rng):
        return board(pb.MP3Compressor(vbr_quality=u(rng, 3, 9.5)))(y)

    def chorus(y, rng):  # detune
        return board(pb.Chorus(rate_hz=u(rng, 0.5, 6), depth=u(rng, 0.05, 0.4), centre_delay_ms=u(rng, 3, 12),
                               feedback=0.0, mix=u(rng, 0.3, 0.7)))(y)  # fmt: skip

    def reverb(y, rng):
        return board(pb.Reverb(room_size=u(rng, 0.1, 0.9), damping=u(rng, 0.2, 0.8), wet_level=u(rng, 0.1, 0.5),
                               dry_level=u(rng, 0.5, 1.0)))(y)  # fmt: skip

    def noise(y, rng):  # white or pink, 5-30 dB SNR
        n = rng.standard_normal(len(y))
        if rng.random() < 0.5:
            f = np.fft.rfft(n)
            f[0], f[1:] = 0, f[1:] / np.sqrt(np.arange(1, len(f)))
            n = np.fft.irfft(f, len(y))
        return y + n * np.sqrt(np.mean(y.astype(np.float64) ** 2) / np.mean(n**2) / 10 ** (u(rng, 5, 30) / 10))

    def tremolo(y, rng):
        t = np.arange(len(y)) / SR
        return y * (1 - u(rng, 0.1, 0.5) * (0.5 + 0.5 * np.sin(2 * np.pi * u(rng, 3, 8) * t + u(rng, 0, 6.3))))

    return {f.__name__: f for f in (eq, comp, codec, chorus, reverb, noise, tremolo)}


def embeddings(clips, effect, cache: Path, name: str) -> dict[str, np.ndarray]:
    """Pooled musicnn features of each clip's first 3 s window (after ``effect``), cached as CACHE/NAME.npz."""
    path = cache / f"{name}.npz"
    if path.exists():
        return dict(np.load(path))
    entry, net = get_entry("musicnn"), load_pretrained()
    mels, kept = [], []
    for i, c in enumerate(clips):
        y = audio.load_audio(c.path, sr=SR, min_samples=2048)
        if not np.any(y):
            continue
        if effect is not None:
            z = np.asarray(effect(y, np.random.default_rng([zlib.crc32(name.encode()), i])), np.float32)[: len(y)]
            y = z * (np.max(np.abs(y)) / max(np.max(np.abs(z)), 1e-9))  # the clip's peak level
        mels.append(clip_windows(extract_audio(y.astype(np.float32), entry.features), entry, hop=entry.window)["mel"][:1])
        kept.append(c)
    with torch.inference_mode():
        x = np.concatenate(mels)
        pooled = np.concatenate([net.pooled(torch.from_numpy(x[j : j + 128])).numpy() for j in range(0, len(x), 128)])
    out = {"pooled": pooled, "label": np.array([IRMAS_CLASSES.index(c.labels[0]) for c in kept]),
           "library": np.array([c.source for c in kept])}  # fmt: skip
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def lolo(base: dict, augmented: list[dict], real: set[str]) -> dict[str, float]:
    result = {}
    for library in np.unique(base["library"]):
        train = base["library"] != library
        if np.sum(~train) < 10:  # too few clips to score (e.g. a handful of odd samples)
            continue
        x = [base["pooled"][train]] + [a["pooled"][a["library"] != library] for a in augmented]
        y = [base["label"][train]] + [a["label"][a["library"] != library] for a in augmented]
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300)).fit(np.concatenate(x), np.concatenate(y))
        result[library] = float(np.mean(model.predict(base["pooled"][~train]) == base["label"][~train]))
    means = {"all": np.mean(list(result.values()))}
    means["rendered"] = np.mean([v for k, v in result.items() if k not in real])
    means["real"] = np.mean([v for k, v in result.items() if k in real])
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="rendered with --libraries")
    parser.add_argument("--extra-data", type=Path, action="append", default=[], help="real recordings (labels.csv)")
    parser.add_argument("--cache", type=Path, default=Path("data/augmentation-study"))
    parser.add_argument("effects", nargs="*", default=["eq", "comp", "codec", "chorus", "reverb", "noise", "tremolo"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    sets = [("rendered", [c for c in load_dataset(args.data) if c.task in ("solo", "mix")])]
    sets += [(folder.name, load_dataset(folder)) for folder in args.extra_data]
    real = {c.source for _, clips in sets[1:] for c in clips}
    join = lambda parts: {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}  # noqa: E731
    base = join([embeddings(clips, None, args.cache, name) for name, clips in sets])
    rows = [("none", lolo(base, [], real))]
    table = effects()
    for effect in args.effects:
        copy = join([embeddings(clips, table[effect], args.cache, f"{name}-{effect}") for name, clips in sets])
        rows.append((effect, lolo(base, [copy], real)))
    print("| augmentation | LOLO mean | rendered libraries | real sources |\n|---|---:|---:|---:|")
    for effect, m in rows:
        print(f"| {effect} | {m['all']:.1%} | {m['rendered']:.1%} | {m['real']:.1%} |")


if __name__ == "__main__":
    main()
