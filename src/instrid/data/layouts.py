"""Readers for the published dataset layouts; each returns a list of ``Clip`` records.

* IRMAS training: ``IRMAS-TrainingData/<cls>/*.wav``, label = folder, bracket tags in the name.
* IRMAS testing: ``IRMAS-TestingData-Part{1,2,3}/**/NAME.wav`` + ``NAME.txt`` (one code a line,
  trailing tabs/spaces stripped).
* NSynth: ``nsynth-{train,valid,test}/examples.json`` + ``audio/NAME.wav``, label = instrument family.
* Folder per class: ``<root>/<label>/*.{wav,flac,ogg,mp3}``.
* Rendered (``instrid render``): ``metadata.csv`` beside the audio.
* Sets of recordings (e.g. ``real-notes``): ``labels.csv`` with ``file,label`` (or ``labels``) and an optional
  ``source``; all in split ``test``.

Tasks follow the rendered data's names, so training and evaluation pick clips the same way for every
layout: IRMAS training excerpts are ``mix``, IRMAS test excerpts ``mix-long``, NSynth notes ``solo``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..audio import audio_files
from ..errors import DataError
from ..fileio import atomic_write
from ..labels import IRMAS_CLASSES

METADATA_FILE = "metadata.csv"
LABELS_FILE = "labels.csv"
METADATA_COLUMNS = ("clip_id", "path", "labels", "split", "task", "source", "details")
LIBRARY_JOIN = "+"  # a mixture's source: the libraries of its parts, joined


@dataclass(frozen=True)
class Clip:
    clip_id: str  # unique within the dataset, usable as a file name
    path: Path  # the audio file
    labels: tuple[str, ...]  # one label (single-label tasks) or several (IRMAS test)
    split: str  # "train", "validation", "test", ... as the layout defines
    task: str = ""  # "solo", "mix", "mix-long" for rendered data; empty for published layouts
    source: str = ""  # where the audio comes from (sound font, dataset name)
    details: dict = field(default_factory=dict, compare=False, hash=False)  # tags, programs, pitches


def _clip_id(root: Path, path: Path) -> str:
    """A file-name-safe id from the path relative to the dataset root."""
    rel = path.relative_to(root).with_suffix("").as_posix()
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", rel)


def read_irmas_train(root: str | Path) -> list[Clip]:
    """IRMAS training data: the label is the class folder; bracket tags give more (``[cel][cla]0001__1.wav``,
    ``[gel][dru][pop_roc]...``: instruments, drums ``dru``/no drums ``nod``, genre)."""
    root = Path(root)
    clips = []
    for cls in IRMAS_CLASSES:
        for path in audio_files([root / cls])[0] if (root / cls).is_dir() else []:
            tags = re.findall(r"\[([^\]]+)\]", path.name)
            details = {"tags": tags}
            if "dru" in tags or "nod" in tags:
                details["drums"] = "dru" in tags
                after = tags[tags.index("dru" if "dru" in tags else "nod") + 1 :]
                if after:
                    details["genre"] = after[0]
            clips.append(Clip(_clip_id(root, path), path, (cls,), "train", "mix", "irmas", details))
    if not clips:
        raise DataError(f"{root}: no IRMAS training audio found; expected <root>/<cls>/*.wav with cls in {IRMAS_CLASSES}")
    return clips


def read_irmas_test(root: str | Path) -> list[Clip]:
    """IRMAS testing data: every ``NAME.wav`` with a ``NAME.txt`` of class codes, multi-label."""
    root = Path(root)
    clips = []
    for txt in sorted(root.rglob("*.txt")):
        wav = txt.with_suffix(".wav")
        if not wav.is_file():
            continue
        labels = tuple(sorted({line.strip() for line in txt.read_text().splitlines() if line.strip()}))
        unknown = [label for label in labels if label not in IRMAS_CLASSES]
        if unknown:
            raise DataError(f"{txt}: unknown class code(s) {unknown}; expected codes from {IRMAS_CLASSES}")
        if labels:
            clips.append(Clip(_clip_id(root, wav), wav, labels, "test", "mix-long", "irmas"))
    if not clips:
        raise DataError(f"{root}: no IRMAS test excerpts found; expected NAME.wav beside NAME.txt")
    return clips


NSYNTH_SPLITS = {"nsynth-train": "train", "nsynth-valid": "validation", "nsynth-test": "test"}


def read_nsynth(root: str | Path) -> list[Clip]:
    """NSynth: ``nsynth-{train,valid,test}/examples.json``; label = ``instrument_family_str``.
    The official splits are kept: its test split holds instruments unseen in training."""
    root = Path(root)
    clips = []
    for folder, split in NSYNTH_SPLITS.items():
        meta = root / folder / "examples.json"
        if not meta.is_file():
            continue
        try:
            examples = json.loads(meta.read_text())
        except json.JSONDecodeError as err:
            raise DataError(f"{meta}: not valid JSON ({err}); re-extract the NSynth archive") from None
        for name, ex in sorted(examples.items()):
            details = {k: ex[k] for k in ("pitch", "velocity", "instrument_str", "instrument_source_str") if k in ex}
            path = root / folder / "audio" / f"{name}.wav"
            clips.append(Clip(name, path, (ex["instrument_family_str"],), split, "solo", "nsynth", details))
    if not clips:
        raise DataError(f"{root}: no NSynth examples.json found under nsynth-{{train,valid,test}}/")
    return clips


def read_folders(root: str | Path) -> list[Clip]:
    """A user's own data: ``<root>/<label>/*.{wav,flac,ogg,mp3}``, all in split "train"."""
    root = Path(root)
    clips = [
        Clip(_clip_id(root, path), path, (folder.name,), "train", source=root.name)
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for path in audio_files([folder])[0]
    ]
    if not clips:
        raise DataError(f"{root}: no audio found; expected <root>/<label>/*.wav (or .flac, .ogg, .mp3)")
    return clips


