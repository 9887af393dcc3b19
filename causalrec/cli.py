"""The ``causalrec`` command line: ``python -m causalrec simulate --out DIR``."""

from __future__ import annotations

import argparse
import sys
import time


def _simulate(args) -> int:
    from .datasets import DEFAULT_WORLD, save_world
    from .simulate import simulate_shop

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


def build_parser() -> argparse.ArgumentParser:
    from .datasets import DEFAULT_WORLD

    parser = argparse.ArgumentParser(prog="causalrec", description="Causal inference for recommender systems.")
    sub = parser.add_subparsers(dest="command", required=True)
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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"causalrec {args.command}: error: {error}", file=sys.stderr)
        return 2
