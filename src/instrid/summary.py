"""The demo's report on a dataset: a summary table of clips, audio and features, and one figure."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import soundfile

from . import features
from .data import Clip
from .labels import IRMAS_CLASSES
from .store import PackedFeatures
from .windows import input_windows

SPLITS = ("train", "validation", "test", "test-unseen")
SHORT = {"train": "train", "validation": "val", "test": "test", "test-unseen": "unseen"}


def summary_table(clips: list[Clip], packed: PackedFeatures) -> str:
    """Clips per class and split for each task, voiced ratio of the pitch mask per class, audio seconds,
    and the feature shapes, as fixed-width text."""
    counts = Counter((c.labels[0], c.task, c.split) for c in clips if len(c.labels) == 1)
    voiced = defaultdict(list)  # (class, task) -> voiced flags of all frames
    for c in clips:
        if packed.f0 is not None and c.clip_id in packed and len(c.labels) == 1:
            voiced[(c.labels[0], c.task)].append(packed.clip(c.clip_id)["voiced"])
    tasks = [t for t in ("solo", "mix") if any(c.task == t for c in clips)]
    head = "class".ljust(7) + "".join(f"{t + ':' + SHORT[s]:>12}" for t in tasks for s in SPLITS) + "".join(f"{'voiced ' + t:>12}" for t in tasks)
    lines = [head, "-" * len(head)]
    for code in IRMAS_CLASSES:
        row = code.ljust(7) + "".join(f"{counts[(code, t, s)]:>12}" for t in tasks for s in SPLITS)
        for t in tasks:
            flags = voiced.get((code, t))
            row += f"{np.concatenate(flags).mean():>12.0%}" if flags else f"{'-':>12}"
        lines.append(row)
    seconds = Counter()
    for c in clips:
        seconds[c.split] += soundfile.info(c.path).duration
    lines.append("")
    lines.append("audio: " + ", ".join(f"{s} {seconds[s]:.0f} s" for s in sorted(seconds)) + f" ({sum(seconds.values()) / 60:.1f} min)")
    long_clips = [c for c in clips if c.task == "mix-long"]
    if long_clips:
        labels = Counter(len(c.labels) for c in long_clips)
        lines.append(f"mix-long excerpts: {len(long_clips)}, labels per excerpt " + ", ".join(f"{k}: {v}" for k, v in sorted(labels.items())))
    spec = packed.config.frontend
    lengths = [packed.n_frames(cid) for cid in packed.clip_ids]
    n_frames = sum(lengths)
    n_inputs = sum(len(input_windows(n)) for n in lengths)
    rows = f"{spec.dim} mel bands" if spec.field == "mel" else f"{spec.dim} {spec.field} values"
    line = f"features: {len(packed)} clips, {n_frames} frames of {rows} at {spec.frames_per_second:.0f} frames/s"
    if packed.f0 is not None:
        line += f"; {n_inputs} model inputs of mel/mask/pred_spec 1 x {spec.dim} x {features.INPUT_FRAMES}"
    lines.append(line)
    return "\n".join(lines)


def plot_clip(packed: PackedFeatures, clip: Clip, png: Path) -> None:
    """Log-mel, pitch mask and masked spectrogram of one clip's first model input, side by side."""
    from matplotlib.figure import Figure  # the object API: no pyplot state, no backend to choose

    window = packed.window(clip.clip_id, 0)
    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 3, sharey=True)
    panels = [("log-mel (dB)", window["mel"], "magma"), ("pYIN pitch mask", window["mask"], "gray_r"), ("masked spectrogram (mel x mask)", window["pred_spec"], "magma")]
    seconds = features.INPUT_FRAMES / packed.config.frontend.frames_per_second
    for ax, (title, image, cmap) in zip(axes, panels):
        shown = ax.imshow(image, origin="lower", aspect="auto", cmap=cmap, extent=(0, seconds, 0, image.shape[0]))
        ax.set_title(title)
        ax.set_xlabel("time (s)")
        fig.colorbar(shown, ax=ax, fraction=0.05)
    axes[0].set_ylabel("mel band")
    fig.suptitle(f"{clip.clip_id}: {', '.join(clip.labels)} ({clip.source})")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