def read_metadata(root: str | Path) -> list[Clip]:
    """A dataset described by ``metadata.csv`` (what ``instrid render`` writes); paths relative to ``root``."""
    root = Path(root)
    with open(root / METADATA_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = set(METADATA_COLUMNS) - set(rows[0] if rows else METADATA_COLUMNS)
    if missing:
        raise DataError(f"{root / METADATA_FILE}: missing columns {sorted(missing)}")
    return [
        Clip(
            r["clip_id"], root / r["path"], tuple(r["labels"].split()), r["split"], r["task"], r["source"],
            json.loads(r["details"] or "{}"),
        )
        for r in rows
    ]


def write_metadata(root: Path, clips: list[Clip]) -> None:
    """Write ``root/metadata.csv`` for ``clips`` (paths stored relative to ``root``), atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(METADATA_COLUMNS)
    for c in clips:
        rel = c.path.relative_to(root).as_posix()
        writer.writerow([c.clip_id, rel, " ".join(c.labels), c.split, c.task, c.source, json.dumps(c.details)])
    atomic_write(root / METADATA_FILE, lambda f: f.write(buffer.getvalue().encode()))


def write_labels_csv(root: Path, rows: Iterable[tuple[str, str, str, str]]) -> None:
    """Write ``root/labels.csv`` atomically, one row per recording: ``file`` (relative to ``root``), ``labels``
    (codes joined by ``;``), ``source`` and ``details`` (as ``read_labels_csv`` reads them)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "labels", "source", "details"])
    writer.writerows(rows)
    atomic_write(Path(root) / LABELS_FILE, lambda f: f.write(buffer.getvalue().encode()))


def read_labels_csv(root: str | Path) -> list[Clip]:
    """A set of recordings listed in ``labels.csv``: columns ``file`` (relative to the folder) and ``label``, or
    ``labels`` (codes joined by ``;``; empty: no instrument), and optionally ``source``, whose repository part (``owner/name:path``
    -> ``name``) names the clip's sample library. Every clip is in split ``test`` and counts for every task;
    ``instrid train`` trains on such a set's clips."""
    root = Path(root)
    with (root / LABELS_FILE).open(newline="") as f:
        rows = list(csv.DictReader(f))
    column = next((c for c in ("label", "labels") if rows and c in rows[0]), None)
    if column is None or "file" not in rows[0]:
        raise DataError(f"{root / LABELS_FILE}: expected columns file and label (or labels)")
    return [
        Clip(_clip_id(root, root / r["file"]), root / r["file"], tuple(sorted(x for x in r[column].split(";") if x)), "test", "",
             library_of(r.get("source") or "") or root.name, _parts(r.get("details")))
        for r in rows
    ]  # fmt: skip


def _parts(details: str | None) -> dict:
    """A mixture's ``details`` column (``data/mixtures.py``: a JSON list of its parts) as ``{"parts": [...]}``;
    anything else as no details."""
    try:
        parts = json.loads(details or "null")
    except (ValueError, RecursionError):
        return {}
    return {"parts": parts} if isinstance(parts, list) else {}


def label_libraries(clip: Clip) -> dict[str, str]:
    """Each labelled instrument of ``clip`` and the library it was played from: a mixture's parts, otherwise
    the clip's own library for all of them."""
    parts = [p for p in clip.details.get("parts", ()) if isinstance(p, dict) and p.get("label") in clip.labels]
    if parts:
        return {p["label"]: str(p.get("library", "")) for p in parts}
    return dict.fromkeys(clip.labels, clip.source)


def uses_library(clip: Clip, library: str | None) -> bool:
    """Whether ``clip`` comes from ``library``, alone or as a part of a mixture (``data/mixtures.py``)."""
    return library in clip.source.split(LIBRARY_JOIN)


def library_of(source: str) -> str:
    """``"sfzinstruments/SplendidGrandPiano:Samples/FF A2.flac"`` -> ``"SplendidGrandPiano"``."""
    return source.split(":")[0].rsplit("/", 1)[-1]


def load_dataset(root: str | Path) -> list[Clip]:
    """Read a dataset folder, recognising its layout (checked in this order):
    ``metadata.csv`` → rendered; ``labels.csv`` → an evaluation set; ``nsynth-*/examples.json`` → NSynth;
    ``*.txt`` beside ``*.wav`` → IRMAS testing; class-code folders → IRMAS training; otherwise folder per class."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such dataset folder; render one with `instrid render --out {root}`")
    if (root / METADATA_FILE).is_file():
        return read_metadata(root)
    if (root / LABELS_FILE).is_file():
        return read_labels_csv(root)
    if any((root / folder / "examples.json").is_file() for folder in NSYNTH_SPLITS):
        return read_nsynth(root)
    if any(txt.with_suffix(".wav").is_file() for txt in root.rglob("*.txt")):
        return read_irmas_test(root)
    if any((root / cls).is_dir() for cls in IRMAS_CLASSES):
        return read_irmas_train(root)
    return read_folders(root)
