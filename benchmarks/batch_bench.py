"""Benchmark ``nameort batch`` end to end on two generated CSV files, against a bare csv-module copy.

    python benchmarks/batch_bench.py                      # 1,000,000 rows of each kind, 3 rounds
    python benchmarks/batch_bench.py --kinds distinct --rows 300000
    python benchmarks/batch_bench.py --five-million       # also 5,000,000 repeated rows (memory must not grow)
    python benchmarks/batch_bench.py --model /path/to/model --no-memo --json out.json
    python benchmarks/batch_bench.py --one-process        # also --no-split in each round, for the same-run ratio

Two inputs, reported separately because they measure different things:

* ``repeated``: surnames drawn from the dataset with Zipf-like repeats (plus
  2% unseen double-barrelled names, empties, "NA"/"NULL"/"None"/"nan", names
  with unknown characters and over-long names): most rows repeat an earlier
  name, so the memo answers them and the figure is mostly CSV speed.
* ``distinct``: every surname differs (heads and tails of real surnames
  joined), so the model runs on every row.

Both have an id, a city, a quoted note with commas and quotes, and an amount.
Each round runs the copy floor (the csv module parsing the file and writing
every row back with four constant columns appended) and then ``nameort
batch``, each in a child process; the ratio batch / copy is taken per round
and its median reported, so both figures of a ratio saw the same machine.
Memory: the peak RSS of the largest process (``os.wait4``) and the peak sum
over the process and its descendants (a file of 8 MiB or more is split over
worker processes, one per core). The script also measures the model alone
(``Classifier.probabilities`` on prepared texts, no CSV).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("NAMEORT_DATA") or REPO.parent / "shared" / "data" / "names")
CITIES = ["Berlin", "Roma", "New York, NY", "São Paulo", "Zürich", "Kraków", "Dublin", "Москва"]
AWKWARD = [
    "", "  ", "NA", "NULL", "None", "nan", "O\u2019Connor", "Smith-Jones", "Van Der Berg", "García" * 5, "李", "123",
]


def read_names(data: Path) -> list:
    names = set()
    for path in sorted(data.glob("*.txt")):
        names.update(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return sorted(names)


def generate(path: Path, rows: int, names: list, seed: int = 0) -> None:
    """A CSV of ``rows`` people; about 2% of surnames are new compounds (memo misses)."""
    rng = random.Random(seed)
    pool = list(names)
    rng.shuffle(pool)
    weights = [1.0 / (rank + 1) for rank in range(len(pool))]  # Zipf, s=1: a few names are very common
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "surname", "city", "note", "amount"])
        block = 100_000
        for start in range(0, rows, block):
            n = min(block, rows - start)
            picks = rng.choices(pool, weights, k=n)
            out = []
            for i, name in enumerate(picks, start):
                r = rng.random()
                if r < 0.02:
                    name = f"{name}-{rng.choice(pool)}"
                elif r < 0.025:
                    name = rng.choice(AWKWARD)
                note = f'paid {i % 97}, "cash"' if i % 5 == 0 else ""
                out.append([i, name, CITIES[i % len(CITIES)], note, f"{(i * 7919) % 100000 / 100:.2f}"])
            writer.writerows(out)


def distinct_names(names: list, count: int, seed: int = 0) -> list:
    """``count`` different surname-like names: the head of one real surname joined to the tail of another.

    Real surnames are 4-12 letters; so are these, with the dataset's own letters
    (accents included), so the model and the text rules see what a real list of
    mostly different people would give them, and no name repeats.
    """
    rng = random.Random(seed)
    made = dict.fromkeys(names)
    while len(made) < count:
        for _ in range(count - len(made) + 1000):
            a, b = rng.choice(names), rng.choice(names)
            made.setdefault(a[: rng.randrange(2, 7)] + b[-rng.randrange(2, 7):].lower(), None)
    out = list(made)[:count]
    rng.shuffle(out)
    return out


def generate_distinct(path: Path, rows: int, names: list, seed: int = 0) -> None:
    """The same columns as ``generate``, but every surname differs from every other (no memo hits)."""
    surnames = distinct_names(names, rows, seed)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "surname", "city", "note", "amount"])
        for start in range(0, rows, 100_000):
            writer.writerows(
                [i, surnames[i], CITIES[i % len(CITIES)], f'paid {i % 97}, "cash"' if i % 5 == 0 else "",
                 f"{(i * 7919) % 100000 / 100:.2f}"]
                for i in range(start, min(rows, start + 100_000))
            )


def run_child(argv: list, env=None) -> dict:
    """Run ``argv``: its wall time, exit code, CPU, and peak memory.

    ``peak_rss_mb`` is the largest RSS of any one process of the run (``os.wait4``);
    ``peak_total_rss_mb`` the largest sum over the process and its descendants
    (a split job's workers), sampled from /proc every ``TREE_SAMPLE_S``.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = [0]
    done = threading.Event()
    sampler = threading.Thread(target=_sample_tree, args=(proc.pid, peak, done), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    stderr = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n{stderr}")
    return {"seconds": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "peak_total_rss_mb": peak[0] / 2**20,
            "cpu_seconds": usage.ru_utime + usage.ru_stime}


TREE_SAMPLE_S = 0.25


def _sample_tree(root: int, peak: list, done) -> None:
    """Keep in ``peak[0]`` the largest RSS (bytes) summed over ``root`` and its descendants."""
    page = os.sysconf("SC_PAGE_SIZE")
    while not done.wait(TREE_SAMPLE_S):
        parents, rss = {}, {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry)] = int(fields[1])
                rss[int(entry)] = int(fields[21]) * page
        tree, grew = {root}, True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in tree and pid not in tree}
            tree |= more
            grew = bool(more)
        peak[0] = max(peak[0], sum(rss.get(pid, 0) for pid in tree))


