"""Benchmark ``nameort batch --engine dask`` against the local engine's ``nameort batch``, in one run.

The local engine splits a file of 8 MiB or more over one worker process per
core itself, so on one machine this compares two ways of spreading the same work.

    python benchmarks/dask_bench.py                        # 1,000,000 rows, bundled model, 2 workers
    python benchmarks/dask_bench.py --rows 200000 --model /path/to/model --json out.json
    python benchmarks/dask_bench.py --distinct             # every surname different: the model runs on every row

Uses the files of ``batch_bench.py`` (same generators, same seed): by default
the ``repeated`` one, where most rows repeat an earlier name and the memo
answers them; with ``--distinct`` the all-distinct one.
Both headline runs are the real CLI in a child process, timed end to end
(the dask run includes starting its LocalCluster of ``--workers``
single-threaded processes). A third, untimed-for-the-headline child runs the
same dask job through ``nameort.dask_engine.classify_csv`` (the code the CLI
calls) to report where the time goes (and a fourth, the local job through
``nameort.batch.classify_csv``, for its count of names the model ran): cluster start, the boundary scan, and,
summed over the worker processes, model loading, reading, parsing +
classifying + formatting, the model alone, and encoding; on the client,
waiting for partitions and writing them. Outputs of the two engines are
compared byte for byte. Figures are noisy on shared machines: compare the
ratios within one run.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_bench import DATA, generate, generate_distinct, nameort_argv, read_names, run_child  # noqa: E402

BREAKDOWN = """
import json, resource, sys, time
from nameort.dask_engine import classify_csv, local_cluster
t = time.monotonic()
cluster, client = local_cluster(int(sys.argv[4]))
started = time.monotonic() - t
s = classify_csv(sys.argv[1], sys.argv[2], "surname", model=sys.argv[3] or None, client=client)
peak = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
client.close(); cluster.close()
timings = dict(s.timings, startup=started)
print(json.dumps({"seconds": s.seconds + started, "rows": s.rows, "partitions": s.partitions,
                  "remerged": s.remerged, "model_names": s.model_names, "workers": s.workers,
                  "timings": timings, "worker_peak_rss_mb": sorted(peak.values()),
                  "client_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


LOCAL_NAMES = """
import json, sys
from nameort.batch import classify_csv
s = classify_csv(sys.argv[1], sys.argv[2], "surname", model=sys.argv[3] or None)
print(json.dumps({"seconds": s.seconds, "model_names": s.model_names}))
"""


def bench_cli(src: Path, dst: Path, rows: int, args, extra: list) -> dict:
    argv = nameort_argv() + ["batch", str(src), "-o", str(dst), "--column", "surname", "--quiet", *extra]
    if args.model:
        argv += ["--model", args.model]
    result = run_child(argv)
    result["rows_per_s"] = rows / result["seconds"]
    return result


def bench_breakdown(src: Path, dst: Path, args, code: str = BREAKDOWN) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, str(src), str(dst), args.model or "", str(args.workers)],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"breakdown run failed:\n{out.stderr}")
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="dask worker processes (default 2)")
    parser.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the run that reports where time goes")
    parser.add_argument("--workdir", default=None, help="where the generated files go (default: a temp folder)")
    parser.add_argument("--json", default=None, help="write the results here (default: WORKDIR/dask_bench.json)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--distinct", action="store_true", help="every surname different (no memo hits)")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="nameort-dask-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    kind = "distinct" if args.distinct else "repeated"
    src = workdir / f"people_{kind}_{args.rows}.csv"
    start = time.perf_counter()
    if not src.exists():
        (generate_distinct if args.distinct else generate)(src, args.rows, read_names(DATA))
    print(f"generated {src} ({src.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)
    report = {"rows": args.rows, "input": kind, "file_mib": src.stat().st_size / 2**20, "model": args.model or "bundled",
              "cpus": os.cpu_count(), "workers": args.workers}
    try:
        report["local"] = bench_cli(src, workdir / "local.csv", args.rows, args, [])
        report["dask"] = bench_cli(src, workdir / "dask.csv", args.rows, args,
                                   ["--engine", "dask", "--workers", str(args.workers)])
        report["identical_output"] = filecmp.cmp(workdir / "local.csv", workdir / "dask.csv", shallow=False)
        report["ratio_dask_to_local"] = report["dask"]["rows_per_s"] / report["local"]["rows_per_s"]
        if not args.no_breakdown:
            report["dask_breakdown"] = bench_breakdown(src, workdir / "dask2.csv", args)
            report["local_breakdown"] = bench_breakdown(src, workdir / "local2.csv", args, LOCAL_NAMES)
    finally:
        if not args.keep:
            for path in workdir.glob("*.csv"):
                path.unlink()
    print_table(report)
    out = Path(args.json) if args.json else workdir / "dask_bench.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results written to {out}", file=sys.stderr)


def print_table(report: dict) -> None:
    print(f"{report['rows']:,} {report['input']} rows ({report['file_mib']:.0f} MiB), model: {report['model']}, cpus: {report['cpus']}")
    print("(peak RSS and CPU: the CLI process and the children it reaped; RSS of the largest one)")
    print(f"{'run':44} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12} {'CPU s':>7}")
    for key, label in (("local", "nameort batch (local engine)"),
                       ("dask", f"nameort batch --engine dask --workers {report['workers']}")):
        r = report[key]
        print(f"{label:44} {r['seconds']:8.1f} {r['rows_per_s']:10,.0f} {r['peak_rss_mb']:12.0f} "
              f"{r['cpu_seconds']:7.1f}")
    print(f"dask / local throughput: {report['ratio_dask_to_local']:.2f}; "
          f"outputs identical: {report['identical_output']}")
    b = report.get("dask_breakdown")
    if not b:
        return
    local = report["local_breakdown"]
    print(f"distinct names run by the model: local {local['model_names']:,} (one memo for the whole file), "
          f"dask {b['model_names']:,} (one memo per worker process)")
    t = b["timings"]
    wall = b["seconds"]
    task_keys = [k for k in t if k.startswith("task_")]
    busy = sum(t[k] for k in task_keys)
    print(f"\nwhere the dask run's time goes ({b['partitions']} partitions, {b['remerged']} re-merged, "
          f"{b['workers']} workers, {wall:.1f} s wall; peak RSS MB: client {b['client_peak_rss_mb']:.0f}, workers "
          f"{', '.join(f'{m:.0f}' for m in b['worker_peak_rss_mb'])}):")
    print(f"  {'client: start LocalCluster':40} {t.get('startup', 0):7.1f} s")
    print(f"  {'client: boundary scan (pass one)':40} {t.get('scan', 0):7.1f} s")
    print(f"  {'client: waiting for partitions':40} {t.get('wait', 0):7.1f} s")
    print(f"  {'client: writing partitions':40} {t.get('write', 0):7.1f} s")
    for key in task_keys:
        print(f"  {'workers: ' + key[5:].replace('_', ' '):40} {t[key]:7.1f} s (summed over workers)")
    run_s = wall - t.get("startup", 0)
    idle = b["workers"] * run_s - busy
    print(f"  {'workers: not in a task (scheduling, idle)':40} {idle:7.1f} s "
          f"({idle / max(b['workers'] * run_s, 1e-9):.0%} of {b['workers']} x {run_s:.1f} s)")


if __name__ == "__main__":
    main()
