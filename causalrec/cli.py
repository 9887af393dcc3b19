"""The ``causalrec`` command line, thin over :mod:`causalrec.pipeline`.

- ``run --config CONFIG.toml --out DIR``: the whole pipeline, the causal effect of exposure on
  purchase, and a report folder (``metrics.json``, ``recommendations.csv``, ``config.toml``,
  ``timings.json``, ``figures/*.png``, ``report.html``);
- ``evaluate``: metrics of a recommendations CSV (:func:`~causalrec.pipeline.evaluate_recommendations`);
- ``simulate --out DIR``: write a simulated world (the defaults regenerate ``data/``);
- ``exercises``: student notebooks without solutions.

The config keys are the fields of :class:`~causalrec.pipeline.PipelineConfig` (``run --help``).

>>> apply_overrides({"train": {"epochs": 5}}, ["train.epochs=1", "data.path=/tmp/coat"])
{'train': {'epochs': 1}, 'data': {'path': '/tmp/coat'}}
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import html
import io
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

import causalrec as cr

from . import causal, schema
from .data.load import DEFAULT_WORLD
from .exercises import write_student_notebooks
from .pipeline import (LIKED, REAL_SOURCES, SOURCES, ConfigError, Pipeline, PipelineConfig, config_problems,
                       describe_rule, evaluate_recommendations, strip_causal_information)
from .plots import PALETTE

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

__all__ = ["main", "build_parser", "read_config", "apply_overrides", "config_from_toml", "config_to_toml",
           "describe_config", "config_world", "exposure_effect", "run", "OUTPUT_FILES"]

#: Files ``run`` writes into the output folder (``--force`` overwrites these and nothing else).
OUTPUT_FILES = ("metrics.json", "timings.json", "recommendations.csv", "config.toml", "report.html")


def _key(f) -> str:
    """A config field's TOML name, ``section.key``."""
    return f"{f.metadata['section']}.{f.metadata['key'] or f.name}"


def config_from_toml(raw: dict, *, sections=None) -> PipelineConfig:
    """The :class:`~causalrec.pipeline.PipelineConfig` of parsed TOML ``{section: {key: value}}``
    (only ``sections``, if given); every problem is reported at once, each naming ``section.key``.

    >>> config_from_toml({"train": {"model": "svd"}})
    Traceback (most recent call last):
    ...
    causalrec.pipeline.ConfigError: invalid config:
      train.model = 'svd' is not allowed; allowed values: 'mf', 'neumf', 'multimodal'
    """
    if not isinstance(raw, dict):
        raise ConfigError([f"the config must be a table of sections, got {type(raw).__name__}"])
    fields = {_key(f): f.name for f in dataclasses.fields(PipelineConfig)}
    known = dict.fromkeys(key.split(".")[0] for key in fields)
    errors, values = [], {}
    for section, table in raw.items():
        if sections is not None and section not in sections:
            continue
        if section not in known:
            errors.append(f"unknown section [{section}]; allowed sections: {', '.join(known)}")
        elif not isinstance(table, dict):
            errors.append(f"[{section}] must be a table of keys, got {table!r}")
        for key, value in (table.items() if section in known and isinstance(table, dict) else ()):
            if f"{section}.{key}" in fields:
                values[fields[f"{section}.{key}"]] = value
            else:
                keys = [k.split(".")[1] for k in fields if k.startswith(section + ".")]
                errors.append(f"unknown key {section}.{key}; allowed keys in [{section}]: {', '.join(keys)}")
    if sections is not None:  # the keys not read take values that fit the data
        if values.get("source") in REAL_SOURCES:
            values.setdefault("target", LIKED)
        if values.get("source") in REAL_SOURCES or values.get("strip_causal"):
            values.setdefault("effect_method", "none")
    if not errors:
        names = {name: key for key, name in fields.items()}
        errors = config_problems({**PipelineConfig().to_dict(), **values}, names.get)
    if errors:
        raise ConfigError(errors)
    return PipelineConfig(**values)