def nameort_argv() -> list:
    exe = Path(sys.executable).with_name("nameort")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nameort"]


def bench_batch(src: Path, dst: Path, rows: int, args, extra=()) -> dict:
    argv = nameort_argv() + ["batch", str(src), "-o", str(dst), "--column", "surname", "--quiet", *extra]
    if args.model:
        argv += ["--model", args.model]
    if args.workers:
        argv += ["--workers", str(args.workers)]
    result = run_child(argv)
    with open(dst, encoding="utf-8", newline="") as f:
        written = sum(1 for _ in csv.reader(f)) - 1
    if written != rows:
        raise SystemExit(f"{dst} has {written} rows, expected {rows}")
    result["rows_per_s"] = rows / result["seconds"]
    return result


def bench_no_memo(src: Path, dst: Path, rows: int, args) -> dict:
    """The same job with the cross-chunk memo off: only names repeated within a chunk are shared."""
    code = (
        "import sys; from nameort.batch import classify_csv; "
        "classify_csv(sys.argv[1], sys.argv[2], 'surname', model=sys.argv[3] or None, "
        "workers=int(sys.argv[4]) or None, memo_size=0)"
    )
    result = run_child([sys.executable, "-c", code, str(src), str(dst), args.model or "", str(args.workers or 0)])
    result["rows_per_s"] = rows / result["seconds"]
    return result


def bench_csv_only(src: Path, dst: Path, rows: int) -> dict:
    """Parse only, and parse + write with four extra columns: the floor set by the csv module."""
    code = """
import csv, sys, time
csv.field_size_limit(1 << 24)
t = time.perf_counter()
with open(sys.argv[1], encoding="utf-8-sig", newline="") as f:
    for row in csv.reader(f):
        pass
parse = time.perf_counter() - t
t = time.perf_counter()
extra = ["German", "0.912345", "ok", ""]
with open(sys.argv[1], encoding="utf-8-sig", newline="") as f, \\
        open(sys.argv[2], "w", encoding="utf-8", newline="") as g:
    w = csv.writer(g, lineterminator="\\n")
    for row in csv.reader(f):
        w.writerow(row + extra)
print(parse, time.perf_counter() - t)
"""
    out = subprocess.run([sys.executable, "-c", code, str(src), str(dst)], capture_output=True, text=True, check=True)
    parse, both = map(float, out.stdout.split())
    return {
        "parse_s": parse, "parse_write_s": both,
        "parse_rows_per_s": rows / parse, "parse_write_rows_per_s": rows / both,
    }


