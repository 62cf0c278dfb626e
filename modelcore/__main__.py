"""Command line: `python -m modelcore generate ...` and `python -m modelcore info NAME_OR_DIR`.

    python -m modelcore generate --model smollm2-135m-instruct --prompt "Hi" --chat --max-tokens 64
    python -m modelcore generate --model smollm2-135m-instruct --prompt "Hi" --quantize int4 --group-size 64
    python -m modelcore info smollm2-135m-instruct

Bad arguments exit with status 2 and a message (argparse's convention).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .quant import DEFAULT_GROUP_SIZE, GROUP_SIZES, QUANT_MODES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modelcore", description="Plumbline model core")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate a completion (streamed to stdout)")
    gen.add_argument("--model", required=True, help="checkpoint directory or preset name")
    gen.add_argument("--prompt", required=True, help="prompt text")
    gen.add_argument("--chat", action="store_true", help="wrap the prompt as a user message in the chat template")
    gen.add_argument("--max-tokens", type=int, default=256)
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=0)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    gen.add_argument("--json-schema", type=Path, default=None, help="file with a JSON schema the output must follow")
    gen.add_argument("--cache-dir", type=Path, default=None, help="Plumbline data dir (default $PLUMBLINE_DATA_DIR)")
    gen.add_argument(
        "--quantize", choices=QUANT_MODES, default=None, help="weight-only quantization at load (default: float32)"
    )
    gen.add_argument(
        "--group-size", type=int, choices=GROUP_SIZES, default=DEFAULT_GROUP_SIZE,
        help=f"int4 group size (default {DEFAULT_GROUP_SIZE})",
    )

    info = sub.add_parser("info", help="print a model's config and parameter count")
    info.add_argument("model", help="checkpoint directory or preset name")
    return parser


def _config_for(model: str) -> Any:
    from .checkpoint import read_config
    from .config import PRESETS, ModelConfig

    path = Path(model).expanduser()
    if path.is_dir():
        return read_config(path)
    if model in PRESETS:
        return ModelConfig.from_name(model)
    raise ValueError(f"{model!r} is neither a checkpoint directory nor a preset ({', '.join(sorted(PRESETS))})")


def cmd_info(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        config = _config_for(args.model)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    for key, value in config.to_dict().items():
        print(f"{key}: {value}")
    total = config.num_parameters()
    print(f"parameters: {total:,} ({total / 1e6:.1f}M; {config.num_parameters(include_embeddings=False):,} "
          f"without embeddings)")
    return 0


def cmd_generate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .sampling import SamplingParams

    schema = None
    if args.json_schema is not None:
        try:
            schema = json.loads(args.json_schema.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            parser.error(f"--json-schema {args.json_schema}: {exc}")
        if not isinstance(schema, dict):
            parser.error(f"--json-schema {args.json_schema}: expected a JSON object")
    try:
        params = SamplingParams(
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,
            seed=args.seed,
            max_tokens=args.max_tokens,
            stop=tuple(args.stop),
            json_schema=schema,
        )
    except ValueError as exc:
        parser.error(str(exc))

    import torch

    from .checkpoint import load_model
    from .engine import Engine, TokenEvent
    from .tokenizer import load_tokenizer

    try:
        model = load_model(args.model, cache_dir=args.cache_dir, quantize=args.quantize, group_size=args.group_size)
        tokenizer = load_tokenizer(args.model, cache_dir=args.cache_dir)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(f"--model {args.model}: {exc}")
    prompt = args.prompt
    if args.chat:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": prompt}])

    def on_token(event: TokenEvent) -> None:
        if event.text:
            sys.stdout.write(event.text)
            sys.stdout.flush()

    engine = Engine(model, tokenizer, max_batch_size=1)
    try:
        handle = engine.submit(prompt, params, on_token=on_token)
    except ValueError as exc:
        parser.error(str(exc))
    with torch.inference_mode():
        while not handle.done:
            engine.step()
    completion = handle.wait()
    sys.stdout.write("\n")
    sys.stdout.flush()
    if completion.finish_reason == "error":
        print(f"error: {completion.error}", file=sys.stderr)
        return 1
    print(
        f"[{completion.finish_reason}; {completion.prompt_tokens} prompt + {completion.completion_tokens} "
        f"completion tokens; {completion.timings.get('total_s', 0.0):.2f} s]",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "info":
        return cmd_info(args, parser)
    return cmd_generate(args, parser)


if __name__ == "__main__":
    sys.exit(main())