def config_to_toml(config: PipelineConfig) -> str:
    """TOML text that :func:`config_from_toml` reads back equal (keys the data source ignores left out)."""
    unused = {"path", "verify"} if config.source not in REAL_SOURCES else set()
    unused |= {"n_users", "n_items", "world_seed"} if config.source != "simulate" else set()
    lines, section = [], None
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in unused or value is None:
            continue
        if f.metadata["section"] != section:
            section = f.metadata["section"]
            lines += ["", f"[{section}]"] if lines else [f"[{section}]"]
        lines.append(f"{f.metadata['key'] or f.name} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def describe_config() -> str:
    """Every TOML key with its rule, default and meaning (``run --help``)."""
    return "\n".join(f"  {_key(f)}: {describe_rule(f.type.split(' ')[0], f.metadata)}; default "
                     f"{'unset' if f.default is None else json.dumps(f.default)}. {f.metadata['help']}"
                     for f in dataclasses.fields(PipelineConfig))


def config_world(config: PipelineConfig):
    """The world ``config.source`` names (stripped of causal information if ``config.strip_causal``).

    >>> config_world(PipelineConfig(source="simulate", n_users=30, n_items=12)).n_items
    12
    """
    if config.source == "default":
        world = cr.load_default()
    elif config.source == "simulate":
        world = cr.simulate_shop(n_users=config.n_users, n_items=config.n_items, random_state=config.world_seed)
    else:
        loader = cr.load_coat if config.source == "coat" else cr.load_movielens_100k
        world = loader(config.path, verify=config.verify, verbose=False)
    return strip_causal_information(world) if config.strip_causal else world


def exposure_effect(world, method: str = "weighting") -> dict:
    """DoWhy's estimate of the effect of exposure on purchase (``effect_estimate``), next to
    ``effect_naive`` and ``effect_true``; needs exposure and purchase columns and a causal graph."""
    if method not in causal.ESTIMATORS:
        raise ValueError(f"method={method!r} is not allowed; allowed values: {', '.join(map(repr, causal.ESTIMATORS))}")
    if not {schema.EXPOSED, schema.PURCHASED} <= set(world.interactions.columns):
        raise ValueError("the causal-effect step needs 'exposed' and 'purchased' columns")
    if world.truth is None or not getattr(world.truth, "dag", None):
        raise ValueError("the causal-effect step needs a causal graph (world.truth.dag); this data has none")
    frame = causal.analysis_frame(world)
    setup = causal.build_model(frame, causal.simulator_graph(world))
    return {"effect_method": method, "effect_naive": float(causal.naive_difference(frame).value),
            "effect_estimate": float(causal.estimate_effect(setup, method).value),
            "effect_true": float(world.truth.ate), "effect_adjustment": list(setup.backdoor_variables)}


def read_config(path) -> dict:
    """Parse a TOML file; invalid TOML raises :class:`~causalrec.pipeline.ConfigError` naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path} is not valid TOML: {error}"]) from None


def apply_overrides(raw: dict, overrides) -> dict:
    """Apply ``--set SECTION.KEY=VALUE`` overrides (VALUE read as TOML, else as a string)."""
    result = {section: dict(values) if isinstance(values, dict) else values for section, values in raw.items()}
    for item in overrides or ():
        name, sep, text = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not (sep and dot and section and key):
            raise ConfigError([f"--set {item!r} must look like SECTION.KEY=VALUE, e.g. train.epochs=1"])
        table = result.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError([f"--set {item!r}: [{section}] is not a section"])
        try:
            table[key] = tomllib.loads(f"value = {text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            table[key] = text.strip()  # a bare word is a string: --set data.path=/tmp/coat
    return result


def _check_out(out, force: bool) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"--out {out} is not empty; choose a new folder, or pass --force to overwrite "
                              f"the files a run writes ({', '.join(OUTPUT_FILES)}, figures/), keeping all others")
    return out


def _png(fig, alt: str) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue(), alt


def _figures(pipe, report, effect) -> dict:
    """The run's figures: ``{file name: (png bytes, alt text)}``."""
    figures = {}
    history = pipe.model_.history_
    losses = [c for c in history.columns if c.endswith("loss")]
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    for column, colour in zip(losses, PALETTE):
        ax.plot(history.index, history[column], marker="o", color=colour, label=column.replace("_", " "))
    ax.set(xlabel="epoch", ylabel=f"{report.config.loss} loss (nats per row)", title="Training loss per epoch")
    ax.legend()
    figures["training.png"] = _png(fig, "Line chart of the training loss per epoch; after the last epoch: " + ", ".join(
        f"{c.replace('_', ' ')} {history[c].iloc[-1]:.3f}" for c in losses) + ".")

    table = report.importance.fillna(0)
    fig = Figure(figsize=(6, 3), layout="constrained")
    ax = fig.subplots()
    ax.barh(table["block"], table["auc_drop"], xerr=table["auc_drop_std"], color=PALETTE[0])
    ax.invert_yaxis()
    ax.set(xlabel="drop in held-out AUC when the block is shuffled", ylabel="input block",
           title="Permutation importance of the model's inputs")
    figures["importance.png"] = _png(fig, "Bar chart of the drop in AUC when each input block is shuffled: "
                                     + ", ".join(f"{b} {d:.3f}" for b, d in zip(table["block"], table["auc_drop"]))
                                     + ".")
    if effect:
        names = ["naive difference", f"{effect['effect_method']} (DoWhy)", "true effect"]
        values = [100 * effect[k] for k in ("effect_naive", "effect_estimate", "effect_true")]
        fig = Figure(figsize=(6, 3), layout="constrained")
        ax = fig.subplots()
        ax.barh(names, values, color=PALETTE[:3])
        ax.invert_yaxis()
        ax.set(xlabel="effect on purchase probability (percentage points)",
               title="Does showing an item cause its purchase?")
        figures["effect.png"] = _png(fig, "Bar chart of the effect of exposure on purchase in percentage points: "
                                     + ", ".join(f"{n} {v:.1f}" for n, v in zip(names, values)) + ".")
    counts = (report.recommendations[schema.ITEM].value_counts()
              .reindex(range(len(pipe.world_.items)), fill_value=0).sort_values(ascending=False).to_numpy())
    fig = Figure(figsize=(6, 3), layout="constrained")
    ax = fig.subplots()
    ax.bar(range(1, len(counts) + 1), counts, width=1.0, color=PALETTE[0])
    ax.set(xlabel="item rank by times recommended", ylabel="times recommended",
           title=f"How the top-{report.config.k} lists spread over the catalogue")
    figures["popularity.png"] = _png(fig, f"Bar chart of how often each item is recommended, sorted: the most "
                                     f"recommended item is in {counts[0]} lists and {(counts == 0).sum()} of "
                                     f"{len(counts)} items are in none.")
    return figures


def _table(rows, header) -> str:
    def row(cells, tag):
        return "<tr>" + "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in cells) + "</tr>"
    return f"<table><thead>{row(header, 'th')}</thead><tbody>{''.join(row(r, 'td') for r in rows)}</tbody></table>"


def _html_report(payload: dict, timings: dict, figures: dict, config_toml: str) -> str:
    c, branch = payload["config"], payload["branch"]
    images = "".join(f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
                     f'alt="{html.escape(alt)}"><figcaption>figures/{name}</figcaption></figure>'
                     for name, (png, alt) in figures.items())
    effect = payload["effect"] or {}
    sections = [
        ("Metrics", "<p><code>logged_*</code>: held-out logged rows (biased by what the shop chose to show); "
                    "<code>randomized_*</code>: the randomized slice (an experiment: unbiased).</p>"
         + _table([(k, f"{v:.4f}") for k, v in payload["metrics"].items()], ("metric", "value"))),
        ("Causal effect of exposure on purchase", _table(effect.items(), ("quantity", "value")) if effect else ""),
        ("Figures", images),
        ("Cleaning", _table(payload["cleaning"].items(), ("count", "rows"))),
        ("Time per step (seconds)", _table([(k, f"{v:.2f}") for k, v in timings.items()], ("step", "seconds"))),
        ("Config used", f"<pre>{html.escape(config_toml)}</pre>"),
        ("Versions", html.escape(", ".join(f"{k} {v}" for k, v in payload["versions"].items())))]
    body = "\n".join(f"<h2>{title}</h2>\n{content}" for title, content in sections if content)
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}table{border-collapse:"
             "collapse}td,th{border:1px solid #999;padding:.2em .6em;text-align:left}img{max-width:100%}")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>causalrec run report</title>'
            f"<style>{style}</style></head>\n<body>\n<h1>causalrec run report</h1>\n"
            f"<p>Data: <strong>{html.escape(c['source'])}</strong> "
            f"({html.escape(', '.join(f'{k}: {v:,}' for k, v in payload['data'].items()))}). Model "
            f"<strong>{html.escape(c['model'])}</strong>, objective <strong>{html.escape(c['debias'])}</strong>, "
            f"target <strong>{html.escape(c['target'])}</strong>, seed {c['random_state']}. Path of the "
            f"flowchart: <strong>{branch['path']}</strong> ({html.escape('; '.join(branch['reasons']))}).</p>\n"
            f"{body}\n</body>\n</html>\n")