def median_of(results: list) -> dict:
    """Each figure's median over repeated runs, with every run kept under "all"."""
    merged = {key: statistics.median(r[key] for r in results) for key in results[0]}
    merged["all"] = results
    return merged


def bench_kind(src: Path, workdir: Path, rows: int, args) -> dict:
    """Rounds of (copy floor, nameort batch) on one input, back to back; the ratio is taken per round.

    Measuring the floor beside each batch run, in the same round, is what makes
    the ratio meaningful on a shared machine: both see the same neighbours.
    """
    floors, runs, ratios, singles = [], [], [], []
    for _ in range(args.repeat):
        floor = bench_csv_only(src, workdir / "csv_only.csv", rows)
        run = bench_batch(src, workdir / "out.csv", rows, args)
        floors.append(floor)
        runs.append(run)
        ratios.append(run["seconds"] / floor["parse_write_s"])
        if args.one_process:
            singles.append(bench_batch(src, workdir / "out_one.csv", rows, args, ["--no-split"]))
            singles[-1]["ratio_to_copy"] = singles[-1]["seconds"] / floor["parse_write_s"]
    entry = {"file_mib": src.stat().st_size / 2**20, "batch": median_of(runs), "csv_only": median_of(floors),
             "ratio_to_copy": statistics.median(ratios), "ratios": ratios}
    if singles:
        entry["batch_one_process"] = median_of(singles)
    if args.no_memo:
        entry["batch_no_memo"] = median_of(
            [bench_no_memo(src, workdir / "out_nomemo.csv", rows, args) for _ in range(args.repeat)]
        )
    return entry


