"""Benchmark nameort against the notebook's way of running the model, in one run.

    python benchmarks/run.py                      # full: 5 rounds, prints a table, writes WORK/benchmark.json
    python benchmarks/run.py --quick              # 3 shorter rounds, seed preset trained for 3 epochs
    python benchmarks/run.py --ablations          # also the optimisations tried, against what they replace
    python benchmarks/run.py --json out.json --markdown out.md --work /tmp/nameort-bench

What is compared (every variant classifies names given as strings, encoding,
softmax and the label included, and returns a label and a confidence per name):

* B1, the notebook's way: PyTorch eager on the ``seed`` preset (the notebook's
  network), each name one-hot encoded by the notebook's loop (a ``torch.zeros``
  per character, ``torch.stack``), then ``model.forward`` and softmax.
* B2, the naive export: the same seed weights exported with the legacy
  exporter (``dynamo=False``: two ONNX ``RNN`` nodes), run in an
  ``onnxruntime.InferenceSession`` with default options; names one-hot encoded
  by a plain per-character loop into a NumPy array.
* nameort's runtime (``nameort.Classifier.predict`` / ``predict_many``) on the
  same seed weights exported by ``nameort export``, and on the bundled default
  model.

The script builds what it needs under ``--work`` (trains the seed preset, or
reuses a cached run of the same code and data; exports both ways). Each
variant lives in its own worker process (honest peak RSS; B1 is the only one
that imports torch) and is configured twice: "1 thread" and "all cores" (each
library's own default: torch's thread count, ONNX Runtime's default session,
nameort's one session per core). The parent asks the workers for one
measurement at a time, round-robin, so all variants see the same machine
load; ratios are computed within each round and their median is reported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("NAMEORT_DATA") or REPO.parent / "shared" / "data" / "names")
LABELS = ("German", "Italian")
BATCHES = (1, 64, 1024, 8192)
MODEL_ONLY_BATCHES = (1024, 8192)
TARGET_BATCHES = (1024, 8192)  # "batch throughput" in the targets
GAP_S = 0.1  # pause between measurements: lets a finished worker's spinning threads go quiet
CLI_NAME = "Tribbiani"


# ----------------------------------------------------------------------------------------------
# Workers: one process per variant and thread setting; JSON lines on stdin/stdout.
# ----------------------------------------------------------------------------------------------


def notebook_one_hot(name, stoi, length):
    """The seed notebook's ``one_hot_encoder``, unchanged apart from its globals and print."""
    import torch

    size = len(stoi)
    encoded = []
    for char in name:
        temp = torch.zeros(size)
        temp[stoi[char]] = 1
        encoded.append(temp)
    for _ in range(length - len(name)):
        encoded.append(torch.zeros(size))
    return torch.stack(encoded)


class TorchNotebook:
    """B1: torch eager, seed preset, the notebook's encoder and inference code.

    The notebook passed ``init_hidden`` zeros as the initial state; ``nn.RNN``
    uses exactly those when given none, which is how the seed preset's model
    calls it.
    """

    def __init__(self, spec):
        import torch

        sys.path[:0] = [str(REPO / "train"), str(REPO / "runtime")]
        from nameort_train.checkpoint import load_checkpoint

        if spec["threads"]:
            torch.set_num_threads(spec["threads"])
        checkpoint = load_checkpoint(Path(spec["run_dir"]))
        self.torch = torch
        self.model = checkpoint.build().eval()
        self.labels = list(checkpoint.labels)
        self.stoi = {c: i for i, c in enumerate(checkpoint.rules.characters)}
        self.length = checkpoint.rules.sequence_length

    def one(self, name):
        torch = self.torch
        with torch.no_grad():
            x = notebook_one_hot(name, self.stoi, self.length)
            output = torch.softmax(self.model.forward(x.view(1, *x.shape)), dim=1)
            best = torch.argmax(output[0]).item()
            return self.labels[best], output[0][best].item()

    def many(self, names):
        torch = self.torch
        with torch.no_grad():
            x = torch.stack([notebook_one_hot(n, self.stoi, self.length) for n in names])
            confidence, best = torch.softmax(self.model.forward(x), dim=1).max(dim=1)
            return list(zip([self.labels[i] for i in best.tolist()], confidence.tolist()))

    def encoded(self, names):
        return self.torch.stack([notebook_one_hot(n, self.stoi, self.length) for n in names])

    def forward(self, x):
        with self.torch.no_grad():
            return self.model.forward(x)


