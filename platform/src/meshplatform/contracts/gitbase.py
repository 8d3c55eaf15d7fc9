"""The git revision a change is compared with, and a read-only copy of the tree at that revision.

Nothing here changes the repository: the base tree is written with ``git archive`` into a
scratch folder, never checked out.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from meshplatform.errors import MeshError

DEFAULT_BRANCH = "main"


@dataclass(frozen=True)
class Base:
    rev: str
    commit: str
    why: str


def _git(repo: Path, *args: str) -> str | None:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def resolve(repo: Path, rev: str | None = None) -> Base:
    """The revision to compare with: ``rev`` if given, else the merge base with main.

    On main itself the merge base is HEAD, so the base is HEAD~1: the change under review is
    the last commit plus whatever the working tree changes on top of it.
    """
    if rev is not None:
        commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        if commit is None:
            raise MeshError(f"git revision {rev!r} not found in {repo}", hint="pass --base a branch, tag or commit")
        return Base(rev, commit, "given with --base")
    head = _git(repo, "rev-parse", "HEAD")
    if head is None:
        raise MeshError(f"{repo} is not a git repository with a commit", hint="run it inside the repository")
    for branch in (DEFAULT_BRANCH, f"origin/{DEFAULT_BRANCH}"):
        merge_base = _git(repo, "merge-base", "HEAD", branch)
        if merge_base and merge_base != head:
            return Base(merge_base[:12], merge_base, f"merge base of HEAD with {branch}")
        if merge_base == head:
            parent = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD~1")
            if parent is None:
                return Base("HEAD", head, "HEAD (the first commit: nothing older to compare with)")
            return Base("HEAD~1", parent, f"HEAD is on {branch}: comparing with the commit before it")
    raise MeshError(
        f"no branch {DEFAULT_BRANCH!r} to take the merge base with in {repo}",
        hint="pass --base REV (a branch, tag or commit)",
    )


def export_tree(repo: Path, commit: str, dest: Path) -> Path:
    """Write the tree of ``commit`` into ``dest`` (``git archive``; the repository is not touched)."""
    command = ["git", "-C", str(repo), "archive", "--format=tar", commit]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise MeshError(f"git archive {commit} failed: {result.stderr.decode(errors='replace').strip()}")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        archive.extractall(dest, filter="data")
    return dest
