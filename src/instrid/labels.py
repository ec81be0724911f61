"""The 11 IRMAS instrument classes: codes, names, General MIDI programs and playable ranges."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    code: str  # IRMAS code, e.g. "cel"
    name: str  # full name
    programs: tuple[int, ...]  # 0-based General MIDI programs that sound like it
    low: int  # lowest MIDI note it plays
    high: int  # highest MIDI note it plays


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("cel", "cello", (42,), 36, 76),
    Instrument("cla", "clarinet", (71,), 50, 89),
    Instrument("flu", "flute", (73,), 60, 96),
    Instrument("gac", "acoustic guitar", (24, 25), 40, 83),
    Instrument("gel", "electric guitar", (26, 27, 28, 29, 30), 40, 86),
    Instrument("org", "organ", (16, 17, 18, 19, 20), 36, 96),
    Instrument("pia", "piano", (0, 1), 28, 100),
    Instrument("sax", "saxophone", (64, 65, 66, 67), 44, 84),
    Instrument("tru", "trumpet", (56,), 54, 84),
    Instrument("vio", "violin", (40,), 55, 96),
    Instrument("voi", "voice", (52, 53, 54, 85), 48, 79),
)
IRMAS_CLASSES: tuple[str, ...] = tuple(i.code for i in INSTRUMENTS)
BY_CODE: dict[str, Instrument] = {i.code: i for i in INSTRUMENTS}


def full_name(label: str) -> str:
    """"vio" -> "violin"; a label that is no IRMAS code is returned as it is."""
    return BY_CODE[label].name if label in BY_CODE else label
