"""The reference model's character-level tokenizer, in Hugging Face format.

One token per printable ASCII character (95) plus four specials. It is a `tokenizers` WordLevel
model behind a per-character split, wrapped in `PreTrainedTokenizerFast`; a template
post-processor puts `<bos>` first in every encoded sequence, so `AutoTokenizer.from_pretrained`
on the saved folder behaves exactly like the object built here. The decoder fuses characters
back without spaces. Characters outside printable ASCII map to `<unk>`.
"""

from __future__ import annotations

import string

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)  # ids 0..3
CHARS = "".join(chr(c) for c in range(32, 127))  # printable ASCII, space included
assert set(string.ascii_letters + string.digits) <= set(CHARS)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A fresh character tokenizer: 99 ids, `<pad>`=0, `<bos>`=1, `<eos>`=2, `<unk>`=3."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    vocab.update({c: len(SPECIALS) + i for i, c in enumerate(CHARS)})
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # Every character (space included) is its own "word": isolate each match of one char.
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
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
