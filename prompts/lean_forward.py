"""A lean forward pass for Llama-family decoders: the model's arithmetic without its bookkeeping.

On a small model most of a Hugging Face forward pass is bookkeeping, not arithmetic: building
the attention mask through its mask interface, wrapping the key/value cache in cache objects and
updating them, output containers, per-module hooks and keyword plumbing. Scoring, a critic's
verdicts and prompt training need none of it: they want the logits of one pass over prepared
embeddings, on top of a prompt's cached keys and values at most; decoding wants, besides, the
keys and values so far, which plain tensors hold as well as a cache object does.

`lean_logits` runs that pass on the model's own weights, looked up once (`LeanModel`: on a
small model, looking up each module's weight on every call is a noticeable share of the pass),
with the same kernels in the same order as the model's own sdpa attention, so every hidden
state, key and value is the model's to the last bit. Two things differ from the model's
forward, both for speed on uneven batches and large vocabularies: padded rows run packed (the
position-wise layers over real positions only; a row of a many-row matrix product comes out
the same with fewer rows beside it, which the tests check on keys and values), and a batch's
kept positions reach the vocabulary in one matrix product, which rounds some logits
differently in the last bit. `lean_step` does the same for a decoding step and hands back
plain per-layer keys and values instead of a cache object; the tests hold greedy answers to
the plain path's, token for token.

Only the architectures whose layers are exactly "RMSNorm → attention with rotary positions →
RMSNorm → gated MLP" qualify (`lean_supported`): Llama and Qwen2 with full attention, sdpa, no
dropout and plain linear layers. Anything else (GPT-2, sliding windows, eager or flash
attention, quantized or adapter-wrapped layers) takes the model's forward, and so does any call
while a forward hook is registered on the model (`hooked`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

KV = Sequence[tuple[torch.Tensor, torch.Tensor]]

_FAMILIES = ("llama", "qwen2")


def lean_supported(model: Any) -> bool:
    """Whether `lean_logits` computes exactly what `model`'s own forward does."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) not in _FAMILIES:
        return False
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    if float(getattr(config, "attention_dropout", 0.0) or 0.0) != 0.0:
        return False
    if getattr(config, "pretraining_tp", 1) not in (None, 1):
        return False
    if getattr(config, "use_sliding_window", False):
        return False
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None and any(t != "full_attention" for t in layer_types):
        return False
    body: Any = getattr(model, "model", None)
    parts = ("embed_tokens", "layers", "norm", "rotary_emb")
    if not all(hasattr(body, part) for part in parts) or not len(body.layers):
        return False
    try:
        linears = [model.lm_head]
        norms = [body.norm]
        for layer in body.layers:
            attn, mlp = layer.self_attn, layer.mlp
            linears += [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj]
            linears += [mlp.gate_proj, mlp.up_proj, mlp.down_proj]
            norms += [layer.input_layernorm, layer.post_attention_layernorm]
            _needed = (attn.scaling, attn.head_dim, mlp.act_fn)  # the pass reads these too
    except AttributeError:
        return False
    # Plain layers only: a quantized or adapter-wrapped linear computes more than its weight.
    return all(type(m) is torch.nn.Linear for m in linears) and all(
        hasattr(n, "weight") and hasattr(n, "variance_epsilon") for n in norms
    )


def hooked(modules: Sequence[torch.nn.Module]) -> bool:
    """Whether a forward hook would see these modules run (the lean pass calls none of them,
    so where someone listens, the model's own forward must run)."""
    from torch.nn.modules import module as nn_module

    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in modules)


@dataclass(frozen=True, slots=True)
class LeanLayer:
    """One decoder layer's weights, as the pass reads them."""

    input_norm: tuple[torch.Tensor, float]  # weight, epsilon
    q: tuple[torch.Tensor, torch.Tensor | None]  # weight, bias
    k: tuple[torch.Tensor, torch.Tensor | None]
    v: tuple[torch.Tensor, torch.Tensor | None]
    o: tuple[torch.Tensor, torch.Tensor | None]
    post_norm: tuple[torch.Tensor, float]
    gate: tuple[torch.Tensor, torch.Tensor | None]
    up: tuple[torch.Tensor, torch.Tensor | None]
    down: tuple[torch.Tensor, torch.Tensor | None]
    act: Callable[[torch.Tensor], torch.Tensor]
    scaling: float
    head_dim: int


