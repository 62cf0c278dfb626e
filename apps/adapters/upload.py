"""Turn an upload (two files, or one zip of them) into the bytes of adapter_config.json and the weights.

Nothing here touches the disk or the database: the upload is read into memory (bounded), checked, and only
then handed on. Each problem is an `UploadError` naming it.
"""
from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class UploadError(ValueError):
    def __init__(self, message: str, *, field: str = "file"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class AdapterFiles:
    config: bytes
    weights: bytes


def _read_capped(fileobj, cap: int, what: str) -> bytes:
    data = fileobj.read(cap + 1)
    if len(data) > cap:
        raise UploadError(f"{what} is larger than the {cap}-byte limit")
    return data


def _refuse_pickle(name: str) -> None:
    if name.lower().endswith(PICKLE_SUFFIXES):
        raise UploadError(f"{name}: weights must be safetensors; pickle files ({', '.join(PICKLE_SUFFIXES)}) are refused")


def from_files(*, config_file, weights_file, max_bytes: int, max_config_bytes: int) -> AdapterFiles:
    _refuse_pickle(weights_file.name)
    if not weights_file.name.endswith(".safetensors"):
        raise UploadError(f"{weights_file.name}: weights must be a .safetensors file", field="weights")
    return AdapterFiles(
        config=_read_capped(config_file, max_config_bytes, CONFIG_NAME),
        weights=_read_capped(weights_file, max_bytes, "the weights file"),
    )


def from_zip(*, zip_file, max_bytes: int, max_config_bytes: int) -> AdapterFiles:
    raw = _read_capped(zip_file, max_bytes, "the zip file")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise UploadError(f"not a valid zip file: {exc}") from exc
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

    def read(name: str, cap: int) -> bytes:
        # Read at most cap+1 bytes, whatever the entry's header claims its size is.
        with archive.open(found[name]) as fh:
            return _read_capped(fh, cap, name)

    return AdapterFiles(config=read(CONFIG_NAME, max_config_bytes), weights=read(WEIGHTS_NAME, max_bytes))


def read(*, config_file=None, weights_file=None, archive=None, max_bytes: int, max_config_bytes: int) -> AdapterFiles:
    """Either the two files or one zip of them."""
    if archive is not None and config_file is None and weights_file is None:
        return from_zip(zip_file=archive, max_bytes=max_bytes, max_config_bytes=max_config_bytes)
    if archive is None and config_file is not None and weights_file is not None:
        return from_files(
            config_file=config_file, weights_file=weights_file, max_bytes=max_bytes, max_config_bytes=max_config_bytes
        )
    raise UploadError("send either config and weights, or one archive (zip)")
