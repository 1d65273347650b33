"""What ``nameort serve`` was told, handed to every worker process.

uvicorn starts each worker by importing the app factory, so the settings
travel in one environment variable (JSON) that worker processes inherit.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

ENV_VAR = "NAMEORT_SERVE_SETTINGS"
API_KEY_ENV = "NAMEORT_API_KEY"

DEFAULT_MAX_NAMES = 10_000
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_READ_TIMEOUT = 30.0  # seconds a client has for a request's headers, and again for its body
DEFAULT_LIMIT_CONCURRENCY = 256  # connections + requests per worker before uvicorn answers 503
DEFAULT_KEEP_ALIVE = 5  # seconds an idle keep-alive connection stays open
DEFAULT_GRACEFUL_TIMEOUT = 30  # seconds SIGTERM waits for in-flight requests


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # a bundled name, a folder or a .onnx file; None = the default model
    model_name: str = ""  # how /v1/model and the ready line name it (never a server path)
    device: str = "auto"
    threads: int | None = None  # CPU cores each worker's classifier uses
    max_names: int = DEFAULT_MAX_NAMES
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    read_timeout: float = DEFAULT_READ_TIMEOUT
    api_key: str | None = None  # required on /v1/* when set
    cors_origins: tuple = field(default_factory=tuple)  # CORS stays off when empty
    url: str = ""  # where the server listens, for the ready line
    workers: int = 1

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, environ=os.environ) -> "Settings":
        data = json.loads(environ[ENV_VAR])
        data["cors_origins"] = tuple(data.get("cors_origins") or ())
        return cls(**data)
