import concurrent.futures
import dataclasses
import io
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
from conftest import tone
from fastapi.testclient import TestClient

from instrid import features
from instrid.predict import Recognizer
from instrid.serve import create_app, decibels

CHROMIUM = Path("/usr/bin/chromium")


def wav_bytes(y, sr=44_100) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, y, sr, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="module")
def recognizer(tiny_run):
    return Recognizer.load(tiny_run, device="cpu")


def test_api_answers_and_keeps_serving_after_bad_uploads(recognizer):
    client = TestClient(create_app(recognizer, max_bytes=400_000, max_seconds=3.0))
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/models").json()
    assert info["model"] == "cross_attention" and len(info["labels"]) == 11
    r = client.post("/predict", files={"file": ("a.wav", wav_bytes(tone(440, 2.0)), "audio/wav")})
    assert r.status_code == 200
    body = r.json()
    assert body["path"] == "a.wav" and body["duration"] == pytest.approx(2.0) and body["top"]["score"] == 1.0
    assert len(body["timeline"]["starts"]) == 3 and len(body["view"]["mel"]) == 128
    lo, hi = body["view"]["mel_db"]
    assert lo < hi <= 60 and np.all(np.diff(body["view"]["mel_hz"]) > 0) and len(body["view"]["mel_hz"]) == 128
    assert any(b is not None for b in body["view"]["mask"])  # a tone is voiced: the mask is drawn

    bad = client.post("/predict", files={"file": ("bad.wav", b"RIFF....garbage", "audio/wav")})
    assert bad.status_code == 400 and "bad.wav" in bad.json()["detail"] and "tmp" not in bad.json()["detail"]
    big = client.post("/predict", files={"file": ("big.wav", wav_bytes(tone(440, 5.0)), "audio/wav")})
    assert big.status_code == 413  # 441 kB > 400 kB
    long = client.post("/predict", files={"file": ("long.wav", wav_bytes(tone(440, 4.0), sr=8_000), "audio/wav")})
    assert long.status_code == 413 and "longer than" in long.json()["detail"]
    assert client.get("/health").status_code == 200
    assert client.post("/predict", files={"file": ("a.wav", wav_bytes(tone(440, 2.0)), "audio/wav")}).status_code == 200


@pytest.mark.parametrize("frontend", [features.MUSICNN_MEL, features.HSSANET_MEL], ids=["musicnn", "log"])
def test_the_page_gets_every_log_mel_in_decibels(frontend):
    y = tone(440, 1.0, sr=frontend.sample_rate) + 0.01 * np.random.default_rng(0).standard_normal(frontend.sample_rate)
    expected = features.log_mel(y.astype(np.float32), dataclasses.replace(frontend, scale="db"))
    shown = decibels(features.log_mel(y.astype(np.float32), frontend), frontend)
    heard = expected > -40  # below, musicnn's float16 rounding and HSSANet's epsilon take over
    assert heard.mean() > 0.2 and np.abs(shown - expected)[heard].max() < 0.1


