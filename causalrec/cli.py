"""The ``causalrec`` command line, thin over :mod:`causalrec.pipeline`.

``run`` (pipeline, effect of exposure, report folder), ``evaluate`` (metrics of a lists CSV),
``simulate`` (write a world), ``exercises`` (student notebooks). Config keys: ``run --help``.

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


def _key(f) -> str:  # a config field's TOML name, section.key
    return f"{f.metadata['section']}.{f.metadata['key'] or f.name}"


def config_from_toml(raw: dict, *, sections=None) -> PipelineConfig:
    """The :class:`~causalrec.pipeline.PipelineConfig` of parsed TOML ``{section: {key: value}}``
    (only ``sections``, if given); every problem is reported at once, each naming ``section.key``."""
    if not isinstance(raw, dict):
        raise ConfigError([f"the config must be a table of sections, got {type(raw).__name__}"])
    fields = {_key(f): f.name for f in dataclasses.fields(PipelineConfig)}
    known = dict.fromkeys(key.split(".")[0] for key in fields)
    errors, values = [], {}
    for section, table in raw.items():
        if sections is not None and section not in sections:
            continue
        if section not in known or not isinstance(table, dict):
            errors.append(f"[{section}] must be a table of keys, got {table!r}" if section in known else
                          f"unknown section [{section}]; allowed sections: {', '.join(known)}")
            continue
        keys = [k.split(".")[1] for k in fields if k.startswith(section + ".")]
        errors += [f"unknown key {section}.{key}; allowed keys in [{section}]: {', '.join(keys)}"
                   for key in table if key not in keys]
        values.update({fields[f"{section}.{key}"]: value for key, value in table.items() if key in keys})
    if sections is not None and values.get("source") in REAL_SOURCES:  # keys not read take values that fit
        values.setdefault("target", LIKED)
    if sections is not None and (values.get("source") in REAL_SOURCES or values.get("strip_causal")):
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
    unused |= {"n_users", "n_items", "world_seed", "organic_rate"} if config.source != "simulate" else set()
    lines, section = [], None
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name not in unused and value is not None:
            if f.metadata["section"] != section:
                section = f.metadata["section"]
                lines += ["", f"[{section}]"]
            lines.append(f"{f.metadata['key'] or f.name} = {json.dumps(value)}")
    return "\n".join(lines[1:]) + "\n"


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
        world = cr.simulate_shop(n_users=config.n_users, n_items=config.n_items, random_state=config.world_seed,
                                 params=None if config.organic_rate is None else {"organic_rate": config.organic_rate})
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
    setup = causal.causal_model(frame, causal.simulator_graph(world))
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


def _png(alt: str, draw, **labels) -> tuple[bytes, str]:  # one figure: (png bytes, alt text)
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    draw(ax)
    ax.set(**labels)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue(), alt


def _figures(pipe, report, effect) -> dict:
    """The run's figures: ``{file name: (png bytes, alt text)}``."""
    history, table = pipe.model_.history_, report.importance.fillna(0)
    losses = [c for c in history.columns if c.endswith("loss")]
    figures = {"training.png": _png(
        "Line chart of the training loss per epoch; after the last epoch: "
        + ", ".join(f"{c.replace('_', ' ')} {history[c].iloc[-1]:.3f}" for c in losses) + ".",
        lambda ax: [ax.plot(history.index, history[c], marker="o", color=colour, label=c.replace("_", " "))
                    for c, colour in zip(losses, PALETTE)] + [ax.legend()],
        xlabel="epoch", ylabel=f"{report.config.loss} loss (nats per row)", title="Training loss per epoch"),
        "importance.png": _png(
        "Bar chart of the drop in AUC when each input block is shuffled: "
        + ", ".join(f"{b} {d:.3f}" for b, d in zip(table["block"], table["auc_drop"])) + ".",
        lambda ax: ax.barh(table["block"][::-1], table["auc_drop"][::-1], xerr=table["auc_drop_std"][::-1],
                           color=PALETTE[0]),
        xlabel="drop in held-out AUC when the block is shuffled", ylabel="input block",
        title="Permutation importance of the model's inputs")}
    if effect:
        names = ["naive difference", f"{effect['effect_method']} (DoWhy)", "true effect"]
        values = [100 * effect[k] for k in ("effect_naive", "effect_estimate", "effect_true")]
        figures["effect.png"] = _png(
            "Bar chart of the effect of exposure on purchase in percentage points: "
            + ", ".join(f"{n} {v:.1f}" for n, v in zip(names, values)) + ".",
            lambda ax: ax.barh(names[::-1], values[::-1], color=PALETTE[2::-1]),
            xlabel="effect on purchase probability (percentage points)",
            title="Does showing an item cause its purchase?")
    counts = (report.recommendations[schema.ITEM].value_counts()
              .reindex(range(len(pipe.world_.items)), fill_value=0).sort_values(ascending=False).to_numpy())
    figures["popularity.png"] = _png(
        f"Bar chart of how often each item is recommended, sorted: the most recommended item is in {counts[0]} "
        f"lists and {(counts == 0).sum()} of {len(counts)} items are in none.",
        lambda ax: ax.bar(range(1, len(counts) + 1), counts, width=1.0, color=PALETTE[0]),
        xlabel="item rank by times recommended", ylabel="times recommended",
        title=f"How the top-{report.config.k} lists spread over the catalogue")
    return figures


