"""The demo's report on a dataset: a summary table of clips, audio and features, and one figure."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile

from . import features
from .data import Clip
from .labels import IRMAS_CLASSES, full_name
from .melspec import hz_to_mel
from .store import PackedFeatures
from .windows import input_windows

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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


HZ_TICKS = (0, 500, 1_000, 2_000, 4_000, 8_000, 16_000)  # frequency ticks of the figure's mel axis


def mel_axis_position(hz: np.ndarray, spec: features.MelSpec) -> np.ndarray:
    """Where frequencies fall on an axis of mel bands that draws band b over [b, b + 1]: the band centres are
    evenly spaced on the mel scale, n_mels + 1 steps from fmin to fmax. Clipped to [0, n_mels]."""
    lo, hi = hz_to_mel([spec.fmin, spec.fmax or spec.sample_rate / 2])
    step = (hi - lo) / (spec.n_mels + 1)
    return np.clip((hz_to_mel(hz) - lo) / step - 0.5, 0, spec.n_mels)


def plot_clip(packed: PackedFeatures, clip: Clip, png: Path) -> Figure:
    """Log-mel, pitch mask (drawn on the log-mel) and masked spectrogram of one clip's first model input, side
    by side, frequency in Hz on a mel axis; saved to ``png`` and returned."""
    from matplotlib.figure import Figure  # the object API: no pyplot state, no backend to choose

    spec = packed.config.frontend
    window = packed.window(clip.clip_id, 0)
    mel, mask = window["mel"], window["mask"]  # (n_mels, INPUT_FRAMES) dB, 0/1
    seconds = features.INPUT_FRAMES / spec.frames_per_second
    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 3, sharey=True)
    panels = [("log-mel", mel, "magma", "dB"), ("pYIN pitch mask (red) on the log-mel", mel, "gray", "dB"),
              ("masked spectrogram (mel x mask)", window["pred_spec"], "magma", "dB (0 outside the mask)")]  # fmt: skip
    for ax, (title, image, cmap, unit) in zip(axes, panels):
        shown = ax.imshow(image, origin="lower", aspect="auto", cmap=cmap, extent=(0, seconds, 0, image.shape[0]))
        ax.set_title(title)
        ax.set_xlabel("time (s)")
        fig.colorbar(shown, ax=ax, fraction=0.05).set_label(unit)
    voiced = mask.any(axis=0)
    band = np.where(voiced, mask.argmax(axis=0) + 0.5, np.nan)  # (INPUT_FRAMES,) centre of the masked band
    frames = (np.arange(mask.shape[1]) + 0.5) * seconds / mask.shape[1]
    axes[1].plot(frames, band, color="red", linewidth=3, alpha=0.8, solid_capstyle="butt")
    ticks = [f for f in HZ_TICKS if spec.fmin <= f <= (spec.fmax or spec.sample_rate / 2)]
    axes[0].set_yticks(mel_axis_position(ticks, spec), [f"{f / 1000:g}k" if f >= 1000 else f"{f}" for f in ticks])
    axes[0].set_ylabel("frequency (Hz)")
    fig.suptitle(f"{clip.clip_id}: {', '.join(full_name(c) for c in clip.labels)} ({clip.source})")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    return fig