class OrtNaive:
    """B2: the legacy-exported model in an InferenceSession with default options."""

    def __init__(self, spec):
        import numpy as np
        import onnxruntime as ort

        options = ort.SessionOptions()
        if spec["threads"]:
            options.intra_op_num_threads = spec["threads"]
        self.np = np
        self.session = ort.InferenceSession(spec["model"], options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        card = json.loads(Path(spec["model"] + ".json").read_text(encoding="utf-8"))
        self.labels = card["labels"]
        self.stoi = {c: i for i, c in enumerate(card["encoding"]["characters"])}
        self.length = card["encoding"]["sequence_length"]

    def encoded(self, names):
        x = self.np.zeros((len(names), self.length, len(self.stoi)), self.np.float32)
        for i, name in enumerate(names):
            for t, char in enumerate(name):
                x[i, t, self.stoi[char]] = 1.0
        return x

    def forward(self, x):
        return self.session.run(None, {self.input: x})[0]

    def many(self, names):
        np = self.np
        logits = self.forward(self.encoded(names))
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = z / z.sum(axis=1, keepdims=True)
        best = probabilities.argmax(axis=1)
        return [(self.labels[b], float(probabilities[i, b])) for i, b in enumerate(best)]

    def one(self, name):
        return self.many([name])[0]


class NameortRuntime:
    """nameort.Classifier as users call it; ``spec`` may override internals for the ablations."""

    def __init__(self, spec):
        from nameort import classifier, sessions

        self._patch(spec, classifier, sessions)
        self.classifier = classifier.Classifier.load(spec["model"], device="cpu", threads=spec["threads"])
        self.batch_size = spec.get("batch_size") or self.classifier.batch_size
        self.old_predict = spec.get("predict_path") == "predict_many"
        self.forward_session = None

    @staticmethod
    def _patch(spec, classifier, sessions):
        if spec.get("parallel_min_rows"):
            classifier.PARALLEL_MIN_ROWS = spec["parallel_min_rows"]
        level, intra = spec.get("graph_level"), spec.get("intra_op_threads")
        if level or intra:
            original = sessions.session_options

            def session_options(threads=1):
                options = original(intra or threads)
                if intra:  # one session using several cores instead of one session per core
                    options.add_session_config_entry("session.intra_op.allow_spinning", spec.get("spinning", "0"))
                if level:
                    options.graph_optimization_level = getattr(
                        sessions.onnxruntime().GraphOptimizationLevel, f"ORT_{level}"
                    )
                return options

            sessions.session_options = session_options

    def one(self, name):
        if self.old_predict:
            p = self.classifier.predict_many([name])[0]
        else:
            p = self.classifier.predict(name)
        return p.label, p.confidence

    def many(self, names):
        return [(p.label, p.confidence) for p in self.classifier.predict_many(names, batch_size=self.batch_size)]

    def encoded(self, names):
        encoder = self.classifier.encoder
        return encoder.one_hot([encoder.prepare(n).text for n in names])

    def forward(self, x):
        from nameort import sessions

        if self.forward_session is None:  # nameort's own session settings, one thread
            self.forward_session, _ = sessions.open_session(self.classifier.card.model_path, device="cpu")
            self.forward_input = self.forward_session.get_inputs()[0].name
        return self.forward_session.run(None, {self.forward_input: x})[0]


RUNNERS = {"torch_notebook": TorchNotebook, "ort_naive": OrtNaive, "nameort": NameortRuntime}


def machine_busy_s():
    """CPU seconds every core of the machine has spent busy since boot (Linux; None elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def rss_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def worker_main(spec_json: str) -> None:
    import resource

    spec = json.loads(spec_json)
    pool = json.loads(Path(spec["pool"]).read_text(encoding="utf-8"))
    start = time.perf_counter()
    runner = RUNNERS[spec["kind"]](spec)
    runner.one(pool[0])  # first call pays one-off costs
    load_s = time.perf_counter() - start
    out = sys.stdout
    sys.stdout = sys.stderr  # libraries' prints must not corrupt the protocol

    def send(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    send({"ready": True, "load_s": load_s, "rss_kb": rss_kb(), "torch_imported": "torch" in sys.modules})
    calls = 0
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        # What everything else on the machine did meanwhile: busy core-seconds minus our own.
        cpu0, busy0, wall0 = time.process_time(), machine_busy_s(), time.perf_counter()

        def others():
            wall = time.perf_counter() - wall0
            own = time.process_time() - cpu0
            busy = machine_busy_s()
            return {"own_cores": own / wall,
                    "other_cores": None if busy is None else max(0.0, (busy - busy0 - own) / wall)}

        if op == "latency":
            samples = []
            deadline = time.perf_counter() + cmd["budget_s"]
            for i in range(cmd["max_samples"]):
                name = pool[(calls + i) % len(pool)]
                t0 = time.perf_counter()
                runner.one(name)
                samples.append(time.perf_counter() - t0)
                if len(samples) >= cmd["min_samples"] and time.perf_counter() > deadline:
                    break
            calls += len(samples)
            send({"samples": samples, **others()})
        elif op in ("throughput", "model_only"):
            batch = cmd["batch"]
            windows = [pool[s : s + batch] for s in range(0, len(pool) - batch + 1, batch)]
            if op == "model_only":
                inputs = [runner.encoded(w) for w in windows[:2]]
                work = lambda k: runner.forward(inputs[k % len(inputs)])  # noqa: E731
            else:
                work = lambda k: runner.many(windows[k % len(windows)])  # noqa: E731
            work(0)  # warm: lazily opened sessions, first-touch allocations
            done, t0 = 0, time.perf_counter()
            while True:
                work(done + 1)
                done += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= cmd["min_time_s"] and done >= cmd.get("min_calls", 1):
                    break
            send({"names_per_s": done * batch / elapsed, "calls": done, "seconds": elapsed, **others()})
        elif op == "stats":
            send({"rss_kb": rss_kb(), "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
        elif op == "quit":
            break


class Worker:
    def __init__(self, key, spec, log_dir: Path):
        self.key, self.spec = key, spec
        self.log = open(log_dir / f"worker-{key}.log", "w")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "runtime"), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "_worker", json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env,
        )
        self.ready = self.receive()

    def receive(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.key} died; see {self.log.name}")
        return json.loads(line)

    def ask(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def close(self):
        try:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=60)
        self.log.close()


# ----------------------------------------------------------------------------------------------
# Building the artefacts (subprocesses: the parent never imports torch).
# ----------------------------------------------------------------------------------------------


def sh(argv, log: Path, **kw):
    with open(log, "a") as f:
        f.write("$ " + " ".join(map(str, argv)) + "\n")
        f.flush()
        proc = subprocess.run(list(map(str, argv)), stdout=f, stderr=subprocess.STDOUT, **kw)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(map(str, argv))}; see {log}")


def code_key(*parts) -> str:
    """A cache key over the training code, the data files and ``parts``."""
    digest = hashlib.sha256()
    for folder, pattern in ((REPO / "train" / "nameort_train", "*.py"), (REPO / "runtime" / "nameort", "encoding.py")):
        for path in sorted(folder.glob(pattern)):
            digest.update(path.read_bytes())
    for label in LABELS:
        digest.update((DATA / f"{label}.txt").read_bytes())
    digest.update(repr(parts).encode())
    return digest.hexdigest()[:12]


def nameort_bin() -> str:
    beside = Path(sys.executable).with_name("nameort")
    return str(beside) if beside.exists() else (shutil.which("nameort") or "nameort")


def train_run(preset: str, epochs, work: Path, log: Path) -> Path:
    run_dir = work / "runs" / f"{preset}-{code_key(preset, epochs)}"
    if not (run_dir / "checkpoint.pt").is_file():
        argv = [nameort_bin(), "train", "--data", DATA, "--labels", ",".join(LABELS), "--preset", preset,
                "--seed", "0", "--device", "cpu", "--out", run_dir, "--quiet"]
        if epochs:
            argv += ["--epochs", epochs]
        print(f"  training the {preset} preset ({epochs or 'full'} epochs) -> {run_dir}", flush=True)
        sh(argv, log)
    return run_dir


def derived_sidecar(original_model: Path, new_model: Path, note: str) -> None:
    """A sidecar for a model derived from ``original_model`` (same encoding and labels)."""
    card = json.loads(Path(str(original_model) + ".json").read_text(encoding="utf-8"))
    card["model_sha256"] = hashlib.sha256(new_model.read_bytes()).hexdigest()
    card["model_file"] = new_model.name
    card.setdefault("training", {})["derived"] = note
    Path(str(new_model) + ".json").write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")


EXPORT_HELPER = r"""
import json, logging, sys, warnings
from pathlib import Path
import torch
from nameort_train.checkpoint import load_checkpoint
kind, run_dir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
out.parent.mkdir(parents=True, exist_ok=True)
checkpoint = load_checkpoint(run_dir)
model = checkpoint.build().eval()
L, V = checkpoint.rules.sequence_length, len(checkpoint.rules.characters)
example = torch.zeros(3, L, V)
example[:, 0, 0] = 1.0
warnings.simplefilter("ignore")
logging.getLogger("torch.onnx").setLevel(logging.ERROR)
if kind == "legacy":   # what a user gets from the pre-2.9 default: dynamo=False, nn.RNN -> ONNX RNN nodes
    torch.onnx.export(model, (example,), str(out), dynamo=False, input_names=["onehot"], output_names=["logits"],
                      dynamic_axes={"onehot": {0: "batch"}, "logits": {0: "batch"}})
elif kind == "plain":  # the dynamo export of nn.RNN as it is written (nameort's export before unroll.py)
    import onnx_ir.passes.common as ir_passes
    program = torch.onnx.export(model, (example,), dynamo=True, input_names=["onehot"], output_names=["logits"],
                                dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}}, optimize=True)
    ir_passes.DeduplicateInitializersPass(size_limit=1 << 40)(program.model)
    program.save(str(out), external_data=False)
