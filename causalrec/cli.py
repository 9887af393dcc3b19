"""The ``causalrec`` command line.

Four subcommands (``python -m causalrec SUBCOMMAND --help``, or ``causalrec
SUBCOMMAND`` once the package is installed):

- ``run --config CONFIG.toml --out DIR``: the article's pipeline as one
  command. Reads a TOML config, validates all of it before any work, loads the
  data (the shipped default world, a freshly simulated one, Coat or MovieLens
  100K files), preprocesses, trains (naive or inverse-propensity weighted),
  measures input importance, estimates the causal effect of exposure on
  purchase, recommends the top ``k`` and writes a report folder:
  ``metrics.json``, ``recommendations.csv``, ``config.toml``, ``timings.json``,
  ``figures/*.png`` and a one-page ``report.html``.
- ``evaluate``: metrics of a recommendations CSV against the randomized slice,
  the simulator's truth and/or held-out pairs.
- ``simulate --out DIR``: write a simulated world (the defaults regenerate ``data/``).
- ``exercises``: student notebooks without solutions.

The config keys, their types, defaults and allowed values are in :data:`CONFIG_SPEC`;
``run --help`` lists them all.

>>> config = validate_config({"train": {"epochs": 1}})
>>> config["train"]["epochs"], config["data"]["source"]
(1, 'default')
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import numbers
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["main", "build_parser", "CONFIG_SPEC", "ConfigError", "validate_config", "read_config",
           "read_config_text", "apply_overrides", "pipeline_config", "run", "evaluate_recommendations", "to_toml"]

SOURCES = ("default", "simulate", "coat", "movielens")
REAL_SOURCES = ("coat", "movielens")
#: Files ``run`` writes into the output folder (``--force`` overwrites these and nothing else).
OUTPUT_FILES = ("metrics.json", "timings.json", "recommendations.csv", "config.toml", "report.html")
FIGURES = ("training.png", "importance.png", "effect.png", "popularity.png")


@dataclass(frozen=True)
class Key:
    """One config key: its type, default, allowed values (or lower bound) and meaning."""

    kind: type
    default: object
    help: str
    allowed: tuple | None = None
    minimum: float | None = None
    open_minimum: bool = False
    maximum: float | None = None
    optional: bool = False   # may be absent (None) with no default

    def describe(self) -> str:
        if self.allowed is not None:
            rule = "one of " + ", ".join(map(repr, self.allowed))
        else:
            rule = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[self.kind]
            if self.minimum is not None:
                rule += f" {'>' if self.open_minimum else '>='} {self.minimum:g}"
            if self.maximum is not None:
                rule += f" and <= {self.maximum:g}"
        return rule


def _estimators() -> tuple:
    from .causal import ESTIMATORS
    return ("none",) + tuple(ESTIMATORS)


def _spec() -> dict:
    from .pipeline import DEBIAS, LOSSES, MODELS, SPLITS, TARGETS
    return {
        "data": {
            "source": Key(str, "default", "where the data come from: the shipped default world, a new "
                          "simulated world, or Coat / MovieLens 100K files", SOURCES),
            "path": Key(str, None, "folder of the Coat or MovieLens files (coat/movielens only; default: "
                        "$CAUSALREC_COAT / $CAUSALREC_MOVIELENS or data/external/)", optional=True),
            "verify": Key(bool, True, "check the sha256 of the published Coat/MovieLens files "
                          "(false for your own files in the same layout)"),
            "users": Key(int, 300, "number of users (simulate only)", minimum=2),
            "items": Key(int, 100, "number of items (simulate only)", minimum=2),
            "seed": Key(int, 0, "seed of the simulated world (simulate only)", minimum=0),
            "strip_causal": Key(bool, False, "drop the randomized slice, propensities, truth and policy "
                                "score, to see the pipeline's 'features' path"),
        },
        "train": {
            "model": Key(str, "mf", "the network", MODELS),
            "loss": Key(str, "bce", "training loss", LOSSES),
            "target": Key(str, "clicked", "the 0/1 outcome learned ('liked' = rating >= "
                          "evaluate.relevant_rating; the only target of rating data)", TARGETS),
            "debias": Key(str, "naive", "'naive': every logged row alike; 'ips': observed rows weighted "
                          "by one over their known propensity", DEBIAS),
            "propensity_clip": Key(float, 0.05, "lower bound on propensities (ips)", minimum=0,
                                   open_minimum=True, maximum=1),
            "epochs": Key(int, 5, "passes over the training rows", minimum=1),
            "batch_size": Key(int, 4096, "rows per mini-batch", minimum=1),
            "lr": Key(float, 0.01, "Adam's learning rate", minimum=0, open_minimum=True),
            "dim": Key(int, 32, "embedding size", minimum=1),
        },
        "evaluate": {
            "k": Key(int, 10, "length of each recommendation list", minimum=1),
            "split": Key(str, "random", "how the log is split into training and held-out rows", SPLITS),
            "test_size": Key(float, 0.2, "share of the log held out", minimum=0, open_minimum=True,
                             maximum=0.99),
            "relevant_rating": Key(int, 4, "a rating at least this high counts as relevant", minimum=1,
                                   maximum=5),
        },
        "importance": {
            "rows": Key(int, 2000, "held-out rows used by the permutation importance", minimum=1),
            "repeats": Key(int, 3, "shuffles per input block", minimum=1),
        },
        "effect": {
            "method": Key(str, "weighting", "estimator of the effect of exposure on purchase (DoWhy "
                          "back-door adjustment), or 'none' to skip the step", _estimators()),
        },
        "run": {
            "seed": Key(int, 0, "seeds the split, the training and the importance shuffles", minimum=0),
            "threads": Key(int, 1, "torch threads while training", minimum=1),
        },
    }


#: Section -> key -> :class:`Key`: every config key ``run`` accepts.
CONFIG_SPEC = _spec()


class ConfigError(ValueError):
    """A config that cannot run; ``errors`` lists every problem found (each names its key)."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("invalid config:\n  " + "\n  ".join(self.errors))


