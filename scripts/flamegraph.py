#!/usr/bin/env python3
"""flamegraph.py: draw a flame graph PNG from `perf script` output.

    perf record -F 2000 -g -p PID -o perf.data -- sleep 10
    perf script -i perf.data | python3 scripts/flamegraph.py --title "hello" -o flame.png

Stacks are folded (root first), merged by frame name, and drawn as
rectangles whose width is the share of samples; frames under --min-share
are left out so the labels stay readable. It also prints the top frames by
self time, which is the text form of the same profile. Needs matplotlib.
"""
import argparse
import collections
import re
import sys

FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.+?)\s+\((.*)\)\s*$")


def fold(lines):
    """Yields one tuple of frame names per sample, root first."""
    stack = []
    in_sample = False
    for line in lines:
        if not line.strip():
            if stack:
                yield tuple(reversed(stack))
            stack, in_sample = [], False
            continue
        if not line[0].isspace():
            in_sample = True
            continue
        m = FRAME.match(line)
        if in_sample and m:
            name = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
            if name == "[unknown]":
                name = "[unknown " + m.group(2).rsplit("/", 1)[-1] + "]"
            stack.append(name)
    if stack:
        yield tuple(reversed(stack))


class Node:
    __slots__ = ("name", "count", "children")

    def __init__(self, name):
        self.name, self.count, self.children = name, 0, {}


def build(stacks):
    root = Node("all")
    self_time = collections.Counter()
    for stack in stacks:
        root.count += 1
        node = root
        for name in stack:
            node = node.children.setdefault(name, Node(name))
            node.count += 1
        if stack:
            self_time[stack[-1]] += 1
    return root, self_time


def colour(name):
    if name.startswith(("Py", "_Py", "gw_", "PyEval")) or "python" in name.lower():
        return (0.35, 0.55, 0.85)  # Python and the C bridge: blue
    if "/" in name or "." in name and "(" in name or name.startswith(("runtime.", "net/", "syscall.")):
        return (0.95, 0.6, 0.25)  # Go: orange
    if name.startswith("[") or name.islower() and "_" in name:
        return (0.85, 0.35, 0.3)  # kernel and libc: red
    return (0.9, 0.75, 0.3)


def draw(root, path, title, min_share):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rects = []

    def walk(node, x, depth):
        rects.append((x, depth, node.count / root.count, node.name))
        for child in sorted(node.children.values(), key=lambda n: n.name):
            share = child.count / root.count
            if share >= min_share:
                walk(child, x, depth + 1)
            x += share

    walk(root, 0.0, 0)
    depth = max(r[1] for r in rects) + 1
    fig, ax = plt.subplots(figsize=(16, max(4, 0.22 * depth + 1)))
    for x, d, w, name in rects:
        ax.add_patch(plt.Rectangle((x, d), w, 0.95, facecolor=colour(name), edgecolor="white", linewidth=0.3))
        chars = int(w * 16 * 72 / 5.5)  # about 5.5 points per character at size 6
        if chars >= 4:
            label = name if len(name) <= chars else name[: chars - 2] + ".."
            ax.text(x + 0.002, d + 0.45, label, fontsize=6, va="center", clip_on=True)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, depth)
    ax.set_yticks([])
    ax.set_xlabel("share of samples (%d samples; frames under %.1f%% left out)" % (root.count, 100 * min_share))
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", required=True, help="PNG to write")
    p.add_argument("--title", default="flame graph")
    p.add_argument("--min-share", type=float, default=0.004)
    p.add_argument("--top", type=int, default=25, help="print this many frames by self time")
    args = p.parse_args()
    root, self_time = build(fold(sys.stdin))
    if root.count == 0:
        sys.exit("flamegraph.py: no samples with call stacks on stdin (perf record -g?)")
    draw(root, args.output, args.title, args.min_share)
    print("%d samples; top %d frames by self time:" % (root.count, args.top))
    for name, n in self_time.most_common(args.top):
        print("  %5.1f%%  %s" % (100.0 * n / root.count, name))


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # the list piped into head
        sys.exit(0)
