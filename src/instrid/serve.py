"""``instrid serve``: an HTTP API and a web page over a ``Recognizer``, in one process.

    GET  /          the page: pick or drop a file, see its waveform, log-mel with the pitch mask, the
                    per-window timeline of instrument scores and the predicted instruments
    GET  /health    {"status": "ok"}
    GET  /models    the model behind the service: name, labels, theta, window, parameters
    POST /predict   multipart ``file`` -> the prediction as JSON (with its timeline and, for the page,
                    a downsampled waveform, log-mel and pitch mask); 400 for audio that cannot be read,
                    413 past the size or duration limit

At most ``max_parallel`` recognitions run at once (the others wait), which bounds memory under load.
"""

from __future__ import annotations

import tempfile
import threading
from importlib.resources import files
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, UploadFile
from fastapi.responses import HTMLResponse

from .errors import InstridError
from .features import mel_bin_of
from .metrics import full_name
from .models import count_parameters
from .predict import Prediction, Recognizer

MAX_BYTES = 50 * 2**20  # 50 MiB upload limit
MAX_SECONDS = 15 * 60.0  # 15 min duration limit
PAGE_COLUMNS = 600  # log-mel / waveform columns sent to the page


def page_view(p: Prediction, y: np.ndarray, recognizer: Recognizer) -> dict:
    """What the page draws: min/max waveform envelope, log-mel (0-255) and mask band per column."""
    spec = recognizer.entry.features.frontend
    view: dict = {}
    chunks = np.array_split(y, min(PAGE_COLUMNS, len(y)))
    view["waveform"] = [[round(float(c.min()), 3), round(float(c.max()), 3)] for c in chunks]
    if p.features is not None and "mel" in p.features:
        mel = p.features["mel"]  # (n_mels, T)
        cols = np.array_split(np.arange(mel.shape[1]), min(PAGE_COLUMNS, mel.shape[1]))
        small = np.stack([mel[:, c].max(axis=1) for c in cols], axis=1)  # (n_mels, columns)
        lo, hi = np.percentile(small, 5), small.max()
        view["mel"] = np.clip((small - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(int).tolist()
        if "f0" in p.features:
            f0 = p.features["f0"]
            bands = [np.nanmedian(f0[c]) if np.isfinite(f0[c]).any() else np.nan for c in cols]
            view["mask"] = [int(mel_bin_of(np.array(b), spec)) if np.isfinite(b) else None for b in bands]
    return view


def create_app(recognizer: Recognizer, *, max_bytes: int = MAX_BYTES, max_seconds: float = MAX_SECONDS, max_parallel: int = 2) -> FastAPI:
    app = FastAPI(title="instrid", description="Which instruments play in a recording.")
    slots = threading.Semaphore(max_parallel)
    page = (files("instrid") / "web" / "index.html").read_text()
    info = {
        "model": recognizer.entry.name,
        "labels": [{"code": x, "name": full_name(x)} for x in recognizer.labels],
        "threshold": recognizer.threshold,
        "window_seconds": recognizer.entry.window_seconds,
        "parameters": count_parameters(recognizer.model),
        "limits": {"max_bytes": max_bytes, "max_seconds": max_seconds},
    }

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/models")
    def models() -> dict:
        return info

    @app.post("/predict")
    def predict(file: UploadFile) -> dict:  # a plain def: FastAPI runs it in its thread pool
        data = file.file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise HTTPException(413, f"{file.filename}: larger than {max_bytes // 2**20} MiB")
        suffix = Path(file.filename or "").suffix.lower() or ".wav"
        with slots, tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
            tmp.write(data)
            tmp.flush()
            try:
                y = recognizer.read_audio(tmp.name)
            except InstridError as err:
                raise HTTPException(400, str(err).replace(tmp.name, file.filename or "upload")) from None
            seconds = len(y) / recognizer.sample_rate
            if seconds > max_seconds:
                raise HTTPException(413, f"{file.filename}: {seconds:.0f} s is longer than the {max_seconds:.0f} s limit")
            p = recognizer.predict_audio(y, path=file.filename or "", timeline=True, keep_features=True)
            return {**p.to_dict(), "view": page_view(p, y, recognizer)}

    return app


def serve(recognizer: Recognizer, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(create_app(recognizer), host=host, port=port)
