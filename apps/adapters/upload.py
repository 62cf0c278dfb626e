"""Turn an upload (two files, or one zip of them) into the bytes of adapter_config.json and a file of weights.

The config (at most 64 KiB) is read into memory; the weights (up to PLUMBLINE_ADAPTER_MAX_BYTES) are copied in
chunks, capped, into a private temporary directory that `read` removes when its block ends, so a large adapter
is never held in memory whole. Nothing here touches the database. Each problem is an `UploadError` naming it.
"""
from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class UploadError(ValueError):
    def __init__(self, message: str, *, field: str = "file"):
        super().__init__(message)
        self.field = field


CHUNK = 1 << 20


@dataclass(frozen=True)
class AdapterFiles:
    config: bytes
    weights: Path  # a private temporary copy, removed when `read`'s block ends


def _read_capped(fileobj, cap: int, what: str) -> bytes:
    data = fileobj.read(cap + 1)
    if len(data) > cap:
        raise UploadError(f"{what} is larger than the {cap}-byte limit")
    return data


def _copy_capped(fileobj, target: Path, cap: int, what: str) -> Path:
    """Copy `fileobj` to `target` a chunk at a time, refusing it as soon as it passes `cap` bytes."""
    written = 0
    with open(target, "wb") as out:
        while chunk := fileobj.read(CHUNK):
            written += len(chunk)
            if written > cap:
                raise UploadError(f"{what} is larger than the {cap}-byte limit")
            out.write(chunk)
    return target


def _refuse_pickle(name: str) -> None:
    if name.lower().endswith(PICKLE_SUFFIXES):
        raise UploadError(f"{name}: weights must be safetensors; pickle files ({', '.join(PICKLE_SUFFIXES)}) are refused")


def from_files(*, config_file, weights_file, max_bytes: int, max_config_bytes: int, workdir: Path) -> AdapterFiles:
    _refuse_pickle(weights_file.name)
    if not weights_file.name.endswith(".safetensors"):
        raise UploadError(f"{weights_file.name}: weights must be a .safetensors file", field="weights")
    return AdapterFiles(
        config=_read_capped(config_file, max_config_bytes, CONFIG_NAME),
        weights=_copy_capped(weights_file, workdir / WEIGHTS_NAME, max_bytes, "the weights file"),
    )


def from_zip(*, zip_file, max_bytes: int, max_config_bytes: int, workdir: Path) -> AdapterFiles:
    copy = _copy_capped(zip_file, workdir / "upload.zip", max_bytes, "the zip file")
    try:
        archive = zipfile.ZipFile(copy)
    except zipfile.BadZipFile as exc:
        raise UploadError(f"not a valid zip file: {exc}") from exc
    with archive:
        return _from_archive(archive, max_bytes=max_bytes, max_config_bytes=max_config_bytes, workdir=workdir)


def _from_archive(archive: zipfile.ZipFile, *, max_bytes: int, max_config_bytes: int, workdir: Path) -> AdapterFiles:
    found: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in archive.infolist():
        name = info.filename
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise UploadError(f"zip entry {name!r} has an absolute path")
        if ".." in path.parts:
            raise UploadError(f"zip entry {name!r} climbs out of the archive with '..'")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UploadError(f"zip entry {name!r} is a link")
        if info.is_dir():
            continue
        total += info.file_size
        if total > max_bytes:
            raise UploadError(f"the zip expands past the {max_bytes}-byte limit")
        _refuse_pickle(path.name)
        if path.name in (CONFIG_NAME, WEIGHTS_NAME):
            if path.name in found:
                raise UploadError(f"the zip holds {path.name} twice")
            found[path.name] = info
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if n not in found]
    if missing:
        raise UploadError(f"the zip lacks {', '.join(missing)}")

    # Read at most cap+1 bytes of each entry, whatever its header claims its size is.
    with archive.open(found[CONFIG_NAME]) as fh:
        config = _read_capped(fh, max_config_bytes, CONFIG_NAME)
    with archive.open(found[WEIGHTS_NAME]) as fh:
        weights = _copy_capped(fh, workdir / WEIGHTS_NAME, max_bytes, WEIGHTS_NAME)
    (workdir / "upload.zip").unlink(missing_ok=True)
    return AdapterFiles(config=config, weights=weights)


@contextmanager
def read(
    *, config_file=None, weights_file=None, archive=None, max_bytes: int, max_config_bytes: int,
    tmp_dir: str | None = None,
) -> Iterator[AdapterFiles]:
    """Either the two files or one zip of them; the weights file lives until the block ends."""
    workdir = Path(tempfile.mkdtemp(prefix="adapter-upload-", dir=tmp_dir))
    try:
        if archive is not None and config_file is None and weights_file is None:
            yield from_zip(zip_file=archive, max_bytes=max_bytes, max_config_bytes=max_config_bytes, workdir=workdir)
        elif archive is None and config_file is not None and weights_file is not None:
            yield from_files(config_file=config_file, weights_file=weights_file, max_bytes=max_bytes,
                             max_config_bytes=max_config_bytes, workdir=workdir)
        else:
            raise UploadError("send either config and weights, or one archive (zip)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
