"""Convert an original musicnn checkpoint (TF1, ISC licence) to the PyTorch port's safetensors file: the
MagnaTagATune model (``MTT_musicnn``, the default) or the Million Song Dataset one (``MSD_musicnn``, the same
network trained on about 200,000 songs' 30 s previews and their 50 most frequent Last.fm tags).

Run once, in a throwaway environment that has the original package and TensorFlow:

    python3 -m venv /tmp/musicnn-env
    /tmp/musicnn-env/bin/pip install tensorflow-cpu==2.21.0 safetensors numpy
    /tmp/musicnn-env/bin/pip install --no-deps musicnn==0.1.0
    /tmp/musicnn-env/bin/python scripts/convert_musicnn.py src/instrid/pretrained/musicnn_mtt.safetensors
    /tmp/musicnn-env/bin/python scripts/convert_musicnn.py src/instrid/pretrained/musicnn_msd.safetensors MSD_musicnn

It reads the checkpoint's variables (no graph is run) and renames them to ``instrid.models.musicnn.MusicnnMTT``'s
state dict, transposing kernels from TensorFlow's (height, width, in, out) to PyTorch's (out, in, height, width).
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from safetensors.numpy import save_file

TF_EPSILON = 1e-3  # tf.layers.batch_normalization's default, which the port uses too


def batch_norm(reader, tf_name: str, torch_name: str) -> dict[str, np.ndarray]:
    return {
        f"{torch_name}.weight": reader.get_tensor(f"{tf_name}/gamma"),
        f"{torch_name}.bias": reader.get_tensor(f"{tf_name}/beta"),
        f"{torch_name}.running_mean": reader.get_tensor(f"{tf_name}/moving_mean"),
        f"{torch_name}.running_var": reader.get_tensor(f"{tf_name}/moving_variance"),
    }


def conv2d(reader, tf_name: str, torch_name: str) -> dict[str, np.ndarray]:
    kernel = reader.get_tensor(f"{tf_name}/kernel")  # (kh, kw, in, out)
    return {
        f"{torch_name}.weight": kernel.transpose(3, 2, 0, 1),
        f"{torch_name}.bias": reader.get_tensor(f"{tf_name}/bias"),
    }


def conv1d(reader, tf_name: str, torch_name: str) -> dict[str, np.ndarray]:
    """A (7, features, 1, out) kernel over a (time, features, 1) map is a 1-d convolution over time."""
    kernel = reader.get_tensor(f"{tf_name}/kernel")[:, :, 0, :]  # (7, in, out)
    return {
        f"{torch_name}.weight": kernel.transpose(2, 1, 0),
        f"{torch_name}.bias": reader.get_tensor(f"{tf_name}/bias"),
    }


def dense(reader, tf_name: str, torch_name: str) -> dict[str, np.ndarray]:
    return {
        f"{torch_name}.weight": reader.get_tensor(f"{tf_name}/kernel").T,
        f"{torch_name}.bias": reader.get_tensor(f"{tf_name}/bias"),
    }


def convert(checkpoint: str) -> dict[str, np.ndarray]:
    """TF layer names follow creation order in musicnn.models.build_musicnn: input BN; timbral convs (38 and 67
    mel bands wide); temporal convs (128, 64, 32 frames long); three mid-end convs; the pooled BN, dense, BN, output."""
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint)
    state = batch_norm(reader, "batch_normalization", "input_norm")
    for i, block in enumerate(["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2"]):
        state |= conv2d(reader, f"conv2d{'_' + str(i) if i else ''}", f"{block}.conv")
        state |= batch_norm(reader, f"batch_normalization_{i + 1}", f"{block}.norm")
    for i in range(3):
        state |= conv1d(reader, f"conv2d_{i + 5}", f"midend.{i}.conv")
        state |= batch_norm(reader, f"batch_normalization_{i + 6}", f"midend.{i}.norm")
    state |= batch_norm(reader, "batch_normalization_9", "pool_norm")
    state |= dense(reader, "dense", "dense")
    state |= batch_norm(reader, "batch_normalization_10", "dense_norm")
    state |= dense(reader, "dense_1", "tags")
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


if __name__ == "__main__":
    out, model = Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "MTT_musicnn"
    folder = Path(importlib.util.find_spec("musicnn").origin).parent / model
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(convert(str(folder) + "/"), str(out), metadata={"source": f"musicnn==0.1.0 {model} (ISC licence)"})
    print(f"wrote {out}")
