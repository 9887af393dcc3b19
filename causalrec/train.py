"""The one training loop every torch model in the package uses.

A step is the five lines of any PyTorch loop (the book writes them out in
chapter 03): draw a batch, ``zero_grad``, compute the loss, ``backward``,
``step``. Batches are drawn by indexing whole tensors with a seeded
permutation, never by a per-sample ``Dataset``.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd
import torch

from ._checks import check_positive_int, progress_bar, seed_from, torch_threads


def fit_torch(module, loss_fn, data, *, epochs=10, batch_size=1024, lr=1e-2, weight_decay=0.0,
              optimizer=None, random_state=0, validate=None, patience=None, verbose=False,
              n_threads=None) -> pd.DataFrame:
    """Train ``module`` by minimising ``loss_fn(module, batch)`` over mini-batches of ``data``.

    Parameters
    ----------
    module : torch.nn.Module
    loss_fn : callable ``(module, batch) -> scalar tensor``; ``batch`` is a dict of tensors.
    data : dict of name -> tensor, all with the same first dimension ``n``.
    epochs : passes over the data.
    batch_size : rows per step; ``None`` for full-batch steps.
    lr, weight_decay : Adam's settings, used when ``optimizer`` is None.
    optimizer : an existing optimizer (kept across calls, e.g. for alternating updates).
    random_state : seeds the batch order.
    validate : callable ``(module) -> float``, lower is better, called after each epoch.
    patience : with ``validate``, stop after this many epochs without improvement and
        restore the best weights.

    Returns
    -------
    DataFrame with one row per epoch: ``epoch``, ``loss`` (mean over batches),
    ``seconds`` and, with ``validate``, ``validation``.

    Examples
    --------
    >>> x = torch.linspace(-1, 1, 64).reshape(-1, 1)
    >>> line = torch.nn.Linear(1, 1)
    >>> history = fit_torch(line, lambda m, b: ((m(b["x"]) - 3 * b["x"]) ** 2).mean(),
    ...                     {"x": x}, epochs=200, batch_size=16, lr=0.05)
    >>> round(line.weight.item(), 2)
    3.0
    """
    if not isinstance(data, dict) or not data:
        raise ValueError("data must be a non-empty dict of name -> tensor")
    sizes = {name: len(value) for name, value in data.items()}
    n = next(iter(sizes.values()))
    if any(size != n for size in sizes.values()):
        raise ValueError(f"every tensor in data needs the same first dimension; got {sizes}")
    if n == 0:
        raise ValueError("data has no rows")
    epochs = check_positive_int(epochs, "epochs")
    step_size = n if batch_size is None else check_positive_int(batch_size, "batch_size")
    if patience is not None:
        patience = check_positive_int(patience, "patience")
        if validate is None:
            raise ValueError("patience needs a validate function")
    if optimizer is None:
        optimizer = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed_from(random_state))
    rows, best, best_state, waited = [], np.inf, None, 0
    with torch_threads(n_threads):
        for epoch in progress_bar(range(1, epochs + 1), disable=not verbose, desc="epochs"):
            start, total = time.perf_counter(), 0.0
            module.train()
            order = torch.randperm(n, generator=generator)
            for first in range(0, n, step_size):
                index = order[first:first + step_size]
                batch = {name: value[index] for name, value in data.items()}
                optimizer.zero_grad()
                loss = loss_fn(module, batch)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(index)
            row = {"epoch": epoch, "loss": total / n, "seconds": time.perf_counter() - start}
            if validate is not None:
                module.eval()
                with torch.no_grad():
                    row["validation"] = float(validate(module))
                if row["validation"] < best:
                    best, waited = row["validation"], 0
                    best_state = copy.deepcopy(module.state_dict()) if patience else None
                else:
                    waited += 1
            rows.append(row)
            if patience is not None and waited >= patience:
                break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return pd.DataFrame(rows)