def run(config: PipelineConfig, out, *, force: bool = False, verbose: bool = True) -> dict:
    """Run the pipeline and the effect step for ``config``; write the report folder ``out``.

    Returns the content of ``metrics.json`` (the same seed gives the same file).
    """
    out = _check_out(out, force)
    start = time.perf_counter()
    world = config_world(config)
    timings = {"data": time.perf_counter() - start}
    pipe = Pipeline(config, verbose=verbose)
    report = pipe.run(world)
    timings.update({f"pipeline: {k}": v for k, v in report.timings.items()})
    start = time.perf_counter()
    effect = None if config.effect_method == "none" else exposure_effect(world, config.effect_method)
    timings["causal effect"] = time.perf_counter() - start
    figures = _figures(pipe, report, effect)
    full = report.to_dict()
    versions = {"python": platform.python_version()}
    for package in ("causalrec", "numpy", "pandas", "torch", "scikit-learn", "dowhy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    payload = {key: full[key] for key in ("config", "data", "cleaning", "branch", "metrics", "importance")}
    payload.update(effect=effect, n_recommendations=len(report.recommendations), versions=versions)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for name, (png, _) in figures.items():
        (out / "figures" / name).write_bytes(png)
    report.recommendations.to_csv(out / "recommendations.csv", index=False, float_format="%.6g")
    (out / "config.toml").write_text(config_to_toml(config), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    (out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
    (out / "report.html").write_text(_html_report(payload, timings, figures, config_to_toml(config)), encoding="utf-8")
    return payload


def _config(args, sections=None) -> PipelineConfig:
    raw = read_config(args.config) if args.config else {}
    return config_from_toml(apply_overrides(raw, args.set), sections=sections)


def _run(args) -> int:
    config = _config(args)
    out = _check_out(args.out, args.force)  # before any work
    if args.dry_run:
        print(f"config OK; would write {', '.join(OUTPUT_FILES)} and figures/ to {out}\n{config_to_toml(config)}")
        return 0
    payload = run(config, out, force=args.force, verbose=not args.quiet)
    shown = ", ".join(f"{k}={v:.3f}" for k, v in list(payload["metrics"].items())[:4])
    print(f"wrote {out}/report.html, metrics.json, recommendations.csv ({payload['n_recommendations']} rows) "
          f"and figures/; {shown}")
    if payload["effect"]:
        e = payload["effect"]
        print(f"effect of exposure on purchase: naive {e['effect_naive']:.4f}, {e['effect_method']} "
              f"{e['effect_estimate']:.4f}, true {e['effect_true']:.4f}")
    return 0


def _evaluate(args) -> int:
    if args.run:
        if not (Path(args.run) / "config.toml").is_file():
            raise FileNotFoundError(f"--run {args.run} holds no config.toml (not a `causalrec run` folder)")
        args.config = args.config or str(Path(args.run) / "config.toml")
        args.recommendations = args.recommendations or str(Path(args.run) / "recommendations.csv")
    elif not args.recommendations:
        raise ValueError("give --run DIR, or --recommendations CSV with --config or --data")
    args.set = [f"data.source={json.dumps(args.data)}"] * bool(args.data) + \
        [f"data.path={json.dumps(args.path)}"] * bool(args.path) + list(args.set or [])
    config = _config(args, sections=("data", "evaluate"))
    frames = {}
    for name in ("recommendations", "heldout"):
        path = getattr(args, name)
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"--{name} {path}: no such file")
        frames[name] = None if path is None else pd.read_csv(path)
        missing = [c for c in (schema.USER, schema.ITEM) if frames[name] is not None and c not in frames[name]]
        if missing:
            raise ValueError(f"--{name} {path} lacks column(s) {missing}")
    recs = frames["recommendations"]
    if schema.RANK not in recs and schema.SCORE not in recs:
        raise ValueError(f"--recommendations {args.recommendations} needs a 'rank' or a 'score' column")
    metrics = evaluate_recommendations(recs, config_world(config), k=config.k if args.k is None else args.k,
                                       relevant_rating=config.relevant_rating, heldout=frames["heldout"])
    text = json.dumps(metrics, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    print(text, end="")
    if not any(name.startswith(("randomized_", "heldout_", "true_")) for name in metrics):
        print("note: these data have no randomized slice and no truth; pass --heldout CSV for accuracy metrics",
              file=sys.stderr)
    return 0


def _simulate(args) -> int:
    started = time.perf_counter()
    world = cr.simulate_shop(n_users=args.users, n_items=args.items, random_state=args.seed)
    sums = cr.save_world(world, args.out)
    print(f"wrote {world!r} to {args.out} in {time.perf_counter() - started:.2f} s ({len(sums)} files, "
          "SHA256SUMS included)")
    return 0


def _exercises(args) -> int:
    written = write_student_notebooks(args.book, args.out)
    print(f"wrote {len(written)} student notebooks to {args.out} (solutions replaced by `answer = ...`)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``causalrec`` and its four subcommands."""
    parser = argparse.ArgumentParser(prog="causalrec", description="Causal inference for recommender systems.")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser(
        "run", help="run the whole pipeline from a TOML config and write a report folder",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Load data, preprocess, train (naive or IPS), measure input importance, estimate the causal "
                    "effect of exposure on purchase, recommend the top k and write DIR/metrics.json, timings.json, "
                    "recommendations.csv, config.toml, figures/*.png and report.html. The whole config is checked "
                    "before any work; each error names the key and the allowed values.",
        epilog="config keys (TOML [section] key; every key is optional):\n" + describe_config()
               + "\nexamples: examples/default.toml, debiased.toml, coat.toml, movielens.toml")
    run_parser.add_argument("--config", metavar="CONFIG.toml", help="TOML config (without it: every default)")
    run_parser.add_argument("--out", required=True, metavar="DIR", help="output folder; new or empty unless --force")
    run_parser.add_argument("--force", action="store_true", help="overwrite the files a run writes, keep all others")
    run_parser.add_argument("--quiet", action="store_true", help="no progress bars")
    run_parser.add_argument("--dry-run", action="store_true", help="check the config and the folder, print the config")
    ev = sub.add_parser("evaluate", help="metrics of a recommendations CSV (user_id, item_id, rank or score): "
                                         "randomized slice, truth, held-out pairs; prints JSON")
    ev.add_argument("--run", metavar="DIR", help="a `causalrec run` folder: its recommendations.csv and config.toml")
    ev.add_argument("--recommendations", metavar="CSV", help="the lists (default with --run: DIR/recommendations.csv)")
    ev.add_argument("--config", metavar="CONFIG.toml", help="the data the lists were made for ([data] section)")
    ev.add_argument("--data", choices=SOURCES,
                    help="data source, overriding data.source")
    ev.add_argument("--path", metavar="FOLDER", help="folder of the Coat or MovieLens files (data.path)")
    ev.add_argument("--heldout", metavar="CSV", help="held-out pairs (user_id, item_id, and relevant 0/1 or rating)")
    ev.add_argument("--k", type=int, help="list length evaluated (default: evaluate.k of the config)")
    ev.add_argument("--out", metavar="JSON", help="also write the metrics to this file")
    for p in (run_parser, ev):
        p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                       help="override one config key (VALUE read as TOML), e.g. --set train.epochs=1; repeatable")
    sim = sub.add_parser("simulate", help="simulate a shop with known causal truth and write it to a folder "
                                          "(the defaults regenerate data/ byte for byte)")
    sim.add_argument("--out", required=True, help="output folder (created if missing)")
    for flag, name in (("--users", "n_users"), ("--items", "n_items"), ("--seed", "random_state")):
        sim.add_argument(flag, type=int, default=DEFAULT_WORLD[name], help="default %(default)s")
    ex = sub.add_parser("exercises", help="write student notebooks: the chapters with solutions removed")
    ex.add_argument("--book", default="book", help="folder of the chapters (default %(default)s)")
    ex.add_argument("--out", default="exercises", help="output folder (default %(default)s)")
    for p, func in ((run_parser, _run), (ev, _evaluate), (sim, _simulate), (ex, _exercises)):
        p.set_defaults(func=func)
    return parser


def main(argv=None) -> int:
    """Entry point of ``causalrec`` and ``python -m causalrec``; the exit status (2 on a usage error)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as error:
        print(f"causalrec {args.command}: error: {error}", file=sys.stderr)
        return 2
