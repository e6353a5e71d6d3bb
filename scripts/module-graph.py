#!/usr/bin/env python3
"""The module graph of a crate: which of its top-level modules use which (`crate::x` paths and
`use crate::{x, ...}` groups), and its cycles (strongly connected components of more than one
module). Exits 1 if there is a cycle, so the check can guard "no module cycle".

usage: scripts/module-graph.py [crate/src] [--dot]
"""
import os
import re
import sys


def top_module(src, path):
    rel = os.path.relpath(path, src)
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def uses(text):
    """The top-level modules a file names through `crate::`."""
    text = re.sub(r"//[^\n]*", "", text)
    found = set(re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text))
    for group in re.findall(r"\bcrate::\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", text):
        depth = 0
        item = ""
        for ch in group + ",":
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                name = re.match(r"\s*([a-z_][a-z0-9_]*)", item)
                if name:
                    found.add(name.group(1))
                item = ""
            else:
                item += ch
    return found


def graph(src):
    modules = {
        top_module(src, os.path.join(src, entry))
        for entry in os.listdir(src)
        if entry.endswith(".rs") or os.path.isdir(os.path.join(src, entry))
    } - {"lib", "main", "bin"}
    edges = {m: set() for m in modules}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            source = top_module(src, path)
            if source not in modules:
                continue
            with open(path, encoding="utf-8") as f:
                for target in uses(f.read()):
                    if target in modules and target != source:
                        edges[source].add(target)
    return edges


def cycles(edges):
    """Tarjan's strongly connected components, those of more than one module."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    src = args[0] if args else "crates/server/src"
    edges = graph(src)
    if "--dot" in sys.argv:
        print("digraph modules {")
        for v in sorted(edges):
            for w in sorted(edges[v]):
                print(f'  "{v}" -> "{w}";')
        print("}")
    found = cycles(edges)
    for component in found:
        inner = {v: sorted(edges[v] & set(component)) for v in component}
        print("module cycle: " + ", ".join(component))
        for v in component:
            print(f"  {v} -> {', '.join(inner[v])}")
    if not found:
        print(f"{src}: {len(edges)} modules, no cycle")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
