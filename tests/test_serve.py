import concurrent.futures
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

from instrid.predict import Recognizer
from instrid.serve import create_app

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
    assert any(b is not None for b in body["view"]["mask"])  # a tone is voiced: the mask is drawn

    bad = client.post("/predict", files={"file": ("bad.wav", b"RIFF....garbage", "audio/wav")})
    assert bad.status_code == 400 and "bad.wav" in bad.json()["detail"] and "tmp" not in bad.json()["detail"]
    big = client.post("/predict", files={"file": ("big.wav", wav_bytes(tone(440, 5.0)), "audio/wav")})
    assert big.status_code == 413  # 441 kB > 400 kB
    long = client.post("/predict", files={"file": ("long.wav", wav_bytes(tone(440, 4.0), sr=8_000), "audio/wav")})
    assert long.status_code == 413 and "longer than" in long.json()["detail"]
    assert client.get("/health").status_code == 200
    assert client.post("/predict", files={"file": ("a.wav", wav_bytes(tone(440, 2.0)), "audio/wav")}).status_code == 200


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
        assert page.locator("#labels li").count() >= 1
        drawn = page.evaluate("""() => ['wave', 'mel', 'timeline'].map(id => {
            const c = document.getElementById(id), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let lit = 0; for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 60) lit++;
            return lit; })""")
        assert all(n > 50 for n in drawn), drawn  # each canvas has something drawn on it
        red = page.evaluate("""() => { const c = document.getElementById('mel'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] === 255 && d[i + 1] === 0) n++; return n; }""")
        assert red > 10  # the pitch mask of the tone is overlaid
        page.set_input_files("#file", write_audio("bad.wav", np.zeros(10, np.float32)))
        page.wait_for_selector("#status.error")
        assert "bad.wav" in page.locator("#status").text_content()
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
