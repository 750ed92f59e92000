"""Group the commits of a git range by Conventional Commits type. Read-only.

Usage: group_commits.py [--repo PATH] [--json] [RANGE]   (default RANGE: <latest tag>..HEAD)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

SECTIONS = {
    "breaking": "Breaking changes",
    "feat": "Features",
    "fix": "Fixes",
    "perf": "Performance",
    "docs": "Documentation",
    "other": "Other",
}
HEADER = re.compile(r"^(?P<type>[a-z]+)(?:\([^)]*\))?(?P<bang>!)?:\s*(?P<subject>.+)$")
SEP, END = "\x1f", "\x1e"


def git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def default_range(repo: str) -> str:
    try:
        tag = git(repo, "describe", "--tags", "--abbrev=0").strip()
    except subprocess.CalledProcessError:
        return "HEAD"
    return f"{tag}..HEAD"


def commits(repo: str, rev_range: str) -> list[dict[str, str]]:
    fmt = SEP.join(["%h", "%an", "%s", "%b"]) + END
    out = git(repo, "log", "--no-merges", f"--format={fmt}", rev_range)
    rows = []
    for record in filter(None, (r.strip("\n") for r in out.split(END))):
        short, author, subject, body = (record.split(SEP) + [""] * 4)[:4]
        rows.append({"hash": short, "author": author, "subject": subject, "body": body})
    return rows


def classify(commit: dict[str, str]) -> tuple[str, str]:
    match = HEADER.match(commit["subject"])
    if match is None:
        return "other", commit["subject"]
    if match["bang"] or "BREAKING CHANGE:" in commit["body"]:
        return "breaking", match["subject"]
    kind = match["type"]
    return (kind if kind in SECTIONS else "other"), match["subject"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("range", nargs="?")
    parser.add_argument("--repo", default=".")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    groups: dict[str, list[dict[str, str]]] = {key: [] for key in SECTIONS}
    for commit in commits(args.repo, args.range or default_range(args.repo)):
        kind, subject = classify(commit)
        groups[kind].append({**commit, "subject": subject})
    if args.json:
        json.dump({k: v for k, v in groups.items() if v}, sys.stdout, indent=2)
        print()
        return 0
    for key, title in SECTIONS.items():
        if groups[key]:
            print(f"## {title}\n")
            print("\n".join(f"- {c['subject']} ({c['hash']}, {c['author']})" for c in groups[key]))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
