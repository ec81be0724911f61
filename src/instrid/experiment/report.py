"""The report of an experiment: tables (mean ± standard deviation over seeds, the paper's figure beside each),
figures, a plain verdict on each claim, and the raw numbers as JSON. The sections of each paper are in
``report_hssanet`` and ``report_cross_attention``; the numbers over seeds in ``stats``."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataError
from ..fileio import atomic_write
from .report_cross_attention import cross_attention_sections
from .report_hssanet import hssanet_sections
from .stats import SIGNIFICANCE


def write_report(out: Path, context: dict, results: dict) -> Path:
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    if context["experiment"] == "hssanet":
        body = hssanet_sections(results, figures)
    else:
        body = cross_attention_sections(results, figures)
    text = "\n".join([header(context), *body, ""])
    raw = {"context": context, "jobs": results}
    atomic_write(out / "results.json", lambda f: f.write(json.dumps(raw, indent=1).encode()))
    atomic_write(out / "report.md", lambda f: f.write(text.encode()))
    return out / "report.md"


def render_report(out: str | Path, experiment: str) -> Path:
    """Write ``out/report.md`` and the figures again from ``out/results.json`` alone, training nothing: the same
    bytes as when the experiment wrote them."""
    out = Path(out)
    try:
        raw = json.loads((out / "results.json").read_text())
        found = raw["context"]["experiment"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{out / 'results.json'}: no results to render ({e!r}); run the experiment first") from None
    if found != experiment:
        raise DataError(f"{out / 'results.json'} holds the {found} experiment, not {experiment}")
    return write_report(out, raw["context"], raw["jobs"])


def header(context: dict) -> str:
    p, hw = context["profile"], context["hardware"]
    title = {"hssanet": "HSSANet paper: Table 1 and noise robustness",
             "cross-attention": "Cross-attention paper: Tables 3-6, Figures 3-5"}[context["experiment"]]  # fmt: skip
    splits = "\n".join(f"| {s['task']} | {s['split']} | {s['source']} | {s['clips']} |" for s in context["splits"])
    capped = f", capped at {p['epochs']} epochs by `--epochs`" if p["epochs_capped_by_option"] else ""
    missing = sorted({name.rsplit("-seed", 1)[0] for name in context.get("missing", [])})
    runs = (f"- **Runs not trained yet** (`--models` trains a part; the tables leave these empty): "
            f"{', '.join(f'`{m}`' for m in missing)}.\n") if missing else ""  # fmt: skip
    device = hw["gpu"] or f"{hw['cpu']}, {hw['cores']} cores, {hw['torch_threads']} torch threads, no GPU"
    return f"""# {title}

Re-created with instrid by one command:

```sh
{context["command"]}
```

- **Data**: `{context["data"]}`. Models are trained on the `train` split, the epoch kept and θ are chosen on
  `validation`, and every number below is measured on `test`, which nothing was tuned on.
- **Profile**: `{p["name"]}`: {p["summary"]}{capped}. Up to {p["epochs"]} epochs, patience {p["patience"]}.
- **Seeds**: {context["seeds"]}; every number is the mean ± standard deviation over the seeds (sample std).
- **Hardware**: {device}; torch {hw["torch"]}, Python {hw["python"]}.
- **Time**: {context["compute_seconds_all_jobs"] / 60:.1f} min of training and measuring over all runs
  ({context["wall_seconds_this_call"] / 60:.1f} min in the last call that trained; finished runs are reused).
- **Verdicts**: a claim *holds* when Welch's t-test over the seeds (two-sided, unequal variances) gives
  p < {SIGNIFICANCE} with our difference in the paper's direction, *does not hold* when p < {SIGNIFICANCE} the
  other way, and is *not settled* otherwise; each gives the difference in seed spreads (sqrt(std_a² + std_b²))
  and p.
{runs}
| task | split | source | clips |
|---|---|---|---:|
{splits}
"""