def bench_model(args, names: list) -> dict:
    """Classifier.probabilities on prepared, distinct texts: what the model alone can do."""
    from nameort.classifier import Classifier, default_threads

    results = {}
    threads_all = args.workers or default_threads()
    for threads in sorted({1, threads_all}):
        with Classifier.load(args.model, device="cpu", threads=threads) as clf:
            texts = [p.text for p in map(clf.encoder.prepare, names) if p.usable]
            texts = (texts * (1 + 40_000 // len(texts)))[:40_000]
            for batch in sorted({clf.batch_size, 1024}):  # the model's default run size, and a large one
                clf.probabilities(texts[:batch * 4], batch_size=batch)  # warm up, open the extra sessions
                best = 0.0
                for _ in range(3):
                    start = time.perf_counter()
                    clf.probabilities(texts, batch_size=batch)
                    best = max(best, len(texts) / (time.perf_counter() - start))
                results[f"threads={threads} batch={batch}"] = best
    return results


KINDS = {
    "repeated": (generate, "Zipf-like repeats: most rows repeat an earlier name (the memo answers them)"),
    "distinct": (generate_distinct, "every surname different: the model runs on every row"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--kinds", default="repeated,distinct", help="inputs to run: repeated, distinct or both")
    parser.add_argument("--five-million", action="store_true", help="also run 5,000,000 repeated rows (slow)")
    parser.add_argument("--no-memo", action="store_true", help="also run with the cross-chunk memo off")
    parser.add_argument("--one-process", action="store_true",
                        help="also run nameort batch --no-split in each round (one process, model threads)")
    parser.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per measurement; medians are reported")
    parser.add_argument("--workdir", default=None, help="where the generated files go (default: a temp folder)")
    parser.add_argument("--json", default=None, help="write the results here (default: WORKDIR/batch_bench.json)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="nameort-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    names = read_names(DATA)
    report = {"model": args.model or "bundled", "cpus": os.cpu_count(), "rows": args.rows, "runs": {}}
    try:
        for kind in args.kinds.split(","):
            make, _ = KINDS[kind]
            src = workdir / f"people_{kind}_{args.rows}.csv"
            start = time.perf_counter()
            if not src.exists():
                make(src, args.rows, names)
            print(f"generated {src} ({src.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.1f} s",
                  file=sys.stderr)
            report["runs"][kind] = bench_kind(src, workdir, args.rows, args)
            report["runs"][kind]["distinct_names"] = count_distinct(src)
        if args.five_million:
            src = workdir / "people_repeated_5000000.csv"
            if not src.exists():
                generate(src, 5_000_000, names)
            report["five_million"] = bench_batch(src, workdir / "out.csv", 5_000_000, args)
        report["model_names_per_s"] = bench_model(args, names)
    finally:
        if not args.keep:
            for path in workdir.glob("*.csv"):
                path.unlink()
    print_table(report)
    out = Path(args.json) if args.json else workdir / "batch_bench.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results written to {out}", file=sys.stderr)


def count_distinct(src: Path) -> int:
    with open(src, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        column = next(reader).index("surname")
        return len({row[column] for row in reader})


def print_table(report: dict) -> None:
    model_best = max(report["model_names_per_s"].values())
    rows = report["rows"]
    print(f"model: {report['model']}   cpus: {report['cpus']}   rows: {rows:,}   medians of rounds")
    print(f"{'run':44} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12} {'all procs':>10} {'cpu/wall':>9} "
          f"{'x copy':>7}")
    for kind, entry in report["runs"].items():
        print(f"{kind}: {KINDS[kind][1]} ({entry['distinct_names']:,} distinct names)")
        r = entry["batch"]
        print(f"{'  nameort batch':44} {r['seconds']:8.2f} {r['rows_per_s']:10,.0f} {r['peak_rss_mb']:12.0f} "
              f"{r['peak_total_rss_mb']:10.0f} {r['cpu_seconds'] / r['seconds']:9.2f} {entry['ratio_to_copy']:7.2f}")
        if "batch_one_process" in entry:
            r = entry["batch_one_process"]
            print(f"{'  nameort batch --no-split (one process)':44} {r['seconds']:8.2f} {r['rows_per_s']:10,.0f} "
                  f"{r['peak_rss_mb']:12.0f} {r['peak_total_rss_mb']:10.0f} {r['cpu_seconds'] / r['seconds']:9.2f} "
                  f"{r['ratio_to_copy']:7.2f}")
        if "batch_no_memo" in entry:
            r = entry["batch_no_memo"]
            print(f"{'  nameort batch, memo off':44} {r['seconds']:8.2f} {r['rows_per_s']:10,.0f} "
                  f"{r['peak_rss_mb']:12.0f} {r['peak_total_rss_mb']:10.0f} {r['cpu_seconds'] / r['seconds']:9.2f}")
        c = entry["csv_only"]
        print(f"{'  copy floor: csv parse + write 4 columns':44} {c['parse_write_s']:8.2f} "
              f"{c['parse_write_rows_per_s']:10,.0f} {'':12} {'':10} {'':9} {1:7.2f}")
        print(f"{'  csv parse only':44} {c['parse_s']:8.2f} {c['parse_rows_per_s']:10,.0f}")
        print(f"  batch / copy per round: {', '.join(f'{x:.2f}' for x in entry['ratios'])}")
    if "five_million" in report:
        r = report["five_million"]
        print(f"{'repeated, 5,000,000 rows':44} {r['seconds']:8.2f} {r['rows_per_s']:10,.0f} {r['peak_rss_mb']:12.0f} "
              f"{r['peak_total_rss_mb']:10.0f}")
    for key, value in report["model_names_per_s"].items():
        print(f"{'model alone ' + key:44} {'':8} {value:10,.0f} names/s ({value / model_best:.2f} of best)")


if __name__ == "__main__":
    main()
