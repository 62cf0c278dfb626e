"""Where generation runs: PLUMBLINE_BACKEND = "inproc" (this worker process's modelcore Engine) or "openai" (an
OpenAI-compatible server at PLUMBLINE_BACKEND_URL: `python -m modelcore serve`, or vLLM for a pool of GPUs).

Both take the same requests (`model_api.generate_texts`' keywords) and give the same `TextResult`s, so the runners
never branch. Over HTTP: chat requests go to /v1/chat/completions (the server applies the model's chat template,
as the engine does here), plain prompts to /v1/completions, both streamed (SSE) so that progress, `on_text`
cancellation and the deadline work as in process; json_schema -> response_format json_schema, choices / grammar ->
vLLM's `structured_outputs`, an adapter -> its label as the model name (pushed to the server with vLLM's
/v1/load_lora_adapter on activation, and again on demand when the server does not know it, e.g. after a restart).
Several requests are streamed at once (one thread each, so the server batches them); the callbacks run on the
caller's thread only (they write the job row: one database connection, the caller's).
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.monitoring import metrics

log = logging.getLogger(__name__)  # ids, labels and reasons only: never prompts or model text

BACKENDS = ("inproc", "openai")


@dataclass(frozen=True)
class TextResult:
    """What one generation request produced."""

    text: str
    finish_reason: str  # "stop", "length", "cancelled", "error", "deadline"
    prompt_tokens: int
    completion_tokens: int
    error: str = ""
    adapter_label: str = ""  # "" = base model


def adapter_ref(adapter) -> tuple[str, str] | None:
    """(label, directory) of an apps.adapters AdapterVersion, of a (label, directory) pair (benchmarks), or None."""
    if adapter is None:
        return None
    if isinstance(adapter, tuple):
        return adapter
    from apps.adapters.storage import adapter_dir

    return adapter.label, str(adapter_dir(config_sha256=adapter.config_sha256, weights_sha256=adapter.sha256))


def _messages(prompt: str, system: str | None) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


# ------------------------------------------------------------------------------------------------ inproc
class InprocBackend:
    """This worker process's modelcore Engine (apps.generation.runtime), continuous batching in process."""

    name = "inproc"

    def prepare(self) -> None:
        """Build the engine now (the first job of a process loads the model before its deadline starts)."""
        from apps.generation.runtime import get_engine

        get_engine()

    def push_adapter(self, adapter) -> None:
        """Nothing to do: the engine loads an adapter when a request first names it."""

    def generate_texts(self, requests: list[dict], *, on_text: list, deadline: float | None) -> list[TextResult]:
        from apps.generation.runtime import get_engine

        engine = get_engine()
        submitted = []
        try:
            for request in requests:
                submitted.append(self._submit(engine, deadline, **request))
            return [self._drain(item, callback) for item, callback in zip(submitted, on_text, strict=True)]
        except BaseException:
            for item in submitted:
                if not isinstance(item, TextResult):
                    item[0].cancel()  # free the engine slots whatever stopped us
            raise

    @staticmethod
    def _submit(engine, deadline: float | None, *, prompt: str, adapter=None, chat: bool = True,
                system: str | None = None,
                max_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0, seed: int | None = 0,
                stop: tuple[str, ...] = (), json_schema: dict | None = None, choices: tuple[str, ...] | None = None,
                grammar: str | None = None, ignore_eos: bool = False):
        """(engine handle, adapter label), or a finished TextResult when the engine refused the request."""
        import modelcore

        text_prompt = engine.tokenizer.apply_chat_template(_messages(prompt, system)) if chat else prompt
        params = modelcore.SamplingParams(
            temperature=temperature, top_p=top_p, seed=seed, max_tokens=max_tokens, stop=stop,
            json_schema=json_schema, choices=choices, grammar=grammar, ignore_eos=ignore_eos,
        )
        ref = adapter_ref(adapter)
        label = ref[0] if ref else ""
        try:
            return engine.submit(text_prompt, params, adapter=ref, deadline=deadline), label
        except ValueError as exc:  # prompt too long, bad parameters
            return TextResult("", "error", 0, 0, error=str(exc), adapter_label=label)

    @staticmethod
    def _drain(item, on_text) -> TextResult:
        """The request's result; the engine itself ends it at its deadline (between steps, queued or running)."""
        if isinstance(item, TextResult):
            return item
        handle, label = item
        text = ""
        try:
            for delta in handle:
                text += delta
                if on_text is not None and on_text(text) is False:
                    handle.cancel()
                    break
        except BaseException:
            handle.cancel()
            raise
        done = handle.wait()
        metrics.generation_ended(completion_tokens=done.completion_tokens, timings=done.timings)
        from modelcore.engine import DEADLINE_EXCEEDED

        if done.finish_reason == "cancelled" and done.error == DEADLINE_EXCEEDED:
            return TextResult(done.text, "deadline", done.prompt_tokens, done.completion_tokens, "", label)
        return TextResult(done.text, done.finish_reason, done.prompt_tokens, done.completion_tokens, done.error or "",
                          label)


