"""Time every registered strategy on a 5,000 x 64 matrix with budget 60.

    python benchmarks/strategy_times.py [--n 5000] [--d 64] [--budget 60] [--seeds 3]

Prints a markdown table (median of the seeds). Features are shaped like real
embeddings: a few dominant directions and heavy-tailed norms.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from subsel_plugins import available_strategies, get_strategy


def realistic_features(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spectrum = 1.0 / np.arange(1, d + 1) ** 0.8  # low effective rank
    Z = rng.normal(size=(n, d)) * spectrum
    scale = rng.lognormal(sigma=0.5, size=(n, 1))  # heavy-tailed norms
    return (Z * scale).astype(np.float32)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--strategies", nargs="*", default=None, help="default: every registered one")
    args = parser.parse_args(argv)
    X = realistic_features(args.n, args.d)
    names = args.strategies or available_strategies()
    print(f"N={args.n}, d={args.d}, budget={args.budget}, median of {args.seeds} seeds\n")
    print("| strategy | seconds |")
    print("|---|---:|")
    for name in names:
        times = []
        for seed in range(args.seeds):
            strategy = get_strategy(name, random_state=seed)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                strategy.select(X, args.budget)
            times.append(time.perf_counter() - start)
        print(f"| {name} | {np.median(times):.3f} |", flush=True)


if __name__ == "__main__":
    main()
