"""`python -m modelcore.train adapter --base NAME_OR_DIR --data FILE.jsonl --out DIR [options]`:
train a LoRA adapter (PEFT format) on a modelcore base model. See `modelcore.training.adapter`.

`--precision fp32|bf16|fp16|fp8|fp8_emulated` (`modelcore.training.precision`); under
`torchrun --nproc_per_node N -m modelcore.train adapter ...` it trains data-parallel with DDP, `--batch-size`
being the global batch (`modelcore.training.distributed`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .adapters import TARGET_MODULES
from .training.precision import PRECISIONS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modelcore.train", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("adapter", help="train a LoRA adapter with peft")
    p.add_argument("--base", required=True, help="checkpoint directory or preset name")
    p.add_argument("--data", required=True, type=Path, help="JSONL: {prompt, completion} or {messages} rows")
    p.add_argument("--out", required=True, type=Path, help="output directory for the adapter")
    p.add_argument("--tokenizer", help="tokenizer directory or name (default: --base)")
    p.add_argument("--cache-dir", type=Path, help="Plumbline data dir (default $PLUMBLINE_DATA_DIR)")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--rslora", action="store_true", help="scale by alpha / sqrt(rank)")
    p.add_argument(
        "--target-modules",
        default="q_proj,v_proj",
        help=f"comma-separated subset of {','.join(TARGET_MODULES)}",
    )
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument(
        "--device", default="auto",
        help="auto | cpu | cuda | cuda:N (default auto: a GPU if there is one; under torchrun a CUDA device becomes "
        "cuda:LOCAL_RANK per process). Weights stay float32; --precision sets the compute dtype",
    )
    p.add_argument(
        "--precision",
        default="fp32",
        choices=PRECISIONS,
        help="fp32; bf16 / fp16 autocast (fp16 with loss scaling); fp8 (torchao, CUDA capability >= 8.9); "
        "fp8_emulated (the fp8 recipe's rounding in plain PyTorch, any device)",
    )
    p.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .checkpoint import load_model
    from .device import resolve_device
    from .tokenizer import load_tokenizer
    from .training.adapter import TrainOptions, train_adapter
    from .training.distributed import DistContext

    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        print(f"error: --device: {exc}", file=sys.stderr)
        return 2
    ctx = DistContext.from_env(device)
    try:
        options = TrainOptions(
            rank=args.rank,
            alpha=args.alpha,
            target_modules=tuple(m.strip() for m in args.target_modules.split(",") if m.strip()),
            dropout=args.dropout,
            use_rslora=args.rslora,
            epochs=args.epochs,
            lr=args.lr,
            weight_decay=args.weight_decay,
            max_steps=args.max_steps,
            seed=args.seed,
            val_fraction=args.val_fraction,
            batch_size=args.batch_size,
            max_length=args.max_length,
            precision=args.precision,
        )
        base_path = Path(args.base).expanduser()
        base_name = str(base_path.resolve()) if base_path.is_dir() else args.base
        model = load_model(args.base, device=ctx.device, cache_dir=args.cache_dir)
        tokenizer = load_tokenizer(args.tokenizer or args.base, cache_dir=args.cache_dir)
        summary = train_adapter(
            model,
            tokenizer,
            args.data,
            args.out,
            options=options,
            base_name=base_name,
            progress=not args.no_progress,
            dist=ctx,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        ctx.close()
    if not ctx.is_main:
        return 0
    last = summary["val_losses"][-1] if summary["val_losses"] else None
    print(
        json.dumps(
            {
                "out": str(args.out),
                "steps": summary["steps"],
                "val_loss": last,
                "precision": summary["precision"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