import onnx
ops = sorted({n.op_type for n in onnx.load(str(out)).graph.node})
print(json.dumps({"ops": ops}))
"""

QUANT_HELPER = r"""
import logging, sys, onnx
from onnxruntime.quantization import QuantType, quantize_dynamic
logging.disable(logging.WARNING)
src, dst, scratch = sys.argv[1:4]
model = onnx.load(src)
del model.graph.value_info[:]  # the exporter's shape annotations trip the quantizer's shape inference
onnx.save(model, scratch)
quantize_dynamic(scratch, dst, weight_type=QuantType.QInt8, per_channel=True)
"""

TRAIN_TIMING_HELPER = r"""
import json, sys
from pathlib import Path
import torch
from nameort_train.config import preset_config
from nameort_train.train import train
preset, epochs, data, device = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
config = preset_config(preset, labels=("German", "Italian"), epochs=epochs, patience=epochs + 1, seed=0, device=device)
checkpoint = train(data, config)
print(json.dumps({"seconds": [h["seconds"] for h in checkpoint.history], "threads": config.threads,
                  "batch_size": config.batch_size, "cuda_available": torch.cuda.is_available()}))
"""


def helper(code: str, args, log: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO / p) for p in ("runtime", "train", "export")] + [os.environ.get("PYTHONPATH", "")]))
    with open(log, "a") as f:
        f.write(f"$ helper {' '.join(map(str, args))}\n")
        f.flush()
        proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                              stderr=f, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"helper failed ({proc.returncode}) for {args}; see {log}")
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def build(args, work: Path, log: Path) -> dict:
    """Every model file the run measures; returns {name: path of its .onnx or run folder}."""
    models = work / "models"
    if models.exists():
        shutil.rmtree(models)  # exports are cheap; never measure a stale one
    seed_run = train_run("seed", 3 if args.quick else None, work, log)
    print("  exporting the seed weights: nameort export, and the legacy exporter", flush=True)
    sh([nameort_bin(), "export", seed_run, "--out", models / "seed"], log)
    legacy = models / "seed-legacy" / "model.onnx"
    ops = helper(EXPORT_HELPER, ["legacy", seed_run, legacy], log)["ops"]
    if "RNN" not in ops:
        sys.exit(f"the legacy export holds no RNN node (ops: {ops}); baseline 2 would not be what it says")
    derived_sidecar(models / "seed" / "model.onnx", legacy, "legacy exporter (dynamo=False) of the same run")
    built = {
        "seed_run": seed_run,
        "seed": models / "seed" / "model.onnx",
        "seed_legacy": legacy,
        "default": REPO / "runtime" / "nameort" / "models" / "german-italian" / "model.onnx",
    }
    if args.ablations:
        print("  ablations: plain dynamo export (before unroll.py), int8 dynamic quantization", flush=True)
        small_run = train_run("small", None, work, log)
        sh([nameort_bin(), "export", small_run, "--out", models / "small"], log)
        built["small"] = models / "small" / "model.onnx"
        for name, run in (("seed", seed_run), ("small", small_run)):
            plain = models / f"{name}-plain" / "model.onnx"
            helper(EXPORT_HELPER, ["plain", run, plain], log)
            derived_sidecar(built[name], plain, "dynamo export of nn.RNN as written (no unroll.py)")
            built[f"{name}_plain"] = plain
        for name in ("seed", "default"):
            quant = models / f"{name}-int8" / "model.onnx"
            quant.parent.mkdir(parents=True, exist_ok=True)
            helper(QUANT_HELPER, [built[name], quant, work / "scratch.onnx"], log)
            derived_sidecar(built[name], quant, "onnxruntime quantize_dynamic, int8 per-channel weights")
            built[f"{name}_int8"] = quant
    return built


# ----------------------------------------------------------------------------------------------
# The names, the machine, accuracy.
# ----------------------------------------------------------------------------------------------


def name_pool(characters: str, length: int) -> list:
    """Distinct real surnames of all 18 languages that the notebook's encoder accepts, shuffled."""
    known, names = set(characters), set()
    for path in sorted(DATA.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            name = unicodedata.normalize("NFC", line.strip())
            if name and len(name) <= length and known.issuperset(name):
                names.add(name)
    pool = sorted(names)
    random.Random(0).shuffle(pool)
    return pool


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model, flags = platform.processor(), set()
    for line in cpuinfo.splitlines():
        if line.startswith("model name") and ":" in line:
            model = line.split(":", 1)[1].strip()
        if line.startswith("flags") and ":" in line:
            flags = set(line.split(":", 1)[1].split())
    interesting = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                   "avx_vnni", "avx512_bf16", "amx_int8"]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    facts = {"cpu": model, "cores": cores, "flags": [f for f in interesting if f in flags],
             "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
             "platform": platform.platform(), "python": platform.python_version()}
    family = [l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith(("cpu family", "model\t"))]
    if family:
        facts["cpu"] += f" (family {family[0]}, model {family[1] if len(family) > 1 else '?'})"
    return facts


