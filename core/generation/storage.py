"""Image files under the data directory: uploaded references, previews and outputs."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

MAX_PREVIEWS = 3  # partial images per job: the most `generation.partial_images` allows


class Storage:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir
        self.outputs = data_dir / "outputs"
        self.uploads = data_dir / "uploads"
        self.previews = data_dir / "previews"

    def prepare(self) -> None:
        for directory in (self.outputs, self.uploads, self.previews):
            directory.mkdir(parents=True, exist_ok=True)

    def path(self, relative: str) -> Path:
        return self.root / relative

    def read(self, relative: str) -> bytes:
        return self.path(relative).read_bytes()

    def save_reference(self, png: bytes) -> str:
        """Stores a reference already made PNG (`core.generation.references`), named by its content."""
        digest = hashlib.sha256(png).hexdigest()[:32]
        target = self.uploads / f"{digest}.png"
        if not target.exists():
            _write_atomically(target, png)
        return str(target.relative_to(self.root))

    def save_output(self, job_id: int, index: int, png: bytes) -> str:
        target = self.outputs / f"job-{job_id}-{index + 1}.png"
        _write_atomically(target, png)
        return str(target.relative_to(self.root))

    @staticmethod
    def job_files(job_id: int, n: int) -> list[str]:
        """The names a job's images may have, relative to the data directory, without listing a
        folder: its `n` outputs and its previews (the retention purge sweeps up any other file
        named after a job that no longer exists)."""
        outputs = [f"outputs/job-{job_id}-{index}.png" for index in range(1, n + 1)]
        previews = [f"previews/job-{job_id}-partial-{index}.png" for index in range(1, MAX_PREVIEWS + 1)]
        return outputs + previews

    def save_preview(self, job_id: int, index: int, image_bytes: bytes) -> Path:
        target = self.previews / f"job-{job_id}-partial-{index + 1}.png"
        _write_atomically(target, image_bytes)
        return target


def _write_atomically(target: Path, data: bytes) -> None:
    """Readers see the whole file or none; two writers of the same reference each use their own part."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(f"{target.suffix}.{secrets.token_hex(4)}.part")
    temporary.write_bytes(data)
    temporary.replace(target)
