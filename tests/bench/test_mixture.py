"""The pre-training mixture: spelling examples teach the letters of the pair tokens."""

import random

from softloop.bench.mixture import PHASE1, Mixture, sample_example, spell_example
from softloop.bench.tokenizer import PAIRS, build_tokenizer


def test_a_spelling_example_reads_pair_tokens_and_writes_their_letters():
    tok = build_tokenizer()
    rng = random.Random(0)
    for _ in range(200):
        query, target = spell_example(rng)
        assert query.startswith("spl:") and query.endswith("=")
        pairs = query[4:-1].split()
        assert 2 <= len(pairs) <= 8 and "".join(pairs) == target
        # Every pair of the query is one token, the target is all single letters.
        assert tok.tokenize(query[4:-1]) == [t for p in pairs for t in (p, " ")][:-1]
        assert all(p in PAIRS for p in pairs)
        assert tok.tokenize(target) == list(target)


def test_the_spelling_share_is_of_all_examples():
    rng = random.Random(1)
    drawn = [sample_example(rng, PHASE1)[0] for _ in range(2000)]
    share = sum(q.startswith("spl:") for q in drawn) / len(drawn)
    assert abs(share - PHASE1.spell) < 0.03
    none = [sample_example(rng, Mixture(spell=0.0))[0] for _ in range(300)]
    assert not any(q.startswith("spl:") for q in none)
