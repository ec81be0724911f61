"""Command line: a thin layer over the Python API. Failures print one line and exit non-zero."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import warnings
from pathlib import Path

from .config import RUNTIMES
from .errors import DataError, InstridError, ParameterError

SHIPPED_EVALUATION = "instrid-evaluation"  # where `instrid evaluate` writes without --run or --out


def _render(args) -> None:
    from .data import render_dataset

    libraries = tuple(args.libraries.split(",")) if args.libraries else None
    clips = render_dataset(args.out, size=args.size, seed=args.seed, augment_prob=args.augment, libraries=libraries, workers=args.workers)
    print(f"rendered {len(clips)} clips into {args.out} (metadata.csv lists them)")


def _mix(args) -> None:
    from .data import mix_recordings

    plans = mix_recordings(args.sources, args.out, count=args.count, seed=args.seed, max_instruments=args.max_instruments,
                           backgrounds=args.backgrounds, accompaniment=args.accompaniment, workers=args.workers)  # fmt: skip
    print(f"{len(plans)} mixtures in {args.out} (labels.csv lists them)")


def _sing(args) -> None:
    from .data import sing_dataset

    count = sing_dataset(args.out, count=args.count, seed=args.seed, workers=args.workers)
    print(f"{count} sung phrases in {args.out} (labels.csv lists them)")


def _feature_store(args):
    from .models import get_entry
    from .store import FeatureStore

    return FeatureStore(args.cache or Path(args.data) / "features", get_entry(args.model).features)


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
            raise DataError(f"--png draws the pitch mask, which {args.model}'s features do not have; drop --png or choose another --model")
        clip_id = args.clip or packed.clip_ids[0]
        shown = next((c for c in clips if c.clip_id == clip_id and c.clip_id in packed), None)
        if shown is None:
            raise DataError(f"--clip {clip_id}: no clip with features of that id in {args.data}; ids are in metadata.csv")
        plot_clip(packed, shown, Path(args.png))
        print(f"figure: {args.png}")


def _models(args) -> None:
    from .models import all_models, count_parameters, create_model

    rows = [("model", "parameters", "task", "input", "description")]
    for name, entry in all_models().items():
        n = None if entry.kind == "sklearn" else count_parameters(create_model(name))
        spec = entry.features.frontend
        shape = f"{'+'.join(entry.inputs)} {entry.window_seconds:.2f} s @ {spec.sample_rate / 1000:g} kHz"
        rows.append((name, "-" if n is None else f"{n:,}", entry.task, shape, entry.summary))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:<{widths[3]}}  {row[4]}")


def _model_settings(pairs: list[str]) -> dict:
    """--set d_model=64 --set channels=[8,16] -> {"d_model": 64, "channels": [8, 16]} (values are JSON)."""
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ParameterError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set d_model=64")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings


def _lolo(args) -> None:
    from .config import TrainConfig
    from .libraries import leave_one_library_out

    if args.model is None:
        raise ParameterError("lolo needs --model")
    options = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if "help" in f.metadata}
    config = TrainConfig(**options, model_config=_model_settings(args.set))
    libraries = args.libraries.split(",") if args.libraries else None
    result = leave_one_library_out(args.data, args.out, config, extra_data=args.extra_data, cache=args.cache, workers=args.workers, libraries=libraries)
    print(f"mean over {len(result['libraries'])} libraries: {result['mean_accuracy']:.1%} (details: {args.out / 'lolo.json'})")


def _thresholds(args) -> None:
    from .labels import full_name
    from .libraries import adopt_rule

    rule = adopt_rule(args.lolo, args.run)
    print(f"{args.run}: theta per class and predominance ratio {rule['relative']} from {rule['chosen_on']}")
    print(f"{'class':<18}{'theta':>6}{'held out':>9}   precision (one theta -> rule)   recall")
    for code, e in rule["per_class_effect"].items():
        (p0, p1), (r0, r1) = e["precision"], e["recall"]
        print(f"{full_name(code):<18}{e['threshold']:>6.2f}{e['positives']:>9}   {p0:>8.1%} -> {p1:<6.1%}{'':>13}{r0:>6.1%} -> {r1:.1%}")
    (p0, p1), (r0, r1) = rule["micro"]["precision"], rule["micro"]["recall"]
    print(f"{'all (micro)':<18}{rule['value']:>6.2f}{'':>9}   {p0:>8.1%} -> {p1:<6.1%}{'':>13}{r0:>6.1%} -> {r1:.1%}")


def _train(args) -> None:
    from .train import TrainConfig, train

    options = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if "help" in f.metadata}
    config = TrainConfig(**options, model_config=_model_settings(args.set))
    if args.recipe:
        from .recipes import run_recipe

        run = run_recipe(args.recipe, args.out, data=args.data, resume=args.resume, cache=args.cache, workers=args.workers, extra_data=args.extra_data)
    elif args.model is None or args.data is None:
        raise ParameterError("train needs --model and --data, or --recipe NAME (e.g. --recipe default)")
    else:
        run = train(args.data, args.out, config, cache=args.cache, resume=args.resume, workers=args.workers, extra_data=args.extra_data)
    if int(os.environ.get("RANK", "0")) == 0:
        v, theta = run["validation"], run["threshold"]
        print(
            f"{run['model']}: best epoch {run['best_epoch']}, validation accuracy {v['val_accuracy']:.1%}, "
            f"macro F1 {v['val_macro_f1']:.3f}; theta {theta['value']} ({theta['chosen_on']}); run in {args.out}"
        )


def _evaluate(args) -> None:
    from .evaluate import evaluate, save_evaluation
    from .metrics import table3
    from .runtime import run_or_shipped

    result = evaluate(
        run_or_shipped(args.run), args.data, split=args.split, cache=args.cache, device=args.device, runtime=args.runtime, workers=args.workers,
        restrict=args.restrict,
    )
    written = save_evaluation(result, args.out or args.run or Path(SHIPPED_EVALUATION))  # never into the package
    if args.json:
        print(json.dumps(result, indent=1))
        return
    if "single_label" in result:
        r = result["single_label"]
        among = ", predictions among the classes present" if args.restrict else ""
        print(f"{result['model']} on {args.split} ({result['task']}, {r['n']} clips{among}): accuracy {r['accuracy']:.1%}")
        print(table3(r))
        print(f"confusion matrix: {written['confusion']}")
    if "multi_label" in result:
        r = result["multi_label"]
        theta = r["threshold"]
        rule = f"theta per class, predominance {theta['relative']}" if "per_class" in theta else f"theta = {theta['value']}"
        print(f"\nmulti-label excerpts of {args.split} ({r['n']}), {rule} chosen on {theta['chosen_on']}:")
        print(table3(r))


def _predict(args) -> None:
    from .formats import FORMATS
    from .predict import Recognizer
    from .tagging import tag

    if args.manifest:
        return _predict_manifest(args)
    if not args.paths:
        raise ParameterError("give audio files or folders to tag (or --manifest LIST --out FOLDER for Ray Data)")
    if args.timeline and args.format == "csv":
        raise ParameterError("--timeline with --format csv: a CSV row per file has no room for windows; use --format json or jsonl")
    recognizer = Recognizer.load(args.run, device=args.device, runtime=args.runtime)
    form, shown = FORMATS[args.format], 0

    def show(p) -> None:  # each result as soon as it is known, in the files' order
        nonlocal shown
        sys.stdout.write(form.result(p, not shown))
        shown += 1
        sys.stdout.flush()

    sys.stdout.write(form.begin(recognizer.labels))
    try:
        predictions, errors = tag(args.paths, recognizer, out=args.out, threshold=args.threshold, timeline=args.timeline,
                                  workers=args.workers, on_result=show)  # fmt: skip
    finally:
        sys.stdout.write(form.end)  # a JSON document is closed even when the run stops on an error
        sys.stdout.flush()
    if args.out:
        print(f"results: {args.out}", file=sys.stderr)
    if errors:
        for reason in errors.values():
            print(f"instrid: error: {reason}", file=sys.stderr)
        raise InstridError(f"{len(errors)} path(s) could not be read (listed above); {len(predictions)} file(s) tagged")


def _predict_manifest(args) -> None:
    from .cluster import tag_manifest

    if args.paths or args.out is None or args.out.suffix:
        raise ParameterError("--manifest LIST takes its files from LIST and needs --out FOLDER (no file suffix) for the Parquet results")  # fmt: skip
    ignored = [f"--{k}" for k, default in (("format", "table"), ("timeline", False), ("workers", 1), ("device", "auto"))
               if getattr(args, k) != default]  # fmt: skip
    if ignored:
        raise ParameterError(f"{', '.join(ignored)}: not used with --manifest (Parquet results; --actors and "
                             "--gpus-per-actor place the network)")  # fmt: skip
    counts = tag_manifest(args.manifest, args.out, run_dir=args.run, address=args.ray_address, actors=args.actors,
                          gpus_per_actor=args.gpus_per_actor, runtime=args.runtime, threshold=args.threshold)  # fmt: skip
    print(f"{counts['tagged']} file(s) tagged, {counts['done']} already in {args.out}, {counts['errors']} could not be read "
          f"(their reasons are in the error column)")  # fmt: skip
    if counts["errors"]:
        raise InstridError(f"{counts['errors']} file(s) could not be read; see the error column in {args.out}")


def _export(args) -> None:
    from .export import export_onnx

    print(f"wrote {export_onnx(args.run, args.onnx)}")


def _serve(args) -> None:
    from .predict import Recognizer
    from .serve import serve

    recognizer = Recognizer.load(args.run, device=args.device, runtime=args.runtime)
    print(f"instrid: serving {recognizer.entry.name} on http://{args.host}:{args.port}/", file=sys.stderr)
    serve(recognizer, host=args.host, port=args.port)


def _experiment(args) -> None:
    if args.report_only:
        from .experiment.report import render_report

        print(f"instrid: report written to {render_report(args.out, args.name)}")
        return
    from .experiment import run_experiment

    report = run_experiment(
        args.name, args.data, args.out, profile=args.profile, seeds=args.seeds, epochs=args.epochs,
        models=tuple(m.strip() for m in args.models.split(",")) if args.models else (), workers=args.workers,
    )
    print(f"instrid: report written to {report}")


def inference_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (a GPU when there is one)")
    p.add_argument("--runtime", default="auto", choices=RUNTIMES, help="what runs the network "
                   "(auto: ONNX Runtime on CPU, PyTorch on a GPU)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="instrid", description="Recognise the instruments playing in a recording.")
    parser.add_argument("--version", action="version", version=f"instrid {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("render", help="render the default dataset from SoundFonts")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--size", default="small", choices=["tiny", "small", "medium", "full"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--augment", type=float, default=0.0, metavar="P", help="share of train/validation clips given reverb/EQ/noise")
    p.add_argument("--libraries", default=None, metavar="A,B", help="sample libraries to spread the clips over: "
                   "fluid,timgm,musescore,merlin,sfgm,generaluser,freepats (default: train on fluid, test on timgm)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(handler=_render)

    p = commands.add_parser("mix", help="mix one-instrument clips of different libraries, every instrument labelled")
    p.add_argument("--from", dest="sources", action="append", required=True, type=Path, metavar="DIR",
                   help="a dataset to take clips from (rendered: its solo training clips; labels.csv: its one-label clips); may be repeated")
    p.add_argument("--out", required=True, type=Path, help="output folder (audio/ and labels.csv; resumes)")
    p.add_argument("--count", type=int, default=1000, help="mixtures to make")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-instruments", type=int, default=4, help="instruments in a mixture: 2 to this many")
    p.add_argument("--accompaniment", type=int, default=0, metavar="K", help="song-like excerpts: 1 to --max-instruments "
                   "labelled instruments over 1 to K unlabelled ones 14-24 dB quieter (default 0: none)")  # fmt: skip
    p.add_argument("--background", dest="backgrounds", action="append", default=[], type=Path, metavar="DIR",
                   help="a labels.csv set of sounds with no instrument (drums, noise): about half of the mixtures get one "
                   "under them, unlabelled; may be repeated")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(handler=_mix)

    p = commands.add_parser("sing", help="synthesise sung phrases (a source-filter voice) for the voice class")
    p.add_argument("--out", required=True, type=Path, help="output folder (audio/ and labels.csv; resumes)")
    p.add_argument("--count", type=int, default=300, help="phrases to make")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(handler=_sing)

    for name, run, text in (
        ("features", _features, "extract and cache features of a dataset"),
        ("summary", _summary, "summarise a dataset and its cached features"),
    ):
        p = commands.add_parser(name, help=text)
        p.add_argument("--data", required=True, type=Path, help="dataset folder (rendered, IRMAS, NSynth or folder per class)")
        p.add_argument("--cache", type=Path, default=None, help="feature cache folder (default: DATA/features)")
        p.add_argument("--model", default="cross_attention", help="the features this model takes (a name from `instrid models`)")
        if name == "features":
            p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
        else:
            p.add_argument("--png", type=Path, default=None, help="also draw one clip's mel, mask and masked spectrogram")
            p.add_argument("--clip", default=None, help="the clip id to draw (default: the first)")
        p.set_defaults(handler=run)

    p = commands.add_parser("models", help="list the registered models with their parameter counts")
    p.set_defaults(handler=_models)

    from .config import TrainConfig

    def training_options(p):
        p.add_argument("--extra-data", action="append", default=[], type=Path, metavar="DIR", help="more training clips, all of "
                       "them used for training (e.g. real recordings listed in a labels.csv); may be repeated")
        for f in dataclasses.fields(TrainConfig):  # --model --epochs --batch-size --lr --optimizer ... from the dataclass
            if "help" in f.metadata:
                flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
                default = None if f.name == "model" else f.default  # no model: --recipe chooses it
                p.add_argument(flag, dest=f.name, type=type(f.default), default=default, choices=f.metadata.get("choices"), help=f.metadata["help"])
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a model size, e.g. --set d_model=64")
        p.add_argument("--cache", type=Path, default=None, help="feature cache folder (default: DATA/features)")
        p.add_argument("--workers", type=int, default=None, help="feature extraction processes (default: all cores)")

    p = commands.add_parser("train", help="train a model (the papers' recipe by default); torchrun for several GPUs")
    p.add_argument("--data", default=None, type=Path, help="dataset folder (with --recipe: where its data is rendered)")
    p.add_argument("--out", required=True, type=Path, help="run folder to create (or continue with --resume)")
    p.add_argument("--recipe", default=None, help="a named recipe (data + settings), e.g. `default`, the shipped model's")
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last finished epoch")
    training_options(p)
    p.set_defaults(handler=_train)

    p = commands.add_parser("lolo", help="leave-one-library-out: per sample library, train without it and test on it")
    p.add_argument("--data", required=True, type=Path, help="dataset folder (e.g. rendered with --libraries)")
    p.add_argument("--out", required=True, type=Path, help="folder for the folds' runs and lolo.json (resumes)")
    p.add_argument("--libraries", help="hold out only these libraries, comma-separated (default: each one in turn)")
    training_options(p)
    p.set_defaults(handler=_lolo)

    p = commands.add_parser("thresholds", help="give a run the per-class thresholds and predominance rule that "
                            "`instrid lolo` chose on its held-out folds")  # fmt: skip
    p.add_argument("--lolo", required=True, type=Path, help="the --out folder of a finished `instrid lolo` (its lolo.json)")
    p.add_argument("--run", required=True, type=Path, help="the run folder whose run.json gets the rule")
    p.set_defaults(handler=_thresholds)

    p = commands.add_parser("evaluate", help="evaluate a run on a split: P/R/F1 tables, confusion matrix")
    p.add_argument("--run", type=Path, default=None, help="a run folder (default: the model shipped with instrid)")
    p.add_argument("--data", required=True, type=Path, help="dataset folder")
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path, default=None, help="where the metrics and the confusion matrix are written "
                   f"(default: the run folder; for the shipped model ./{SHIPPED_EVALUATION})")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--restrict", action="store_true", help="predict only among the classes present in the split (e.g. real-notes)")
    inference_options(p)
    p.add_argument("--cache", type=Path, default=None, help="feature cache folder (default: DATA/features)")
    p.add_argument("--workers", type=int, default=None, help="feature extraction processes (default: all cores)")
    p.set_defaults(handler=_evaluate)

    p = commands.add_parser("predict", help="the instruments playing in recordings (files or folders, any length)")
    p.add_argument("paths", nargs="*", type=Path, help="audio files or folders (searched recursively)")
    p.add_argument("--run", type=Path, default=None, help="a run folder (default: the model shipped with instrid)")
    p.add_argument("--format", default="table", choices=["table", "json", "jsonl", "csv"], help="what to print: table "
                   "(for people), json (one document: a list of results), jsonl (one result per line, streamed), csv "
                   "(one row per file, one column per class)")  # fmt: skip
    p.add_argument("--timeline", action="store_true", help="also the scores of every window (which instrument when)")
    p.add_argument("--threshold", type=float, default=None, help="one theta on the file scores for every class, in place of the run's naming rule (default: "
                   "the run's naming rule)")
    p.add_argument("--out", type=Path, default=None, help="stream results to a .jsonl or .csv file (with --manifest: a "
                   "folder of Parquet files); a rerun skips the files in it")
    p.add_argument("--manifest", type=Path, default=None, help="instead of PATHS: a text file of paths or URLs (one per "
                   "line) to tag on Ray Data, locally or on a cluster (needs instrid[cluster])")
    p.add_argument("--ray-address", default=None, help="with --manifest: the Ray cluster (default: RAY_ADDRESS, else a local one)")
    p.add_argument("--actors", type=int, default=1, help="with --manifest: inference actors (the network; one per GPU)")
    p.add_argument("--gpus-per-actor", type=float, default=0.0, help="with --manifest: GPUs per inference actor (0: CPU)")
    p.add_argument("--workers", type=int, default=1, help="processes sharing a folder's files and the cores (default 1: the "
                   "network already uses every core)")
    inference_options(p)
    p.set_defaults(handler=_predict)

    p = commands.add_parser("export", help="export a run's network to ONNX (features stay in Python)")
    p.add_argument("--run", required=True, type=Path, help="run folder from `instrid train`")
    p.add_argument("--onnx", required=True, type=Path, help="the .onnx file to write")
    p.set_defaults(handler=_export)

    p = commands.add_parser("serve", help="an HTTP API (POST /predict) and a web page, on one port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--run", type=Path, default=None, help="a run folder (default: the model shipped with instrid)")
    inference_options(p)
    p.set_defaults(handler=_serve)

    from .experiment.plan import EXPERIMENTS, PROFILES

    p = commands.add_parser("experiment", help="re-create a paper's tables and figures: train, evaluate, write a report")
    p.add_argument("name", choices=EXPERIMENTS, help="hssanet: Table 1 + noise robustness; cross-attention: Tables 3-6, Figures 3-5")
    p.add_argument("--data", default=None, type=Path, help="dataset folder: rendered, IRMAS or NSynth layout (default: "
                   "data/tiny for quick, data/medium for full, rendered on first use)")
    p.add_argument("--out", required=True, type=Path, help="report folder: report.md, results.json, figures/, runs/")
    p.add_argument("--profile", default="quick", choices=list(PROFILES), help="quick: checks the pipeline; full: the papers' recipe")
    p.add_argument("--seeds", type=int, default=3, help="runs per model; tables give mean ± std over them")
    p.add_argument("--epochs", type=int, default=None, help="cap the profile's epochs (e.g. to fit a CPU); the report says so")
    p.add_argument("--models", default=None, help="only these runs, comma-separated (e.g. mel_cnn,cross_attention; "
                   "cross_attention-sgd for a Figure 5 run), to fit a CPU; the report says which")
    p.add_argument("--workers", type=int, default=None, help="feature extraction processes (default: all cores)")
    p.add_argument("--report-only", action="store_true",
                   help="write report.md and figures again from OUT/results.json alone (other options ignored)")
    p.set_defaults(handler=_experiment)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"instrid: warning: {message}\n"


# The extra that installs each optional package: a command that needs one it lacks says which.
EXTRAS = {
    "fastapi": "serve", "uvicorn": "serve", "multipart": "serve", "python_multipart": "serve",
    "sklearn": "train", "skops": "train", "pytorch_optimizer": "train", "matplotlib": "train",
    "pretty_midi": "render", "onnx": "onnx", "onnxscript": "onnx", "torch": "torch",
    "ray": "cluster", "pyarrow": "cluster", "fsspec": "cluster",
}  # fmt: skip


def missing_extra(err: ModuleNotFoundError, command: str) -> str | None:
    """The one-line message for a missing optional package, or None when it is not one of the extras'."""
    package = (err.name or "").split(".")[0]
    if package == "tinysoundfont":
        return f"instrid {command} needs tinysoundfont: pip install 'instrid[render]' && pip install --no-deps tinysoundfont"
    if package in EXTRAS:
        return f"instrid {command} needs {package}: pip install 'instrid[{EXTRAS[package]}]'"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    default_format, warnings.formatwarning = warnings.formatwarning, _one_line_warning  # no source line
    try:
        args.handler(args)
    except InstridError as err:
        print(f"instrid: error: {err}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as err:
        if (message := missing_extra(err, args.command)) is None:
            raise
        print(f"instrid: error: {message}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `instrid ... | head`: the reader is gone; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        warnings.formatwarning = default_format
    return 0