@dataclass(frozen=True, slots=True)
class LeanModel:
    """A `lean_supported` model's weights, looked up once.

    It holds the model's parameters themselves, so moving the model (`.to`) or loading a state
    dict into it is seen; replacing its modules is not (nor is it by `FrozenLM`'s hook check),
    so a `FrozenLM` is made after the model is put together.
    """

    layers: tuple[LeanLayer, ...]
    norm: tuple[torch.Tensor, float]
    head: tuple[torch.Tensor, torch.Tensor | None]
    rotary: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def lean_model(model: Any) -> LeanModel:
    """`model`'s weights for the lean pass (the model must be `lean_supported`)."""
    body = model.model

    def linear(m: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor | None]:
        return m.weight, m.bias

    def norm(m: Any) -> tuple[torch.Tensor, float]:
        return m.weight, m.variance_epsilon

    layers = tuple(
        LeanLayer(
            input_norm=norm(layer.input_layernorm),
            q=linear(layer.self_attn.q_proj),
            k=linear(layer.self_attn.k_proj),
            v=linear(layer.self_attn.v_proj),
            o=linear(layer.self_attn.o_proj),
            post_norm=norm(layer.post_attention_layernorm),
            gate=linear(layer.mlp.gate_proj),
            up=linear(layer.mlp.up_proj),
            down=linear(layer.mlp.down_proj),
            act=layer.mlp.act_fn,
            scaling=layer.self_attn.scaling,
            head_dim=layer.self_attn.head_dim,
        )
        for layer in body.layers
    )
    return LeanModel(layers, norm(body.norm), linear(model.lm_head), body.rotary_emb)


def lean_logits(
    model: LeanModel,
    inputs_embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    past: KV | None = None,
    logits_to_keep: int = 0,
) -> torch.Tensor:
    """Logits `(B, T or logits_to_keep, V)` of one pass over `inputs_embeds` `(B, T, H)`.

    `attention_mask` `(B, P + T)` covers the `P` cached positions of `past` (per layer, keys and
    values `(B, kv_heads, P, head_dim)`) and then the `T` new ones; `position_ids` `(B, T)`.
    A position attends to the unmasked positions up to itself, and always to itself, so a
    padding position's row stays finite (its logits are never read).
    """
    logits, _ = _run(model, inputs_embeds, attention_mask, position_ids, past, logits_to_keep)
    return logits