# ------------------------------------------------------------------------------------------------ openai
class ServerUnavailable(ConnectionError):
    """The model server could not be reached (a ConnectionError: job tasks retry it with backoff)."""


class AdapterPushError(RuntimeError):
    """The model server refused an adapter."""


class OpenAIBackend:
    """Any OpenAI-compatible server: `modelcore serve` or vLLM (started with --enable-lora and
    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True for adapters). The server must see the adapter directories at the paths
    this worker sees them (a shared PLUMBLINE_DATA_DIR volume)."""

    name = "openai"

    def __init__(self, *, url: str, api_key: str, model: str, timeout_s: float) -> None:
        import openai

        if not url.startswith(("http://", "https://")):
            raise ImproperlyConfigured(f"PLUMBLINE_BACKEND_URL={url!r}: expected http(s)://host:port/v1")
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.model = model
        self.client = openai.OpenAI(base_url=self.url, api_key=api_key or "none", max_retries=2, timeout=timeout_s)
        self.timeout_s = timeout_s

    def prepare(self) -> None:
        """Nothing to load here: the server holds the model."""

    # --------------------------------------------------------------------------------------- adapters
    def push_adapter(self, adapter) -> None:
        """Serve `adapter` (an AdapterVersion or a (label, directory) pair) on the server under its label
        (vLLM's runtime LoRA endpoint, which `modelcore serve` implements too). Already loaded is fine."""
        label, path = adapter_ref(adapter)
        status, text = self._post("/load_lora_adapter", {"lora_name": label, "lora_path": path})
        if status == 200 or (status == 400 and "already" in text.lower()):
            log.info("adapter %s pushed to %s", label, self.url)
            return
        raise AdapterPushError(f"the model server refused adapter {label} ({status}): {text[:500]}")

    def _post(self, path: str, body: dict) -> tuple[int, str]:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            raise ServerUnavailable(f"the model server at {self.url} is unreachable: {exc}") from None

    # ------------------------------------------------------------------------------------- generation
    def generate_texts(self, requests: list[dict], *, on_text: list, deadline: float | None) -> list[TextResult]:
        events: queue.SimpleQueue = queue.SimpleQueue()
        stops = [threading.Event() for _ in requests]
        threads = [threading.Thread(target=self._worker, args=(i, request, stops[i], events), daemon=True,
                                    name=f"openai-backend-{i}") for i, request in enumerate(requests)]
        for thread in threads:
            thread.start()
        results: list[TextResult | None] = [None] * len(requests)
        why_stopped: list[str | None] = [None] * len(requests)
        failure: BaseException | None = None
        try:
            while any(r is None for r in results):
                try:
                    kind, i, value = events.get(timeout=0.25)
                except queue.Empty:
                    kind = None
                if kind == "text" and why_stopped[i] is None and on_text[i] is not None and on_text[i](value) is False:
                    why_stopped[i] = "cancelled"
                    stops[i].set()
                elif kind == "done":
                    results[i] = value
                elif kind == "raise":
                    failure = failure or value
                    results[i] = TextResult("", "error", 0, 0, error=str(value))
                    for j, stop in enumerate(stops):
                        why_stopped[j] = why_stopped[j] or "cancelled"
                        stop.set()
                if deadline is not None and time.monotonic() > deadline:
                    for j, stop in enumerate(stops):
                        if results[j] is None and why_stopped[j] is None:
                            why_stopped[j] = "deadline"
                            stop.set()
        except BaseException:
            for stop in stops:
                stop.set()
            raise
        if failure is not None:
            raise failure
        out = []
        for result, why in zip(results, why_stopped, strict=True):
            assert result is not None
            if why is not None and result.finish_reason == "cancelled":
                result = TextResult(result.text, why, result.prompt_tokens, result.completion_tokens, result.error,
                                    result.adapter_label)
            out.append(result)
        return out

    def _worker(self, i: int, request: dict, stop: threading.Event, events: queue.SimpleQueue) -> None:
        try:
            events.put(("done", i, self._stream(request, stop, lambda text: events.put(("text", i, text)))))
        except BaseException as exc:  # handed to the caller's thread, which raises it
            events.put(("raise", i, exc))

    def _stream(self, request: dict, stop: threading.Event, emit) -> TextResult:
        import openai

        ref = adapter_ref(request.get("adapter"))
        label = ref[0] if ref else ""
        call, kwargs = self._call(request, label)
        started = time.perf_counter()
        try:
            try:
                stream = call(**kwargs)
            except openai.NotFoundError:
                if ref is None:
                    raise
                self.push_adapter(ref)  # the server does not know it (restarted, never pushed): push and retry once
                stream = call(**kwargs)
        except openai.APIConnectionError as exc:  # includes timeouts
            raise ServerUnavailable(f"the model server at {self.url} is unreachable: {exc}") from None
        except openai.APIStatusError as exc:
            return TextResult("", "error", 0, 0, error=_error_message(exc), adapter_label=label)
        text, finish, usage, chunks, first = "", None, None, 0, None
        chat = bool(request.get("chat", True))
        try:
            with stream:
                for chunk in stream:
                    if chunk.usage is not None:
                        usage = chunk.usage
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    delta = (choice.delta.content if chat else choice.text) or ""
                    if delta:
                        chunks += 1
                        first = first or time.perf_counter()
                        text += delta
                        emit(text)
                    finish = choice.finish_reason or finish
                    if stop.is_set():
                        finish = "cancelled"
                        break
        except openai.APIConnectionError as exc:
            raise ServerUnavailable(f"the model server at {self.url} went away: {exc}") from None
        except openai.APIError as exc:  # an error event in the stream (the request failed on the server)
            return TextResult(text, "error", 0, chunks, error=_error_message(exc), adapter_label=label)
        prompt_tokens = usage.prompt_tokens if usage is not None else 0
        completion_tokens = usage.completion_tokens if usage is not None else chunks
        timings = {"total_s": time.perf_counter() - started}
        if first is not None:
            timings["ttft_s"] = first - started
        metrics.generation_ended(completion_tokens=completion_tokens, timings=timings)
        return TextResult(text, finish or "stop", prompt_tokens, completion_tokens, "", label)

    def _call(self, request: dict, label: str):
        """(client method, its keyword arguments) for one of generate_texts' requests."""
        r = {"chat": True, "system": None, "max_tokens": 256, "temperature": 0.0, "top_p": 1.0, "seed": 0,
             "stop": (), "json_schema": None, "choices": None, "grammar": None, "ignore_eos": False, **request}
        unknown = set(r) - {"prompt", "adapter", "chat", "system", "max_tokens", "temperature", "top_p", "seed",
                            "stop", "json_schema", "choices", "grammar", "ignore_eos"}
        if unknown:
            raise TypeError(f"generate_texts: unknown request keys {sorted(unknown)}")
        kwargs: dict[str, Any] = {"model": label or self.model, "max_tokens": r["max_tokens"],
                                  "temperature": r["temperature"], "top_p": r["top_p"], "stream": True,
                                  "stream_options": {"include_usage": True}}
        if r["seed"] is not None:
            kwargs["seed"] = r["seed"]
        if r["stop"]:
            kwargs["stop"] = list(r["stop"])
        extra: dict[str, Any] = {}
        if r["ignore_eos"]:
            extra["ignore_eos"] = True
        if r["json_schema"] is not None:
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "output", "schema": r["json_schema"]}}
        elif r["choices"] is not None:
            extra["structured_outputs"] = {"choice": list(r["choices"])}
        elif r["grammar"] is not None:
            extra["structured_outputs"] = {"grammar": r["grammar"]}
        if extra:
            kwargs["extra_body"] = extra
        if r["chat"]:
            return self.client.chat.completions.create, {"messages": _messages(r["prompt"], r["system"]), **kwargs}
        return self.client.completions.create, {"prompt": r["prompt"], **kwargs}


