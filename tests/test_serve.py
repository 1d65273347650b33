"""`nameort serve`: a real server process on a free port, a real HTTP client (the standard library's).

Each server is started with `--port 0` and tells its address on its first
stdout line. Results are compared with `Classifier.predict_many` in this
process: the service must answer exactly what the library does.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nameort import Classifier
from nameort.sidecar import resolve_model_path

NAMES = ["Tribbiani", "Schmidt", "", "   ", "García", "O’Connor", "李明", "Rossi", "Rossi", "x" * 5000, "MÜLLER", "🙂"]


class Server:
    """A `nameort serve` process; ``url`` once it listens."""

    def __init__(self, *args, env=None, wait_ready=True):
        environment = {**os.environ, **(env or {})}
        environment.pop("NAMEORT_API_KEY", None) if "NAMEORT_API_KEY" not in (env or {}) else None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nameort", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", env=environment,
        )
        first = self.proc.stdout.readline()
        assert first.startswith("nameort serve: listening on http://127.0.0.1:"), first + self.proc.stderr.read()
        self.url = first.split()[4].rstrip(",")
        self.host, port = urllib.parse.urlsplit(self.url).netloc.split(":")
        self.port = int(port)
        self.ready_lines = []
        if wait_ready:
            self.ready_lines.append(self.proc.stdout.readline())
            assert "ready at" in self.ready_lines[0], self.ready_lines[0]

    def request(self, method, path, body=None, headers=None):
        """(status, parsed JSON body, headers) of one request on a fresh connection."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            kind = response.getheader("content-type", "")
            return response.status, (json.loads(data) if "json" in kind else data.decode()), dict(response.getheaders())
        finally:
            conn.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post(self, payload, headers=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", "/v1/classify", body, {"Content-Type": "application/json", **(headers or {})})

    def stop(self, timeout=20, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        out, err = self.proc.communicate()
        return self.proc.returncode, out, err


@pytest.fixture(scope="module")
def classifier():
    with Classifier.load() as clf:
        yield clf


@pytest.fixture(scope="module")
def server():
    s = Server("--max-names", "100", "--max-body-bytes", "200000", "--read-timeout", "1")
    yield s
    code, _, err = s.stop()
    assert code == 0, err


def query(name, **options):
    return "/v1/classify?" + urllib.parse.urlencode({"name": name, **options})


def expected(classifier, names, **options):
    return [p.to_dict() for p in classifier.predict_many(names, **options)]


@pytest.mark.parametrize("options", [{}, {"top_k": 2}, {"threshold": 0.99}, {"top_k": 1, "threshold": 0.5}])
def test_get_answers_what_predict_many_does(server, classifier, options):
    for name in NAMES:
        status, body, headers = server.get(query(name, **options))
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert body == expected(classifier, [name], **options)[0]


@pytest.mark.parametrize("options", [{}, {"top_k": 2, "threshold": 0.9}])
def test_post_answers_what_predict_many_does_in_order(server, classifier, options):
    status, body, _ = server.post({"names": NAMES, **options})
    assert status == 200
    assert body == {"results": expected(classifier, NAMES, **options)}
    assert [r["name"] for r in body["results"]] == NAMES


def test_results_are_the_bytes_of_classify_jsonl(server):
    names = ["Rossi", "García", "", "李明", "Weber"]
    proc = subprocess.run(
        [sys.executable, "-m", "nameort", "classify", *names, "--format", "jsonl", "--top-k", "2"],
        capture_output=True, encoding="utf-8",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.encode().splitlines()
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.request("POST", "/v1/classify", json.dumps({"names": names, "top_k": 2}))
    assert conn.getresponse().read() == b'{"results": [' + b", ".join(lines) + b"]}"
    for name, line in zip(names, lines):
        conn.request("GET", query(name, top_k=2))
        assert conn.getresponse().read() == line


def test_a_lone_surrogate_is_a_name_like_any_other(server, classifier):
    status, body, _ = server.post(b'{"names": ["Ro\\ud800ssi", "Weber"]}')
    assert status == 200
    assert body["results"] == expected(classifier, ["Ro\ud800ssi", "Weber"])


def test_empty_list_gives_empty_results(server):
    assert server.post({"names": []})[:2] == (200, {"results": []})


BAD_GETS = [
    ("/v1/classify", 400, "missing query parameter 'name'"),
    ("/v1/classify?name=Rossi&name=Weber", 400, "query parameter 'name' given more than once"),
    ("/v1/classify?name=Rossi&topk=2", 400, "unknown query parameter 'topk'"),
    ("/v1/classify?name=Rossi&top_k=two", 400, "top_k must be an integer, not 'two'"),
    ("/v1/classify?name=Rossi&top_k=3", 400, "top_k must be between 1 and 2 (the number of labels), not 3"),
    ("/v1/classify?name=Rossi&top_k=0", 400, "top_k must be between 1 and 2 (the number of labels), not 0"),
    ("/v1/classify?name=Rossi&threshold=1.5", 400, "threshold must be between 0 and 1, not 1.5"),
    ("/v1/classify?name=Rossi&threshold=nan", 400, "threshold must be a finite number, not nan"),
    ("/v1/classify?name=Rossi&other_threshold=0.3", 400, "other_threshold"),
    ("/v1/nothing", 404, "Not Found"),
]


@pytest.mark.parametrize("path,status,message", BAD_GETS)
def test_bad_get_is_a_4xx_with_a_json_error(server, path, status, message):
    got, body, _ = server.get(path)
    assert got == status
    assert message in body["error"]


BAD_POSTS = [
    (b"{", 400, "the body is not valid JSON"),
    (b"", 400, "the body is not valid JSON"),
    (b"\xff\xfe{}", 400, "the body is not valid JSON"),
    (b"[\"Rossi\"]", 400, "the body must be a JSON object with a 'names' list, not a list"),
    (b"{}", 400, "missing field 'names'"),
    (b'{"names": "Rossi"}', 400, "'names' must be a list of strings, not a string"),
    (b'{"names": ["Rossi", 7]}', 400, "names[1] must be a string, not a number"),
    (b'{"names": ["Rossi", null]}', 400, "names[1] must be a string, not null"),
    (b'{"names": ["Rossi"], "top_k": "2"}', 400, "top_k must be an integer, not a string"),
    (b'{"names": ["Rossi"], "top_k": true}', 400, "top_k must be an integer, not a boolean"),
    (b'{"names": ["Rossi"], "top_k": 2.5}', 400, "top_k must be an integer, not a number"),
    (b'{"names": ["Rossi"], "top_k": 5}', 400, "top_k must be between 1 and 2 (the number of labels), not 5"),
    (b'{"names": ["Rossi"], "threshold": -1}', 400, "threshold must be between 0 and 1, not -1.0"),
    (b'{"names": ["Rossi"], "threshold": NaN}', 400, "threshold must be a finite number"),
    (b'{"names": ["Rossi"], "limit": 3}', 400, "unknown field 'limit'"),
    (json.dumps({"names": ["a"] * 101}).encode(), 413, "too many names: 101 (at most 100 per request)"),
    (json.dumps({"names": ["a" * 250_000]}).encode(), 413, "request body of 250015 bytes is over the limit of 200000"),
]


@pytest.mark.parametrize("payload,status,message", BAD_POSTS)
def test_bad_post_is_a_4xx_with_a_json_error(server, payload, status, message):
    got, body, _ = server.post(payload)
    assert (got, body["error"][: len(message)]) == (status, message)


def test_wrong_method_is_a_405(server):
    status, body, _ = server.request("PUT", "/v1/classify", b"{}")
    assert (status, body) == (405, {"error": "Method Not Allowed"})


def test_a_chunked_body_over_the_cap_is_refused_while_it_streams(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    chunks = (b"x" * 50_000 for _ in range(10))  # 500 kB, no Content-Length
    conn.request("POST", "/v1/classify", body=chunks, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read()) == {"error": "request body is over the limit of 200000 bytes"}


def test_a_huge_declared_body_is_refused_before_it_is_sent(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.putrequest("POST", "/v1/classify")
    conn.putheader("Content-Length", str(10**12))
    conn.endheaders()  # not one byte of the body follows
    response = conn.getresponse()
    assert response.status == 413
    assert "10000000000000 bytes" not in response.read().decode()  # (the figure is 10**12)


def read_response(sock) -> bytes:
    """One whole HTTP/1.1 response (with Content-Length) from a raw socket."""
    reply = b""
    while b"\r\n\r\n" not in reply or len(reply.partition(b"\r\n\r\n")[2]) < content_length(reply):
        chunk = sock.recv(65536)
        assert chunk, reply
        reply += chunk
    return reply


def content_length(reply: bytes) -> int:
    for line in reply.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_a_slow_body_gets_408_and_the_server_carries_on(server):
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"names\"")
        started = time.monotonic()
        reply = read_response(sock).decode()
    assert reply.startswith("HTTP/1.1 408 ")
    assert reply.endswith('{"error":"request body not received within 1 s"}')
    assert 0.9 < time.monotonic() - started < 5
    assert server.get("/healthz")[:2] == (200, {"status": "ok"})


@pytest.mark.parametrize("start", [b"", b"GET /v1/classify?name=Rossi HTTP/1.1\r\nHost: x\r\n"])
def test_a_client_that_never_finishes_its_headers_is_disconnected(server, start):
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(start)
        started = time.monotonic()
        assert sock.recv(4096) == b""  # closed by the server, not by our timeout
    assert 0.9 < time.monotonic() - started < 5


def test_64_concurrent_clients_get_exactly_the_in_process_results(server, classifier):
    import random

    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyzäöüéè 'ABCÜ"
    batches = [[("".join(rng.choice(letters) for _ in range(rng.randint(0, 20)))) for _ in range(rng.randint(1, 100))]
               for _ in range(64)]

    def client(i):
        names = batches[i]
        if i % 2:
            return [server.get(query(name, top_k=2))[1] for name in names[:10]]
        return server.post({"names": names, "top_k": 2})[1]["results"]

    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(client, range(64)))
    for i, answer in enumerate(answers):
        names = batches[i][:10] if i % 2 else batches[i]
        assert answer == expected(classifier, names, top_k=2)


def test_model_endpoint(server, classifier):
    status, body, _ = server.get("/v1/model")
    assert status == 200
    assert body["model"] == "german-italian"
    assert body["labels"] == ["German", "Italian"]
    assert body["sha256"] == classifier.card.model_sha256
    assert body["provider"] == "CPUExecutionProvider"
    assert body["metrics"]["test_accuracy"] == classifier.card.metrics["test_accuracy"]
    assert body["limits"] == {"max_names": 100, "max_body_bytes": 200000, "read_timeout_s": 1.0}
    assert f"sha256 {classifier.card.model_sha256}" in server.ready_lines[0]


def test_openapi_lists_both_classify_endpoints_and_docs_work_offline(server):
    status, doc, _ = server.get("/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert set(doc["paths"]["/v1/classify"]) == {"get", "post"}
    assert {"/v1/model", "/healthz"} <= set(doc["paths"])
    status, page, headers = server.get("/docs")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "GET /v1/classify" in page and "POST /v1/classify" in page
    assert "<script" not in page and "https://" not in page


def test_cors_is_off_by_default(server):
    _, _, headers = server.get(query("Rossi"), headers={"Origin": "https://example.org"})
    assert not any(h.lower().startswith("access-control-") for h in headers)


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


def test_other_threshold_reaches_the_decision_rules(tmp_path):
    # The bundled model with a background label declared in its sidecar (the
    # checksum covers the .onnx only): other_threshold is then a valid option.
    model = resolve_model_path(None)
    shutil.copy(model, tmp_path / "model.onnx")
    sidecar = json.loads(model.with_name(model.name + ".json").read_text())
    sidecar["decision"] = {"other_label": "German", "other_threshold": 0.5}
    (tmp_path / "model.onnx.json").write_text(json.dumps(sidecar))
    names = ["Schmidt", "Rossi", "Tribbiani", "Weber", "Bianchi", ""]
    s = Server("--model", str(tmp_path))
    try:
        with Classifier.load(tmp_path) as clf:
            for other_threshold in (0.02, 0.3, 0.97):
                want = expected(clf, names, other_threshold=other_threshold)
                assert s.post({"names": names, "other_threshold": other_threshold})[1]["results"] == want
                assert [s.get(query(n, other_threshold=other_threshold))[1] for n in names] == want
            assert {r["label"] for r in expected(clf, names, other_threshold=0.02)} != {
                r["label"] for r in expected(clf, names, other_threshold=0.97)}
        assert s.get("/v1/model")[1]["decision"]["other_label"] == "German"
    finally:
        assert s.stop()[0] == 0
