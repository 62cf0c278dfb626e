"""Check a safetensors file's header before any library reads the tensors.

Layout: 8 bytes little-endian u64 N, then N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {}},
then the data. A header can lie: a length past the end, offsets out of range or overlapping, a tensor whose byte
size does not match its shape, bytes after the last tensor. Each lie is a `HeaderError` naming what is wrong.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

from apps.adapters import strict_json

MAX_HEADER_BYTES = 1 << 20  # 1 MiB of JSON is far beyond any LoRA adapter's header
MAX_HEADER_DEPTH = 3  # {name: {"shape": [..]}}
METADATA = {"format": {"pt"}}  # __metadata__ keys and values allowed (what safetensors' torch API and peft write)

DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
    "F8_E4M3": 1, "F8_E5M2": 1,
}
FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}


class HeaderError(ValueError):
    pass


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def parse_header(data: bytes, *, max_tensors: int) -> list[TensorEntry]:
    """Validate the whole file `data` and return its tensor entries in file order."""
    return _parse(data[:8], lambda n: data[8 : 8 + n], len(data), max_tensors=max_tensors)


def parse_header_file(path: Path, *, max_tensors: int) -> list[TensorEntry]:
    """`parse_header` of a file on disk, reading only its header (the tensors' bytes stay on disk)."""
    with open(path, "rb") as fh:
        return _parse(fh.read(8), fh.read, path.stat().st_size, max_tensors=max_tensors)


def _parse(length_bytes: bytes, read_header, size: int, *, max_tensors: int) -> list[TensorEntry]:
    if len(length_bytes) < 8:
        raise HeaderError("file is too short to be safetensors (no 8-byte header length)")
    (n,) = struct.unpack("<Q", length_bytes)
    if n > MAX_HEADER_BYTES:
        raise HeaderError(f"safetensors header length {n} exceeds the {MAX_HEADER_BYTES}-byte cap")
    if 8 + n > size:
        raise HeaderError(f"safetensors header length {n} runs past the end of the {size}-byte file")
    try:
        header = strict_json.loads(read_header(n), max_depth=MAX_HEADER_DEPTH)
    except strict_json.JSONError as exc:
        raise HeaderError(f"safetensors header is not JSON we accept: {exc}") from None
    if not isinstance(header, dict):
        raise HeaderError("safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict):
        raise HeaderError("safetensors __metadata__ must be an object")
    for key, value in sorted(metadata.items()):
        if key not in METADATA or type(value) is not str or value not in METADATA[key]:
            raise HeaderError(f"safetensors __metadata__ key {strict_json.printable(key)!r} is not allowed "
                              f"(allowed: format \"pt\")")
    if len(header) > max_tensors:
        raise HeaderError(f"safetensors file holds {len(header)} tensors; at most {max_tensors} are expected")

    data_len = size - 8 - n
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise HeaderError(f"tensor {name!r}: entry must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPE_BYTES:
            raise HeaderError(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise HeaderError(f"tensor {name!r}: shape must be a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise HeaderError(f"tensor {name!r}: data_offsets must be two integers")
        begin, end = offsets
        if not 0 <= begin <= end <= data_len:
            raise HeaderError(f"tensor {name!r}: data_offsets [{begin}, {end}] fall outside the {data_len} data bytes")
        if end - begin != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise HeaderError(f"tensor {name!r}: {end - begin} bytes do not hold a {dtype} tensor of shape {shape}")
        entries.append(TensorEntry(name, dtype, tuple(shape), begin, end))

    entries.sort(key=lambda e: (e.begin, e.end))
    position = 0
    for entry in entries:
        if entry.begin < position:
            raise HeaderError(f"tensor {entry.name!r} overlaps the tensor before it")
        if entry.begin > position:
            raise HeaderError(f"{entry.begin - position} unused bytes before tensor {entry.name!r}")
        position = entry.end
    if position != data_len:
        raise HeaderError(f"{data_len - position} bytes follow the last tensor: the file is larger than its header says")
    return entries