def _check_value(name: str, value, key: Key) -> str | None:
    if key.optional and value is None:
        return None
    kind_ok = (isinstance(value, bool) if key.kind is bool else
               isinstance(value, numbers.Integral) and not isinstance(value, bool) if key.kind is int else
               isinstance(value, numbers.Real) and not isinstance(value, bool) if key.kind is float else
               isinstance(value, str))
    if not kind_ok:
        return f"{name} = {value!r} has the wrong type ({type(value).__name__}); expected {key.describe()}"
    if key.allowed is not None and value not in key.allowed:
        return f"{name} = {value!r} is not allowed; allowed values: {', '.join(map(repr, key.allowed))}"
    if key.kind in (int, float):
        if value != value or value in (float("inf"), float("-inf")):
            return f"{name} = {value!r} must be finite; expected {key.describe()}"
        low_bad = key.minimum is not None and (value <= key.minimum if key.open_minimum else value < key.minimum)
        high_bad = key.maximum is not None and value > key.maximum
        if low_bad or high_bad:
            return f"{name} = {value!r} is out of range; expected {key.describe()}"
    return None


def validate_config(raw: dict, *, sections=None) -> dict:
    """Check a whole config and fill in the defaults; raise :class:`ConfigError` listing every problem.

    Unknown sections and keys, wrong types, values outside the allowed sets or
    ranges, and combinations the data cannot support (e.g. ``debias = "ips"``
    on MovieLens, which has no propensities) are all reported at once, each
    naming the key and what is allowed. Nothing is loaded or written.

    Parameters
    ----------
    raw : dict
        Parsed TOML: ``{section: {key: value}}``.
    sections : sequence of str, optional
        Check only these sections (``evaluate`` needs only ``data`` and
        ``evaluate``); the others are ignored and take their defaults.

    Returns
    -------
    dict
        Every section and key of :data:`CONFIG_SPEC`, with the defaults filled in.

    Examples
    --------
    >>> validate_config({"train": {"model": "svd"}})
    Traceback (most recent call last):
    ...
    causalrec.cli.ConfigError: invalid config:
      train.model = 'svd' is not allowed; allowed values: 'mf', 'neumf', 'multimodal'
    """
    if not isinstance(raw, dict):
        raise ConfigError([f"the config must be a table of sections, got {type(raw).__name__}"])
    if sections is not None:
        raw = {name: value for name, value in raw.items() if name in sections}
    errors = []
    config = {}
    for section, value in raw.items():
        if section not in CONFIG_SPEC:
            errors.append(f"unknown section [{section}]; allowed sections: {', '.join(CONFIG_SPEC)}")
        elif not isinstance(value, dict):
            errors.append(f"[{section}] must be a table (section) of keys, got {value!r}")
    for section, keys in CONFIG_SPEC.items():
        given = raw.get(section, {})
        given = given if isinstance(given, dict) else {}
        for name in given:
            if name not in keys:
                errors.append(f"unknown key {section}.{name}; allowed keys in [{section}]: {', '.join(keys)}")
        config[section] = {}
        for name, key in keys.items():
            value = given.get(name, key.default)
            if name in given:
                problem = _check_value(f"{section}.{name}", value, key)
                if problem:
                    errors.append(problem)
            if key.kind is float and isinstance(value, numbers.Integral) and not isinstance(value, bool):
                value = float(value)
            config[section][name] = value
    if not errors:
        errors.extend(error for error in _combination_errors(config, raw)
                      if sections is None or error.split(".")[0] in sections)
    if errors:
        raise ConfigError(errors)
    # keys the source does not use are unset, so the config a run writes reads back unchanged
    unused = ("path", "verify") if config["data"]["source"] not in REAL_SOURCES else ()
    unused += ("users", "items", "seed") if config["data"]["source"] != "simulate" else ()
    for name in unused:
        config["data"][name] = None
    return config


