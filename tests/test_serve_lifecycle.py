"""`nameort serve` starting and stopping: SIGTERM drains, /healthz before and after the model loads,
several workers, the API key and CORS, one-line failures, the header deadline, the concurrency limit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from serve_process import NAMES, Server, expected, query, read_response

from nameort import Classifier
from nameort.sidecar import resolve_model_path


@pytest.fixture(scope="module")
def classifier():
    with Classifier.load() as clf:
        yield clf


def test_api_key_cors_and_open_health_check():
    s = Server("--cors-origin", "https://example.org", env={"NAMEORT_API_KEY": "s3cret"})
    try:
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer s3cre"}, {"Authorization": "s3cret"}):
            status, body, got = s.get(query("Rossi"), headers=headers)
            assert status == 401 and "API key" in body["error"] and got["www-authenticate"] == "Bearer"
            assert s.post({"names": ["Rossi"]}, headers=headers)[0] == 401
        assert s.get("/v1/model")[0] == 401
        assert s.get(query("Rossi"), headers={"Authorization": "Bearer s3cret"})[0] == 200
        assert s.post({"names": ["Rossi"]}, headers={"X-API-Key": "s3cret"})[0] == 200
        assert s.get("/healthz")[0] == 200  # probes carry no key
        _, _, got = s.get(query("Rossi"), headers={"Origin": "https://example.org", "X-API-Key": "s3cret"})
        assert got["access-control-allow-origin"] == "https://example.org"
        _, _, got = s.get(query("Rossi"), headers={"Origin": "https://evil.example", "X-API-Key": "s3cret"})
        assert "access-control-allow-origin" not in got
    finally:
        assert s.stop()[0] == 0


def test_sigterm_lets_requests_in_flight_finish_and_exits_0(classifier):
    s = Server()
    names = [f"Name{i}" for i in range(5000)]
    body = json.dumps({"names": ["Rossi", "Weber"]}).encode()
    with socket.create_connection((s.host, s.port), timeout=20) as sock:
        # A request whose body is half sent: in flight when SIGTERM arrives.
        sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
        with ThreadPoolExecutor(4) as pool:
            big = [pool.submit(s.post, {"names": names}) for _ in range(4)]
            time.sleep(0.3)
            s.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            assert s.proc.poll() is None  # still draining
            sock.sendall(body[10:])
            reply = read_response(sock)
            results = [f.result() for f in big]
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(payload)["results"] == expected(classifier, ["Rossi", "Weber"])
    for status, answer, _ in results:
        assert status == 200 and len(answer["results"]) == 5000
    out, err = s.proc.communicate(timeout=20)  # no second signal: it is already stopping
    assert s.proc.returncode == 0, err
    assert out.strip().endswith("nameort serve: stopped (SIGTERM)")


def test_healthz_is_503_until_the_model_is_loaded(tmp_path, classifier):
    # The model file is a FIFO: loading blocks until this test writes the bytes,
    # so the server is observably up but not ready.
    model = resolve_model_path(None)
    shutil.copy(model.with_name(model.name + ".json"), tmp_path / "model.onnx.json")
    os.mkfifo(tmp_path / "model.onnx")
    s = Server("--model", str(tmp_path / "model.onnx"), wait_ready=False)
    try:
        assert s.get("/healthz")[:2] == (503, {"error": "the model is still loading"})
        assert s.get(query("Rossi"))[0] == 503
        assert s.post({"names": ["Rossi"]})[0] == 503
        assert s.get("/openapi.json")[0] == 200
        with open(tmp_path / "model.onnx", "wb") as fifo:
            fifo.write(model.read_bytes())
        assert "ready at" in s.proc.stdout.readline()
        assert s.get("/healthz")[:2] == (200, {"status": "ok"})
        assert s.get(query("Rossi"))[1] == expected(classifier, ["Rossi"])[0]
    finally:
        assert s.stop()[0] == 0


def test_two_workers_each_load_the_model_and_stop_cleanly(classifier):
    s = Server("--workers", "2")
    try:
        s.ready_lines.append(s.proc.stdout.readline())
        assert all(classifier.card.model_sha256 in line for line in s.ready_lines)
        assert len({line.split("pid ")[1] for line in s.ready_lines}) == 2
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda name: s.get(query(name))[1], NAMES * 2))
        assert answers == expected(classifier, NAMES * 2)
    finally:
        code, _, err = s.stop()
    assert code == 0, err


def serve_fails(*args, env=None):
    proc = subprocess.run([sys.executable, "-m", "nameort", "serve", *args], capture_output=True, text=True,
                          encoding="utf-8", timeout=60, env={**os.environ, **(env or {})})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("nameort: error: "), proc.stderr
    return proc.stderr


def test_an_unknown_model_is_one_line_before_listening():
    assert "model not found: no-such-model" in serve_fails("--model", "no-such-model", "--port", "0")


def test_a_model_that_fails_to_load_ends_the_server(tmp_path):
    model = resolve_model_path(None)
    shutil.copy(model, tmp_path / "model.onnx")
    sidecar = json.loads(model.with_name(model.name + ".json").read_text())
    sidecar["model_sha256"] = "0" * 64
    (tmp_path / "model.onnx.json").write_text(json.dumps(sidecar))
    proc = subprocess.run([sys.executable, "-m", "nameort", "serve", "--port", "0", "--model", str(tmp_path)],
                          capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("nameort: error: cannot load the model: model.onnx does not match its sidecar")


def test_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert f"cannot listen on 127.0.0.1:{port}" in serve_fails("--port", str(port))


def test_without_starlette_and_uvicorn_serve_names_the_extra_and_the_runtime_still_imports():
    code = (
        "import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None\n"
        "from nameort.cli import main\n"
        "from nameort import Classifier; assert Classifier.load().predict('Rossi').label == 'Italian'\n"
        "main(['serve'], prog_name='nameort')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == (
        "nameort: error: nameort serve needs starlette and uvicorn: pip install 'nameort[serve]'\n"
    )


def test_the_h11_parser_gets_the_same_header_deadline_and_ctrl_c_is_a_clean_stop(classifier):
    s = Server("--http", "h11", "--read-timeout", "1")
    try:
        assert s.get(query("Rossi"))[1] == expected(classifier, ["Rossi"])[0]
        with socket.create_connection((s.host, s.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            assert sock.recv(4096) == b""
    finally:
        code, out, _ = s.stop(sig=signal.SIGINT)
    assert code == 0 and out.strip().endswith("nameort serve: stopped (SIGINT)")


def test_connections_over_the_concurrency_limit_get_503_and_the_server_recovers(classifier):
    s = Server("--limit-concurrency", "3")
    try:
        idle = [socket.create_connection((s.host, s.port), timeout=10) for _ in range(3)]
        time.sleep(0.2)
        status, body, _ = s.get(query("Rossi"))
        assert (status, body) == (503, "Service Unavailable")
        for sock in idle:
            sock.close()
        time.sleep(0.2)
        assert s.get(query("Rossi"))[1] == expected(classifier, ["Rossi"])[0]
    finally:
        assert s.stop()[0] == 0


def _bundled_copy(folder, decision):
    """The bundled model in ``folder``, its sidecar's decision entry replaced (the checksum covers the .onnx only)."""
    model = resolve_model_path(None)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, folder / "model.onnx")
    sidecar = json.loads(model.with_name(model.name + ".json").read_text(encoding="utf-8"))
    sidecar["decision"] = decision
    (folder / "model.onnx.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return folder


def test_other_threshold_reaches_the_decision_rules(tmp_path):
    # The open-set default network served from a copy whose sidecar moves the operating point: the
    # service answers by the served sidecar's rules, and a request's other_threshold moves them again.
    rules = resolve_model_path(None)
    decision = json.loads(rules.with_name(rules.name + ".json").read_text(encoding="utf-8"))["decision"]
    model = _bundled_copy(tmp_path / "model", {**decision, "other_threshold": 0.3})
    names = ["Schmidt", "Rossi", "Tribbiani", "Weber", "Bianchi", "Nguyen", "Yamamoto", "García", ""]
    s = Server("--model", str(model))
    try:
        with Classifier.load(model) as clf:
            labels = {}
            for other_threshold in (None, 0.0, 0.5, 1.0):
                options = {} if other_threshold is None else {"other_threshold": other_threshold}
                want = expected(clf, names, **options)
                assert s.post({"names": names, **options})[1]["results"] == want
                assert [s.get(query(n, **options))[1] for n in names] == want
                labels[other_threshold] = dict(zip(names, (r["label"] for r in want)))
        # At 0 every name is "other"; at 1 only a foreign letter (García's í) still answers it.
        assert set(labels[0.0].values()) == {"other", None}
        assert [labels[1.0][n] for n in ("Schmidt", "Tribbiani", "García")] == ["German", "Italian", "other"]
        assert labels[1.0]["Nguyen"] in ("German", "Italian") and labels[None]["Nguyen"] == "other"
        assert labels[None]["Yamamoto"] == "other" and labels[None]["Tribbiani"] == "Italian"
        assert s.get("/v1/model")[1]["decision"] == {**decision, "other_threshold": 0.3}
    finally:
        assert s.stop()[0] == 0


def test_a_model_without_a_background_label_refuses_other_threshold(tmp_path):
    # The same network with its decision entry emptied: a closed-set, argmax model of three labels.
    model = _bundled_copy(tmp_path / "model", {})
    s = Server("--model", str(model))
    try:
        with Classifier.load(model) as clf:
            n = len(clf.labels)
            assert s.get("/v1/model")[1]["decision"] == {}
            message = "other_threshold needs a model with a background label (this one has none)"
            assert s.get(query("Rossi", other_threshold=0.5))[:2] == (400, {"error": message})
            assert s.post({"names": ["Rossi"], "other_threshold": 0.5})[:2] == (400, {"error": message})
            # Every label is an answer by argmax, "other" included; top_k reaches all of them.
            results = s.post({"names": ["Nguyen", "Tribbiani"], "top_k": n})[1]["results"]
            assert results == expected(clf, ["Nguyen", "Tribbiani"], top_k=n)
            assert [r["label"] for r in results] == ["other", "Italian"] and len(results[0]["top"]) == n
    finally:
        assert s.stop()[0] == 0
