#!/usr/bin/env python3
"""Every relative link and anchor in README.md, bench/README.md and docs/*.md resolves.

A link `[text](target)` outside code is checked when its target is not a URL: the file (or
folder) it names must exist, relative to the page, and a `#anchor` must be a heading of the
page it points to, spelt as GitHub makes anchors (lower case, punctuation dropped, spaces as
hyphens, `-1`, `-2`… for repeats). Prints each broken link with its page and line.
"""

import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")


def pages(root):
    found = [os.path.join(root, "README.md"), os.path.join(root, "bench", "README.md")]
    docs = os.path.join(root, "docs")
    if os.path.isdir(docs):
        found += sorted(os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))
    return [p for p in found if os.path.exists(p)]


def outside_code(text):
    """(line number, line) of the lines outside fenced blocks, with inline code blanked."""
    fence = False
    for number, line in enumerate(text.split("\n"), 1):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if not fence:
            yield number, re.sub(r"`[^`]*`", "``", line)


def slug(heading):
    heading = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return heading.replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    with open(path, encoding="utf-8") as f:
        text = f.read()
    fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        m = re.match(r"#{1,6} (.*)", line)
        if fence or not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken(root):
    problems, cache = [], {}
    for page in pages(root):
        with open(page, encoding="utf-8") as f:
            text = f.read()
        for number, line in outside_code(text):
            for m in LINK.finditer(line):
                target = m.group(2)
                if re.match(r"[a-z][a-z0-9+.-]*:", target):
                    continue
                path, _, anchor = target.partition("#")
                file = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
                where = f"{os.path.relpath(page, root)}:{number}: {target}"
                if not os.path.exists(file):
                    problems.append(f"{where}: no such file")
                    continue
                if anchor and file.endswith(".md"):
                    if file not in cache:
                        cache[file] = anchors(file)
                    if anchor not in cache[file]:
                        problems.append(f"{where}: no heading #{anchor} in {os.path.relpath(file, root)}")
    return problems


def self_test():
    """Finds a planted missing file and a planted missing anchor, and nothing else."""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs"))
        with open(os.path.join(root, "README.md"), "w", encoding="utf-8") as f:
            f.write(
                "# T\n## Roles and rights (v1)\n[ok](docs/a.md#a-b) [ok](#roles-and-rights-v1)\n"
                "[gone](docs/none.md) [bad](docs/a.md#nope) [web](https://x.y/z#q)\n"
                "```\n[in code](nowhere.md)\n```\n`[inline](nowhere.md)`\n"
            )
        with open(os.path.join(root, "docs", "a.md"), "w", encoding="utf-8") as f:
            f.write("# A\n## A, b!\n[up](../README.md#t)\n")
        problems = broken(root)
    assert len(problems) == 2, problems
    assert any("docs/none.md: no such file" in p for p in problems), problems
    assert any("no heading #nope" in p for p in problems), problems


def main():
    self_test()
    problems = broken(ROOT)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"links: {len(pages(ROOT))} pages, {len(problems)} broken")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
