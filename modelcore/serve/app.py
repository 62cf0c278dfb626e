"""The ASGI application of `modelcore serve`: OpenAI routes over one started `Engine`.

Threads: the engine steps on its own background thread (`Engine.start()`), the only thread touching the model.
Handlers run on the event loop; `Engine.submit` (which may compile a grammar) and `RequestHandle.cancel` (which
waits for the current step) run in the default thread pool. Each request's tokens come back through an
`asyncio.Queue` fed with `loop.call_soon_threadsafe` from the engine thread (`on_token` events, then the
`Completion` from the handle's done callback), so no handler ever blocks the loop.

Routes (all but /health need `Authorization: Bearer <key>` when the server has a key):
  GET  /health                     200 {status, running, waiting}: readiness probes, load
  GET  /v1/models                  the base model and the adapters (vLLM's shape: an adapter's "parent" is the base)
  POST /v1/completions             prompt -> text (stream: SSE)
  POST /v1/chat/completions        messages -> the model's chat template -> text (stream: SSE)
  POST /v1/load_lora_adapter       {"lora_name", "lora_path"}: vLLM's runtime LoRA endpoint
  POST /v1/unload_lora_adapter     {"lora_name"}
  GET  /metrics                    Prometheus text: the engine (modelcore.metrics) and requests / tokens served
An adapter is addressed as a model name, as with vLLM's --lora-modules. Errors are OpenAI's JSON shape.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ..adapters import load_adapter_weights
from ..engine import Completion, Engine, PromptTooLongError, TokenEvent
from .protocol import (
    FINISH_REASONS,
    ApiError,
    GenerationRequest,
    bad,
    chunk_body,
    completion_body,
    new_id,
    parse_chat,
    parse_completion,
)

logger = logging.getLogger(__name__)  # ids, sizes and reasons only: never prompts or generated text

ADAPTER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")  # registry labels are name@version
DEFAULT_MAX_BODY_BYTES = 1 << 20
DEFAULT_MAX_PENDING = 64
WAIT_POLL_S = 0.5  # how often a non-streaming request checks whether its client is still there


@dataclass(frozen=True)
class ServedAdapter:
    name: str  # the model name clients use
    path: str  # the adapter directory (resolved)
    engine_name: str  # the engine's name for it: new for every load, so a reload never meets a stale slot


class Server:
    """State shared by the handlers: the engine, the model names, the adapters, the limits."""

    def __init__(
        self,
        engine: Engine,
        *,
        model_name: str,
        api_key: str | None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_pending: int = DEFAULT_MAX_PENDING,
        adapter_root: str | Path | None = None,
    ) -> None:
        if engine.tokenizer is None:
            raise ValueError("modelcore serve needs an Engine with a tokenizer")
        self.engine = engine
        self.model_name = model_name
        self.api_key = api_key or None
        self.max_body_bytes = max_body_bytes
        self.max_pending = max_pending
        self.adapter_root = Path(adapter_root).resolve() if adapter_root is not None else None
        self.adapters: dict[str, ServedAdapter] = {}
        self.created = int(time.time())
        self.finished: dict[str, int] = {}  # finish reason -> requests (counted on the engine thread)
        self.tokens = {"prompt": 0, "completion": 0, "cached": 0}
        self._pending = 0
        self._loads = itertools.count(1)

    # --------------------------------------------------------------------------------------- adapters
    def check_adapter(self, name: Any, path: Any) -> Path:
        """The resolved adapter directory, after the strict checks (ApiError 400 naming the problem)."""
        if self.engine.lora is None:
            raise ApiError(400, "this server serves no adapters (started with --max-adapters 0)")
        if not (isinstance(name, str) and ADAPTER_NAME_RE.fullmatch(name)):
            raise bad("lora_name", "must be 1-128 characters of letters, digits and . _ : @ - (starting with a "
                                   "letter or digit)")
        if name == self.model_name:
            raise bad("lora_name", "is the base model's name")
        if not (isinstance(path, str) and path):
            raise bad("lora_path", "must be the path of a PEFT adapter directory on the server")
        try:
            resolved = Path(path).resolve(strict=True)
        except (OSError, RuntimeError):
            raise bad("lora_path", f"{path} does not exist") from None
        if not resolved.is_dir():
            raise bad("lora_path", f"{path} is not a directory")
        if self.adapter_root is not None and not resolved.is_relative_to(self.adapter_root):
            raise bad("lora_path", f"{path} is outside the server's --adapter-root")
        # modelcore's strict reader: adapter_config.json parsed and validated, safetensors only (pickle refused,
        # never opened), every tensor checked against the served model's shapes.
        try:
            load_adapter_weights(resolved, self.engine.config)
        except (ValueError, FileNotFoundError) as exc:
            raise bad("lora_path", str(exc)) from None
        return resolved

    def add_adapter(self, name: str, resolved: Path) -> bool:
        """Serve a checked adapter as model `name`; False when it is already served from the same directory."""
        current = self.adapters.get(name)
        if current is not None:
            if current.path == str(resolved):
                return False
            raise bad("lora_name", f"{name!r} is already loaded from another directory; unload it first")
        self.adapters[name] = ServedAdapter(name, str(resolved), f"{name}#{next(self._loads)}")
        return True

    def resolve_model(self, model: str) -> ServedAdapter | None:
        """None for the base model, the adapter for an adapter name; ApiError 404 otherwise."""
        if model == self.model_name:
            return None
        adapter = self.adapters.get(model)
        if adapter is None:
            raise ApiError(404, f"The model `{model}` does not exist.", param="model", code="model_not_found")
        return adapter

    def count(self, done: Completion) -> None:
        """A finished request, for /metrics (called on the engine thread, the only writer)."""
        self.finished[done.finish_reason] = self.finished.get(done.finish_reason, 0) + 1
        self.tokens["prompt"] += done.prompt_tokens
        self.tokens["completion"] += done.completion_tokens
        self.tokens["cached"] += done.cached_tokens

    # ------------------------------------------------------------------------------------------ request
    def authorize(self, request: Request) -> None:
        if self.api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        given = token.strip().encode() if scheme.lower() == "bearer" else b""
        if not hmac.compare_digest(given, self.api_key.encode()):
            raise ApiError(401, "Missing or incorrect API key: send Authorization: Bearer <key>.",
                           code="invalid_api_key")

    async def json_body(self, request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            raise ApiError(413, f"the request body is larger than {self.max_body_bytes} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise ApiError(413, f"the request body is larger than {self.max_body_bytes} bytes")
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks), parse_constant=_refuse_constant)
        except ValueError as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _error_response(exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _sse(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


# ----------------------------------------------------------------------------------------- generation
class _Generation:
    """One submitted request: its handle and the queue its events arrive on."""

    def __init__(self, server: Server, handle: Any, events: asyncio.Queue) -> None:
        self.server, self.handle, self.events = server, handle, events

    def cancel_soon(self) -> None:
        """Cancel without awaiting (usable inside a cancelled task): cancel() waits for the current step."""
        if not self.handle.done:
            asyncio.get_running_loop().run_in_executor(None, self.handle.cancel)


async def _submit(server: Server, parsed: GenerationRequest, adapter: ServedAdapter | None) -> _Generation:
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[TokenEvent | Completion] = asyncio.Queue()
    engine = server.engine
    if parsed.messages is not None:
        try:
            prompt: str | list[int] = engine.tokenizer.apply_chat_template(parsed.messages)
        except ValueError as exc:
            raise bad("messages", str(exc)) from None
    else:
        assert parsed.prompt is not None
        prompt = parsed.prompt

    def on_token(event: TokenEvent) -> None:  # engine thread
        loop.call_soon_threadsafe(events.put_nowait, event)

    ref = None if adapter is None else (adapter.engine_name, adapter.path)
    param = "messages" if parsed.messages is not None else "prompt"
    try:
        handle = await asyncio.to_thread(engine.submit, prompt, parsed.params, adapter=ref, on_token=on_token)
    except PromptTooLongError as exc:
        raise ApiError(400, str(exc), param=param, code="context_length_exceeded") from None
    except ValueError as exc:  # bad token ids, a constraint that does not compile
        raise ApiError(400, str(exc)) from None
    def finished(done: Completion) -> None:  # engine thread
        server.count(done)
        loop.call_soon_threadsafe(events.put_nowait, done)

    handle.add_done_callback(finished)
    return _Generation(server, handle, events)


def _failure(done: Completion) -> ApiError:
    if done.finish_reason == "cancelled":
        return ApiError(503, "the request was cancelled: the server is shutting down")
    return ApiError(500, f"generation failed: {done.error or 'unknown error'}")


async def _generate(request: Request, chat: bool) -> Response:
    server: Server = request.app.state.server
    server.authorize(request)
    body = await server.json_body(request)
    max_seq_len = server.engine.max_seq_len
    parsed = parse_chat(body, max_seq_len=max_seq_len) if chat else parse_completion(body, max_seq_len=max_seq_len)
    adapter = server.resolve_model(parsed.model)
    if server._pending >= server.max_pending:
        raise ApiError(429, f"the server already has {server.max_pending} requests in progress; retry later")
    server._pending += 1
    try:
        gen = await _submit(server, parsed, adapter)
    except BaseException:
        server._pending -= 1
        raise
    rid = new_id("chatcmpl" if chat else "cmpl")
    if parsed.stream:
        return StreamingResponse(_stream(gen, rid, parsed, chat), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    try:
        done = await _wait(request, gen)
    finally:
        server._pending -= 1
        gen.cancel_soon()
    if done is None:
        return Response(status_code=499)  # the client left; nobody reads this
    if done.finish_reason not in FINISH_REASONS:
        raise _failure(done)
    return JSONResponse(completion_body(rid, parsed.model, chat=chat, text=done.text,
                                        finish_reason=FINISH_REASONS[done.finish_reason],
                                        prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens,
                                        cached_tokens=done.cached_tokens,
                                        token_ids=done.token_ids if parsed.return_token_ids else None))


async def _wait(request: Request, gen: _Generation) -> Completion | None:
    """The request's Completion, or None (request cancelled) when the client disconnects first."""
    while True:
        try:
            item = await asyncio.wait_for(gen.events.get(), WAIT_POLL_S)
        except TimeoutError:
            if await request.is_disconnected():
                logger.info("client of request %d disconnected; cancelling", gen.handle.id)
                return None
            continue
        if isinstance(item, Completion):
            return item


