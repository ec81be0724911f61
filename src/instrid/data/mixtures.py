"""Mixtures of solo recordings from different sample libraries, every instrument labelled.

They are training data for a multi-label (sigmoid) model, so that ``predict`` can name several instruments
in one recording, and, built from recordings kept out of training, a multi-instrument test set of real audio.

``mix_recordings([DIR, ...], OUT, count=N, seed=S)`` takes the one-instrument clips of the folders (a
rendered dataset's ``solo`` training clips; every one-label clip of a ``labels.csv`` set or folder per class)
and plans every mixture from ``seed`` alone: 2 to ``max_instruments`` different classes, one clip of each,
taken from a library the mixture does not use yet where the class has one, each at a random level (RMS 0 to
``-LEVEL_RANGE_DB`` dB under the first part) and the parts after the first starting up to ``MAX_START_S``
later. With ``backgrounds`` (folders of clips labelled with no instrument: drums, noise, speech), each
mixture has an even chance of one of those clips under it, unlabelled, at a level drawn the same way: in most
songs the instruments play over drums, and a model that has heard drums only alone takes them for no
instrument at all.

With ``accompaniment`` K > 0 a mixture is a song-like excerpt, labelled the way IRMAS is: 1 to
``max_instruments`` predominant instruments, labelled, over 1 to K accompanying instruments of other classes,
unlabelled, each ``ACCOMPANIMENT_DB`` under the first part. An instrument that faint is not named.

It writes ``OUT/audio/NNNNN.flac`` (3 s, 44.1 kHz, peak 0.9); ``OUT/labels.csv`` with ``file``, ``labels``
(codes joined by ``;``), ``source`` (the libraries joined by ``+``, so a leave-one-library-out fold leaves
out every mixture that uses its library) and ``details`` (each part's file, library, level and start); and
``OUT/mixing.json`` (the settings and a digest of the clips mixed). Existing mixtures are kept (resume; a
folder made with other settings or clips is refused, so old audio never gets new labels); a mixture whose
recording cannot be read, or whose part would be silent, is left out and reported.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from tqdm import tqdm

from ..audio import stream_audio
from ..errors import AudioError, DataError, ParameterError, SilentAudioWarning
from ..fileio import atomic_write, claim_folder, process_pool
from .layouts import LABELS_FILE, LIBRARY_JOIN, Clip, load_dataset, write_labels_csv

MIX_SR = 44_100
MIX_SECONDS = 3.0
LEVEL_RANGE_DB = 10.0  # a part's RMS is 0 to this many dB under the first part's: quiet, but heard
ACCOMPANIMENT_DB = (-24.0, -14.0)  # an accompanying part's RMS under the first part's: heard, but not predominant
MAX_START_S = 1.0  # the parts after the first start up to this late
SILENT_RMS = 1e-4  # a part whose RMS within the mixture is under this (-80 dBFS) would be a label for silence
MAX_COUNT = 99_999  # mixtures in one folder (five-digit names)
MANIFEST = "mixing.json"


@dataclass(frozen=True)
class MixPart:
    path: Path
    label: str
    library: str
    level_db: float  # RMS relative to the first part's
    start_s: float


@dataclass(frozen=True)
class MixPlan:
    file: str  # relative to the output folder
    parts: tuple[MixPart, ...]  # the first sets the level; a part labelled "" is an unlabelled background

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted(p.label for p in self.parts if p.label))

    @property
    def source(self) -> str:
        return LIBRARY_JOIN.join(sorted({p.library for p in self.parts}))


def mixable_clips(folders: Sequence[str | Path]) -> list[Clip]:
    """The one-instrument clips a mixture may use: a rendered dataset's ``solo`` training clips (its other
    splits stay unheard) and every one-label clip of a ``labels.csv`` set or folder per class."""
    clips = [c for folder in folders for c in load_dataset(folder)]
    usable = [c for c in clips if len(c.labels) == 1 and (not c.task or (c.task == "solo" and c.split == "train"))]
    joined = sorted({c.source for c in usable if LIBRARY_JOIN in c.source})
    if joined:
        raise DataError(f"library names may not contain {LIBRARY_JOIN!r} (it joins a mixture's libraries): {', '.join(joined)}")
    if len({c.labels[0] for c in usable}) < 2:
        raise DataError(f"{', '.join(map(str, folders))}: mixtures need one-instrument clips of 2 classes or more")
    return sorted(usable, key=lambda c: (c.source, str(c.path)))


def background_clips(folders: Sequence[str | Path]) -> list[Clip]:
    """The clips of ``labels.csv`` sets labelled with no instrument, to put under mixtures."""
    usable = [c for folder in folders for c in load_dataset(folder) if not c.labels and not c.task]
    if folders and not usable:
        raise DataError(f"{', '.join(map(str, folders))}: no clips labelled with no instrument to put under mixtures")
    return sorted(usable, key=lambda c: (c.source, str(c.path)))


def plan_mixtures(
    clips: Sequence[Clip], *, count: int, seed: int, max_instruments: int = 4, backgrounds: Sequence[Clip] = (),
    accompaniment: int = 0,
) -> list[MixPlan]:  # fmt: skip
    """``count`` mixtures of 2 to ``max_instruments`` classes (1 to ``max_instruments`` over 1 to
    ``accompaniment`` unlabelled ones when it is above 0), each with an even chance of one of ``backgrounds``
    under it when there are any, decided from ``seed`` and the clips alone."""
    if not 1 <= count <= MAX_COUNT or max_instruments < 2 or accompaniment < 0:
        raise ParameterError(f"mixtures need 1 <= count <= {MAX_COUNT}, max_instruments >= 2 and accompaniment >= 0, "
                             f"got {count}, {max_instruments} and {accompaniment}")  # fmt: skip
    by_class: dict[str, list[Clip]] = {}
    for c in clips:
        by_class.setdefault(c.labels[0], []).append(c)
    classes = sorted(by_class)
    rng = np.random.default_rng(seed)
    plans = []
    for i in range(count):
        n = int(rng.integers(1 if accompaniment else 2, min(max_instruments, len(classes) - (accompaniment > 0)) + 1))
        quiet = int(rng.integers(1, min(accompaniment, len(classes) - n) + 1)) if accompaniment else 0
        parts, used = [], set()
        for k, label in enumerate(rng.choice(classes, n + quiet, replace=False)):
            fresh = [c for c in by_class[label] if c.source not in used] or by_class[label]
            clip = fresh[int(rng.integers(len(fresh)))]
            low, high = (-LEVEL_RANGE_DB, 0.0) if k < n else ACCOMPANIMENT_DB
            level = 0.0 if k == 0 else round(float(rng.uniform(low, high)), 2)
            start = 0.0 if k == 0 else round(float(rng.uniform(0.0, MAX_START_S)), 3)
            parts.append(MixPart(clip.path, str(label) if k < n else "", clip.source, level, start))
            used.add(clip.source)
        if backgrounds and rng.random() < 0.5:
            clip = backgrounds[int(rng.integers(len(backgrounds)))]
            parts.append(MixPart(clip.path, "", clip.source, round(float(rng.uniform(-LEVEL_RANGE_DB, 0.0)), 2), 0.0))
        plans.append(MixPlan(f"audio/{i:05d}.flac", tuple(parts)))
    return plans


def _beginning(path: Path, samples: int) -> np.ndarray:
    """The first ``samples`` of a recording at MIX_SR, mono; only as much of it is decoded."""
    blocks, have = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SilentAudioWarning)  # silence is judged per part, in the mixture
        for block in stream_audio(path, sr=MIX_SR):
            blocks.append(block[: samples - have])
            have += len(blocks[-1])
            if have >= samples:
                break
    return np.concatenate(blocks)


def render_mixture(plan: MixPlan) -> np.ndarray:
    """The mixture's audio (MIX_SECONDS at MIX_SR, peak 0.9). Raises ``AudioError`` for an unreadable
    recording and ``DataError`` for a part that would be silent in it."""
    n = int(MIX_SECONDS * MIX_SR)
    y = np.zeros(n, np.float32)
    reference = None
    for part in plan.parts:
        start = int(part.start_s * MIX_SR)
        audio = _beginning(part.path, n - start)
        rms = float(np.sqrt(np.mean(audio**2)))
        if rms < SILENT_RMS and not part.label:  # a silent background: nothing to add
            continue
        if rms < SILENT_RMS:
            raise DataError(f"{part.path}: silent in the first {MIX_SECONDS - part.start_s:.1f} s, so not a {part.label} part")
        reference = reference or rms
        y[start : start + len(audio)] += audio * (reference * 10 ** (part.level_db / 20) / rms)
    return y * (0.9 / max(float(np.max(np.abs(y))), 1e-12))


def _write_mixture(plan: MixPlan, out: Path) -> str | None:
    """Write one mixture; returns why it could not be made, or None."""
    try:
        y = render_mixture(plan)
    except (AudioError, DataError) as err:
        return f"{plan.file}: {err}"
    atomic_write(out / plan.file, lambda f: soundfile.write(f, y, MIX_SR, format="FLAC", subtype="PCM_16"))
    return None


def write_labels(out: Path, plans: Sequence[MixPlan]) -> None:
    def details(plan: MixPlan) -> str:
        return json.dumps([{"file": str(p.path), "library": p.library, "label": p.label, "level_db": p.level_db,
                            "start_s": p.start_s} for p in plan.parts])  # fmt: skip

    write_labels_csv(out, [(plan.file, ";".join(plan.labels), plan.source, details(plan)) for plan in plans])


def _claim(out: Path, **settings) -> None:
    """Write ``OUT/mixing.json`` (the settings that decide every plan, the clips as a digest), or check that
    the folder's matches. ``count`` is not among them: a larger count makes the same mixtures first."""
    digest = hashlib.sha1()
    for clip in [*settings.pop("clips"), *settings.pop("backgrounds")]:
        digest.update(f"{clip.path}|{';'.join(clip.labels)}|{clip.source}\n".encode())
    claim_folder(out / MANIFEST, {**settings, "clips_sha1": digest.hexdigest()}, "mixtures")


