"""The lookup probe asks what it says: real edges against near misses, spelled either way."""

from __future__ import annotations

import random

from softloop.bench import graphs
from softloop.bench.lookup_probe import ProbeConfig, example, run, tokens, vocabulary


def test_examples_are_edges_or_near_misses_half_and_half() -> None:
    rng, cfg = random.Random(0), ProbeConfig()
    drawn = [example(rng, cfg) for _ in range(400)]
    assert 160 < sum(e for _, e in drawn) < 240
    for text, is_edge in drawn:
        graph, _, pair = text.removeprefix("chk ").partition("?")
        _, edges, _ = graphs.parse(graph)
        assert (frozenset(pair) in edges) == is_edge
        if not is_edge:
            adj = {n: {m for e in edges if n in e for m in e if m != n} for n in pair}
            assert adj[pair[0]] & adj[pair[1]], "a near miss: the two share a neighbour"


def test_pair_spelling_makes_each_edge_one_token_in_sorted_order() -> None:
    rng = random.Random(1)
    text, _ = example(rng, ProbeConfig(pairs=True))
    graph, _, pair = text.removeprefix("chk ").partition("?")
    assert all(e == "".join(sorted(e)) for e in graph.split())
    toks = tokens(text, pairs=True)
    assert toks[-1] == pair and toks[:4] == ["c", "h", "k", " "]  # three letters stay letters
    vocab = vocabulary(pairs=True)
    assert all(t in vocab for t in toks) and len(vocab) == 2 + 95 + 26 * 26


def test_a_short_run_reports_held_out_accuracy() -> None:
    cfg = ProbeConfig(steps=4, batch_size=8, hidden=16, layers=1, heads=2, eval_every=2)
    curve = run(cfg, log=lambda _: None)
    assert [s for s, _ in curve] == [2, 4]
    assert all(0.0 <= acc <= 1.0 for _, acc in curve)


def test_without_sorted_pairs_edges_come_in_either_order() -> None:
    # The reference tasks write edges sorted; the probe's other spellings must not.
    for cfg in (ProbeConfig(), ProbeConfig(pairs=True, sort_pairs=False)):
        rng = random.Random(2)
        edges = [
            e
            for _ in range(30)
            for e in example(rng, cfg)[0].removeprefix("chk ").partition("?")[0].split()
        ]
        assert any(e[0] < e[1] for e in edges) and any(e[0] > e[1] for e in edges)
