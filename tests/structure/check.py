#!/usr/bin/env python3
"""The house rules of Keyward's source tree, checked from the code itself (docs/architecture.md).

Reads every `.rs` file of `server/src`, `domain/src`, `proto/src` and `importers/src`, finds
what each one refers to (`use` lines and `crate::`/`super::` paths in code), and fails on:

- an import cycle between files (a strongly connected set of two or more files);
- an upward import: a module using a module of a higher layer (LAYERS below, bottom first);
- a source file over MAX_LINES lines (migrations are exempt: they are append-only history);
- an HTTP handler or a CLI command that queries the store itself instead of a service;
- a file without a module doc (`//!`) on its first line;
- two services wings whose use cases call each other, directly or around a circle.

Unit tests (`#[cfg(test)] mod … { … }`) are left out: a test may build its fixture from any
layer. `--report` prints the figures (files, lines, cycles, largest file) and exits 0.
"""

import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAX_LINES = 700

# Crates, bottom first, and the name other crates use for each.
CRATES = [
    ("domain", "domain/src", "keyward_domain"),
    ("importers", "importers/src", "keyward_importers"),
    ("proto", "proto/src", "keyward_proto"),
    ("server", "server/src", "keyward"),
]

# The server's layers, bottom first. A module may import from its own layer or below. The
# crates below the server (domain, importers, proto) count as layer 0.
LAYERS = [
    ["files"],
    ["config"],
    ["telemetry"],
    ["crypto"],
    ["store"],
    ["audit"],
    ["authz"],
    ["authn"],
    ["services"],
    ["jobs"],
    ["http"],
    ["startup"],
    ["cli"],
    ["lib", "main"],
]


def layer_of(node):
    crate, module = node
    if crate != "server":
        return 0
    top = module[0] if module else "lib"
    for index, names in enumerate(LAYERS):
        if top in names:
            return index + 1
    return None


def strip(text):
    """Blanks out comments and the insides of string and char literals (lines are kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            if m:
                out.append("' '")
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_test_modules(text):
    """Removes `#[cfg(test)] mod name { … }` blocks (text already stripped)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text)
        if not m:
            return text
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        text = text[: m.start()] + "\n" * text.count("\n", m.start(), j) + text[j:]


def expand_use(tree):
    """`a::{b, c::{d, e}}` → [[a, b], [a, c, d], [a, c, e]] (aliases and globs dropped)."""
    tree = re.sub(r"\s+as\s+", "@", tree)  # `name as alias` → `name@alias`
    tree = re.sub(r"\s+", "", tree)
    results = []

    def walk(prefix, s):
        # s is one tree: path segments, optionally ending in {…} or * or `as`.
        brace = s.find("{")
        if brace < 0:
            parts = [p for p in s.split("::") if p]
            results.append(prefix + [p for p in parts if p != "*"])
            return
        head = [p for p in s[:brace].split("::") if p]
        inner = s[brace + 1: s.rfind("}")]
        depth, start = 0, 0
        for k, ch in enumerate(inner + ","):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                item = inner[start:k]
                start = k + 1
                if item:
                    walk(prefix + head, item)
        if not inner:
            results.append(prefix + head)

    walk([], tree)
    return results