def versions() -> dict:
    found = {}
    for dist in ("torch", "onnxruntime", "onnxruntime-gpu", "onnx", "onnxscript", "numpy", "click", "nameort"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True,
                               text=True).stdout.strip()
        found["git"] = commit + ("+uncommitted" if dirty else "")
    except OSError:
        pass
    return found


def load_average() -> list:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def accuracy(model: Path, log: Path) -> dict:
    """Test accuracy through ``nameort evaluate`` (the runtime, on the split its sidecar records)."""
    with open(log, "a") as f:
        proc = subprocess.run([nameort_bin(), "evaluate", str(model.parent), "--data", str(DATA), "--json"],
                              stdout=subprocess.PIPE, stderr=f, text=True)
    if proc.returncode != 0:
        return {"error": f"nameort evaluate failed; see {log}"}
    m = json.loads(proc.stdout)
    return {"test_accuracy": m["accuracy"], "recorded": m["recorded_accuracy"], "count": m["count"]}


def agreement(model: Path, reference: Path) -> float:
    """Share of every German/Italian name whose label ``model`` gives as ``reference`` does."""
    from nameort import Classifier

    names = [line.strip() for label in LABELS for line in (DATA / f"{label}.txt").read_text("utf-8").splitlines()]
    names = [n for n in names if n]
    ours = [p.label for p in Classifier.load(model.parent, device="cpu", threads=1).predict_many(names)]
    theirs = [p.label for p in Classifier.load(reference.parent, device="cpu", threads=1).predict_many(names)]
    return sum(a == b for a, b in zip(ours, theirs)) / len(names)


# ----------------------------------------------------------------------------------------------
# Measuring.
# ----------------------------------------------------------------------------------------------


def variants(built: dict, ablations: bool) -> dict:
    """name -> (label, spec without threads, thread settings: 1 and/or None = all cores)."""
    table = {
        "b1": ("B1 torch eager, notebook loop (seed)",
               {"kind": "torch_notebook", "run_dir": str(built["seed_run"])}, (1, None)),
        "b2": ("B2 legacy export, ORT defaults (seed)",
               {"kind": "ort_naive", "model": str(built["seed_legacy"])}, (1, None)),
        "nameort_seed": ("nameort runtime (seed weights)", {"kind": "nameort", "model": str(built["seed"])}, (1, None)),
        "nameort_default": ("nameort runtime (default model)",
                            {"kind": "nameort", "model": str(built["default"])}, (1, None)),
    }
    if ablations:
        table.update({
            "seed_plain": ("seed, export before unroll.py",
                           {"kind": "nameort", "model": str(built["seed_plain"])}, (1,)),
            "small_plain": ("default weights, export before unroll.py",
                            {"kind": "nameort", "model": str(built["small_plain"])}, (1,)),
            "small": ("default weights, export after unroll.py",
                      {"kind": "nameort", "model": str(built["small"])}, (1,)),
            "seed_int8": ("seed, int8 quantize_dynamic", {"kind": "nameort", "model": str(built["seed_int8"])}, (1,)),
            "default_int8": ("default, int8 quantize_dynamic",
                             {"kind": "nameort", "model": str(built["default_int8"])}, (1,)),
        })
    return table


def ablation_runtime_variants(built: dict) -> dict:
    """Runtime settings tried: name -> (label, spec, threads: 1 or None = all cores)."""
    seed, default = ({"kind": "nameort", "model": str(built[k])} for k in ("seed", "default"))
    return {
        "rt_level_basic": ("default, ORT_ENABLE_BASIC", dict(default, graph_level="ENABLE_BASIC"), 1),
        "rt_level_extended": ("default, ORT_ENABLE_EXTENDED", dict(default, graph_level="ENABLE_EXTENDED"), 1),
        "rt_old_predict": ("default, predict_many([name])[0]", dict(default, predict_path="predict_many"), 1),
        "rt_intra2": ("default, 1 session x 2 intra-op threads", dict(default, intra_op_threads=2), 1),
        "rt_intra2_spin": ("default, 1 session x 2 intra-op threads, spinning",
                           dict(default, intra_op_threads=2, spinning="1"), 1),
        "rt_seed_intra2": ("seed, 1 session x 2 intra-op threads", dict(seed, intra_op_threads=2), 1),
        "rt_min2048": ("default, parallel from 2048 names", dict(default, parallel_min_rows=2048), None),
        "rt_seed_min2048": ("seed, parallel from 2048 names", dict(seed, parallel_min_rows=2048), None),
        "rt_min256": ("default, parallel from 256 names", dict(default, parallel_min_rows=256), None),
        "rt_seed_min256": ("seed, parallel from 256 names", dict(seed, parallel_min_rows=256), None),
        "rt_chunk256": ("default, chunks of 256", dict(default, batch_size=256), None),
        "rt_chunk4096": ("default, chunks of 4096", dict(default, batch_size=4096), None),
    }


# (what, measurement, current or "before" worker, candidate worker): the line reports candidate / current.
ABLATIONS = [
    *[("export: nn.RNN as written -> unroll.py (default weights)", m, "small_plain@1", "small@1")
      for m in ("latency_us", "batch64", "batch1024")],
    *[("export: nn.RNN as written -> unroll.py (seed weights)", m, "seed_plain@1", "nameort_seed@1")
      for m in ("latency_us", "batch64", "batch1024")],
    *[("int8 quantize_dynamic, default model", m, "nameort_default@1", "default_int8@1")
      for m in ("latency_us", "batch1024")],
    *[("int8 quantize_dynamic, seed weights", m, "nameort_seed@1", "seed_int8@1") for m in ("latency_us", "batch1024")],
    *[("graph optimisation ENABLE_BASIC -> ENABLE_ALL", m, "rt_level_basic@1", "nameort_default@1")
      for m in ("latency_us", "batch1024")],
    *[("graph optimisation ENABLE_EXTENDED -> ENABLE_ALL", m, "rt_level_extended@1", "nameort_default@1")
      for m in ("latency_us", "batch1024")],
    ("predict(): predict_many([name])[0] -> own path", "latency_us", "rt_old_predict@1", "nameort_default@1"),
    *[("default: 1 session x 2 threads -> 2 sessions x 1", m, "rt_intra2@1", "nameort_default@all")
      for m in ("batch1024", "batch8192")],
    *[("default: same, spinning -> 2 sessions x 1", m, "rt_intra2_spin@1", "nameort_default@all")
      for m in ("batch1024", "batch8192")],
    *[("seed: 1 session x 2 threads -> 2 sessions x 1", m, "rt_seed_intra2@1", "nameort_seed@all")
      for m in ("batch1024", "batch8192")],
    ("default: parallel from 2048 -> from 1024 names", "batch1024", "rt_min2048@all", "nameort_default@all"),
    ("seed: parallel from 2048 -> from 1024 names", "batch1024", "rt_seed_min2048@all", "nameort_seed@all"),
    *[("default: 1 thread -> parallel from 256 names", m, "nameort_default@1", "rt_min256@all")
      for m in ("batch256", "batch512")],
    *[("seed: 1 thread -> parallel from 256 names", m, "nameort_seed@1", "rt_seed_min256@all")
      for m in ("batch256", "batch512")],
    *[("default: chunks of 1024 -> 256", m, "nameort_default@all", "rt_chunk256@all") for m in ("batch1024", "batch8192")],
    *[("default: chunks of 1024 -> 4096", m, "nameort_default@all", "rt_chunk4096@all") for m in ("batch8192",)],
]


