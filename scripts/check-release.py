"""Checks that a release can be published to Binder, or that a published tag is in step:

  python scripts/check-release.py           the work tree, and the tag binder/publish.toml names if it exists
  python scripts/check-release.py --badge   prints the badge line README.md must carry

binder/publish.toml names the GitHub repository, the tag ("v" + pyproject.toml's version) and the notebook
the badge opens. In the work tree and again in the tag's own files: README.md's one Binder badge is the one
built from publish.toml, the tag is "v" + the version, and the notebook exists. Exit status 1 on a problem."""
import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
BINDER = "https://mybinder.org"


def badge_url(repository, ref, labpath):
    return f"{BINDER}/v2/gh/{repository}/{ref}?labpath={quote(labpath, safe='')}"


def badge_line(repository, ref, labpath):
    return f"[![Binder]({BINDER}/badge_logo.svg)]({badge_url(repository, ref, labpath)})"


def _worktree(root):
    def read(path):
        p = Path(root) / path
        return p.read_text() if p.is_file() else None
    return read


def _at(root, rev):
    def read(path):
        r = subprocess.run(["git", "-C", str(root), "show", f"{rev}:{path}"], capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else None
    return read


def publish(read):
    data = tomllib.loads(read("binder/publish.toml"))
    return data["repository"], data["ref"], data["labpath"]


def problems(read, where="the work tree"):
    """What disagrees among binder/publish.toml, pyproject.toml and README.md, as read by `read`."""
    if read("binder/publish.toml") is None:
        return [f"{where} has no binder/publish.toml"]
    repository, ref, labpath = publish(read)
    version = tomllib.loads(read("pyproject.toml"))["project"]["version"]
    out = []
    if not re.fullmatch(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+", repository):
        out.append(f"{where}: binder/publish.toml's repository {repository!r} is not GitHub's owner/name")
    if ref != f"v{version}":
        out.append(f"{where}: binder/publish.toml's ref {ref!r} is not 'v' + pyproject.toml's version {version!r}")
    if read(labpath) is None:
        out.append(f"{where} has no {labpath}, the notebook the badge opens")
    urls = re.findall(r"\((" + re.escape(BINDER) + r"/v2/[^)\s]*)\)", read("README.md") or "")
    if urls != [badge_url(repository, ref, labpath)]:
        want = badge_url(repository, ref, labpath)
        out.append(f"{where}: README.md's Binder links {urls} are not the one badge {want}")
    return out


def tag_exists(root, ref):
    return subprocess.run(["git", "-C", str(root), "rev-parse", "-q", "--verify", f"refs/tags/{ref}"],
                          capture_output=True).returncode == 0


def check(root=ROOT):
    """(problems, notes) for the work tree and, if it exists, the tag it names."""
    read = _worktree(root)
    found = problems(read)
    if found and read("binder/publish.toml") is None:
        return found, []
    repository, ref, labpath = publish(read)
    if tag_exists(root, ref):
        return found + problems(_at(root, f"refs/tags/{ref}"), f"tag {ref}"), [f"tag {ref} exists here"]
    return found, [f"tag {ref} does not exist here yet: git tag -a {ref} -m 'iommulab {ref[1:]}' && "
                   f"git push origin {ref}, then open {badge_url(repository, ref, labpath)} once to build it"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--badge", action="store_true", help="print the badge line README.md must carry")
    args = parser.parse_args(argv)
    if args.badge:
        print(badge_line(*publish(_worktree(ROOT))))
        return 0
    found, notes = check()
    for line in notes:
        print(line)
    for line in found:
        print(f"problem: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
