"""Content-addressed images: PNG files named by their hash, with a row each for their size."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PIL import Image
from sqlmodel import Session

from scrutiny.core.images import image_hash, load_image, png_bytes
from scrutiny.memory.tables import ArtifactRow, StoreError
from scrutiny.memory.writer import insert_missing_artifacts


class Artifacts:
    """Images by content hash (a part of `Store`)."""

    def put_artifact(self, image: Image.Image) -> str:
        """Keep an image by its content hash (written once; later puts of the same pixels are free)."""
        image = load_image(image)
        digest = image_hash(image)
        self._save_artifact_file(image, digest)
        self._write(lambda session: insert_missing_artifacts(session, {digest: image}))
        return digest

    def _save_artifact_file(self, image: Image.Image, digest: str, data: bytes | None = None) -> None:
        path = self.artifact_path(digest)
        if not path.exists():
            if path.parent not in self._folders:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._folders.add(path.parent)
            try:
                tmp = tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False)
            except FileNotFoundError:  # the folder was removed while the store was open
                self._folders.clear()
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False)
            with tmp:
                tmp.write(data if data is not None else png_bytes(image, digest))
            os.replace(tmp.name, path)

    def artifact_path(self, digest: str) -> Path:
        return self.artifacts_dir / digest[:2] / f"{digest}.png"

    def artifact_size(self, digest: str) -> tuple[int, int] | None:
        """(width, height) of a stored image, from its row (no decoding); None if unknown."""
        with self._lock, Session(self.engine) as session:
            row = session.get(ArtifactRow, digest)
        return None if row is None else (row.width, row.height)

    def artifact(self, digest: str) -> Image.Image:
        path = self.artifact_path(digest)
        if not path.exists():
            raise StoreError(f"no artifact {digest[:12]} in {self.artifacts_dir}")
        return load_image(path)