def probe() -> dict:
    """Seconds for a fixed memory-bound and a fixed pure-Python task.

    This VM's counters do not see other VMs on the same host, yet they can slow
    a measurement several-fold (shared memory bandwidth and caches); a probe
    that varies between rounds shows it.
    """
    import numpy as np

    a = np.ones(8_000_000, np.float32)  # 32 MB, the size of a large batch's activations
    t0 = time.perf_counter()
    for _ in range(10):
        a.sum()
    memory = time.perf_counter() - t0
    t0, x = time.perf_counter(), 0
    for i in range(300_000):
        x += i
    return {"memory_s": memory, "python_s": time.perf_counter() - t0}


def run_rounds(workers: dict, plan: list, rounds: int, results: dict, probes: list) -> None:
    """``plan``: (measurement key, command, worker keys). Round-robin, rotating the order each round."""
    for r in range(rounds):
        probes.append(probe())
        print(f"  round {r + 1}/{rounds} (load {load_average()}, probe {probes[-1]['memory_s'] * 1e3:.0f} ms "
              f"memory, {probes[-1]['python_s'] * 1e3:.0f} ms python)", flush=True)
        for key, cmd, keys in plan:
            order = keys[r % len(keys):] + keys[: r % len(keys)]
            for wkey in order:
                time.sleep(GAP_S)
                reply = workers[wkey].ask(**cmd)
                results.setdefault(wkey, {}).setdefault(key, []).append(reply)
    probes.append(probe())


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return None
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarise(raw: dict) -> dict:
    """Per worker: latency p50/p99 (pooled) and per-round p50s; names/s median and per round."""
    out = {}
    for wkey, measures in raw.items():
        s = {}
        for key, replies in measures.items():
            if key == "latency":
                pooled = [x for r in replies for x in r["samples"]]
                s["latency_us"] = {
                    "p50": percentile(pooled, 0.5) * 1e6, "p99": percentile(pooled, 0.99) * 1e6,
                    "samples": len(pooled), "round_p50": [percentile(r["samples"], 0.5) * 1e6 for r in replies],
                }
                key = "latency_us"
            else:
                rounds = [r["names_per_s"] for r in replies]
                s[key] = {"median": statistics.median(rounds), "rounds": rounds}
            # Cores this worker kept busy, and cores other processes took, during each round's measurement.
            s[key]["own_cores"] = [round(r["own_cores"], 2) for r in replies]
            s[key]["other_cores"] = [None if r["other_cores"] is None else round(r["other_cores"], 2) for r in replies]
        out[wkey] = s
    return out


def paired(summary: dict, a: str, b: str, key: str) -> dict | None:
    """Median over rounds of a/b (throughput) or b/a (latency): how many times better a is than b."""
    if a not in summary or b not in summary or key not in summary[a] or key not in summary[b]:
        return None
    if key == "latency_us":
        xs, ys = summary[b][key]["round_p50"], summary[a][key]["round_p50"]
    else:
        xs, ys = summary[a][key]["rounds"], summary[b][key]["rounds"]
    ratios = [x / y for x, y in zip(xs, ys)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "rounds": ratios}


def cold_start(runs: int, cwd: Path) -> dict:
    """Wall time of fresh processes, interleaved so each pair sees the same load."""
    commands = {
        "nameort classify Tribbiani": [nameort_bin(), "classify", CLI_NAME],
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
        'python -c "import onnxruntime"': [sys.executable, "-c", "import onnxruntime"],
        'python -c "pass"': [sys.executable, "-c", "pass"],
    }
    times = {k: [] for k in commands}
    for _ in range(runs):
        for key, argv in commands.items():
            t0 = time.perf_counter()
            proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
            times[key].append(time.perf_counter() - t0)
            if proc.returncode != 0:
                sys.exit(f"{key} failed: {proc.stderr.strip()[-300:]}")
            if key.startswith("nameort") and "Italian" not in proc.stdout:
                sys.exit(f"nameort classify {CLI_NAME} printed {proc.stdout!r}")
    cli, torch_ = times["nameort classify Tribbiani"], times['python -c "import torch"']
    ratios = [a / b for a, b in zip(cli, torch_)]
    return {
        "runs": runs,
        "median_s": {k: statistics.median(v) for k, v in times.items()},
        "all_s": times,
        "cli_over_import_torch": {"median": statistics.median(ratios), "rounds": ratios},
    }


def training_timing(epochs: int, rounds: int, log: Path) -> dict:
    """Seconds per epoch on CPU for both presets, interleaved; the first epoch of each process is dropped."""
    found = {"seed": [], "small": []}
    meta, cuda = {}, False
    for _ in range(rounds):
        for preset in found:
            reply = helper(TRAIN_TIMING_HELPER, [preset, epochs, DATA, "cpu"], log)
            found[preset] += reply["seconds"][1:]
            meta[preset] = {"torch_threads": reply["threads"], "batch_size": reply["batch_size"]}
            cuda = reply["cuda_available"]
    out = {
        "cpu": {p: {"median_s_per_epoch": statistics.median(v), "epochs_timed": len(v), **meta[p]}
                for p, v in found.items()},
        "cuda": "not measured: no CUDA device lent to this run (torch sees none)",
        "note": "one epoch = a pass over the 1,144 training names plus scoring the 142 validation names",
    }
    if cuda:
        out["cuda"] = {}
        for preset in found:
            seconds = helper(TRAIN_TIMING_HELPER, [preset, epochs, DATA, "cuda"], log)["seconds"][1:]
            out["cuda"][preset] = {"median_s_per_epoch": statistics.median(seconds), "epochs_timed": len(seconds)}
    return out


