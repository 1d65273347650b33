"""Two models side by side through the runtime: one name at a time, and batches of 64 and 8,192.

    python benchmarks/model_speed.py BASELINE CANDIDATE [--rounds 5] [--names 8192]

BASELINE and CANDIDATE are bundled model names or model folders / .onnx files.
To compare the `languages` model with the one bundled before the GRU, take
that one out of git first:

    mkdir -p /tmp/languages-rnn
    git show ea51a2a:runtime/nameort/models/languages/model.onnx > /tmp/languages-rnn/model.onnx
    git show ea51a2a:runtime/nameort/models/languages/model.onnx.json > /tmp/languages-rnn/model.onnx.json
    python benchmarks/model_speed.py /tmp/languages-rnn languages

The names are all distinct (generated as `batch_bench.py`'s distinct file:
heads and tails of real surnames joined), so every one runs the model. One
thread per classifier; the rounds alternate between the two models, and the
ratios are of the medians, both measured in the same run.
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

ONE_NAME_CALLS = 300  # predict() calls per round for the one-name median
SMALL_BATCH = 64


def measure(classifier, names: list) -> dict:
    """One round: the median time of one name, and names/s in batches of 64 and all at once."""
    times = []
    for name in names[:ONE_NAME_CALLS]:
        start = time.perf_counter()
        classifier.predict(name)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(names), SMALL_BATCH):
        classifier.predict_many(names[i : i + SMALL_BATCH])
    small = len(names) / (time.perf_counter() - start)
    start = time.perf_counter()
    classifier.predict_many(names)
    whole = len(names) / (time.perf_counter() - start)
    return {"one_name_us": statistics.median(times) * 1e6, "batch_64": small, "batch_all": whole}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline")
    parser.add_argument("candidate")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--names", type=int, default=8192, help="distinct names per round (default 8192)")
    parser.add_argument("--data", type=Path, default=DATA, help="the names dataset folder (NAMEORT_DATA)")
    args = parser.parse_args()
    names = distinct_names(read_names(args.data), args.names)
    models = {args.baseline: Classifier.load(args.baseline, device="cpu", threads=1),
              args.candidate: Classifier.load(args.candidate, device="cpu", threads=1)}
    results = {model: [] for model in models}
    for _ in range(args.rounds):
        for model, classifier in models.items():
            results[model].append(measure(classifier, names))
    medians = {model: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]} for model, rounds in results.items()}
    for model, m in medians.items():
        print(f"{model}: one name p50 {m['one_name_us']:.0f} us, batch {SMALL_BATCH} {m['batch_64']:,.0f} names/s, "
              f"batch {len(names):,} {m['batch_all']:,.0f} names/s")
    base, cand = medians[args.baseline], medians[args.candidate]
    print(f"candidate / baseline: one-name time {cand['one_name_us'] / base['one_name_us']:.2f}x, "
          f"throughput {cand['batch_64'] / base['batch_64']:.2f}x at batch {SMALL_BATCH} and "
          f"{cand['batch_all'] / base['batch_all']:.2f}x at {len(names):,} ({args.rounds} rounds, medians)")


if __name__ == "__main__":
    main()
