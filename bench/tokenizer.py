"""The reference model's tokenizer, in Hugging Face format: characters, and node pairs.

One token per printable ASCII character (95), four specials, and one token per pair of lowercase
letters (676) where the pair stands alone: two letters with no letter on either side (`ab` in
`pth:a d;ab bd=`, but not in `abd`). An edge of a graph, a claim that two nodes are joined and
the pair a hint names are then one token each, so checking a claim is matching one token against
the tokens of the input, which a few attention layers learn quickly; spelled as two characters
the same check is a conjunction that a small model learns far more slowly (`bench.lookup_probe`).
Longer words, answers and digits stay characters.

It is a `tokenizers` WordLevel model behind a regex split, wrapped in `PreTrainedTokenizerFast`;
a template post-processor puts `<bos>` first in every encoded sequence, so
`AutoTokenizer.from_pretrained` on the saved folder behaves exactly like the object built here.
The decoder fuses tokens back without spaces. Characters outside printable ASCII map to `<unk>`.
"""

from __future__ import annotations

import string

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)  # ids 0..3
CHARS = "".join(chr(c) for c in range(32, 127))  # printable ASCII, space included
assert set(string.ascii_letters + string.digits) <= set(CHARS)
PAIRS = tuple(a + b for a in string.ascii_lowercase for b in string.ascii_lowercase)
# A lone pair of lowercase letters, else one character.
SPLIT = r"(?<![a-z])[a-z]{2}(?![a-z])|."


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A fresh tokenizer: `<pad>`=0, `<bos>`=1, `<eos>`=2, `<unk>`=3, characters, then pairs."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    vocab.update({c: len(vocab) + i for i, c in enumerate(CHARS)})
    vocab.update({p: len(vocab) + i for i, p in enumerate(PAIRS)})
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(SPLIT), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B:1", special_tokens=[(BOS, vocab[BOS])]
    )
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="left",  # generation batches pad on the left
        model_max_length=256,
        clean_up_tokenization_spaces=False,
    )
