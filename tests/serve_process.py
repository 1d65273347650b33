"""A `nameort serve` process for the tests, and what they compare its answers with."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import urllib.parse

NAMES = ["Tribbiani", "Schmidt", "", "   ", "García", "O’Connor", "李明", "Rossi", "Rossi", "x" * 5000, "MÜLLER", "🙂"]


class Server:
    """A `nameort serve` process; ``url`` once it listens."""

    def __init__(self, *args, env=None, wait_ready=True):
        environment = {key: value for key, value in os.environ.items() if key != "NAMEORT_API_KEY"}
        environment.update(env or {})  # a key only where the test sets one
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


def query(name, **options):
    return "/v1/classify?" + urllib.parse.urlencode({"name": name, **options})


def expected(classifier, names, **options):
    return [p.to_dict() for p in classifier.predict_many(names, **options)]


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
