"""The OpenAPI document of the service, and /docs: a self-contained page generated from it.

The document is written by hand (the service has four endpoints) and filled in
with the limits the server runs with. The docs page embeds no script and loads
nothing from a CDN, so it works on a machine without internet access.
"""

from __future__ import annotations

import html

from .. import __version__
from .settings import Settings

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def document(settings: Settings) -> dict:
    option_params = [
        _query("top_k", {"type": "integer", "minimum": 1}, "Also list the k most likely labels (at most the number of labels)."),
        _query("threshold", {"type": "number", "minimum": 0, "maximum": 1},
               "Below this confidence the label is 'unknown' and the status gains low_confidence."),
        _query("other_threshold", {"type": "number", "minimum": 0, "maximum": 1},
               "For models with an 'other' label: answer it when its probability is at least this."),
    ]
    errors = {
        "400": _error_response("Malformed JSON, a wrong type, a missing or unknown field, an option out of range."),
        "401": _error_response("The server has an API key and the request did not carry it."),
        "503": _error_response("The model is still loading, or the server is at its concurrency limit."),
    }
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "nameort",
            "version": __version__,
            "description": "Classify surnames by language of origin. Each result is the object "
            "`nameort classify --format json` prints for the name.",
        },
        "paths": {
            "/v1/classify": {
                "get": {
                    "summary": "Classify one name",
                    "operationId": "classifyOne",
                    "parameters": [_query("name", {"type": "string"}, "The name, exactly as written.", True)]
                    + option_params,
                    "responses": {
                        "200": {"description": "The result for the name.",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}},
                        **errors,
                    },
                },
                "post": {
                    "summary": "Classify a list of names",
                    "operationId": "classifyMany",
                    "description": f"At most {settings.max_names} names and {settings.max_body_bytes} bytes "
                    "per request. Results come in the order of the names, one per name.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClassifyRequest"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "One result per name, in order.",
                            "content": {"application/json": {"schema": {
                                "type": "object", "required": ["results"],
                                "properties": {"results": {"type": "array",
                                                           "items": {"$ref": "#/components/schemas/Result"}}},
                            }}},
                        },
                        **errors,
                        "408": _error_response(f"The body did not arrive within {settings.read_timeout:g} s (--read-timeout)."),
                        "413": _error_response("The body is over the size limit, or there are too many names."),
                    },
                },
            },
            "/v1/model": {
                "get": {
                    "summary": "The model being served",
                    "operationId": "model",
                    "responses": {"200": {"description": "Labels, sha256, metrics, provider, limits.",
                                          "content": {"application/json": {"schema": {"type": "object"}}}},
                                  "401": errors["401"], "503": errors["503"]},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Health check: 200 once the model is loaded, 503 before",
                    "operationId": "health",
                    "responses": {"200": {"description": "Ready."}, "503": errors["503"]},
                }
            },
        },
        "components": {"schemas": _schemas()},
    }
    if settings.api_key:
        doc["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        for path in ("/v1/classify", "/v1/model"):
            for operation in doc["paths"][path].values():
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
    return doc


def _query(name, schema, description, required=False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _schemas() -> dict:
    probability = {"type": ["number", "null"]}
    return {
        "ClassifyRequest": {
            "type": "object",
            "required": ["names"],
            "additionalProperties": False,
            "properties": {
                "names": {"type": "array", "items": {"type": "string"}},
                "top_k": {"type": ["integer", "null"], "minimum": 1},
                "threshold": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "other_threshold": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            },
        },
        "Result": {
            "type": "object",
            "required": ["name", "label", "confidence", "status", "probabilities", "unknown_chars", "text"],
            "properties": {
                "name": {"type": "string", "description": "The name exactly as given."},
                "label": {"type": ["string", "null"],
                          "description": "The answer; 'unknown' under the threshold; null without a prediction."},
                "confidence": probability,
                "status": {"type": "string",
                           "description": "ok, or flags joined by '+': empty, unsupported, unknown_chars, "
                           "truncated, low_confidence."},
                "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
                "unknown_chars": {"type": "string"},
                "text": {"type": "string", "description": "What the model read."},
                "top": {"type": "array", "items": {"type": "array", "prefixItems": [
                    {"type": "string"}, {"type": "number"}]}},
            },
        },
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    }


def docs_page(doc: dict) -> str:
    """An HTML page listing every endpoint of ``doc`` with its parameters and responses."""
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(doc['info']['title'])} API</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}"
        "code{background:#f3f3f3;padding:0 .2em}h2{border-top:1px solid #ccc;padding-top:1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}</style>",
        "</head><body>",
        f"<h1>{esc(doc['info']['title'])} {esc(doc['info']['version'])}</h1>",
        f"<p>{esc(doc['info']['description'])}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>",
    ]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            parts.append(f"<h2><code>{method.upper()} {esc(path)}</code></h2><p>{esc(op['summary'])}</p>")
            if op.get("description"):
                parts.append(f"<p>{esc(op['description'])}</p>")
            if op.get("parameters"):
                parts.append("<table><tr><th>query parameter</th><th>type</th><th></th></tr>")
                for p in op["parameters"]:
                    required = " (required)" if p["required"] else ""
                    parts.append(f"<tr><td><code>{esc(p['name'])}</code>{required}</td>"
                                 f"<td>{esc(str(p['schema'].get('type')))}</td><td>{esc(p['description'])}</td></tr>")
                parts.append("</table>")
            if op.get("requestBody"):
                body = doc["components"]["schemas"]["ClassifyRequest"]["properties"]
                fields = ", ".join(f"<code>{esc(k)}</code>" for k in body)
                parts.append(f"<p>JSON body fields: {fields}, e.g. "
                             "<code>{\"names\": [\"Rossi\", \"Weber\"], \"top_k\": 2}</code></p>")
            parts.append("<ul>")
            for status, response in op["responses"].items():
                parts.append(f"<li><code>{esc(status)}</code> {esc(response['description'])}</li>")
            parts.append("</ul>")
    parts.append("<p>Errors are JSON: <code>{\"error\": \"...\"}</code>.</p></body></html>")
    return "".join(parts)