@pytest.fixture(scope="module")
def live_server(recognizer):
    """The app under uvicorn on a free loopback port, in a thread of this process."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(recognizer), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def rss_mb() -> float:
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmRSS")).split()[1]) / 1024


def test_twenty_concurrent_uploads(live_server):
    upload = wav_bytes(tone(330, 3.0))
    one = httpx.post(f"{live_server}/predict", files={"file": ("x.wav", upload)}, timeout=60).json()
    before = rss_mb()

    def post(i):
        return httpx.post(f"{live_server}/predict", files={"file": (f"x{i}.wav", upload)}, timeout=120)

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    assert all(a.json()["top"] == one["top"] and a.json()["scores"] == pytest.approx(one["scores"], abs=1e-3) for a in answers)
    assert rss_mb() - before < 300  # two recognitions at a time: memory does not grow with the queue


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make test installs it as root)")
def test_web_page_in_headless_chromium(live_server, write_audio):
    from playwright.sync_api import sync_playwright

    path = write_audio("violin-ish.wav", tone(660, 2.5))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"] if os.geteuid() == 0 else [])
        page = browser.new_page()
        page.goto(live_server)
        page.wait_for_function("document.getElementById('model').textContent.includes('cross_attention')")
        page.set_input_files("#file", str(path))
        page.wait_for_selector("#labels li", timeout=60_000)
        assert page.locator("#status").text_content().startswith("violin-ish.wav: 2.5 s")
        assert "file score" in page.locator("#labels li").first.text_content()
        drawn = page.evaluate("""() => ['wave', 'mel', 'timeline'].map(id => {
            const c = document.getElementById(id), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let lit = 0; for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 60) lit++;
            return lit; })""")
        assert all(n > 50 for n in drawn), drawn  # each canvas has something drawn on it
        red = page.evaluate("""() => { const c = document.getElementById('mel'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] === 255 && d[i + 1] === 0) n++; return n; }""")
        assert red > 10  # the pitch mask of the tone is overlaid

        def ticks(axis: str) -> dict[str, float]:  # tick label -> its place on the axis, 0 to 1 from left / bottom
            return page.evaluate("""(axis) => Object.fromEntries([...document.querySelectorAll(`#${axis} span`)]
                .map(s => [s.textContent, (s.style.left ? parseFloat(s.style.left) : 100 - parseFloat(s.style.top)) / 100]))""",
                axis)  # fmt: skip

        assert ticks("mel-x") == {"0 s": 0, "0.5 s": 0.2, "1 s": 0.4, "1.5 s": 0.6, "2 s": 0.8, "2.5 s": 1}
        hz = ticks("mel-y")
        assert {"100 Hz", "500 Hz", "1 kHz", "10 kHz"} <= hz.keys()
        assert hz["1 kHz"] == pytest.approx(31.75 / 128, abs=0.01)  # on the mel scale: 1 kHz at band 31.75 of 128
        assert list(ticks("timeline-x")) == list(ticks("mel-x")) == list(ticks("wave-x"))
        rows = list(ticks("timeline-y"))
        assert rows[:3] == ["cello", "clarinet", "flute"] and "electric guitar" in rows and "gel" not in rows
        mel_legend = ticks("mel-legend .ticks")
        assert len(mel_legend) == 3 and all(t.endswith(" dB") for t in mel_legend)
        assert ticks("timeline-legend .ticks") == {"0": 0, "0.5": 0.5, "1": 1}
        assert "probability per window" in page.locator("#timeline-legend").text_content()
        legend_lit = page.evaluate("""() => [...document.querySelectorAll('.legend canvas')].map(c =>
            c.getContext('2d').getImageData(0, 0, 1, 1).data[0])""")  # fmt: skip
        assert legend_lit == [255, 255]  # the top of each colour bar is its brightest colour

        assert page.get_attribute("#player", "src").startswith("blob:")
        page.wait_for_function("document.getElementById('player').readyState >= 1")  # the browser reads the upload
        page.evaluate("document.getElementById('player').currentTime = 1.25")
        cursors = "[...document.querySelectorAll('.cursor')]"
        page.wait_for_function(f"{cursors}.length == 3 && {cursors}.every(c => !c.hidden && c.style.left == '50%')")

        page.set_input_files("#file", write_audio("bad.wav", np.zeros(10, np.float32)))
        page.wait_for_selector("#status.error")
        assert "bad.wav" in page.locator("#status").text_content()
        assert page.locator("#result").is_hidden() and page.locator("#labels li").count() == 0
        assert page.get_attribute("#player", "src") is None
        assert page.locator(".plot span").count() == 0  # no axis or legend of the previous file is left
        assert page.evaluate("document.querySelectorAll('.cursor:not([hidden])').length") == 0
        blank = page.evaluate("""() => ['wave', 'mel', 'timeline'].every(id => {
            const c = document.getElementById(id), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            return d.every(v => v === 0); })""")
        assert blank
        browser.close()


def test_a_header_bomb_is_refused_before_decoding(live_server):
    bomb = wav_bytes(np.zeros(8_000, np.int16), sr=1)  # 16 kB whose header says 2.2 hours at 1 Hz
    before = rss_mb()
    r = httpx.post(f"{live_server}/predict", files={"file": ("bomb.wav", bomb)}, timeout=60)
    assert r.status_code == 400 and "1 Hz" in r.json()["detail"]
    hours = wav_bytes(np.zeros(2 * 8_000, np.int16), sr=8_000)
    hours = hours[:40] + (2**31).to_bytes(4, "little") + hours[44:]  # data chunk "2 GB": libsndfile trims it to the file
    assert httpx.post(f"{live_server}/predict", files={"file": ("h.wav", hours)}, timeout=60).status_code in (200, 400)
    assert rss_mb() - before < 100


def test_oversize_uploads_are_refused_while_streaming(recognizer, monkeypatch):
    import tempfile

    import uvicorn

    spooled = 0

    class CountingSpool(tempfile.SpooledTemporaryFile):  # where Starlette spools uploads (to /tmp past 1 MB)
        def write(self, data):
            nonlocal spooled
            spooled += len(data)
            return super().write(data)

    monkeypatch.setattr("starlette.formparsers.SpooledTemporaryFile", CountingSpool)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(recognizer, max_bytes=400_000)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        url = f"http://127.0.0.1:{port}/predict"
        with socket.create_connection(("127.0.0.1", port)) as conn:  # says 300 MB, sends none of it
            conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                         b"Content-Length: 314572800\r\n\r\n")  # fmt: skip
            conn.settimeout(10)
            assert conn.recv(100).startswith(b"HTTP/1.1 413")  # refused on Content-Length, before any body is read
        sent = 0

        def body():  # 300 MB, chunked: no Content-Length to refuse it by
            nonlocal sent
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
            for _ in range(300 * 16):
                sent += 2**16
                yield b"\0" * 2**16

        try:
            r = httpx.post(url, content=body(), headers={"content-type": "multipart/form-data; boundary=b"}, timeout=60)
            assert r.status_code == 413
        except httpx.TransportError:
            pass  # the server answered 413 and closed the connection while the client was still sending
        assert spooled <= 400_000 + 2**16 and sent < 20 * 2**20  # 400 kB spooled, then the connection closed
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize(
    "filename",
    ["a" * 300 + ".wav", "x." + "w" * 300, "nul\0.wav", "new\nline.wav", "<b>html</b>.wav", "../../etc/passwd", " ", "é✓.wav"],
    ids=["long-name", "long-suffix", "nul", "newline", "html", "traversal", "blank", "unicode"],
)
def test_odd_filenames_are_never_a_server_error(recognizer, filename):
    client = TestClient(create_app(recognizer))
    r = client.post("/predict", files={"file": (filename, wav_bytes(tone(440, 1.0)), "audio/wav")})
    assert r.status_code == 200, r.text[:200]
    shown = r.json()["path"]
    assert len(shown) <= 120 and "\0" not in shown and "\n" not in shown
    bad = client.post("/predict", files={"file": (filename, b"not audio", "audio/wav")})
    assert bad.status_code == 400 and "\0" not in bad.json()["detail"]


def test_fuzzed_uploads_get_an_answer_never_a_500(recognizer):
    rng = np.random.default_rng(1)
    client = TestClient(create_app(recognizer, max_bytes=200_000, max_seconds=5.0), raise_server_exceptions=False)
    seeds = [wav_bytes(tone(440, 0.5)), wav_bytes(tone(440, 0.5), sr=22_050)]
    names = ["a.wav", "b.mp3", "c", "\0", "x" * 500, "ü.flac"]
    codes = set()
    for i in range(150):
        data = bytearray(seeds[i % 2])
        for _ in range(rng.integers(0, 6)):
            at = int(rng.integers(0, 64))
            data[at : at + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        if i % 10 == 9:
            data = rng.integers(0, 256, int(rng.integers(0, 300_000)), dtype=np.uint8).tobytes()
        r = client.post("/predict", files={"file": (names[i % len(names)], bytes(data), "application/octet-stream")})
        assert r.status_code in (200, 400, 413), (i, r.status_code, r.text[:200])
        codes.add(r.status_code)
    assert codes == {200, 400, 413}