def _html_report(payload: dict, timings: dict, figures: dict, config_toml: str) -> str:
    """One self-contained page: a summary, the tables, the figures embedded as PNG, the config."""
    c, branch, e = payload["config"], payload["branch"], html.escape

    def table(title, rows, header):
        text = {str: str, float: "{:.4g}".format}
        cells = "".join(f"<tr><td>{e(k)}</td><td>{e(text.get(type(v), '{:,}'.format)(v))}</td></tr>" for k, v in rows)
        return f"<h2>{title}</h2><table><tr><th>{header}</th><th>value</th></tr>{cells}</table>\n"
    images = "".join(f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
                     f'alt="{e(alt)}"><figcaption>figures/{name}</figcaption></figure>\n'
                     for name, (png, alt) in figures.items())
    effect = {k: v if isinstance(v, float) else str(v) for k, v in (payload["effect"] or {}).items()}
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>causalrec run report</title>'
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}td,th{border:1px solid #999}"
            "img{max-width:100%}</style></head><body>\n<h1>causalrec run report</h1>\n"
            f"<p>Data {e(c['source'])} ({e(', '.join(f'{k}: {v:,}' for k, v in payload['data'].items()))}); "
            f"model {e(c['model'])}, {e(c['debias'])}, target {e(c['target'])}, seed {c['random_state']}; "
            f"{branch['path']} path ({e('; '.join(branch['reasons']))}). <code>logged_*</code>: held-out logged "
            "rows (biased by what the shop showed); <code>randomized_*</code>: the randomized slice (unbiased).</p>\n"
            + table("Metrics", payload["metrics"].items(), "metric")
            + (table("Causal effect of exposure on purchase", effect.items(), "quantity") if effect else "")
            + images + table("Cleaning (rows)", payload["cleaning"].items(), "count")
            + table("Time per step (seconds)", timings.items(), "step")
            + f"<h2>Config used</h2><pre>{e(config_toml)}</pre>\n<p>Versions: "
            + e(", ".join(f"{k} {v}" for k, v in payload["versions"].items())) + "</p></body></html>\n")


def run(config: PipelineConfig, out, *, force: bool = False, verbose: bool = True) -> dict:
    """Run the pipeline and the effect step for ``config``, write the folder ``out``; return ``metrics.json``'s
    content (the same seed gives the same file)."""
    out, start = _check_out(out, force), time.perf_counter()
    world = config_world(config)
    timings, pipe = {"data": time.perf_counter() - start}, Pipeline(config, verbose=verbose)
    report = pipe.run(world)
    timings.update({f"pipeline: {k}": v for k, v in report.timings.items()})
    start = time.perf_counter()
    effect = None if config.effect_method == "none" else exposure_effect(world, config.effect_method)
    timings["causal effect"] = time.perf_counter() - start
    versions = {"python": platform.python_version()}
    for package in ("causalrec", "numpy", "pandas", "torch", "scikit-learn", "dowhy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    full, figures, toml = report.to_dict(), _figures(pipe, report, effect), config_to_toml(config)
    payload = {key: full[key] for key in ("config", "data", "cleaning", "branch", "metrics", "importance")}
    payload.update(effect=effect, n_recommendations=len(report.recommendations), versions=versions)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for name, (png, _) in figures.items():
        (out / "figures" / name).write_bytes(png)
    report.recommendations.to_csv(out / "recommendations.csv", index=False, float_format="%.6g")
    for name, text in (("config.toml", toml), ("metrics.json", json.dumps(payload, indent=2) + "\n"),
                       ("timings.json", json.dumps(timings, indent=2) + "\n"),
                       ("report.html", _html_report(payload, timings, figures, toml))):
        (out / name).write_text(text, encoding="utf-8")
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
    if e := payload["effect"]:
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
    for name, path in (("recommendations", args.recommendations), ("heldout", args.heldout)):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"--{name} {path}: no such file")
        frames[name] = frame = None if path is None else pd.read_csv(path)
        if frame is not None and not {schema.USER, schema.ITEM} <= set(frame):
            raise ValueError(f"--{name} {path} lacks column(s) "
                             f"{[c for c in (schema.USER, schema.ITEM) if c not in frame]}")
    recs = frames["recommendations"]
    if schema.RANK not in recs and schema.SCORE not in recs:
        raise ValueError(f"--recommendations {args.recommendations} needs a 'rank' or a 'score' column")
    metrics = evaluate_recommendations(recs, config_world(config), k=config.k if args.k is None else args.k,
                                       relevant_rating=config.relevant_rating, heldout=frames["heldout"])
    print(text := json.dumps(metrics, indent=2) + "\n", end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    if not any(name.startswith(("randomized_", "heldout_", "true_")) for name in metrics):
        print("note: these data have no randomized slice and no truth; pass --heldout CSV for accuracy metrics",
              file=sys.stderr)
    return 0


def _simulate(args) -> int:
    world = cr.simulate_shop(n_users=args.users, n_items=args.items, random_state=args.seed)
    print(f"wrote {world!r} to {args.out} ({len(cr.save_world(world, args.out))} files, SHA256SUMS included)")
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
        description=f"Train, explain, estimate the effect of exposure on purchase, recommend; write DIR/"
                    f"{', '.join(OUTPUT_FILES)}, figures/. Every config error names the key and the allowed values.",
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
    ev.add_argument("--data", choices=SOURCES, help="data source, overriding data.source")
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