def _combination_errors(config: dict, raw: dict) -> list[str]:
    """Choices that are each allowed but do not fit the data source or each other."""
    errors = []
    data, train, effect, evaluation = config["data"], config["train"], config["effect"], config["evaluate"]
    source = data["source"]
    given = raw.get("data", {})
    if source in REAL_SOURCES:
        if train["target"] != "liked":
            errors.append(f"train.target = {train['target']!r} is not allowed with data.source = {source!r} "
                          "(rating data log no clicks or purchases); allowed values: 'liked'")
        if effect["method"] != "none":
            errors.append(f"effect.method = {effect['method']!r} is not allowed with data.source = {source!r} "
                          "(no exposure column and no causal graph); allowed values: 'none'")
        if train["model"] == "multimodal":
            errors.append(f"train.model = 'multimodal' is not allowed with data.source = {source!r} "
                          "(no item texts or images); allowed values: 'mf', 'neumf'")
        for name in ("users", "items", "seed"):
            if name in given:
                errors.append(f"data.{name} is only used with data.source = 'simulate'; remove it")
        if data["path"] is not None and not Path(data["path"]).expanduser().is_dir():
            errors.append(f"data.path = {data['path']!r} is not a folder")
    else:
        if data["path"] is not None:
            errors.append(f"data.path is only used with data.source = 'coat' or 'movielens', not {source!r}")
        if source == "default":
            for name in ("users", "items", "seed"):
                if name in given:
                    errors.append(f"data.{name} is only used with data.source = 'simulate' "
                                  "(the default world has a fixed size and seed)")
    if source == "movielens" and train["debias"] != "naive":
        errors.append(f"train.debias = {train['debias']!r} is not allowed with data.source = 'movielens' "
                      "(no known propensities); allowed values: 'naive'")
    if source == "coat" and evaluation["split"] == "temporal":
        errors.append("evaluate.split = 'temporal' is not allowed with data.source = 'coat' (no days); "
                      "allowed values: 'random'")
    if data["strip_causal"]:
        if train["debias"] != "naive":
            errors.append("train.debias = 'ips' needs propensities, which data.strip_causal = true removes; "
                          "allowed values: 'naive'")
        if effect["method"] != "none":
            errors.append(f"effect.method = {effect['method']!r} needs the causal graph, which "
                          "data.strip_causal = true removes; allowed values: 'none'")
    return errors


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
        import tomli as tomllib
    return tomllib


def read_config_text(text: str, source: str = "the config") -> dict:
    """Parse TOML text; invalid TOML raises :class:`ConfigError` naming ``source`` and the line.

    >>> read_config_text('[train]\\nepochs = 1')
    {'train': {'epochs': 1}}
    """
    tomllib = _tomllib()
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{source} is not valid TOML: {error}"]) from None


def read_config(path) -> dict:
    """Parse a TOML file (errors name the file and line)."""
    tomllib = _tomllib()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path} is not valid TOML: {error}"]) from None


def _parse_value(text: str):
    tomllib = _tomllib()
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text   # a bare word is a string: --set data.path=/tmp/coat


def apply_overrides(raw: dict, overrides) -> dict:
    """Apply ``--set SECTION.KEY=VALUE`` overrides (VALUE is read as TOML, else as a string).

    Examples
    --------
    >>> apply_overrides({"train": {"epochs": 5}}, ["train.epochs=1", "data.path=/tmp/coat"])
    {'train': {'epochs': 1}, 'data': {'path': '/tmp/coat'}}
    """
    result = {section: dict(values) if isinstance(values, dict) else values for section, values in raw.items()}
    for item in overrides or ():
        name, sep, text = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot or not section or not key:
            raise ConfigError([f"--set {item!r} must look like SECTION.KEY=VALUE, e.g. train.epochs=1"])
        table = result.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError([f"--set {item!r}: [{section}] is not a section"])
        table[key] = _parse_value(text.strip())
    return result


def to_toml(config: dict) -> str:
    """A validated config as TOML text (the ``config.toml`` a run writes; unset keys are left out).

    >>> print(to_toml({"train": {"epochs": 1, "model": "mf"}, "data": {"path": None}}))
    [train]
    epochs = 1
    model = "mf"
    <BLANKLINE>
    [data]
    <BLANKLINE>
    """
    lines = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, str):
                text = json.dumps(value)
            else:
                text = repr(value)
            lines.append(f"{key} = {text}")
        lines.append("")
    return "\n".join(lines)


def pipeline_config(config: dict):
    """The :class:`~causalrec.pipeline.PipelineConfig` of a validated config.

    >>> pipeline_config(validate_config({"train": {"debias": "ips"}, "run": {"seed": 3}}))
    PipelineConfig(model='mf', loss='bce', target='clicked', epochs=5, batch_size=4096, lr=0.01,
                   dim=32, k=10, split='random', test_size=0.2, relevant_rating=4, importance_rows=2000,
                   importance_repeats=3, random_state=3, n_threads=1, debias='ips', propensity_clip=0.05)
    """
    from .pipeline import PipelineConfig

    t, e, i, r = config["train"], config["evaluate"], config["importance"], config["run"]
    return PipelineConfig(model=t["model"], loss=t["loss"], target=t["target"], epochs=t["epochs"],
                          batch_size=t["batch_size"], lr=t["lr"], dim=t["dim"], k=e["k"], split=e["split"],
                          test_size=e["test_size"], relevant_rating=e["relevant_rating"],
                          importance_rows=i["rows"], importance_repeats=i["repeats"],
                          random_state=r["seed"], n_threads=r["threads"], debias=t["debias"],
                          propensity_clip=t["propensity_clip"])


