"""`python -m modelcore serve`: its arguments, and the start-up (model, engine, adapters, uvicorn).

    python -m modelcore serve --model smollm2-135m-instruct --adapters finance=data/adapters/finance/adapter \\
        --host 127.0.0.1 --port 8001 --api-key "$PLUMBLINE_SERVE_API_KEY"

The key comes from --api-key or $PLUMBLINE_SERVE_API_KEY. Without one the server refuses to start, unless
--insecure-no-auth is given and the host is a loopback address. Only argparse is imported until `cmd_serve`.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from pathlib import Path

from ..device import add_device_arguments, device_arguments
from ..quant import DEFAULT_GROUP_SIZE, GROUP_SIZES, QUANT_MODES

API_KEY_ENV = "PLUMBLINE_SERVE_API_KEY"


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="an OpenAI-compatible HTTP server over the engine")
    p.add_argument("--model", required=True, help="checkpoint directory or preset name")
    p.add_argument("--served-model-name", default=None, help="the model's name in the API (default: --model)")
    p.add_argument("--adapters", nargs="+", action="extend", default=[], metavar="NAME=PATH",
                   help="PEFT LoRA adapters served as model NAME (like vLLM's --lora-modules)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--api-key", default=None, help=f"bearer token clients must send (default ${API_KEY_ENV})")
    p.add_argument("--insecure-no-auth", action="store_true", help="no token (only on a loopback --host)")
    p.add_argument("--max-seq-len", type=int, default=None, help="context per request (default: the model's)")
    p.add_argument("--max-batch-size", type=int, default=8, help="requests decoded together")
    p.add_argument("--max-adapters", type=int, default=8, help="adapters resident at once (0 = none)")
    p.add_argument("--prefix-cache-mb", type=int, default=256,
                   help="memory for the KV of shared prompt prefixes, reused across requests (0 = off)")
    p.add_argument("--max-body-bytes", type=int, default=1 << 20, help="largest request body (413 above)")
    p.add_argument("--max-pending", type=int, default=64, help="requests in progress at once (429 above)")
    p.add_argument("--adapter-root", type=Path, default=None,
                   help="if set, adapters may only be loaded from directories under it")
    p.add_argument("--cache-dir", type=Path, default=None, help="Plumbline data dir (default $PLUMBLINE_DATA_DIR)")
    p.add_argument("--quantize", choices=QUANT_MODES, default=None, help="weight-only quantization at load")
    p.add_argument("--group-size", type=int, choices=GROUP_SIZES, default=DEFAULT_GROUP_SIZE)
    add_device_arguments(p)
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _adapter_pairs(values: list[str], parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            parser.error(f"--adapters {value!r}: expected NAME=PATH")
        pairs.append((name, path))
    return pairs


def cmd_serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV) or None
    if api_key is None and not (args.insecure_no_auth and _is_loopback(args.host)):
        parser.error(f"serve: give --api-key or ${API_KEY_ENV} (--insecure-no-auth only with a loopback --host)")
    for flag, value, low in (("--max-batch-size", args.max_batch_size, 1), ("--max-adapters", args.max_adapters, 0),
                             ("--max-body-bytes", args.max_body_bytes, 1024), ("--max-pending", args.max_pending, 1),
                             ("--prefix-cache-mb", args.prefix_cache_mb, 0)):
        if value < low:
            parser.error(f"{flag}={value} must be >= {low}")
    if args.max_seq_len is not None and args.max_seq_len < 2:
        parser.error(f"--max-seq-len={args.max_seq_len} must be >= 2")
    adapters = _adapter_pairs(args.adapters, parser)
    if adapters and args.max_adapters == 0:
        parser.error("--adapters needs --max-adapters >= 1")

    import uvicorn

    from ..checkpoint import load_model
    from ..engine import Engine
    from ..tokenizer import load_tokenizer
    from .app import Server, build_app
    from .protocol import ApiError

    device, dtype = device_arguments(args, parser)
    try:
        model = load_model(args.model, cache_dir=args.cache_dir, quantize=args.quantize, group_size=args.group_size,
                           device=device, dtype=dtype)
        tokenizer = load_tokenizer(args.model, cache_dir=args.cache_dir)
        engine = Engine(model, tokenizer, max_batch_size=args.max_batch_size, max_seq_len=args.max_seq_len,
                        max_adapters=args.max_adapters, prefix_cache_bytes=args.prefix_cache_mb << 20)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(f"--model {args.model}: {exc}")
    server = Server(engine, model_name=args.served_model_name or args.model, api_key=api_key,
                    max_body_bytes=args.max_body_bytes, max_pending=args.max_pending, adapter_root=args.adapter_root)
    for name, path in adapters:
        try:
            server.add_adapter(name, server.check_adapter(name, path))
        except ApiError as exc:
            parser.error(f"--adapters {name}={path}: {exc.message}")
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    engine.start()
    try:
        uvicorn.run(build_app(server), host=args.host, port=args.port, log_level=args.log_level,
                    timeout_graceful_shutdown=5)
    finally:
        engine.stop(timeout=10)
    return 0