# ----------------------------------------------------------------------------------------------
# Report.
# ----------------------------------------------------------------------------------------------


def fmt_rate(x):
    return "-" if x is None else f"{x:,.0f}"


def fmt_x(r):
    return "-" if r is None else f"{r['median']:.1f}x"


def print_report(report: dict) -> None:
    m, s = report["machine"], report["summary"]
    labels = report["labels"]
    print()
    print(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; flags: {' '.join(m['flags'])}")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    print(f"Load average before/after: {report['load_before']} / {report['load_after']}; "
          f"{report['settings']['rounds']} rounds; medians over rounds, ratios paired within rounds")
    noise = report["noise"]
    print(f"Other processes during the measurements: median {noise['median']:.2f} cores, "
          f"90th percentile {noise['p90']:.2f}, max {noise['max']:.2f} (of {m['cores']})")
    mem = [p["memory_s"] * 1e3 for p in noise["probes"]]
    py = [p["python_s"] * 1e3 for p in noise["probes"]]
    print(f"Probe between rounds (other VMs on the host are invisible to the counters above): memory task "
          f"{min(mem):.0f}-{max(mem):.0f} ms, python task {min(py):.0f}-{max(py):.0f} ms")
    main = ["b1", "b2", "nameort_seed", "nameort_default"]

    print("\nOne name, in-process, 1 thread (encoding, softmax and label included)")
    print(f"  {'variant':44} {'p50 us':>9} {'p99 us':>9} {'vs B2':>7} {'vs B1':>7}")
    for v in main:
        lat = s.get(f"{v}@1", {}).get("latency_us")
        if lat:
            print(f"  {labels[v]:44} {lat['p50']:9.1f} {lat['p99']:9.1f} "
                  f"{fmt_x(report['ratios'].get(f'{v}@1 vs b2@1 latency_us')):>7} "
                  f"{fmt_x(report['ratios'].get(f'{v}@1 vs b1@1 latency_us')):>7}")

    print("\nThroughput, names/s (strings in, label + confidence out: encoding included for every variant)")
    head = "".join(f"{'batch ' + str(b):>12}" for b in BATCHES)
    print(f"  {'variant':44} {'threads':>7}{head}")
    for v in main:
        for t in ("1", "all"):
            row = s.get(f"{v}@{t}", {})
            cells = "".join(f"{fmt_rate(row.get(f'batch{b}', {}).get('median')):>12}" for b in BATCHES)
            print(f"  {labels[v] if t == '1' else '':44} {t:>7}{cells}")
    print("  ratios (median of per-round ratios):")
    for a, b in (("nameort_default", "b2"), ("nameort_default", "b1"), ("nameort_seed", "b2"),
                 ("nameort_seed", "b1"), ("b2", "b1")):
        for t in ("1", "all"):
            cells = "".join(f"{fmt_x(report['ratios'].get(f'{a}@{t} vs {b}@{t} batch{n}')):>12}" for n in BATCHES)
            print(f"  {a + ' / ' + b:44} {t:>7}{cells}")

    print("\nModel only (pre-encoded input, 1 thread), names/s")
    for v in main:
        row = s.get(f"{v}@1", {})
        cells = "  ".join(f"batch {b}: {fmt_rate(row.get(f'model{b}', {}).get('median')):>9}" for b in MODEL_ONLY_BATCHES)
        print(f"  {labels[v]:44} {cells}")

    print("\nModel file and memory (worker process with all cores; peak after every measurement)")
    for v in main:
        info = report["variants"][v]
        print(f"  {labels[v]:44} file {info['file_bytes'] / 1e6:7.2f} MB   RSS after load "
              f"{info['rss_after_load_mb']:6.0f} MB   peak RSS {info['peak_rss_mb']:6.0f} MB"
              f"   torch imported: {info['torch_imported']}")

    print("\nAccuracy on each model's test split (nameort evaluate)")
    for key, acc in report["accuracy"].items():
        line = f"  {key:44} " + (f"{acc['test_accuracy']:.4f} ({acc['count']} names)" if "test_accuracy" in acc
                                 else acc.get("error", ""))
        if acc.get("recorded") is not None:
            line += f", recorded at training {acc['recorded']:.4f}"
        if acc.get("agreement") is not None:
            line += f"; same label as {acc.get('float_original', 'seed')} on {acc['agreement']:.2%} of all names"
        print(line)

    cs = report["cold_start"]
    print(f"\nCold start, median of {cs['runs']} fresh processes (interleaved)")
    for k, v in cs["median_s"].items():
        print(f"  {k:44} {v:6.3f} s")
    print(f"  {'nameort classify / import torch':44} {cs['cli_over_import_torch']['median']:6.3f}")

    tr = report["training"]
    print("\nTraining, seconds per epoch (median)")
    for p, v in tr["cpu"].items():
        print(f"  {p:10} CPU {v['median_s_per_epoch']:.3f} s  (torch threads {v['torch_threads']}, "
              f"batch {v['batch_size']}, {v['epochs_timed']} epochs timed)")
    if isinstance(tr["cuda"], dict):
        for p, v in tr["cuda"].items():
            print(f"  {p:10} CUDA {v['median_s_per_epoch']:.3f} s  ({v['epochs_timed']} epochs timed)")
    else:
        print(f"  CUDA: {tr['cuda']}")

    if report.get("ablations"):
        print("\nAblations (each pair measured in the same rounds)")
        for line in report["ablations"]:
            print("  " + line)

    print("\nTargets")
    for t in report["targets"]:
        print(f"  [{'PASS' if t['pass'] else 'FAIL'}] {t['what']}: {t['measured']}")