async def _stream(gen: _Generation, rid: str, parsed: GenerationRequest, chat: bool):
    """SSE chunks. Starlette cancels this generator when the client disconnects; `finally` cancels the request."""
    created = int(time.time())
    model = parsed.model
    try:
        if chat:
            yield _sse(chunk_body(rid, model, created, chat=True, text="", role=True))
        while True:
            item = await gen.events.get()
            if isinstance(item, TokenEvent):
                if item.text:
                    yield _sse(chunk_body(rid, model, created, chat=chat, text=item.text))
                continue
            if item.finish_reason not in FINISH_REASONS:
                yield _sse(_failure(item).body())
                break
            yield _sse(chunk_body(rid, model, created, chat=chat, text=None if chat else "",
                                  finish_reason=FINISH_REASONS[item.finish_reason]))
            if parsed.include_usage:
                yield _sse(chunk_body(rid, model, created, chat=chat,
                                      usage_counts=(item.prompt_tokens, item.completion_tokens,
                                                    item.cached_tokens)))
            break
        yield "data: [DONE]\n\n"
    finally:
        gen.server._pending -= 1
        if not gen.handle.done:
            logger.info("stream of request %d ended early; cancelling", gen.handle.id)
        gen.cancel_soon()


# --------------------------------------------------------------------------------------------- routes
async def completions(request: Request) -> Response:
    return await _generate(request, chat=False)


