"""Names per ONNX Runtime run: the model's time per name at several run sizes, one thread.

    python benchmarks/run_size.py MODEL [MODEL ...] [--sizes default,half] [--rounds 5] [--names 32768]

MODEL is a bundled model name or a model folder / .onnx file. Sizes are names
per run, or ``default`` (what ``classifier.run_batch_size`` gives the model)
and ``half`` (half of that). Each size runs ``Classifier.probabilities`` over
the same all-distinct names (prepared once, so only encoding and the model are
timed); the rounds alternate between the sizes, and each size is reported as
a ratio of medians to the first size, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_bench import DATA, distinct_names, read_names  # noqa: E402

from nameort import Classifier  # noqa: E402
from nameort.columnar import NO_PREDICTION, classify  # noqa: E402


def sizes_for(classifier, spec: str) -> list:
    named = {"default": classifier.batch_size, "half": max(1, classifier.batch_size // 2)}
    return [named[s] if s in named else int(s) for s in spec.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--sizes", default="default,half", help="names per run, or default / half (default: both)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--names", type=int, default=32768, help="distinct names (default 32768)")
    parser.add_argument("--data", type=Path, default=DATA, help="the names dataset folder (NAMEORT_DATA)")
    args = parser.parse_args()
    names = distinct_names(read_names(args.data), args.names)
    for model in args.models:
        classifier = Classifier.load(model, device="cpu", threads=1)
        cols = classify(classifier, names)
        texts = [t for t, s in zip(cols.text.tolist(), cols.status.tolist()) if not s & NO_PREDICTION]
        sizes = sizes_for(classifier, args.sizes)
        seconds = {size: [] for size in sizes}
        for _ in range(args.rounds):
            for size in sizes:
                start = time.perf_counter()
                classifier.probabilities(texts, batch_size=size)
                seconds[size].append(time.perf_counter() - start)
        base = statistics.median(seconds[sizes[0]])
        cells = [f"{size}: {statistics.median(s) / len(texts) * 1e6:.2f} us/name ({statistics.median(s) / base:.2f}x)"
                 for size, s in seconds.items()]
        print(f"{model} ({len(texts):,} names, {args.rounds} rounds, medians): " + ", ".join(cells))


if __name__ == "__main__":
    main()
