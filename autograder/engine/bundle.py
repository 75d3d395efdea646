"""Files sent to another machine as data with their sha256: the course's grading files and one submission's folder."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder.engine.course import Course


@dataclass(frozen=True)
class Bundle:
    """A folder's files as a gzip'd tar, identified by its sha256 (equal files, equal hash: a worker reuses what it unpacked)."""

    data: bytes
    sha256: str

    @classmethod
    def of_folder(cls, folder: Path) -> "Bundle":
        """Every regular file and folder under `folder`, in a fixed order with fixed times and owners (links are not followed)."""
        buffer = io.BytesIO()
        # gzip's header holds a time too (tarfile's "w:gz" writes the clock's): 0, or the hash changed every second
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as packed, tarfile.open(fileobj=packed, mode="w") as tar:
            for path in sorted(Path(folder).rglob("*")):
                if "__pycache__" in path.parts or not (path.is_dir() or path.is_file()) or path.is_symlink():
                    continue
                info = tar.gettarinfo(str(path), arcname=path.relative_to(folder).as_posix())
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if path.is_file():
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
        data = buffer.getvalue()
        return cls(data, hashlib.sha256(data).hexdigest())

    @classmethod
    def of_course(cls, course: Course) -> "Bundle":
        """What grading reads of a course (Course.copy_to: configuration, solutions/, its lesson packages, templates)."""
        with tempfile.TemporaryDirectory(prefix="autograder-bundle-") as scratch:
            copy = course.copy_to(Path(scratch) / "course")
            return cls.of_folder(copy.root)

    def unpack(self, target: Path) -> Path:
        """Extract into `target` (made if missing) after checking the hash; ValueError when the data is not what was sent."""
        if hashlib.sha256(self.data).hexdigest() != self.sha256:
            raise ValueError(f"bundle {self.sha256[:12]}: its data does not match its sha256")
        target = Path(target)
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(self.data), mode="r:gz") as tar:
            tar.extractall(target, filter="data")
        return target
