"""Confine paths to the workspace.

A guard against mistakes (a model asking for ``../../etc/passwd``), not a security boundary: the
agent's own commands run as the same user and can read what sandboxd can.
"""

from __future__ import annotations

import os

from runtime.errors import NotFound, PathOutsideWorkspace


class Workspace:
    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root + os.sep)

    def resolve(self, path: str, *, follow: bool = True) -> str:
        """The real absolute path of ``path`` (relative to the root, or absolute inside it).

        With ``follow=False`` a final symlink is not followed (to move or delete the link itself).
        Raises ``PathOutsideWorkspace`` naming ``path`` when it resolves outside the workspace.
        """
        if "\0" in path:
            raise PathOutsideWorkspace(f"path {path!r} contains a NUL byte")
        joined = os.path.normpath(os.path.join(self.root, path))
        if follow or joined == self.root:
            real = os.path.realpath(joined)
        else:
            real = os.path.join(os.path.realpath(os.path.dirname(joined)), os.path.basename(joined))
        if not self.inside(real):
            raise PathOutsideWorkspace(
                f"path {path!r} resolves to {real!r}, outside the workspace {self.root!r}"
            )
        return real

    def existing(self, path: str, *, follow: bool = True) -> str:
        """Like :meth:`resolve`, and raises ``NotFound`` when nothing is there."""
        real = self.resolve(path, follow=follow)
        if not os.path.lexists(real):
            raise NotFound(f"no such file or directory: {path!r}")
        return real

    def relative(self, real: str) -> str:
        return os.path.relpath(real, self.root)
