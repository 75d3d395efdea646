"""Whether two machines grade alike: the versions that decide a grade and a hash of the grader's own sources."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import autograder
import autograder_stub
from autograder.engine.results import environment

# Packages whose version decides a grade beyond those a results file records (RECORDED_PACKAGES).
EXTRA_PACKAGES = ("nbformat", "nbconvert", "ipython")


@dataclass(frozen=True)
class EnvironmentFingerprint:
    """The pinned versions (python, torch, nbgrader, ...) and the sha256 of the autograder's installed sources."""

    versions: tuple[tuple[str, str], ...]
    sources: str

    def differences(self, other: "EnvironmentFingerprint", mine: str = "here", theirs: str = "client") -> list[str]:
        """Each way `other` differs from this one, as 'nbgrader 0.0.1 here, 0.9.6 on the client'; empty when they match."""
        out = []
        own, their = dict(self.versions), dict(other.versions)
        for name in sorted(set(own) | set(their)):
            if own.get(name) != their.get(name):
                out.append(f"{name} {own.get(name, 'not installed')} {mine}, {their.get(name, 'not installed')} on the {theirs}")
        if self.sources != other.sources:
            out.append(f"autograder sources sha256 {self.sources[:12]} {mine}, {other.sources[:12]} on the {theirs}")
        return out


@functools.lru_cache(maxsize=1)
def current() -> EnvironmentFingerprint:
    """This process's fingerprint (computed once: installed packages do not change under a running grader)."""
    from importlib import metadata

    versions = dict(environment())
    for name in EXTRA_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return EnvironmentFingerprint(tuple(sorted(versions.items())), sources_digest())


def sources_digest() -> str:
    """sha256 over the autograder and autograder_stub packages' files (paths and contents; caches left out)."""
    digest = hashlib.sha256()
    for package in (autograder, autograder_stub):
        top = Path(package.__file__).resolve().parent
        for path in sorted(top.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(f"{package.__name__}/{path.relative_to(top).as_posix()}".encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