def markdown(report: dict, command: str) -> str:
    """The headline tables as Markdown, for README files."""
    m, s, r, labels = report["machine"], report["summary"], report["ratios"], report["labels"]
    main = ["b1", "b2", "nameort_seed", "nameort_default"]
    out = [f"`{command}` on {m['cpu']}, {m['cores']} cores ({' '.join(m['flags'])}); "
           + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if k != "git")
           + f". {report['settings']['rounds']} rounds, medians; ratios are medians of per-round ratios.", ""]
    out += ["| | one name p50 / p99 (1 thread) | batch 1 | batch 64 | batch 1024 | batch 8192 | model file | peak RSS |",
            "|---|---|---|---|---|---|---|---|"]
    for v in main:
        lat = s[f"{v}@1"]["latency_us"]
        cells = " | ".join(
            f"{s[f'{v}@all'][f'batch{b}']['median']:,.0f}" for b in BATCHES)
        info = report["variants"][v]
        out.append(f"| {labels[v]} | {lat['p50']:.0f} / {lat['p99']:.0f} us | {cells} | "
                   f"{info['file_bytes'] / 1e6:.2f} MB | {info['peak_rss_mb']:.0f} MB |")
    out += ["", "Throughput in names/s with all cores (each library's default threading), strings in, label and "
            "confidence out. The same with 1 thread:", "",
            "| | batch 1 | batch 64 | batch 1024 | batch 8192 |", "|---|---|---|---|---|"]
    for v in main:
        out.append(f"| {labels[v]} | " + " | ".join(f"{s[f'{v}@1'][f'batch{b}']['median']:,.0f}" for b in BATCHES) + " |")
    out += ["", "Ratios (how many times the throughput, or for one name how many times faster):", "",
            "| | threads | one name | batch 1 | batch 64 | batch 1024 | batch 8192 |", "|---|---|---|---|---|---|---|"]
    for a, b in (("nameort_default", "b2"), ("nameort_default", "b1"), ("nameort_seed", "b2"), ("nameort_seed", "b1")):
        for t in ("all", "1"):
            one = fmt_x(r.get(f"{a}@1 vs {b}@1 latency_us")) if t == "1" else ""
            cells = " | ".join(fmt_x(r.get(f"{a}@{t} vs {b}@{t} batch{n}")) for n in BATCHES)
            out.append(f"| {labels[a]} / {b.upper()} | {t} | {one} | {cells} |")
    cs, tr = report["cold_start"], report["training"]
    out += ["", f"Cold start (median of {cs['runs']}): "
            + ", ".join(f"`{k}` {v:.3f} s" for k, v in cs["median_s"].items())
            + f"; nameort / import torch = {cs['cli_over_import_torch']['median']:.2f}.",
            "", "Training on CPU, seconds per epoch: " + ", ".join(
                f"{p} {v['median_s_per_epoch']:.3f} s" for p, v in tr["cpu"].items())
            + (f"; CUDA: {tr['cuda']}." if isinstance(tr["cuda"], str) else ".")]
    if report.get("ablations"):
        out += ["", "Optimisations tried (candidate against what it replaces, same rounds):", "", "```"]
        out += report["ablations"] + ["```"]
    out += ["", "| target | measured | |", "|---|---|---|"]
    out += [f"| {t['what']} | {t['measured']} | {'pass' if t['pass'] else 'FAIL'} |" for t in report["targets"]]
    return "\n".join(out) + "\n"


def targets(report: dict) -> list:
    s, r = report["summary"], report["ratios"]
    out = []

    def add(what, ok, measured):
        out.append({"what": what, "pass": bool(ok), "measured": measured})

    # Two different gains. "default model" lines compare the 0.08 MB default network with the notebook's
    # 5.6 MB one: a smaller model's gain and the runtime's together. "seed weights" lines run the notebook's
    # own weights: the runtime's gain alone.
    smaller, same = "smaller model + runtime", "runtime alone, same weights"
    for b in TARGET_BATCHES:
        for base, need in (("b2", 3.0), ("b1", 6.0)):
            ratio = r.get(f"nameort_default@all vs {base}@all batch{b}")
            add(f"default model >= {need:g}x {base.upper()} at batch {b} (all cores; {smaller})",
                ratio and ratio["median"] >= need, fmt_x(ratio))
        rate = s["nameort_default@all"][f"batch{b}"]["median"]
        add(f"default model >= 10,000 names/s at batch {b} (all cores; {smaller})", rate >= 10_000,
            f"{rate:,.0f} names/s")
        for t in ("all", "1"):
            ratio = r.get(f"nameort_seed@{t} vs b2@{t} batch{b}")
            add(f"seed weights: nameort >= 2x B2 at batch {b} ({'all cores' if t == 'all' else '1 thread'}; {same})",
                ratio and ratio["median"] >= 2.0, fmt_x(ratio))
    p50 = s["nameort_default@1"]["latency_us"]["p50"]
    add(f"default model one-name p50 <= 150 us (1 thread; {smaller})", p50 <= 150, f"{p50:.1f} us")
    ratio = r.get("nameort_seed@1 vs b2@1 latency_us")
    add(f"seed weights: nameort one name faster than B2 (1 thread; {same})", ratio and ratio["median"] > 1.0,
        fmt_x(ratio))
    cs = report["cold_start"]
    cli = cs["median_s"]["nameort classify Tribbiani"]
    add("CLI cold start median <= 0.5 s", cli <= 0.5, f"{cli:.3f} s")
    ratio = cs["cli_over_import_torch"]["median"]
    add("CLI cold start <= 1/5 of import torch", ratio <= 0.2, f"{ratio:.3f}")
    acc = report["accuracy"].get("default (bundled)", {})
    add("bundled model: evaluate == recorded test accuracy",
        acc.get("test_accuracy") is not None and acc["test_accuracy"] == acc.get("recorded"),
        f"{acc.get('test_accuracy')} vs {acc.get('recorded')}")
    return out


