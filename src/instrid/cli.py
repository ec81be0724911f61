"""Command line: a thin layer over the Python API. Failures print one line and exit non-zero."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import DataError, InstridError


def _render(args) -> None:
    from .data import render_dataset

    clips = render_dataset(args.out, size=args.size, seed=args.seed, augment_prob=args.augment, workers=args.workers)
    print(f"rendered {len(clips)} clips into {args.out} (metadata.csv lists them)")


def _feature_store(args):
    from . import features
    from .store import FeatureConfig, FeatureStore

    config = FeatureConfig(features.HSSANET_MEL, pitch=False, preprocess=True) if args.hssanet else FeatureConfig()
    return FeatureStore(args.cache or Path(args.data) / "features", config)


def _features(args) -> None:
    from .data import load_dataset

    clips = load_dataset(args.data)
    store = _feature_store(args)
    errors = store.extract([(c.clip_id, c.path) for c in clips], workers=args.workers)
    store.pack([c.clip_id for c in clips])
    print(f"features of {len(clips) - len(errors)} clips in {store.dir}")
    if errors:
        print(f"skipped {len(errors)} unreadable file(s), listed in {store.dir / 'errors.json'}:", file=sys.stderr)
        for reason in errors.values():
            print(f"  {reason}", file=sys.stderr)


def _summary(args) -> None:
    from .data import load_dataset
    from .summary import plot_clip, summary_table

    clips = load_dataset(args.data)
    packed = _feature_store(args).open()
    print(summary_table(clips, packed))
    if args.png:
        if packed.f0 is None:
            raise DataError("--png draws the pitch mask, which --hssanet features do not have; drop one of the two")
        clip_id = args.clip or packed.clip_ids[0]
        shown = next((c for c in clips if c.clip_id == clip_id and c.clip_id in packed), None)
        if shown is None:
            raise DataError(f"--clip {clip_id}: no clip with features of that id in {args.data}; ids are in metadata.csv")
        plot_clip(packed, shown, Path(args.png))
        print(f"figure: {args.png}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instrid", description="Recognise the instruments playing in a recording.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("render", help="render the default dataset from SoundFonts")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--size", default="small", choices=["tiny", "small", "full"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--augment", type=float, default=0.0, metavar="P", help="share of train/validation clips given reverb/EQ/noise")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(run=_render)

    for name, run, text in (
        ("features", _features, "extract and cache features of a dataset"),
        ("summary", _summary, "summarise a dataset and its cached features"),
    ):
        p = commands.add_parser(name, help=text)
        p.add_argument("--data", required=True, type=Path, help="dataset folder (rendered, IRMAS, NSynth or folder per class)")
        p.add_argument("--cache", type=Path, default=None, help="feature cache folder (default: DATA/features)")
        p.add_argument("--hssanet", action="store_true", help="HSSANet's 16 kHz log(mel + eps) instead of the cross-attention features")
        if name == "features":
            p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
        else:
            p.add_argument("--png", type=Path, default=None, help="also draw one clip's mel, mask and masked spectrogram")
            p.add_argument("--clip", default=None, help="the clip id to draw (default: the first)")
        p.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except InstridError as err:
        print(f"instrid: error: {err}", file=sys.stderr)
        return 1
    return 0
