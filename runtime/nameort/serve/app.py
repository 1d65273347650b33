"""The Starlette application: routes, the API key, CORS, and loading the model.

The model loads in a background thread once the worker is up, so the server
listens at once and ``/healthz`` (and every model endpoint) answers 503 until
the classifier is ready, then 200: a load balancer or an orchestrator's
readiness probe sees the truth. A model that fails to load ends the worker
process (see ``_load``), since it could never become healthy.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import sys
import threading

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .. import __version__
from . import jsonenc, openapi
from .body import read_body
from .engine import Engine
from .settings import Settings
from .validate import BadRequest, parse_body, parse_query

# Up to this many names a request is answered on the event loop (a few hundred
# microseconds); larger ones run in a thread, so the loop keeps accepting
# requests and answering /healthz meanwhile. One such thread per worker: the
# work is mostly Python holding the GIL, and measured on 2 cores, 16 POSTs of
# 500 names in 16 threads at once cost 20-50% more CPU per name than taking
# turns (benchmarks/serve_bench.py).
INLINE_MAX_NAMES = 64
MODEL_THREADS = 1
# Exit status of a worker process whose model cannot load: uvicorn's supervisor
# stops every worker when one exits with its STARTUP_FAILURE (3) instead of
# restarting it forever, and ``runner`` then exits with nameort's usual 2.
# A lone worker (in nameort's own process) exits 2 directly.
LOAD_FAILURE_EXIT = 3


class Service:
    """One worker's state: the settings, and the engine once the model is loaded."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine: Engine | None = None
        self.model_facts: dict | None = None
        self.limiter = None  # made in the event loop: the thread large requests take turns in

    def load(self) -> None:
        from ..classifier import Classifier

        classifier = Classifier.load(self.settings.model, device=self.settings.device, threads=self.settings.threads)
        card = classifier.card
        self.model_facts = {
            "model": self.settings.model_name,
            "sha256": card.model_sha256,
            "labels": list(card.labels),
            "decision": card.decision.to_json(),
            "metrics": card.metrics,
            "provider": classifier.provider,
            "threads": classifier.threads,
            "sequence_length": card.rules.sequence_length,
            "vocabulary": card.rules.characters,
            "nameort_version": __version__,
            "limits": {
                "max_names": self.settings.max_names,
                "max_body_bytes": self.settings.max_body_bytes,
                "read_timeout_s": self.settings.read_timeout,
            },
        }
        self.engine = Engine(classifier)
        print(
            f"nameort serve: ready at {self.settings.url} (model {self.settings.model_name}, "
            f"sha256 {card.model_sha256}, {classifier.provider}, pid {os.getpid()})",
            flush=True,
        )

    def close(self) -> None:
        if self.engine is not None:
            self.engine.classifier.close()


def create_app(settings: Settings) -> Starlette:
    service = Service(settings)
    doc = openapi.document(settings)
    docs_html = openapi.docs_page(doc)

    def ready_engine() -> Engine:
        if service.engine is None:
            raise BadRequest(503, "the model is still loading")
        return service.engine

    async def classify_get(request: Request) -> Response:
        name, options = parse_query(request.query_params.multi_items())
        return json_response(ready_engine().classify_one(name, options))

    async def classify_post(request: Request) -> Response:
        engine = ready_engine()
        try:
            raw = await read_body(request, settings.max_body_bytes, settings.read_timeout)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening any more
        try:
            body = jsonenc.loads(raw)
        except ValueError as exc:
            raise BadRequest(400, f"the body is not valid JSON: {exc}") from None
        names, options = parse_body(body, settings.max_names)
        if len(names) <= INLINE_MAX_NAMES:
            return json_response(engine.classify(names, options))
        return json_response(
            await anyio.to_thread.run_sync(engine.classify, names, options, limiter=service.limiter)
        )

    async def model(request: Request) -> Response:
        ready_engine()
        return json_response(jsonenc.dumps(service.model_facts))

    async def healthz(request: Request) -> Response:
        ready_engine()
        return json_response(b'{"status":"ok"}')

    async def openapi_json(request: Request) -> Response:
        return json_response(jsonenc.dumps(doc))

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_html)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        service.limiter = anyio.CapacityLimiter(MODEL_THREADS)
        threading.Thread(target=_load, args=(service,), name="nameort-load", daemon=True).start()
        yield
        service.close()

    app = Starlette(
        routes=[
            Route("/v1/classify", classify_get, methods=["GET"]),
            Route("/v1/classify", classify_post, methods=["POST"]),
            Route("/v1/model", model, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Route("/docs", docs, methods=["GET"]),
        ],
        exception_handlers={BadRequest: bad_request, HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.service = service
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    if settings.api_key:
        app.add_middleware(ApiKeyMiddleware, key=settings.api_key)
    return app


def app_from_env() -> Starlette:
    """The factory uvicorn's workers import (``nameort.serve.app:app_from_env``)."""
    return create_app(Settings.from_env())


def _load(service: Service) -> None:
    try:
        service.load()
    except Exception as exc:  # noqa: BLE001 - any failure: say it in one line
        line = " ".join(str(exc).split()) or type(exc).__name__
        print(f"nameort: error: cannot load the model: {line}", file=sys.stderr, flush=True)
        # A worker without a model can only ever answer 503; end it. Nothing is
        # in flight worth waiting for (every request so far got a 503).
        os._exit(2 if service.settings.workers == 1 else LOAD_FAILURE_EXIT)


def json_response(content: bytes, status: int = 200) -> Response:
    return Response(content, status_code=status, media_type="application/json")


def error_response(status: int, message: str, headers=None) -> Response:
    response = json_response(jsonenc.dumps({"error": message}), status)
    if headers:
        response.headers.update(headers)
    return response


async def bad_request(request, exc: BadRequest) -> Response:
    return error_response(exc.status, exc.message)


async def http_error(request, exc: HTTPException) -> Response:
    # Starlette's 404 / 405 as JSON like every other error.
    return error_response(exc.status_code, exc.detail, exc.headers)


async def internal_error(request, exc: Exception) -> Response:
    return error_response(500, f"internal error: {type(exc).__name__}")


class ApiKeyMiddleware:
    """``/v1/*`` needs the key, as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.

    ``/healthz``, ``/openapi.json`` and ``/docs`` stay open: probes and readers
    of the API description carry no key, and they reveal no results. The
    comparison takes the same time wherever the first wrong byte is.
    """

    def __init__(self, app, key: str):
        self.app = app
        self.key = key.encode("utf-8")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/v1/") or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        response = error_response(401, "missing or wrong API key (send 'Authorization: Bearer KEY' or 'X-API-Key: KEY')",
                                  {"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)

    def _authorised(self, scope) -> bool:
        given = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                given = value
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
        return given is not None and hmac.compare_digest(given, self.key)
