import numpy as np
import pytest
import soundfile

SR = 44_100


def tone(freq: float, seconds: float = 1.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def write_audio(tmp_path):
    """write_audio(name, samples, sr=SR, **soundfile_kwargs) -> path of the written file."""

    def write(name, samples, sr=SR, **kwargs):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, samples, sr, **kwargs)
        return path

    return write


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """The rendered `tiny` dataset (114 clips, a few seconds to render), shared by the whole session."""
    from instrid.data import render_dataset

    out = tmp_path_factory.mktemp("tiny")
    clips = render_dataset(out, size="tiny", seed=0, progress=False)
    return out, clips


@pytest.fixture(scope="session")
def tiny_run(tiny_dataset, tmp_path_factory):
    """A small cross-attention network trained for one epoch on the tiny dataset: a real run folder."""
    from instrid.train import TrainConfig, train

    data, _ = tiny_dataset
    out = tmp_path_factory.mktemp("runs") / "tiny"
    net = {"d_model": 16, "d_ff": 32, "d_head": 16, "mel_channels": [4, 8, 8], "mask_channels": [4, 8, 8]}
    train(data, out, TrainConfig(model="cross_attention", epochs=1, lr=1e-3, model_config=net), progress=False)
    return out


@pytest.fixture(scope="session", autouse=True)
def instrid_cache(tmp_path_factory):
    """ONNX exports go to a session folder, not the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setenv("INSTRID_CACHE", str(path))
        yield path
