"""Content-addressed blob store for adapter files: a file's name is the SHA-256 of its bytes.

The same bytes are stored once, whoever uploads them how often. Writes are atomic (temp file + rename).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings


def root() -> Path:
    return Path(settings.PLUMBLINE_DATA_DIR) / "adapters" / "blobs"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def blob_path(digest: str) -> Path:
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return root() / digest[:2] / digest


def put(data: bytes | Path) -> tuple[str, bool]:
    """Store bytes, or a file's bytes (copied a chunk at a time); returns (digest, created) where created is
    False when the blob was already there."""
    digest = sha256_of_file(data) if isinstance(data, Path) else sha256_of(data)
    path = blob_path(digest)
    if path.exists():
        return digest, False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, Path):
                with open(data, "rb") as src:
                    shutil.copyfileobj(src, fh, 1 << 20)
            else:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest, True


def remove(digest: str) -> None:
    blob_path(digest).unlink(missing_ok=True)


def adapter_dir(*, config_sha256: str, weights_sha256: str) -> Path:
    """A directory in PEFT's layout (adapter_config.json + adapter_model.safetensors) for loading an adapter.

    Built from the blobs on first use (hard links where the filesystem allows, else copies)."""
    target = Path(settings.PLUMBLINE_DATA_DIR) / "adapters" / "dirs" / f"{config_sha256[:16]}-{weights_sha256[:16]}"
    if (target / "adapter_model.safetensors").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    for name, digest in (("adapter_config.json", config_sha256), ("adapter_model.safetensors", weights_sha256)):
        try:
            os.link(blob_path(digest), tmp / name)
        except OSError:
            (tmp / name).write_bytes(blob_path(digest).read_bytes())
    try:
        os.replace(tmp, target)
    except OSError:  # another process built it first
        for child in tmp.iterdir():
            child.unlink()
        tmp.rmdir()
    return target

