"""`nameort serve` answers: a real server process on a free port, a real HTTP client (the standard library's).

Each server is started with `--port 0` and tells its address on its first
stdout line (tests/serve_process.py). Results are compared with
`Classifier.predict_many` in this process: the service must answer exactly
what the library does. Starting, stopping and failing: test_serve_lifecycle.py.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from serve_process import NAMES, Server, expected, query, read_response

from nameort import Classifier
from nameort.sidecar import read_card, resolve_model_path


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


N_LABELS = len(read_card(resolve_model_path(None)).labels)  # the bundled default's, "other" included

BAD_GETS = [
    ("/v1/classify", 400, "missing query parameter 'name'"),
    ("/v1/classify?name=Rossi&name=Weber", 400, "query parameter 'name' given more than once"),
    ("/v1/classify?name=Rossi&topk=2", 400, "unknown query parameter 'topk'"),
    ("/v1/classify?name=Rossi&top_k=two", 400, "top_k must be an integer, not 'two'"),
    (f"/v1/classify?name=Rossi&top_k={N_LABELS + 1}", 400,
     f"top_k must be between 1 and {N_LABELS} (the number of labels), not {N_LABELS + 1}"),
    ("/v1/classify?name=Rossi&top_k=0", 400, f"top_k must be between 1 and {N_LABELS} (the number of labels), not 0"),
    ("/v1/classify?name=Rossi&threshold=1.5", 400, "threshold must be between 0 and 1, not 1.5"),
    ("/v1/classify?name=Rossi&threshold=nan", 400, "threshold must be a finite number, not nan"),
    # The default model has a background label, so other_threshold is an option; out of range it is refused
    # (a model without one refuses it outright: test_serve_lifecycle.py).
    ("/v1/classify?name=Rossi&other_threshold=1.5", 400, "other_threshold must be between 0 and 1, not 1.5"),
    ("/v1/classify?name=Rossi&other_threshold=-0.1", 400, "other_threshold must be between 0 and 1, not -0.1"),
    ("/v1/classify?name=Rossi&other_threshold=high", 400, "other_threshold must be a number, not 'high'"),
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
    (b'{"names": ["Rossi"], "top_k": 5}', 400, f"top_k must be between 1 and {N_LABELS} (the number of labels), not 5"),
    (b'{"names": ["Rossi"], "other_threshold": 2}', 400, "other_threshold must be between 0 and 1, not 2.0"),
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
    assert body["labels"] == ["German", "Italian", "other"] == list(classifier.labels)
    assert body["decision"] == classifier.card.decision.to_json() and body["decision"]["other_label"] == "other"
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