async def chat_completions(request: Request) -> Response:
    return await _generate(request, chat=True)


async def models(request: Request) -> Response:
    server: Server = request.app.state.server
    server.authorize(request)
    card = {"object": "model", "created": server.created, "owned_by": "plumbline",
            "max_model_len": server.engine.max_seq_len}
    data = [{"id": server.model_name, "root": server.model_name, "parent": None, **card}]
    data += [{"id": a.name, "root": a.name, "parent": server.model_name, **card} for a in server.adapters.values()]
    return JSONResponse({"object": "list", "data": data})


async def _adapter_body(server: Server, request: Request, allowed: set[str]) -> dict:
    """An authorized adapter request's JSON object, with no field outside `allowed` (400 naming the first)."""
    server.authorize(request)
    body = await server.json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise bad(sorted(unknown)[0], "unknown field")
    return body


async def load_lora_adapter(request: Request) -> Response:
    server: Server = request.app.state.server
    body = await _adapter_body(server, request, {"lora_name", "lora_path", "load_inplace"})
    name, path = body.get("lora_name"), body.get("lora_path")
    resolved = await asyncio.to_thread(server.check_adapter, name, path)
    if not server.add_adapter(name, resolved):
        return PlainTextResponse(f"LoRA adapter '{name}' is already loaded from {resolved}.")
    logger.info("adapter %s loaded from %s", name, resolved)
    return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")