def load_data(data: dict):
    """The world a validated ``[data]`` section names.

    >>> load_data(validate_config({"data": {"source": "simulate", "users": 30, "items": 12}})["data"])
    ... # doctest: +ELLIPSIS
    ShopWorld(n_users=30, n_items=12, logged=..., randomized=..., true ATE=...)
    """
    from .data import load as datasets
    from .pipeline import strip_causal_information
    from .data.simulate import simulate_shop

    source = data["source"]
    if source == "default":
        world = datasets.load_default()
    elif source == "simulate":
        world = simulate_shop(n_users=data["users"], n_items=data["items"], random_state=data["seed"])
    elif source == "coat":
        world = datasets.load_coat(data["path"], verify=data["verify"], verbose=False)
    else:
        world = datasets.load_movielens_100k(data["path"], verify=data["verify"], verbose=False)
    return strip_causal_information(world) if data["strip_causal"] else world


def _check_out(out, force: bool) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f"--out {out} is not empty; choose a new folder, or pass --force to overwrite "
                              f"the files a run writes there ({', '.join(OUTPUT_FILES)}, figures/) "
                              "and keep every other file")
    return out


def _versions() -> dict:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("causalrec", "numpy", "pandas", "torch", "scikit-learn", "matplotlib", "dowhy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


# ------------------------------------------------------------------------------------ figures
def _figures(pipe, report, effect) -> dict:
    """Draw the run's figures; return ``{file name: (png bytes, alt text)}``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    from . import schema
    from .plots import PALETTE

    figures = {}

    def save(name, fig, alt):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        figures[name] = (buffer.getvalue(), alt)

    history = pipe.model_.history_
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    for column, colour in zip([c for c in history.columns if c.endswith("loss")], PALETTE):
        ax.plot(history.index, history[column], marker="o", color=colour, label=column.replace("val_", "validation ").replace("_", " "))
    ax.set(xlabel="epoch (passes over the training rows)", ylabel=f"{report.config.loss} loss (nats per row)",
           title="Training loss per epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend()
    last = history.iloc[-1].to_dict()
    save("training.png", fig, "Line chart of the training loss per epoch; after the last epoch: "
         + ", ".join(f"{k.replace('val_', 'validation ').replace('_', ' ')} {v:.3f}"
                     for k, v in last.items() if k.endswith("loss")) + ".")

    table = report.importance
    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    drops = table["auc_drop"].fillna(0).to_numpy()
    ax.barh(table["block"], drops, xerr=table["auc_drop_std"].fillna(0).to_numpy(), color=PALETTE[0])
    ax.invert_yaxis()
    ax.axvline(0, color=PALETTE[3], linewidth=1)
    ax.set(xlabel="drop in held-out AUC when the block is shuffled (AUC units)", ylabel="input block",
           title="Permutation importance of the model's inputs")
    save("importance.png", fig, "Horizontal bar chart of the drop in AUC when each input block is shuffled: "
         + ", ".join(f"{b} {d:.3f}" if np.isfinite(d) else f"{b} not measurable (one class only)"
                     for b, d in zip(table["block"], table["auc_drop"])) + ".")

    if effect:
        names = ["naive difference", f"{effect['effect_method']} (DoWhy)", "true effect"]
        values = [effect["effect_naive"], effect["effect_estimate"], effect["effect_true"]]
        fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
        ax.barh(names, [100 * v for v in values], color=[PALETTE[1], PALETTE[0], PALETTE[3]])
        ax.invert_yaxis()
        ax.set(xlabel="effect on purchase probability (percentage points)", ylabel="estimate",
               title="Does showing an item cause its purchase?")
        save("effect.png", fig, "Bar chart of the effect of exposure on purchase in percentage points: "
             + ", ".join(f"{n} {100 * v:.1f}" for n, v in zip(names, values)) + ".")

    recs = report.recommendations
    counts = recs[schema.ITEM].value_counts().reindex(range(len(pipe.world_.items)), fill_value=0)
    ordered = np.sort(counts.to_numpy())[::-1]
    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    ax.bar(np.arange(1, len(ordered) + 1), ordered, width=1.0, color=PALETTE[0])
    ax.set(xlabel="item rank by times recommended (1 = most recommended)",
           ylabel="times recommended (users)", title=f"How the top-{report.config.k} lists spread over the catalogue")
    save("popularity.png", fig, f"Bar chart of how often each item is recommended, sorted: the most recommended "
         f"item is in {int(ordered[0])} lists and {int((ordered == 0).sum())} of {len(ordered)} items are in none.")
    return figures


# ------------------------------------------------------------------------------------ report
def _table(rows, header) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_report(payload: dict, timings: dict, figures: dict, recs, config_toml: str) -> str:
    metrics = payload["metrics"]
    rows = [(name, f"{value:.4f}") for name, value in metrics.items()]
    effect = payload.get("effect") or {}
    effect_rows = [(k, f"{v:.4f}" if isinstance(v, float) else ", ".join(v) if isinstance(v, list) else v)
                   for k, v in effect.items()]
    images = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
        f'alt="{html.escape(alt, quote=True)}"><figcaption>figures/{html.escape(name)}</figcaption></figure>'
        for name, (png, alt) in figures.items())
    branch = payload["branch"]
    cleaning = [(k, v) for k, v in payload["cleaning"].items()]
    first = recs[recs["user_id"].isin(sorted(recs["user_id"].unique())[:3])]
    rec_rows = [(int(r.user_id), int(r.rank), int(r.item_id), f"{r.score:.4f}") for r in first.itertuples()]
    versions = ", ".join(f"{k} {v}" for k, v in payload["versions"].items())
    data = ", ".join(f"{k.replace('n_', '')}: {v:,}" for k, v in payload["data"].items())
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:.2em .6em;"
             "text-align:left}th{background:#eee}img{max-width:100%}figure{margin:1em 0}"
             "pre{background:#f4f4f4;padding:.6em;overflow-x:auto}figcaption{font-size:.9em;color:#444}")
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>causalrec run report</title><style>{style}</style></head>
<body>
<h1>causalrec run report</h1>
<p>Data: <strong>{html.escape(payload['config']['data']['source'])}</strong> ({html.escape(data)}).
Seed: <strong>{payload['seed']}</strong>. Model: <strong>{html.escape(payload['config']['train']['model'])}</strong>,
objective <strong>{html.escape(payload['config']['train']['debias'])}</strong>,
target <strong>{html.escape(payload['config']['train']['target'])}</strong>.</p>
<p>Path of the flowchart: <strong>{html.escape(branch['path'])}</strong>
({html.escape('; '.join(branch['reasons']))}).</p>
<h2>Metrics</h2>
<p><code>logged_*</code>: held-out logged rows (biased by what the shop chose to show);
<code>randomized_*</code>: the randomized slice (an experiment: unbiased), when the data have one.</p>
{_table(rows, ('metric', 'value'))}
{'<h2>Causal effect of exposure on purchase</h2>' + _table(effect_rows, ('quantity', 'value')) if effect else ''}
<h2>Figures</h2>
{images}
<h2>First recommendations</h2>
{_table(rec_rows, ('user_id', 'rank', 'item_id', 'score'))}
<h2>Cleaning</h2>
{_table(cleaning, ('count', 'rows'))}
<h2>Time per step (seconds)</h2>
{_table([(k, f'{v:.2f}') for k, v in timings.items()], ('step', 'seconds'))}
<h2>Config used</h2>
<pre>{html.escape(config_toml)}</pre>
<h2>Versions</h2>
<p>{html.escape(versions)}</p>
</body>
</html>
"""


# ------------------------------------------------------------------------------------ run
def run(config: dict, out, *, force: bool = False, verbose: bool = True) -> dict:
    """Run the whole flow for a validated config and write the report folder ``out``.

    Parameters
    ----------
    config : dict
        From :func:`validate_config`.
    out : path-like
        Output folder; refused when it exists and is not empty, unless ``force``
        (which overwrites only the files a run writes).
    force : bool
    verbose : bool
        Progress bars on stderr.

    Returns
    -------
    dict
        The content of ``metrics.json``.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> config = validate_config({"data": {"source": "simulate", "users": 40, "items": 15},
    ...                           "train": {"epochs": 1}, "effect": {"method": "none"},
    ...                           "importance": {"rows": 100, "repeats": 1}})
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> payload = run(config, out, verbose=False)
    >>> sorted(p.name for p in out.iterdir())
    ['config.toml', 'figures', 'metrics.json', 'recommendations.csv', 'report.html', 'timings.json']
    >>> json.loads((out / "metrics.json").read_text())["metrics"] == payload["metrics"]
    True
    """
    from ._checks import progress_bar
    from .pipeline import Pipeline, exposure_effect

    out = _check_out(out, force)
    settings = pipeline_config(config)
    timings = {}
    stages = ("data", "pipeline", "causal effect", "figures", "report")
    bar = progress_bar(total=len(stages), desc="causalrec run", unit="stage", disable=not verbose)

    def stage(name):
        bar.set_postfix_str(name)
        return time.perf_counter()

    start = stage("data")
    world = load_data(config["data"])
    timings["data"] = time.perf_counter() - start
    bar.update(1)

    start = stage("pipeline")
    pipe = Pipeline(settings, verbose=verbose)
    report = pipe.run(world)
    timings.update({f"pipeline: {k}": v for k, v in report.timings.items()})
    bar.update(1)

    start = stage("causal effect")
    effect = None
    if config["effect"]["method"] != "none":
        effect = exposure_effect(world, config["effect"]["method"])
    timings["causal effect"] = time.perf_counter() - start
    bar.update(1)

    start = stage("figures")
    figures = _figures(pipe, report, effect)
    timings["figures"] = time.perf_counter() - start
    bar.update(1)

    stage("report")
    full = report.to_dict()
    payload = {
        "seed": config["run"]["seed"],
        "config": config,
        "data": full["data"],
        "cleaning": full["cleaning"],
        "branch": full["branch"],
        "metrics": full["metrics"],
        "importance": full["importance"],
        "effect": effect,
        "n_recommendations": len(report.recommendations),
        "versions": _versions(),
    }
    config_toml = to_toml(config)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for name, (png, _) in figures.items():
        (out / "figures" / name).write_bytes(png)
    report.recommendations.to_csv(out / "recommendations.csv", index=False, float_format="%.6g")
    (out / "config.toml").write_text(config_toml, encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    (out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
    (out / "report.html").write_text(_html_report(payload, timings, figures, report.recommendations, config_toml),
                                     encoding="utf-8")
    bar.update(1)
    bar.close()
    return payload


# ------------------------------------------------------------------------------------ evaluate
def _read_recommendations(path):
    import pandas as pd

    from . import schema

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--recommendations {path}: no such file")
    recs = pd.read_csv(path)
    missing = [c for c in (schema.USER, schema.ITEM) if c not in recs]
    if missing:
        raise ValueError(f"{path} lacks column(s) {missing}; it needs user_id, item_id and rank or score")
    if schema.RANK not in recs and schema.SCORE not in recs:
        raise ValueError(f"{path} needs a 'rank' or a 'score' column to order each user's list")
    for column in (schema.USER, schema.ITEM):
        if recs[column].isna().any() or not pd.api.types.is_integer_dtype(recs[column]):
            raise ValueError(f"column {column!r} of {path} must hold integer IDs without gaps")
    return recs


def evaluate_recommendations(recs, world, *, k: int = 10, relevant_rating: int = 4, heldout=None) -> dict:
    """Metrics of top-``k`` lists against what the data can tell.

    - ``randomized_*`` (when the data have a randomized slice): ranking metrics
      of the lists against the slice's relevant pairs (rating >=
      ``relevant_rating``); the slice was collected at random, so they are not
      biased by the logging policy. Averaged over users with a relevant pair.
    - ``true_relevance@k`` (simulated worlds): the mean true relevance (click
      probability when examined) of the recommended items, next to
      ``true_relevance_random`` (of a uniformly random item) and
      ``true_relevance_best@k`` (of each user's ``k`` truly best items, an
      upper bound).
    - ``heldout_*`` (when ``heldout`` is given): ranking metrics against those
      pairs (its ``relevant`` column if any, else rating >= ``relevant_rating``,
      else every row).
    - always ``coverage@k`` and, when items have a popularity, ``mean_popularity@k``.

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id`` and ``rank`` or ``score``.
    world : ShopWorld or RatingsData
    k, relevant_rating : int
    heldout : pandas.DataFrame, optional

    Returns
    -------
    dict of str -> float

    Examples
    --------
    >>> import pandas as pd, causalrec as cr
    >>> world = cr.simulate_shop(n_users=40, n_items=20, random_state=0)
    >>> recs = pd.DataFrame({"user_id": [0, 0, 1], "item_id": [3, 4, 5], "rank": [1, 2, 1]})
    >>> metrics = evaluate_recommendations(recs, world, k=2)
    >>> metrics["coverage@2"], 0 < metrics["true_relevance@2"] < 1
    (0.15, True)
    """
    import numpy as np

    from . import schema
    from ._checks import check_positive_int
    from .metrics import catalogue_coverage, evaluate_ranking, mean_popularity

    k = check_positive_int(k, "k")
    n_users, n_items = len(world.users), len(world.items)
    for column, n in ((schema.USER, n_users), (schema.ITEM, n_items)):
        ids = recs[column].to_numpy()
        if len(ids) and (ids.min() < 0 or ids.max() >= n):
            raise ValueError(f"recommendations hold {column} values outside 0..{n - 1} of this data "
                             f"(e.g. {int(ids.max()) if ids.max() >= n else int(ids.min())}): wrong --data?")
    order = schema.RANK if schema.RANK in recs else schema.SCORE
    ascending = order == schema.RANK
    top = (recs.sort_values([schema.USER, order], ascending=[True, ascending], kind="stable")
           .groupby(schema.USER, sort=False).head(k))
    metrics = {"n_users": float(top[schema.USER].nunique()), f"coverage@{k}": catalogue_coverage(top, n_items)}
    if schema.POPULARITY in world.items:
        metrics[f"mean_popularity@{k}"] = mean_popularity(top, world.items.set_index(schema.ITEM)[schema.POPULARITY])

    def ranking(prefix, relevant):
        users = relevant[schema.USER].unique()
        mine = top[top[schema.USER].isin(users)]
        if mine.empty or relevant.empty:
            return
        result = evaluate_ranking(mine, relevant[[schema.USER, schema.ITEM]], k=k)
        for name, value in result.items():
            metrics[f"{prefix}_{name.replace('_at_k', f'@{k}')}"] = float(value)

    randomized = getattr(world, "randomized", None)
    if randomized is not None and len(randomized):
        ranking("randomized", randomized[randomized[schema.RATING] >= relevant_rating])
    truth = getattr(world, "truth", None)
    if truth is not None:
        metrics[f"true_relevance@{k}"] = float(truth.relevance_for(top[schema.USER], top[schema.ITEM]).mean())
        users = np.sort(top[schema.USER].unique())
        every_item = np.arange(n_items)
        best, mean = [], []
        for start in range(0, len(users), 256):
            chunk = users[start:start + 256]
            rel = truth.relevance_for(np.repeat(chunk, n_items), np.tile(every_item, len(chunk)))
            rel = rel.reshape(len(chunk), n_items)
            mean.append(rel.mean(axis=1))
            best.append(np.sort(rel, axis=1)[:, ::-1][:, :k].mean(axis=1))
        metrics["true_relevance_random"] = float(np.concatenate(mean).mean())
        metrics[f"true_relevance_best@{k}"] = float(np.concatenate(best).mean())
    if heldout is not None:
        if "relevant" in heldout:
            relevant = heldout[heldout["relevant"] == 1]
        elif schema.RATING in heldout:
            relevant = heldout[heldout[schema.RATING] >= relevant_rating]
        else:
            relevant = heldout
        ranking("heldout", relevant)
    return {name: float(value) for name, value in metrics.items()}


# ------------------------------------------------------------------------------------ commands
def _config_from_args(args) -> dict:
    raw = read_config(args.config) if args.config else {}
    return validate_config(apply_overrides(raw, args.set))


def _run(args) -> int:
    config = _config_from_args(args)
    out = _check_out(args.out, args.force)   # before any work
    if args.dry_run:
        print(f"config OK; would write {', '.join(OUTPUT_FILES)} and figures/ to {out}")
        print(to_toml(config))
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
    import pandas as pd

    if args.run:
        run_dir = Path(args.run)
        if not (run_dir / "config.toml").is_file():
            raise FileNotFoundError(f"--run {run_dir} holds no config.toml (not a `causalrec run` folder)")
        raw = read_config(run_dir / "config.toml")
        recs_path = Path(args.recommendations) if args.recommendations else run_dir / "recommendations.csv"
    else:
        if not args.recommendations:
            raise ValueError("give --run DIR, or --recommendations CSV with --config or --data")
        raw = read_config(args.config) if args.config else {}
        recs_path = Path(args.recommendations)
    overrides = list(args.set or [])
    if args.data:
        overrides.insert(0, f"data.source={json.dumps(args.data)}")
    if args.path:
        overrides.insert(1 if args.data else 0, f"data.path={json.dumps(args.path)}")
    config = validate_config(apply_overrides(raw, overrides), sections=("data", "evaluate"))
    recs = _read_recommendations(recs_path)
    heldout = None
    if args.heldout:
        if not Path(args.heldout).is_file():
            raise FileNotFoundError(f"--heldout {args.heldout}: no such file")
        heldout = pd.read_csv(args.heldout)
        missing = [c for c in ("user_id", "item_id") if c not in heldout]
        if missing:
            raise ValueError(f"--heldout {args.heldout} lacks column(s) {missing}")
    k = args.k if args.k is not None else config["evaluate"]["k"]
    if k < 1:
        raise ValueError(f"--k must be >= 1, got {k}")
    world = load_data(config["data"])
    metrics = evaluate_recommendations(recs, world, k=k, relevant_rating=config["evaluate"]["relevant_rating"],
                                       heldout=heldout)
    text = json.dumps(metrics, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    print(text, end="")
    if not any(name.startswith(("randomized_", "heldout_", "true_")) for name in metrics):
        print("note: these data have no randomized slice and no truth; pass --heldout CSV for accuracy metrics",
              file=sys.stderr)
    return 0


def _simulate(args) -> int:
    from .data.load import DEFAULT_WORLD, save_world
    from .data.simulate import simulate_shop

    started = time.perf_counter()
    world = simulate_shop(n_users=args.users, n_items=args.items, random_state=args.seed)
    sums = save_world(world, args.out)
    elapsed = time.perf_counter() - started
    print(f"wrote {world!r} to {args.out} in {elapsed:.2f} s ({len(sums)} files, SHA256SUMS included)")
    if (args.users, args.items, args.seed) == tuple(DEFAULT_WORLD.values()):
        print("these are the arguments of the shipped default world (data/)")
    return 0


def _exercises(args) -> int:
    from .exercises import write_student_notebooks

    written = write_student_notebooks(args.book, args.out)
    print(f"wrote {len(written)} student notebooks to {args.out} (solutions replaced by `answer = ...`)")
    return 0


def _config_epilog() -> str:
    lines = ["config keys (TOML sections and keys; every key is optional):"]
    for section, keys in CONFIG_SPEC.items():
        lines.append(f"  [{section}]")
        for name, key in keys.items():
            default = "unset" if key.default is None else json.dumps(key.default)
            lines.append(f"    {name}: {key.describe()}; default {default}. {key.help}")
    lines.append("examples: examples/default.toml, debiased.toml, coat.toml, movielens.toml")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``causalrec`` and its four subcommands."""
    from .data.load import DEFAULT_WORLD

    parser = argparse.ArgumentParser(prog="causalrec", description="Causal inference for recommender systems.")
    sub = parser.add_subparsers(dest="command", required=True)

    run_parser = sub.add_parser(
        "run", help="run the whole pipeline from a TOML config and write a report folder",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Load data, preprocess, train (naive or IPS), measure input importance, estimate the causal "
                    "effect of exposure on purchase, recommend the top k, and write DIR/metrics.json, "
                    "timings.json, recommendations.csv, config.toml, figures/*.png and report.html. The whole "
                    "config is checked before any work; each error names the key and the allowed values.",
        epilog=_config_epilog())
    run_parser.add_argument("--config", metavar="CONFIG.toml",
                            help="TOML config (see the keys below; without it every key takes its default)")
    run_parser.add_argument("--out", required=True, metavar="DIR",
                            help="output folder; must be new or empty unless --force")
    run_parser.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                            help="override one config key (VALUE read as TOML, else as a string); repeatable, "
                                 "e.g. --set train.epochs=1 --set data.path=/data/coat")
    run_parser.add_argument("--force", action="store_true",
                            help="write into a non-empty DIR: overwrite the files a run writes, keep all others")
    run_parser.add_argument("--quiet", action="store_true", help="no progress bars")
    run_parser.add_argument("--dry-run", action="store_true",
                            help="validate the config and the output folder, print the config, do nothing else")
    run_parser.set_defaults(func=_run)

    ev = sub.add_parser(
        "evaluate", help="metrics of a recommendations CSV against the randomized slice, truth or held-out pairs",
        description="Evaluate top-k lists (CSV with user_id, item_id and rank or score). Against the randomized "
                    "slice when the data have one (unbiased), against the simulator's true relevance for a "
                    "simulated world, and against --heldout pairs when given. Prints JSON.")
    ev.add_argument("--run", metavar="DIR", help="a `causalrec run` folder: its recommendations.csv and config.toml")
    ev.add_argument("--recommendations", metavar="CSV", help="the lists to evaluate (default with --run: "
                                                              "DIR/recommendations.csv)")
    ev.add_argument("--config", metavar="CONFIG.toml", help="the data the lists were made for ([data] section)")
    ev.add_argument("--data", choices=SOURCES, help="data source, overriding the config's data.source")
    ev.add_argument("--path", metavar="FOLDER", help="folder of the Coat or MovieLens files (data.path)")
    ev.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                    help="override a config key, e.g. --set data.verify=false; repeatable")
    ev.add_argument("--heldout", metavar="CSV", help="held-out pairs (user_id, item_id, and relevant 0/1 or rating)")
    ev.add_argument("--k", type=int, help="list length evaluated (default: evaluate.k of the config, 10)")
    ev.add_argument("--out", metavar="JSON", help="also write the metrics to this file")
    ev.set_defaults(func=_evaluate)

    sim = sub.add_parser("simulate", help="simulate a shop with known causal truth and write it to a folder",
                         description="Simulate a shop and write it as CSV/NPZ/JSON with SHA256SUMS. "
                                     "With the defaults it regenerates the shipped data/ byte for byte.")
    sim.add_argument("--out", required=True, help="output folder (created if missing)")
    sim.add_argument("--users", type=int, default=DEFAULT_WORLD["n_users"], help="number of users (default %(default)s)")
    sim.add_argument("--items", type=int, default=DEFAULT_WORLD["n_items"], help="number of items (default %(default)s)")
    sim.add_argument("--seed", type=int, default=DEFAULT_WORLD["random_state"], help="random seed (default %(default)s)")
    sim.set_defaults(func=_simulate)

    ex = sub.add_parser("exercises", help="write student notebooks: the chapters with solutions removed",
                        description="Write each chapter with its solution cells replaced by stubs and its "
                                    "written solutions removed; the self-checks stay.")
    ex.add_argument("--book", default="book", help="folder of the chapters (default %(default)s)")
    ex.add_argument("--out", default="exercises", help="output folder (default %(default)s)")
    ex.set_defaults(func=_exercises)
    return parser


def main(argv=None) -> int:
    """Entry point of ``causalrec`` and ``python -m causalrec``; returns the exit status (2 on a usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as error:
        print(f"causalrec {args.command}: error: {error}", file=sys.stderr)
        return 2