def _error_message(exc) -> str:
    """The server's own message (OpenAI's {"error": {"message"}} shape), else the exception's."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
    return str(exc)


# ---------------------------------------------------------------------------------------------- choice
@lru_cache(maxsize=4)
def _build(kind: str, url: str, api_key: str, model: str, timeout_s: float):
    if kind == "inproc":
        return InprocBackend()
    if kind == "openai":
        if not url:
            raise ImproperlyConfigured("PLUMBLINE_BACKEND=openai needs PLUMBLINE_BACKEND_URL (e.g. http://host:8001/v1)")
        return OpenAIBackend(url=url, api_key=api_key, model=model, timeout_s=timeout_s)
    raise ImproperlyConfigured(f"PLUMBLINE_BACKEND={kind!r}: expected one of {', '.join(BACKENDS)}")


def get_backend():
    """The backend the settings name (built once per distinct setting)."""
    return _build(settings.PLUMBLINE_BACKEND.strip().lower(), settings.PLUMBLINE_BACKEND_URL.strip(),
                  settings.PLUMBLINE_BACKEND_API_KEY, settings.PLUMBLINE_BACKEND_MODEL or settings.PLUMBLINE_MODEL,
                  float(settings.PLUMBLINE_BACKEND_TIMEOUT_S))
