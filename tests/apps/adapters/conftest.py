"""Upload tests: blobs and temporary upload files in one temporary tree, so nothing left behind goes unseen."""
from __future__ import annotations

import pytest


@pytest.fixture
def dirs(settings, tmp_path):
    settings.PLUMBLINE_DATA_DIR = tmp_path / "data"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    return tmp_path


def leftovers(tmp_path) -> list[str]:
    """Every file the upload left: blobs in the data dir and temporary upload files."""
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