async def unload_lora_adapter(request: Request) -> Response:
    server: Server = request.app.state.server
    body = await _adapter_body(server, request, {"lora_name", "lora_path", "lora_int_id"})
    name = body.get("lora_name")
    if not isinstance(name, str) or name not in server.adapters:
        raise ApiError(404, f"The LoRA adapter '{name}' cannot be found.", param="lora_name", code="model_not_found")
    # Requests already running with it finish with it; its engine slot is evicted when another adapter needs it.
    del server.adapters[name]
    logger.info("adapter %s unloaded", name)
    return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")


async def health(request: Request) -> Response:
    stats = request.app.state.server.engine.stats()
    return JSONResponse({"status": "ok", "running": stats.running, "waiting": stats.waiting})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error_response(ApiError(exc.status_code, exc.detail or "error", type="invalid_request_error"))


class _Collector:
    """What /metrics reports, read at scrape time."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def describe(self) -> list:
        return []

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        from ..metrics import engine_metric_families

        yield from engine_metric_families(self.server.engine.stats())
        requests = CounterMetricFamily("plumbline_serve_requests", "Generation requests finished, by finish reason.",
                                       labels=["finish_reason"])
        for reason, n in sorted(self.server.finished.items()):
            requests.add_metric([reason], n)
        yield requests
        tokens = CounterMetricFamily("plumbline_serve_tokens", "Tokens of finished requests: prompt, completion, "
                                     "and prompt tokens served from the prefix cache (cached).", labels=["kind"])
        for kind, n in self.server.tokens.items():
            tokens.add_metric([kind], n)
        yield tokens


async def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    server: Server = request.app.state.server
    server.authorize(request)
    body = await asyncio.to_thread(generate_latest, request.app.state.metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def build_app(server: Server) -> Starlette:
    from prometheus_client import CollectorRegistry

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/load_lora_adapter", load_lora_adapter, methods=["POST"]),
        Route("/v1/unload_lora_adapter", unload_lora_adapter, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={ApiError: _api_error, HTTPException: _http_error})
    app.state.server = server
    app.state.metrics = CollectorRegistry(auto_describe=False)
    app.state.metrics.register(_Collector(server))
    return app
