"""Moving prompts to and from Hugging Face PEFT's prompt-tuning adapters.

A PEFT adapter directory holds `adapter_config.json` and `adapter_model.safetensors` with one
tensor, `prompt_embeddings` `(n_tokens, hidden)`. We write exactly that (PEFT itself is never
imported here), plus our manifest in the safetensors metadata so a round trip through PEFT's
format keeps name, template and fingerprint.

Layout caveat: PEFT puts virtual tokens before BOS; softloop puts them after it by default.
A prompt moved between the two behaves identically only on tokenizers that add no BOS, or when
the `FrozenLM` is built with `prompt_after_bos=False`. A prompt whose template places the
virtual tokens after some of its text (a chat template's `{prompt}`) has no PEFT equivalent and
is not exported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from softloop.prompts.errors import ConfigError, PromptFileError
from softloop.prompts.files import atomic_directory, check_compatible, check_weight
from softloop.prompts.manifest import PromptManifest, split_template
from softloop.prompts.soft_prompt import SoftPrompt

if TYPE_CHECKING:
    from softloop.prompts.frozen_lm import FrozenLM

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
TENSOR = "prompt_embeddings"
META_KEY = "softloop_manifest"

# Our init names -> PEFT's PromptTuningInit values. "vocab" is written as RANDOM because
# SAMPLE_VOCAB only exists in recent PEFT; the init only matters if PEFT trains further, and our
# own manifest (in the metadata) keeps the truth.
_PEFT_INIT = {"text": "TEXT", "vocab": "RANDOM", "random": "RANDOM"}
_FROM_PEFT_INIT = {"TEXT": "text", "SAMPLE_VOCAB": "vocab", "RANDOM": "random"}


def export_peft(
    prompt: SoftPrompt,
    directory: str | Path,
    base_model_name_or_path: str | None = None,
    lm: FrozenLM | None = None,
) -> Path:
    """Write `prompt` as a PEFT PROMPT_TUNING adapter that `PeftModel.from_pretrained` loads.

    A prompt whose template places its virtual tokens after some text (`{prompt}`, e.g. inside
    a chat template's user turn) is refused: PEFT always puts them before all text, where the
    prompt was never trained to sit.
    """
    m = prompt.manifest
    if prompt.places_tokens:
        raise ConfigError(
            f"prompt {m.name!r} places its virtual tokens inside its template (after "
            f"{split_template(m.template)[0]!r}), but PEFT puts them before all text; it cannot "
            "be exported as a PEFT adapter (train one without --chat and {prompt} to export)"
        )
    # Only a path the caller vouches for may serve as PEFT's tokenizer for TEXT init: PEFT
    # loads it when the adapter is opened for further training.
    vouched = base_model_name_or_path or (lm.model_id if lm is not None else None)
    base = vouched or m.base_model_id
    extra = m.extra
    layers, heads = extra.get("num_layers"), extra.get("num_attention_heads")
    if lm is not None:
        layers = getattr(lm.model.config, "num_hidden_layers", layers)
        heads = getattr(lm.model.config, "num_attention_heads", heads)
    init = _PEFT_INIT.get(m.init, "RANDOM")
    init_text = extra.get("init_text")
    if init == "TEXT" and not (vouched and init_text):
        # PEFT refuses TEXT without a tokenizer path; the weights are loaded over it anyway.
        init = "RANDOM"
    config: dict[str, Any] = {
        "peft_type": "PROMPT_TUNING",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base,
        "revision": None,
        "inference_mode": True,
        "num_virtual_tokens": m.n_tokens,
        "token_dim": m.hidden_size,
        "num_transformer_submodules": 1,
        "num_attention_heads": heads,
        "num_layers": layers,
        "prompt_tuning_init": init,
        "prompt_tuning_init_text": init_text if init == "TEXT" else None,
        "tokenizer_name_or_path": base if init == "TEXT" else None,
        "tokenizer_kwargs": None,
        "modules_to_save": None,
        "auto_mapping": None,
    }
    with atomic_directory(directory) as tmp:
        tensor = prompt.weight.detach().to("cpu", torch.float32).contiguous()
        metadata = {"format": "pt", META_KEY: m.model_dump_json()}
        save_file({TENSOR: tensor}, str(tmp / WEIGHTS), metadata=metadata)
        (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return Path(directory).resolve()


def import_peft(
    directory: str | Path, lm: FrozenLM | None = None, name: str | None = None
) -> SoftPrompt:
    """Read a PEFT prompt-tuning adapter (ours or PEFT's own) as a `SoftPrompt`.

    With `lm`, the prompt is checked against and stamped with that model's id and fingerprint;
    without it, an adapter that did not come from softloop gets an empty fingerprint ("unknown").
    """
    path = Path(directory)
    config_path, weights = path / CONFIG, path / WEIGHTS
    if not config_path.is_file() or not weights.is_file():
        raise PromptFileError(
            f"{path} is not a PEFT adapter directory (needs {CONFIG} and {WEIGHTS}); "
            "pass the directory save_pretrained wrote"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise PromptFileError(f"{config_path} is not valid JSON ({err})") from err
    if config.get("peft_type") != "PROMPT_TUNING":
        raise PromptFileError(
            f"{path} is a {config.get('peft_type')} adapter; only PROMPT_TUNING adapters "
            "are soft prompts softloop can import"
        )
    if config.get("num_transformer_submodules", 1) != 1:
        raise PromptFileError(
            f"{path} has {config['num_transformer_submodules']} transformer submodules "
            "(an encoder-decoder adapter); only decoder-only CAUSAL_LM adapters can be imported"
        )
    try:
        with safe_open(str(weights), framework="pt") as fh:
            keys = set(fh.keys())
            if TENSOR not in keys:
                raise PromptFileError(
                    f"{weights} has no {TENSOR!r} tensor (found {sorted(keys)}); "
                    "it is not a prompt-tuning adapter"
                )
            tensor = fh.get_tensor(TENSOR).to(torch.float32)
            meta = fh.metadata() or {}
    except SafetensorError as err:
        raise PromptFileError(f"{weights} is truncated or corrupt ({err})") from err
    if tensor.dim() != 2:
        raise PromptFileError(f"{weights} holds a {tensor.dim()}-d prompt; expected (n, hidden)")
    manifest = _manifest(meta, config, tensor, lm, name)
    check_weight(tensor, manifest, where=str(weights))
    if lm is not None:
        check_compatible(manifest, lm)
    prompt = SoftPrompt(tensor, manifest)
    return prompt.to(lm.device) if lm is not None else prompt


def _manifest(
    meta: dict[str, str],
    config: dict[str, Any],
    tensor: torch.Tensor,
    lm: FrozenLM | None,
    name: str | None,
) -> PromptManifest:
    if META_KEY in meta:  # exported by softloop: keep everything it knew
        try:
            manifest = PromptManifest.model_validate_json(meta[META_KEY])
        except ValidationError as err:
            raise PromptFileError(
                f"the softloop manifest inside the adapter is invalid ({err}); re-export it"
            ) from err
        return manifest.model_copy(update={"name": name}) if name else manifest
    n, hidden = tensor.shape
    base_key = "base_model_name_or_path"
    init = _FROM_PEFT_INIT.get(str(config.get("prompt_tuning_init")), "random")
    return PromptManifest(
        name=name or "peft-prompt",
        n_tokens=n,
        hidden_size=hidden,
        base_model_id=lm.model_id if lm is not None else str(config.get(base_key) or ""),
        # Stamped with the model it is imported for: we cannot know what PEFT trained on.
        base_fingerprint=lm.fingerprint if lm is not None else "",
        init=init,
        extra={"imported_from": "peft", "peft_config": config},
    )