def ablation_lines(report: dict) -> list:
    s, lines = report["summary"], []
    for what, key, before, after in ABLATIONS:
        r = paired(s, after, before, key)
        if r is None:
            continue
        if key == "latency_us":
            fb, fa, unit = f"{s[before][key]['p50']:.1f} us", f"{s[after][key]['p50']:.1f} us", "1 name, p50"
        else:
            fb, fa = f"{s[before][key]['median']:,.0f}/s", f"{s[after][key]['median']:,.0f}/s"
            unit = f"batch {key[5:]}"
        lines.append(f"{what:52} {unit:12} {fb:>12} -> {fa:>12}  {r['median']:5.2f}x")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 short rounds; the seed preset trained 3 epochs")
    parser.add_argument("--ablations", action="store_true", help="also measure the optimisations tried")
    parser.add_argument("--rounds", type=int, default=None, help="measurement rounds (default 5, quick 3)")
    parser.add_argument("--json", default=None, help="where to write the results (default: WORK/benchmark.json)")
    parser.add_argument("--markdown", default=None, help="also write the headline tables as Markdown here")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "nameort-bench"),
                        help="cache and scratch folder, outside the repo (default %(default)s)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    log.write_text("")
    if not (DATA / "German.txt").is_file():
        sys.exit(f"dataset not found at {DATA}; set NAMEORT_DATA")

    report = {"machine": machine(), "versions": versions(), "load_before": load_average(),
              "settings": {"rounds": rounds, "quick": args.quick, "batches": BATCHES, "work": str(work)}}
    started = time.perf_counter()
    print(f"building baselines under {work}", flush=True)
    built = build(args, work, log)

    sys.path.insert(0, str(REPO / "runtime"))
    card = json.loads(Path(str(built["seed"]) + ".json").read_text(encoding="utf-8"))
    default_card = json.loads(Path(str(built["default"]) + ".json").read_text(encoding="utf-8"))
    rules = card["encoding"]
    if default_card["encoding"]["characters"] != rules["characters"]:
        sys.exit("the seed and default models have different vocabularies; cannot share a name pool")
    pool = name_pool("".join(rules["characters"]), rules["sequence_length"])
    pool_path = work / "pool.json"
    pool_path.write_text(json.dumps(pool, ensure_ascii=False), encoding="utf-8")
    report["settings"]["distinct_names"] = len(pool)

    quick = args.quick
    specs = variants(built, args.ablations)
    labels = {k: v[0] for k, v in specs.items()}
    workers = {}
    print(f"starting workers ({len(pool):,} distinct names)", flush=True)
    for key, (_, spec, settings) in specs.items():
        for threads in settings:
            wkey = f"{key}@{1 if threads else 'all'}"
            workers[wkey] = Worker(wkey, dict(spec, threads=threads, pool=str(pool_path)), work)
    extra = ablation_runtime_variants(built) if args.ablations else {}
    for key, (label, spec, threads) in extra.items():
        labels[key] = label
        wkey = f"{key}@{1 if threads else 'all'}"
        workers[wkey] = Worker(wkey, dict(spec, threads=threads, pool=str(pool_path)), work)
    report["labels"] = labels

    lat = dict(op="latency", budget_s=0.4 if quick else 1.0, min_samples=30, max_samples=1000 if quick else 3000)
    tp_time = 0.25 if quick else 0.5
    main_keys = [f"{k}@{1 if t else 'all'}" for k, v in specs.items() for t in v[2]]
    ones = [f"{k}@1" for k, v in specs.items() if 1 in v[2]]
    plan = [("latency", lat, ones)]
    plan += [(f"batch{b}", dict(op="throughput", batch=b, min_time_s=tp_time), main_keys) for b in BATCHES]
    plan += [(f"model{b}", dict(op="model_only", batch=b, min_time_s=tp_time), ones) for b in MODEL_ONLY_BATCHES]
    if extra:
        covered = {(key, w) for key, _, ws in plan for w in ws}
        needed = {}
        for _, key, before, after in ABLATIONS:
            key = "latency" if key == "latency_us" else key
            for w in (before, after):
                if (key, w) not in covered and w in workers:
                    needed.setdefault(key, []).append(w)
                    covered.add((key, w))
        for key, ws in needed.items():
            cmd = lat if key == "latency" else dict(op="throughput", batch=int(key[5:]), min_time_s=tp_time)
            plan.append((key, cmd, ws))
    raw, probes = {}, []
    try:
        run_rounds(workers, plan, rounds, raw, probes)
        stats = {k: w.ask(op="stats") | {"ready": w.ready} for k, w in workers.items()}
    finally:
        for w in workers.values():
            w.close()

    summary = summarise(raw)
    report["summary"] = summary
    others = [x for w in summary.values() for m in w.values() for x in m["other_cores"] if x is not None]
    report["noise"] = {"median": statistics.median(others or [0]), "p90": percentile(others or [0], 0.9),
                       "max": max(others or [0]), "what": "cores used by other processes while measuring",
                       "probes": probes}
    ratios = {}
    pairs = [("nameort_default", "b2"), ("nameort_default", "b1"), ("nameort_seed", "b2"), ("nameort_seed", "b1"),
             ("b2", "b1")]
    for a, b in pairs:
        for t in ("1", "all"):
            for key in [f"batch{n}" for n in BATCHES] + (["latency_us"] if t == "1" else []) + (
                    [f"model{n}" for n in MODEL_ONLY_BATCHES] if t == "1" else []):
                r = paired(summary, f"{a}@{t}", f"{b}@{t}", key)
                if r:
                    ratios[f"{a}@{t} vs {b}@{t} {key}"] = r
    report["ratios"] = ratios
    report["variants"] = {}
    for key in ("b1", "b2", "nameort_seed", "nameort_default"):
        path = built["seed_run"] if key == "b1" else Path(specs[key][1]["model"])
        file_bytes = (path / "checkpoint.pt").stat().st_size if key == "b1" else path.stat().st_size
        st = stats[f"{key}@all"]
        report["variants"][key] = {
            "label": labels[key], "file": str(path if key != "b1" else path / "checkpoint.pt"),
            "file_bytes": file_bytes, "rss_after_load_mb": st["ready"]["rss_kb"] / 1024,
            "peak_rss_mb": st["peak_rss_kb"] / 1024, "load_s": st["ready"]["load_s"],
            "torch_imported": st["ready"]["torch_imported"],
        }

    print("measuring accuracy, cold start and training time", flush=True)
    acc = {
        "default (bundled)": accuracy(built["default"], log),
        "seed, nameort export": accuracy(built["seed"], log),
        "seed, legacy export (B2)": accuracy(built["seed_legacy"], log),
    }
    acc["seed, legacy export (B2)"]["agreement"] = agreement(built["seed_legacy"], built["seed"])
    if args.ablations:
        for name, ref in (("seed_int8", "seed"), ("default_int8", "default"), ("seed_plain", "seed"),
                          ("small_plain", "small"), ("small", "default")):
            scored = accuracy(built[name], log) | {"agreement": agreement(built[name], built[ref])}
            acc[labels[name]] = scored | {"float_original": ref}
    report["accuracy"] = acc
    report["cold_start"] = cold_start(5 if quick else 7, work)
    report["training"] = training_timing(3 if quick else 4, 1 if quick else 2, log)
    report["load_after"] = load_average()
    report["seconds"] = time.perf_counter() - started
    if args.ablations:
        report["ablations"] = ablation_lines(report)
    report["targets"] = targets(report)
    out = Path(args.json) if args.json else work / "benchmark.json"
    out.write_text(json.dumps(report, indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8")
    print_report(report)
    print(f"\nwrote {out} ({report['seconds']:.0f} s)")
    if args.markdown:
        command = "python benchmarks/run.py" + " --quick" * args.quick + " --ablations" * args.ablations + (
            f" --rounds {args.rounds}" if args.rounds else "")
        Path(args.markdown).write_text(markdown(report, command), encoding="utf-8")
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "_worker":
        worker_main(sys.argv[2])
    else:
        main()
