"""Parameters, training and inference throughput of every registered network on this machine, in one run.

    .venv/bin/python benchmarks/models.py [--batch 64] [--seconds 5] [--models cross_attention han2017]

Random inputs of each model's shape; training = forward + backward + Adam step; inference = forward under
``torch.inference_mode``, both as the trainer runs them (channels-last, bf16 autocast where the CPU does bf16
natively). Then times the cross-attention network in fp32 with and without channels-last and prints the
ratios. Classical models are skipped (their cost is the SVM/MLP fit).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from instrid.models import all_models, count_parameters, create_model
from instrid.scorer import autocast, resolve_precision, to_device


def throughput(step, batch: int, seconds: float) -> float:
    step()  # warm-up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += batch
    return n / (time.perf_counter() - start)


def measure(name: str, batch: int, seconds: float, channels_last: bool = True, precision: str = "auto") -> tuple[int, float, float]:
    entry = all_models()[name]
    model = create_model(name)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    inputs = {k: torch.randn(shape).numpy() for k, shape in entry.input_shapes(batch).items()}
    tensors = to_device(inputs, torch.device("cpu"))
    if not channels_last:
        tensors = {k: v.contiguous() for k, v in tensors.items()}
    labels = torch.randint(0, 11, (batch,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    cpu = torch.device("cpu")
    precision = resolve_precision(precision, cpu)

    def train_step():
        with autocast(cpu, precision):
            logits = model(**tensors)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def infer_step():
        with torch.inference_mode(), autocast(cpu, precision):
            model(**tensors)

    model.train()
    train = throughput(train_step, batch, seconds)
    model.eval()
    infer = throughput(infer_step, batch, seconds)
    return count_parameters(model), train, infer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--models", nargs="*", default=[n for n, e in all_models().items() if e.kind == "torch"])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads on {os.cpu_count()} cores, batch {args.batch}, "
          f"precision {resolve_precision('auto', torch.device('cpu'))} (the trainer's default here)")  # fmt: skip
    print(f"{'model':<16}{'parameters':>12}{'train/s':>10}{'infer/s':>10}  (samples per second)")
    for name in args.models:
        params, train, infer = measure(name, args.batch, args.seconds)
        print(f"{name:<16}{params:>12,}{train:>10.0f}{infer:>10.0f}", flush=True)
    if "cross_attention" in args.models:
        _, train1, infer1 = measure("cross_attention", args.batch, args.seconds)
        for label, kw in (("fp32, channels-last", {"precision": "fp32"}), ("fp32, NCHW", {"precision": "fp32", "channels_last": False})):
            _, train0, infer0 = measure("cross_attention", args.batch, args.seconds, **kw)
            print(f"cross_attention {label}: train {train0:.0f}/s, infer {infer0:.0f}/s; the default is "
                  f"{train1 / train0:.2f}x (train) and {infer1 / infer0:.2f}x (infer) of it")  # fmt: skip


if __name__ == "__main__":
    main()
