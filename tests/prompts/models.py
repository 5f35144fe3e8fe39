"""Tiny random models and a character-level tokenizer, built without any download.

`initializer_range=0.3`: with the usual 0.02 a random 2-layer, 64-wide model's logits are so
flat that no soft prompt can steer them; 0.3 makes prompts matter.
"""

from __future__ import annotations

import string
from collections.abc import Callable

import torch
from tokenizers import Tokenizer, decoders, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.processors import TemplateProcessing
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from softloop.prompts import FrozenLM

ARCHS = ["gpt2", "llama", "qwen2"]
Factory = Callable[..., FrozenLM]  # make_lm(arch, seed=0, prompt_after_bos=True)
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHARS = string.ascii_lowercase + string.digits + " =?:+-,.>"


def char_tokenizer(add_bos: bool = True) -> PreTrainedTokenizerFast:
    """One token per character; BOS in front of every text when `add_bos` (Llama-style)."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS + list(CHARS))}
    core = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    if add_bos:
        core.post_processor = TemplateProcessing(
            single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", vocab["<s>"])]
        )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    # A char-level decode must not insert spaces between tokens.
    tok.backend_tokenizer.decoder = decoders.Fuse()
    return tok


def tiny_model(arch: str, vocab_size: int, seed: int = 0, layers: int = 2) -> torch.nn.Module:
    """A random causal LM of the given family, small enough to train in seconds."""
    torch.manual_seed(seed)
    common = {"vocab_size": vocab_size, "initializer_range": 0.3}
    decoder = {  # Llama and Qwen2 take the same shape arguments
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
    }
    if arch == "gpt2":
        cfg = GPT2Config(
            n_embd=64,
            n_layer=layers,
            n_head=4,
            n_positions=128,
            bos_token_id=1,
            eos_token_id=2,
            **common,
        )
        model = GPT2LMHeadModel(cfg)
    elif arch == "llama":
        cfg = LlamaConfig(**decoder, **common)
        model = LlamaForCausalLM(cfg)
    elif arch == "qwen2":
        cfg = Qwen2Config(**decoder, **common)
        model = Qwen2ForCausalLM(cfg)
    else:
        raise ValueError(arch)
    return model.eval()


def make_lm(arch: str, seed: int = 0, prompt_after_bos: bool = True) -> FrozenLM:
    # GPT-2 tokenizers add no BOS; Llama's and Qwen2's test tokenizers do, to cover both paths.
    tok = char_tokenizer(add_bos=arch != "gpt2")
    model = tiny_model(arch, len(tok), seed=seed)
    return FrozenLM(model, tok, model_id=f"tiny-{arch}-{seed}", prompt_after_bos=prompt_after_bos)
