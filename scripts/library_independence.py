"""How much each pair of sample libraries shares samples, per class: the correlation of the log spectra of the
same note (two programs x two pitches per class) rendered from both. 0.95 or more means shared samples; such
classes are listed in ``Library.shared`` (instrid/data/render.py) so that a library counts once per class.

    python scripts/library_independence.py        # prints, per class, the pairs that correlate above 0.93
"""

import itertools

import numpy as np

from instrid.data.render import LIBRARIES, RENDER_SR, Part, render_part, soundfonts
from instrid.labels import BY_CODE, IRMAS_CLASSES

REPORT_ABOVE = 0.93


def log_spectrum(font, program: int, pitch: int) -> np.ndarray:
    y = render_part(font, Part("", program, [(0.0, 1.5, pitch, 100)]), 2 * RENDER_SR)
    return np.log10(np.abs(np.fft.rfft(y[:65_536] * np.hanning(65_536))) + 1e-6)


def main():
    fonts = soundfonts(tuple(LIBRARIES))
    for code in IRMAS_CLASSES:
        inst = BY_CODE[code]
        pairs: dict[str, float] = {}
        for program in inst.programs[:2]:
            for pitch in (inst.low + (inst.high - inst.low) // 3, inst.low + 2 * (inst.high - inst.low) // 3):
                spectra = {name: log_spectrum(path, program, pitch) for name, path in fonts.items()}
                for a, b in itertools.combinations(fonts, 2):
                    r = float(np.corrcoef(spectra[a], spectra[b])[0, 1])
                    pairs[f"{a}-{b}"] = max(pairs.get(f"{a}-{b}", -1.0), r)
        print(code, {k: round(v, 3) for k, v in pairs.items() if v > REPORT_ABOVE})


if __name__ == "__main__":
    main()