def lean_step(
    model: LeanModel,
    inputs_embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    past: KV | None = None,
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    """A decoding step (or a prefill): the last position's logits `(B, V)` and every layer's
    keys and values, `past`'s followed by the new positions', for the next step."""
    logits, layers = _run(model, inputs_embeds, attention_mask, position_ids, past, 1, True)
    return logits[:, -1], layers


def _run(
    model: LeanModel,
    x: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    past: KV | None,
    logits_to_keep: int,
    keep_cache: bool = False,
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    B, T, width = x.shape
    P = attention_mask.shape[1] - T
    # As the model's own mask builder: none where nothing is padded and causality is implied
    # (nothing cached, or one new position that sees everything).
    unpadded = bool(attention_mask.all())
    plain = (P == 0 or T == 1) and unpadded
    mask = None if plain else _mask(attention_mask, T)
    cos, sin = model.rotary(x, position_ids)  # (B, T, head_dim)
    # Padded rows run packed: every position-wise step (the linear layers, norms, rotation)
    # over the real positions only, stacked as one matrix, and only attention on the padded
    # layout, where pads are masked. A batch of uneven rows skips its pads' arithmetic, and its
    # real rows come out as in the padded pass.
    real = x.new_empty(0, dtype=torch.long)
    if not unpadded:
        real = attention_mask[:, P:].reshape(B * T).nonzero().squeeze(1)  # (N,) of B * T
    packed = not unpadded and real.numel() < B * T
    if packed:
        x = x.reshape(B * T, width).index_select(0, real)  # (N, H)
        cos, sin = (
            cos.reshape(B * T, -1)[real].unsqueeze(1),
            sin.reshape(B * T, -1)[real].unsqueeze(1),
        )
    else:
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    half = cos.shape[-1] // 2
    # The model's rotate_half(t) * sin is cat(-t2, t1) * sin: the halves swapped, times sin with
    # its first half negated. Negating a factor is exact, so this is the same product, in fewer
    # operations per call.
    signed_sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)

    def rotate(t: torch.Tensor) -> torch.Tensor:
        return (t * cos) + (torch.roll(t, half, dims=-1) * signed_sin)

    def heads(t: torch.Tensor, d: int, turn: bool) -> torch.Tensor:
        """A projection `(B, T, n * d)` or packed `(N, n * d)` as `(B, n, T, d)`, rotated
        (`turn`) before it is spread over the padded layout (pads zero, and masked)."""
        if not packed:
            t = t.view(B, T, -1, d).transpose(1, 2)
            return rotate(t) if turn else t
        t = t.view(real.numel(), -1, d)
        if turn:
            t = rotate(t)
        spread = t.new_zeros(B * T, t.shape[1], d).index_copy(0, real, t)
        return spread.view(B, T, -1, d).transpose(1, 2)

    layers: list[tuple[torch.Tensor, torch.Tensor]] = []
    for i, layer in enumerate(model.layers):
        d = layer.head_dim
        h = _rms_norm(x, *layer.input_norm)
        q = heads(F.linear(h, *layer.q), d, True)
        k = heads(F.linear(h, *layer.k), d, True)
        v = heads(F.linear(h, *layer.v), d, False)
        if past is not None:
            k = torch.cat([past[i][0], k], dim=2)
            v = torch.cat([past[i][1], v], dim=2)
        if keep_cache:
            layers.append((k, v))
        out = _attention(q, k, v, mask, layer.scaling).transpose(1, 2)
        out = out.reshape(B * T, -1).index_select(0, real) if packed else out.reshape(B, T, -1)
        x = x + F.linear(out, *layer.o)
        h = _rms_norm(x, *layer.post_norm)
        x = x + F.linear(layer.act(F.linear(h, *layer.gate)) * F.linear(h, *layer.up), *layer.down)
    x = _rms_norm(x, *model.norm)
    if packed:  # back to the padded layout (pads zero: their logits are never read)
        x = x.new_zeros(B * T, width).index_copy(0, real, x).view(B, T, width)
    # The kept positions go to the vocabulary in one matrix product over every row. The model's
    # own forward multiplies the strided slice, which torch runs as one product per row, each
    # reading the whole output layer again: on a large vocabulary that costs more than the
    # product itself. One product rounds some logits differently in the last bit.
    kept = x[:, -logits_to_keep:] if logits_to_keep else x
    return F.linear(kept.contiguous(), *model.head), layers


def _attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float
) -> torch.Tensor:
    """`(B, heads, T, d)`, dispatched as the model's sdpa attention dispatches: grouped keys
    and values shared natively without a mask, a lone query folded onto its key/value heads
    under one, keys and values repeated otherwise."""
    B, heads, T, d = q.shape
    groups = heads // k.shape[1]
    if groups == 1 or mask is None:
        return F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            scale=scale,
            is_causal=mask is None and T > 1,
            enable_gqa=groups > 1,
        )
    if T == 1:
        folded = q.reshape(B, heads // groups, groups, d)
        out = F.scaled_dot_product_attention(folded, k, v, attn_mask=mask, scale=scale)
        return out.reshape(B, heads, T, d)
    k, v = _repeat(k, groups), _repeat(v, groups)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


def _mask(attention_mask: torch.Tensor, T: int) -> torch.Tensor:
    """`(B, 1, T, P + T)`: causal over the unmasked keys, and every position to itself."""
    S = attention_mask.shape[1]
    P = S - T
    device = attention_mask.device
    causal = torch.ones(T, S, dtype=torch.bool, device=device).tril(P)  # (T, S)
    own = torch.zeros(T, S, dtype=torch.bool, device=device)
    steps = torch.arange(T, device=device)
    own[steps, P + steps] = True
    return ((causal & attention_mask.bool().unsqueeze(1)) | own).unsqueeze(1)


def _repeat(t: torch.Tensor, groups: int) -> torch.Tensor:
    """`(B, kv_heads, S, d)` to `(B, kv_heads * groups, S, d)`, each head `groups` times."""
    b, heads, s, d = t.shape
    return t[:, :, None].expand(b, heads, groups, s, d).reshape(b, heads * groups, s, d)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """The models' RMSNorm: in float32, cast back, then the weight (the casts are no-ops, and
    skipped, on a float32 model)."""
    if x.dtype == torch.float32:
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))
    xf = x.to(torch.float32)
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(x.dtype)
