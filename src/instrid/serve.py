"""``instrid serve``: an HTTP API and a web page over a ``Recognizer``, in one process.

    GET  /          the page: pick or drop a file, play it, see its waveform, log-mel (Hz axis, dB legend) with
                    the pitch mask, the per-window timeline of instrument probabilities and the file's scores
    GET  /health    {"status": "ok"}
    GET  /models    the model behind the service: name, labels, theta, window, parameters
    POST /predict   multipart ``file`` -> the prediction as JSON (with its timeline and, for the page,
                    a downsampled waveform, log-mel in dB with its bands' frequencies, and pitch mask);
                    400 for audio that cannot be read, 413 past the size or duration limit

At most ``max_parallel`` recognitions run at once (the others wait), which bounds memory under load.
"""

from __future__ import annotations

import threading
import unicodedata
from importlib.resources import files

import numpy as np
from fastapi import FastAPI, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from .errors import AudioTooLongError, InstridError
from .features import MelSpec, mel_band_centres, mel_bin_of
from .labels import full_name
from .predict import Prediction, Recognizer

MAX_BYTES = 50 * 2**20  # 50 MiB upload limit
MAX_SECONDS = 15 * 60.0  # 15 min duration limit, checked from the file's header before decoding
MULTIPART_OVERHEAD = 64 * 2**10  # bytes a request may carry beyond the file: boundaries and part headers
PAGE_COLUMNS = 600  # log-mel / waveform columns sent to the page
CLOSE = {"Connection": "close"}  # after refusing a body: close rather than read (and discard) the rest
NAME_CHARS = 120  # an upload's name is shown (never used on disk) cut to this many characters


def display_name(filename: str | None) -> str:
    """The client's file name, safe to echo: control characters (NUL, newlines) dropped, length capped."""
    name = "".join(c for c in filename or "" if unicodedata.category(c)[0] != "C").strip()
    return (name[: NAME_CHARS - 1] + "…" if len(name) > NAME_CHARS else name) or "upload"


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_body`` bytes with 413: at once when Content-Length
    says so, otherwise as soon as the bytes received pass it, so an oversize upload is never spooled whole."""

    def __init__(self, app, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        detail = f"the request is larger than the upload limit ({self.max_body / 2**20:.1f} MiB)"
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_body:
            return await JSONResponse({"detail": detail}, status_code=413, headers=CLOSE)(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise HTTPException(413, detail, headers=CLOSE)  # FastAPI answers it while parsing the form
            return message

        await self.app(scope, limited_receive, send)


def decibels(mel: np.ndarray, spec: MelSpec) -> np.ndarray:
    """A log-mel in ``spec.scale`` as dB re 1.0 power, so that the page draws every model's log-mel in dB."""
    if spec.scale == "log":  # ln(power + eps)
        return mel * (10 / np.log(10))
    if spec.scale == "musicnn":  # log10(1 + 10000 * power)
        return 10 * np.log10(np.maximum((10.0 ** mel.astype(np.float64) - 1) / 10_000, 1e-10))
    return mel


def page_view(p: Prediction, recognizer: Recognizer) -> dict:
    """What the page draws: min/max waveform envelope, log-mel (0-255, the dB levels of 0 and 255, the bands'
    centre frequencies) and mask band per column."""
    spec = recognizer.entry.features.frontend
    view: dict = {}
    envelope = p.features["envelope"]  # (2, T): min and max of each frame's samples
    columns = np.array_split(np.arange(envelope.shape[1]), min(PAGE_COLUMNS, envelope.shape[1]))
    view["waveform"] = [[round(float(envelope[0, c].min()), 3), round(float(envelope[1, c].max()), 3)] for c in columns]
    if "mel" in p.features:
        mel = p.features["mel"]  # (n_mels, T)
        cols = np.array_split(np.arange(mel.shape[1]), min(PAGE_COLUMNS, mel.shape[1]))
        small = decibels(np.stack([mel[:, c].max(axis=1) for c in cols], axis=1), spec)  # (n_mels, columns) dB
        lo, hi = np.percentile(small, 5), small.max()
        view["mel"] = np.clip((small - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(int).tolist()
        view["mel_db"] = [round(float(lo), 1), round(float(hi), 1)]  # the levels drawn as 0 and 255
        view["mel_hz"] = np.round(mel_band_centres(spec), 1).tolist()  # (n_mels,) band centres, Hz
        if "f0" in p.features:
            f0 = p.features["f0"]
            bands = [np.nanmedian(f0[c]) if np.isfinite(f0[c]).any() else np.nan for c in cols]
            view["mask"] = [int(mel_bin_of(np.array(b), spec)) if np.isfinite(b) else None for b in bands]
    return view


def create_app(recognizer: Recognizer, *, max_bytes: int = MAX_BYTES, max_seconds: float = MAX_SECONDS, max_parallel: int = 2) -> FastAPI:
    app = FastAPI(title="instrid", description="Which instruments play in a recording.")
    app.add_middleware(BodyLimit, max_body=max_bytes + MULTIPART_OVERHEAD)
    slots = threading.Semaphore(max_parallel)
    page = (files("instrid") / "web" / "index.html").read_text()
    info = {
        "model": recognizer.entry.name,
        "labels": [{"code": x, "name": full_name(x)} for x in recognizer.labels],
        "threshold": recognizer.threshold,  # the theta of classes without their own
        "thresholds": recognizer.thresholds,  # each class's own theta
        "relative": recognizer.relative,  # a named class scores at least this times the best one
        "window_seconds": recognizer.entry.window_seconds,
        "parameters": recognizer.run.get("parameters"),  # trainable, as training counted them
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
        name = display_name(file.filename)
        if file.size is not None and file.size > max_bytes:
            raise HTTPException(413, f"{name}: larger than the upload limit ({max_bytes / 2**20:.1f} MiB)")
        with slots:  # the upload is read where FastAPI spooled it: the client's name never reaches the disk
            try:
                p = recognizer.predict(file.file, name=name, timeline=True, keep_features=True, max_seconds=max_seconds)
            except AudioTooLongError as err:
                raise HTTPException(413, str(err)) from None
            except InstridError as err:
                raise HTTPException(400, str(err)) from None
            return {**p.to_dict(), "view": page_view(p, recognizer)}

    return app


def serve(recognizer: Recognizer, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(create_app(recognizer), host=host, port=port)