def mix_recordings(
    folders: Sequence[str | Path],
    out: str | Path,
    *,
    count: int = 1000,
    seed: int = 0,
    max_instruments: int = 4,
    backgrounds: Sequence[str | Path] = (),
    accompaniment: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> list[MixPlan]:
    """Make (or finish making) ``count`` mixtures of the clips of ``folders`` in ``out``, about half of them
    over a clip of ``backgrounds`` when given; returns those written."""
    out = Path(out)
    if any(out.resolve() == Path(folder).resolve() for folder in (*folders, *backgrounds)):
        raise ParameterError(f"--out {out} is one of the folders mixed: choose another folder")
    clips, under = mixable_clips(folders), background_clips(backgrounds)
    plans = plan_mixtures(clips, count=count, seed=seed, max_instruments=max_instruments, backgrounds=under, accompaniment=accompaniment)
    settings = {"accompaniment": accompaniment} if accompaniment else {}  # folders made before the option stay valid
    _claim(out, seed=seed, max_instruments=max_instruments, clips=clips, backgrounds=under, **settings)
    todo = [p for p in plans if not (out / p.file).exists()]
    failed = {}
    with tqdm(total=len(todo), desc="mix", unit="clip", disable=not progress) as bar:
        with process_pool(workers or os.cpu_count() or 1) as pool:
            futures = [pool.submit(_write_mixture, plan, out) for plan in todo]
            for future in concurrent.futures.as_completed(futures):
                if reason := future.result():
                    failed[reason.split(":")[0]] = reason
                bar.update()
    if failed:
        warnings.warn(f"{len(failed)} mixture(s) not written, left out of {LABELS_FILE}: {'; '.join(sorted(failed.values()))}",
                      stacklevel=2)  # fmt: skip
    written = [p for p in plans if p.file not in failed]
    write_labels(out, written)
    return written
