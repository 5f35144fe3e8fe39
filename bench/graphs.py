"""Graph tasks of the reference world: finding is a search, checking is a few local lookups.

A graph is written as its edges, each two node letters in alphabetical order, in a shuffled
list: `ab cd bc`. Some tasks first name two nodes: `a d;ab cd bc` (from `a` to `d`), or `ad;...`
where the two play the same part.

Each task's oracle is a list of `Step`s, claims about the answer that can each be checked by
looking one or two letters up in the edge list ("`bc` is an edge"). A claim that two nodes are
joined names them in alphabetical order, as the edge list does, whichever way the answer walks:
the reference tokenizer makes each such pair one token, so the check is finding that token.
Producing an answer needs what no single lookup gives: which way leads to the target, which
three nodes close a triangle.
That gap between producing and checking is what lets a small model's judge be more reliable
than its solver, the condition under which self-correction pays.
"""

from __future__ import annotations

import random
import string
from collections import deque
from collections.abc import Iterable

from softloop.bench.steps import Step

Edge = frozenset[str]
_NODES = string.ascii_lowercase


def parse(text: str) -> tuple[str, set[Edge], set[str]]:
    """(the named nodes before `;`, spaces dropped; the edges; every node an edge touches)."""
    head, sep, body = text.partition(";")
    if not sep:
        head, body = "", text
    head = head.replace(" ", "")
    edges = {frozenset(e) for e in body.split() if len(e) == 2 and e[0] != e[1]}
    nodes = {n for e in edges for n in e}
    return head, edges, nodes


def render(head: str, edges: Iterable[Edge], rng: random.Random) -> str:
    """Edges in random order, each in alphabetical order; `head;` first when there is one.

    The edges are sorted before the shuffle: a set's order follows string hashing, which
    changes from one process to the next, and the same seed must draw the same text anywhere.
    """
    pairs = sorted(_pair(*e) for e in edges)
    rng.shuffle(pairs)
    body = " ".join(pairs)
    return f"{head};{body}" if head else body


def _tree(rng: random.Random, nodes: list[str]) -> set[Edge]:
    """A random tree: node i joins one of the nodes before it."""
    return {frozenset((nodes[i], nodes[rng.randrange(i)])) for i in range(1, len(nodes))}


def _neighbours(edges: Iterable[Edge]) -> dict[str, set[str]]:
    adj: dict[str, set[str]] = {}
    for e in edges:
        a, b = tuple(e)
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    return adj


def _distances(adj: dict[str, set[str]], source: str) -> dict[str, int]:
    dist = {source: 0}
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for v in sorted(adj.get(u, ())):
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def _pair(u: str, v: str) -> str:
    """Two nodes as an edge is written: in alphabetical order."""
    return u + v if u <= v else v + u


def _is_edge(edges: set[Edge], u: str, v: str) -> bool:
    return u != v and frozenset((u, v)) in edges


def _names_nodes(answer: str) -> bool:
    """Only node letters: anything else fails as one unnamed step (claims hold no marks)."""
    return answer.isascii() and answer.isalpha() and answer.islower()


# ---------------------------------------------------------------- path