USE_RE = re.compile(r"(?<![\w:])(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
# A path in code: `crate::a::b`, `super::a`, `self::a`, `keyward_domain::a`.
PATH_RE = re.compile(r"(?<![\w:])((?:crate|super|self|keyward_domain|keyward_proto|keyward_importers|keyward)(?:::\w+)+)")


CHILD_RE = re.compile(r"(?<![\w:])([a-z_]\w*(?:::\w+)+)")


class Tree:
    def __init__(self, root=None):
        self.root = root or ROOT
        self.files = {}  # node -> path
        for crate, src, _ in CRATES:
            base = os.path.join(self.root, src)
            if not os.path.isdir(base):
                continue
            for dirpath, _, names in os.walk(base):
                for name in names:
                    if not name.endswith(".rs"):
                        continue
                    rel = os.path.relpath(os.path.join(dirpath, name), base)
                    parts = rel[:-3].split(os.sep)
                    if parts[-1] == "mod":
                        parts = parts[:-1]
                    if parts in (["lib"],):
                        parts = []
                    node = (crate, tuple(parts))
                    self.files[node] = os.path.join(src, rel)
        self.texts = {}
        self.reexports = {}  # node -> {name: (crate, absolute path)}
        for node, path in self.files.items():
            text = drop_test_modules(strip(open(os.path.join(self.root, path), encoding="utf-8").read()))
            self.texts[node] = text
        for node, text in self.texts.items():
            names = {}
            for m in USE_RE.finditer(text):
                if not m.group(1):
                    continue
                for segments in expand_use(m.group(2)):
                    if not segments:
                        continue
                    name, _, alias = segments[-1].partition("@")
                    segments = segments[:-1] + [name]
                    alias = alias or name
                    target = self.absolute(node, segments)
                    if target:
                        names[alias] = (target[0], list(target[1]))
            self.reexports[node] = names

    def resolve(self, crate, path, depth=0):
        """The file a path (absolute segments within `crate`) lands in: its longest module
        prefix, followed through `pub use` re-exports (a re-export is an alias, not a use)."""
        for k in range(len(path), -1, -1):
            node = (crate, tuple(path[:k]))
            if node in self.files:
                if k < len(path) and depth < 20:
                    target = self.reexports.get(node, {}).get(path[k])
                    if target:
                        return self.resolve(target[0], target[1] + list(path[k + 1:]), depth + 1)
                return node
        return None

    def absolute(self, node, segments):
        """Makes a path absolute: (crate, segments) or None for an outside crate."""
        crate, module = node
        if not segments:
            return None
        first = segments[0]
        if first == "crate":
            rest = segments[1:]
            if crate == "server" and rest[:1] == ["domain"]:
                return ("domain", rest[1:])
            return (crate, rest)
        for other, _, extern in CRATES:
            if first == extern:
                return (other, segments[1:])
        here = list(module)
        if first == "self":
            return (crate, here + segments[1:])
        if first == "super":
            up, rest = list(here), list(segments)
            while rest and rest[0] == "super":
                up, rest = up[:-1], rest[1:]
            return (crate, up + rest)
        # A relative path through a child module declared here.
        if (crate, tuple(here + [first])) in self.files:
            return (crate, here + segments)
        return None

    def edges(self, node):
        text = self.texts[node]
        found = set()
        code = USE_RE.sub("", text)
        for m in USE_RE.finditer(text):
            for path in expand_use(m.group(2)):
                name, _, alias = path[-1].partition("@") if path else ("", "", "")
                if m.group(1) and not re.search(r"\b%s\b" % re.escape(alias or name), code):
                    # A re-export this file does not use itself: its users are sent on to
                    # its target, and it is no dependency of this file.
                    continue
                path = [p.partition("@")[0] for p in path]
                target = self.absolute(node, path)
                if target:
                    found.add((target[0], tuple(target[1])))
        for m in PATH_RE.finditer(code):
            target = self.absolute(node, m.group(1).split("::"))
            if target:
                found.add((target[0], tuple(target[1])))
        # A path through a child module of this one (`backup::checkout` in `site/mod.rs`).
        for m in CHILD_RE.finditer(code):
            segments = m.group(1).split("::")
            if (node[0], node[1] + (segments[0],)) in self.files:
                found.add((node[0], node[1] + tuple(segments)))
        out = set()
        for crate, path in found:
            dest = self.resolve(crate, path)
            if dest and dest != node:
                out.add(dest)
        return out


def sccs(graph):
    index, low, stack, on, result, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            result.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def name(tree, node):
    return tree.files[node]


# The HTTP handlers and the command line go through the services: they hold no database
# connection and call no query of `store` (its row and filter types may pass through).
NO_STORE_IN = ("server/src/http/", "server/src/cli/")
STORE_ACCESS = re.compile(
    r"\bstore::\w+::[a-z_]\w*\s*\(|\bstore(?:\(\))?\.db\(\)|\bcore\.store\b|\bStore::\w+\s*\("
)
# `services::admin` reads on a database the CLI opened itself, asking no role: not for handlers.
ADMIN_IN_HTTP = re.compile(r"\bservices::admin\b")


CORE_IMPL = re.compile(r"\nimpl (?:super::|crate::services::)?Core \{")
CORE_FN = re.compile(r"\n    (?:pub(?:\([^)]*\))? )?(?:async )?fn (\w+)")
CORE_CALL = re.compile(r"\b(?:self|core)\s*\.(\w+)\(")


def wing_calls(tree):
    """Which services wing calls which: the use cases are methods of one `Core`, so the `use`
    lines do not show it. A wing is a file or folder of `server/src/services`; a call is
    `self.m(`/`core.m(` of a method another wing defines (a name two wings define counts
    for both)."""
    def wing(module):
        return module[1] if len(module) > 1 else "mod"

    defined = {}
    for (crate, module), text in tree.texts.items():
        if crate != "server" or module[:1] != ("services",):
            continue
        for m in CORE_IMPL.finditer(text):
            depth, j = 1, m.end()
            while j < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            for name in CORE_FN.findall(text, m.end(), j):
                defined.setdefault(name, set()).add(wing(module))
    calls = {}
    for (crate, module), text in tree.texts.items():
        if crate != "server" or module[:1] != ("services",):
            continue
        here = wing(module)
        for name in set(CORE_CALL.findall(text)):
            for there in defined.get(name, ()):
                if there != here and there != "mod":
                    calls.setdefault(here, set()).add(there)
    return calls


def problems_of(tree):
    """(problems, cycles, upward imports, sizes) of a tree."""
    graph = {node: tree.edges(node) for node in tree.files}
    problems = []

    cycles = [sorted(c) for c in sccs(graph) if len(c) > 1]
    for comp in sorted(cycles, key=len, reverse=True):
        problems.append(f"import cycle of {len(comp)} files: " + ", ".join(name(tree, n) for n in comp))

    upward = []
    for node, targets in sorted(graph.items()):
        mine = layer_of(node)
        if mine is None:
            problems.append(f"{name(tree, node)}: module in no layer (add it to LAYERS in {__file__})")
            continue
        for target in sorted(targets):
            theirs = layer_of(target)
            if theirs is not None and theirs > mine:
                upward.append((node, target))
                problems.append(f"upward import: {name(tree, node)} uses {name(tree, target)}")
        if node[0] != "server" and any(t[0] == "server" for t in targets):
            problems.append(f"{name(tree, node)} uses the server crate")

    for node, path in sorted(tree.files.items()):
        if path.startswith(NO_STORE_IN):
            for m in STORE_ACCESS.finditer(tree.texts[node]):
                line = tree.texts[node].count("\n", 0, m.start()) + 1
                problems.append(f"layer skipped: {path}:{line} uses the store directly ({m.group(0)})")
        if path.startswith("server/src/http/"):
            for m in ADMIN_IN_HTTP.finditer(tree.texts[node]):
                line = tree.texts[node].count("\n", 0, m.start()) + 1
                problems.append(f"layer skipped: {path}:{line} uses the CLI's unchecked reads ({m.group(0)})")

    calls = wing_calls(tree)
    wing_graph = {w: set() for w in calls}
    for w, targets in calls.items():
        for t in targets:
            wing_graph.setdefault(t, set())
            wing_graph[w].add(t)
    for comp in sccs(wing_graph):
        if len(comp) > 1:
            problems.append("services wings call each other in a circle: " + ", ".join(sorted(comp)))

    for node, path in sorted(tree.files.items()):
        with open(os.path.join(tree.root, path), encoding="utf-8") as f:
            first = f.readline()
        if not first.startswith("//!"):
            problems.append(f"{path}: no module doc (a `//!` line first that says what it owns)")

    sizes = []
    for node, path in tree.files.items():
        lines = sum(1 for _ in open(os.path.join(tree.root, path), encoding="utf-8"))
        sizes.append((lines, path))
        if lines > MAX_LINES:
            problems.append(f"{path}: {lines} lines (at most {MAX_LINES})")
    sizes.sort(reverse=True)
    return problems, cycles, upward, sizes


SELF_TEST = {
    # store uses services (upward), services/a and services/b use each other (a cycle),
    # services/b is one line too long, http/mod.rs queries the store twice on its line 3 and
    # lib.rs has no module doc; a unit test's upward import and a re-export are fine.
    "server/src/lib.rs": "pub mod store;\npub mod services;\n",
    "server/src/store/mod.rs": "//! s\nuse crate::services::Core;\n#[cfg(test)]\nmod tests {\n    use crate::services::a;\n}\n",
    "server/src/services/mod.rs": "//! s\npub mod a;\npub mod b;\npub use a::Core;\n",
    "server/src/services/a.rs": "//! a\nuse super::b::helper;\npub struct Core;\n",
    "server/src/services/b.rs": "//! b\nuse crate::services::a::Core;\n" + "// filler\n" * (MAX_LINES - 1),
    "server/src/http/mod.rs": "//! h\nfn h(core: &crate::services::a::Core) {\n    let _ = crate::store::tokens::find(core.store.db());\n}\n",
    # Two wings whose use cases call each other: a circle the `use` lines do not show.
    "server/src/services/c.rs": "//! c\nimpl Core {\n    pub async fn cee(&self) {\n        self.dee().await;\n    }\n}\n",
    "server/src/services/d.rs": "//! d\nimpl super::Core {\n    async fn dee(&self) {\n        self.cee().await;\n    }\n}\n",
}


def self_test():
    """The checker finds a planted cycle, upward import and long file, and nothing else."""
    import tempfile
    with tempfile.TemporaryDirectory() as root:
        for path, text in SELF_TEST.items():
            os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
            with open(os.path.join(root, path), "w", encoding="utf-8") as f:
                f.write(text)
        problems, cycles, upward, _ = problems_of(Tree(root))
    names = sorted(sorted(n[1] for n in c) for c in cycles)
    expected = [[("services", "a"), ("services", "b")]]
    assert names == expected, f"self-test: cycles {names}"
    assert [(a[1], b[1]) for a, b in upward] == [(("store",), ("services", "a"))], f"self-test: upward {upward}"
    assert any("services/b.rs" in p and "lines" in p for p in problems), f"self-test: {problems}"
    skipped = [p for p in problems if p.startswith("layer skipped: server/src/http/mod.rs:3")]
    assert len(skipped) == 2, f"self-test: {problems}"
    assert any(p.startswith("server/src/lib.rs: no module doc") for p in problems), problems
    assert any(p.endswith("in a circle: c, d") for p in problems), f"self-test: {problems}"
    assert len(problems) == 7, f"self-test: {problems}"


def main():
    report = "--report" in sys.argv
    self_test()
    tree = Tree()
    problems, cycles, upward, sizes = problems_of(tree)
    if report:
        print(f"files: {len(tree.files)}, lines: {sum(s for s, _ in sizes)}")
        print(f"cycles: {len(cycles)} (largest {max((len(c) for c in cycles), default=0)} files)")
        print(f"upward imports: {len(upward)}")
        print(f"files over {MAX_LINES} lines: {sum(1 for s, _ in sizes if s > MAX_LINES)}; largest: {sizes[0][1]} ({sizes[0][0]})")
        print("services wings, and the wings whose use cases each calls:")
        calls = wing_calls(tree)
        for w in sorted(calls):
            print(f"  {w} -> {', '.join(sorted(calls[w]))}")
        for p in problems:
            print("  " + p)
        return 0
    for p in problems:
        print(p, file=sys.stderr)
    kinds = {
        "cycle": "cycles",
        "upward": "layers",
        "skipped": "handlers and CLI through services",
        "module doc": "module docs",
        "wings": "services wings",
    }
    checks = len(kinds) + 1
    failed = len({next((k for k in kinds if k in p), "size") for p in problems})
    print(f"structure: {checks - failed} passed, {failed} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
