"""Command line: `python -m modelcore generate ...`, `... info NAME_OR_DIR`, `... plan ...` (capacity planner) and
`... serve --model ...` (an OpenAI-compatible server: modelcore/serve/).

    python -m modelcore generate --model smollm2-135m-instruct --prompt "Hi" --chat --max-tokens 64
    python -m modelcore generate --model smollm2-135m-instruct --prompt "Hi" --quantize int4 --group-size 64
    python -m modelcore generate --model deepseek-llm-7b-base --prompt "Hi" --device cuda:0 --dtype bfloat16
    python -m modelcore info smollm2-135m-instruct
    python -m modelcore plan --model deepseek-llm-7b-base --precision bf16 --hardware a100-80gb-sxm --devices 2
    python -m modelcore plan --matrix [--json]

Bad arguments exit with status 2 and a message (argparse's convention).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .device import add_device_arguments, device_arguments
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
    add_device_arguments(gen)

    info = sub.add_parser("info", help="print a model's config and parameter count")
    info.add_argument("model", help="checkpoint directory or preset name")

    from . import planner

    plan = sub.add_parser("plan", help="capacity planner: memory and speed of a model on some hardware (roofline)")
    plan.add_argument("--model", help=f"preset ({', '.join(planner.PLANNER_MODELS)}) or a config.json")
    plan.add_argument("--precision", choices=planner.PRECISIONS, default="bf16")
    plan.add_argument("--hardware", choices=[*planner.HARDWARE, "cpu"], help="cpu = this CPU as measured")
    plan.add_argument("--devices", type=int, default=1)
    plan.add_argument("--tp", type=int, default=None, help="tensor-parallel degree (default: the best that fits)")
    plan.add_argument("--scenario", choices=list(planner.SCENARIOS), default="chat")
    plan.add_argument("--batch", type=int, default=None, help="streams per replica (default: the scenario's)")
    plan.add_argument("--context", type=int, default=None, help="tokens per stream (default: the scenario's)")
    plan.add_argument("--prompt-tokens", type=int, default=None, help="prompt length for TTFT (default context/2)")
    plan.add_argument("--link", choices=planner.LINKS, default=None, help="tensor-parallel link (default: NVLink "
                                                                          "where it joins the devices)")
    plan.add_argument("--group-size", type=int, choices=GROUP_SIZES, default=DEFAULT_GROUP_SIZE)
    plan.add_argument("--matrix", action="store_true", help="the design's three hardware rows beside predictions")
    plan.add_argument("--list-hardware", action="store_true", help="the hardware table with its sources")
    plan.add_argument("--json", action="store_true", help="JSON for tools")

    from .serve.cli import add_serve_parser

    add_serve_parser(sub)
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

    device, dtype = device_arguments(args, parser)
    try:
        model = load_model(args.model, cache_dir=args.cache_dir, quantize=args.quantize, group_size=args.group_size,
                           device=device, dtype=dtype)
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


def cmd_plan(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from . import planner

    if args.matrix or args.list_hardware:
        if args.matrix:
            rows = planner.source_matrix()
            data: Any = {"rows": [r.to_dict() for r in rows], "assumptions": list(planner.MATRIX_ASSUMPTIONS)}
            text = planner.describe_matrix(rows)
        else:
            table = planner.hardware_table()
            data = {key: hw.to_dict() for key, hw in table.items()}
            text = "\n".join(f"{key}: {hw.name}, {hw.memory_gb:g} GB, {hw.bandwidth_gb_s:g} GB/s, fp32 "
                             f"{hw.tflops_fp32:g} / bf16 {hw.tflops_bf16 or '-'} / fp8 {hw.tflops_fp8 or 'none'} TFLOPS dense; "
                             f"source: {hw.source}" for key, hw in table.items())
        print(json.dumps(data, indent=2) if args.json else text)
        return 0
    missing = [flag for flag, value in (("--model", args.model), ("--hardware", args.hardware)) if value is None]
    if missing:
        parser.error(f"plan needs {' and '.join(missing)} (or --matrix / --list-hardware)")
    try:
        result = planner.plan(
            args.model, args.precision, args.hardware, devices=args.devices, tp=args.tp, scenario=args.scenario,
            batch=args.batch, context=args.context, prompt_tokens=args.prompt_tokens, link=args.link,
            group_size=args.group_size,
        )
    except planner.PlanError as exc:
        parser.error(str(exc))
    print(json.dumps(result.to_dict(), indent=2) if args.json else planner.describe(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "info":
        return cmd_info(args, parser)
    if args.command == "plan":
        return cmd_plan(args, parser)
    if args.command == "serve":
        from .serve.cli import cmd_serve

        return cmd_serve(args, parser)
    return cmd_generate(args, parser)


if __name__ == "__main__":
    sys.exit(main())