def path_generate(rng: random.Random, n: int) -> tuple[str, str]:
    """n nodes: a random tree plus a few extra edges; from one node to another two or more
    edges away. The answer is a shortest path.

    The two ends are written as two letters (`a d;`), not as one pair token: the answer's last
    node is then checked against a letter of the input, as its hops are against edges.
    """
    n = max(n, 3)
    far: list[tuple[str, str]] = []
    while not far:  # an extra edge can close a small tree into a triangle: draw again
        nodes = rng.sample(_NODES, n)
        edges = _tree(rng, nodes)
        for _ in range(rng.randint(0, n // 3)):
            a, b = rng.sample(nodes, 2)
            edges.add(frozenset((a, b)))
        adj = _neighbours(edges)
        far = [(s, t) for s in nodes for t, d in _distances(adj, s).items() if d >= 2]
    s, t = rng.choice(far)
    text = render(f"{s} {t}", edges, rng)
    return text, path_solve(text)


def path_solve(text: str) -> str:
    """A shortest path, the alphabetically first where there are several."""
    head, edges, _ = parse(text)
    s, t = head[0], head[1]
    adj = _neighbours(edges)
    to_t = _distances(adj, t)
    if s not in to_t:
        return ""
    path = [s]
    while path[-1] != t:
        u = path[-1]
        path.append(min(v for v in adj[u] if to_t.get(v) == to_t[u] - 1))
    return "".join(path)


def path_steps(text: str, answer: str) -> list[Step]:
    """Starts at the first named node, every hop is an edge, ends at the second."""
    head, edges, _ = parse(text)
    s, t = head[:1], head[1:2]
    if not _names_nodes(answer):
        return [Step("", False)]
    steps = [Step(answer[0], answer[0] == s)]
    steps += [
        Step(_pair(answer[i - 1], answer[i]), _is_edge(edges, answer[i - 1], answer[i]))
        for i in range(1, len(answer))
    ]
    steps.append(Step(answer[-1], answer[-1] == t))
    return steps


# ---------------------------------------------------------------- triangle


def triangle_generate(rng: random.Random, n: int) -> tuple[str, str]:
    """n nodes: a tree with one triangle closed in it, and extra edges that close no other."""
    n = max(n, 3)
    nodes = rng.sample(_NODES, n)
    a, b, c = nodes[:3]
    edges = {frozenset((a, b)), frozenset((a, c)), frozenset((b, c))}
    edges |= {frozenset((nodes[i], nodes[rng.randrange(i)])) for i in range(3, n)}
    for _ in range(rng.randint(0, n // 3)):
        u, v = rng.sample(nodes, 2)
        adj = _neighbours(edges)
        if frozenset((u, v)) not in edges and not adj[u] & adj[v]:
            edges.add(frozenset((u, v)))
    corners = [a, b, c]
    rng.shuffle(corners)
    return render("", edges, rng), "".join(corners)


def triangle_solve(text: str) -> str:
    _, edges, nodes = parse(text)
    adj = _neighbours(edges)
    for a in sorted(nodes):
        for b in sorted(adj[a]):
            for c in sorted(adj[a] & adj[b]):
                return a + b + c
    return ""


def triangle_steps(text: str, answer: str) -> list[Step]:
    """Three nodes, each pair of them an edge."""
    _, edges, _ = parse(text)
    if len(answer) != 3 or not _names_nodes(answer):
        return [Step("", False)]
    a, b, c = answer[0], answer[1], answer[2]
    return [
        Step(_pair(a, b), _is_edge(edges, a, b)),
        Step(_pair(b, c), _is_edge(edges, b, c)),
        Step(_pair(c, a), _is_edge(edges, c, a)),
    ]


# ---------------------------------------------------------------- via


def via_generate(rng: random.Random, n: int) -> tuple[str, str]:
    """n nodes: a tree in which two nodes two edges apart share exactly one neighbour, and
    extra edges that give them no second one."""
    n = max(n, 3)
    while True:
        nodes = rng.sample(_NODES, n)
        edges = _tree(rng, nodes)
        adj = _neighbours(edges)
        pairs = [(s, t) for s in nodes for t, d in _distances(adj, s).items() if d == 2]
        s, t = rng.choice(pairs)
        for _ in range(rng.randint(0, n // 3)):
            u, v = rng.sample(nodes, 2)
            adj = _neighbours(edges)
            joins_both = (u in (s, t) and v in adj[t if u == s else s]) or (
                v in (s, t) and u in adj[t if v == s else s]
            )
            if frozenset((u, v)) not in (frozenset((s, t)), *edges) and not joins_both:
                edges.add(frozenset((u, v)))
        common = _neighbours(edges)[s] & _neighbours(edges)[t]
        if len(common) == 1:
            return render(s + t, edges, rng), common.pop()


def via_solve(text: str) -> str:
    head, edges, _ = parse(text)
    adj = _neighbours(edges)
    common = sorted(adj.get(head[0], set()) & adj.get(head[1], set()))
    return common[0] if common else ""


def via_steps(text: str, answer: str) -> list[Step]:
    """One node, joined by an edge to each of the two named nodes."""
    head, edges, _ = parse(text)
    if len(answer) != 1 or len(head) != 2 or not _names_nodes(answer):
        return [Step("", False)]
    s, t = head[0], head[1]
    return [
        Step(_pair(s, answer), _is_edge(edges, s, answer)),
        Step(_pair(answer, t), _is_edge(edges, answer, t)),
    ]


# ---------------------------------------------------------------- gap


def gap_generate(rng: random.Random, n: int) -> tuple[str, str]:
    """n nodes, every two joined but for one or two pairs (one where n is 3, so that every node
    stays in an edge). The answer is a pair that is not an edge, in alphabetical order."""
    n = max(n, 3)
    nodes = rng.sample(_NODES, n)
    every = [frozenset((u, v)) for i, u in enumerate(nodes) for v in nodes[i + 1 :]]
    missing = rng.sample(every, 1 if n == 3 else rng.randint(1, 2))
    edges = set(every) - set(missing)
    return render("", edges, rng), _pair(*rng.choice(missing))


def gap_solve(text: str) -> str:
    """The alphabetically first pair of nodes that is not an edge."""
    _, edges, nodes = parse(text)
    order = sorted(nodes)
    for i, u in enumerate(order):
        for v in order[i + 1 :]:
            if frozenset((u, v)) not in edges:
                return u + v
    return ""


def gap_steps(text: str, answer: str) -> list[Step]:
    """Two nodes of the graph, not joined by an edge."""
    _, edges, nodes = parse(text)
    if len(answer) != 2 or not _names_nodes(answer) or not set(answer) <= nodes:
        return [Step("", False)]
    u, v = answer[0], answer[1]
    return [Step(_pair(u, v), u != v and not _is_edge(edges, u, v))]
