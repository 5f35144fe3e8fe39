"""Prompt files: `prompt.safetensors` + `manifest.json` in one directory, written atomically.

Why so careful: agents load prompts while a refiner writes new versions, possibly on another
machine over a shared disk. A reader must see either the old directory or the new one, never a
half-written tensor, so we write into a temporary sibling, fsync, and rename. And a prompt file
is data that may come from elsewhere, so nothing here ever unpickles.

Known limitation: replacing an existing directory takes two renames (old aside, new in), so for
a moment the path does not exist; readers retry or read the registry's version paths instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from softloop.prompts.errors import PromptFileError, PromptMismatchError
from softloop.prompts.manifest import PromptManifest
from softloop.prompts.prompt_dir import (
    MANIFEST,
    WEIGHTS,
    first_problem,
    open_prompt_dir,
)
from softloop.prompts.soft_prompt import SoftPrompt

if TYPE_CHECKING:
    from softloop.prompts.frozen_lm import FrozenLM

log = logging.getLogger("softloop.prompts")

TENSOR = "prompt"


def save_prompt(prompt: SoftPrompt, directory: str | Path) -> Path:
    """Write the prompt into `directory` (created or replaced whole) and return its path.

    Only what `load_prompt` would accept is written: the manifest is validated again (a
    `model_copy(update=...)` skips validation) and a tensor holding NaN or inf is refused, so a
    diverged training run can never leave a prompt file that cannot be loaded.
    """
    try:
        manifest = PromptManifest.model_validate(prompt.manifest.model_dump())
    except ValidationError as err:
        raise PromptFileError(
            f"not saved: the prompt's manifest is invalid ({first_problem(err)})"
        ) from None
    tensor = prompt.weight.detach().to(device="cpu", dtype=torch.float32).contiguous()
    check_weight(tensor, manifest, where=f"prompt {manifest.name!r} (not saved)")
    with atomic_directory(directory) as tmp:
        save_file({TENSOR: tensor}, str(tmp / WEIGHTS), metadata={"format": "pt"})
        (tmp / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", "utf-8")
    return Path(directory).resolve()


@contextmanager
def atomic_directory(directory: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `directory`; on success fsync it and rename it into place.

    On any error the temporary directory is removed and `directory` is left as it was.
    """
    target = Path(directory).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        for path in tmp.iterdir():
            _fsync(path)
        _fsync(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "x")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
        _fsync(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_prompt(directory: str | Path, lm: FrozenLM | None = None) -> SoftPrompt:
    """Read and validate a prompt directory; with `lm`, also check it was made for that model."""
    path, manifest = open_prompt_dir(directory)
    weights = path / WEIGHTS
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise PromptFileError(
            f"{weights} is truncated or corrupt ({err}); restore it or retrain the prompt"
        ) from err
    if set(tensors) != {TENSOR}:
        raise PromptFileError(
            f"{weights} holds tensors {sorted(tensors)}, expected exactly {TENSOR!r}; "
            "for a PEFT adapter use import_peft"
        )
    weight = tensors[TENSOR]
    check_weight(weight, manifest, where=str(weights))
    if lm is not None:
        check_compatible(manifest, lm)
    prompt = SoftPrompt(weight, manifest)
    return prompt.to(lm.device) if lm is not None else prompt


def check_weight(weight: torch.Tensor, manifest: PromptManifest, where: str) -> None:
    """Refuse tensors whose shape disagrees with the manifest or that hold NaN/inf."""
    expected = (manifest.n_tokens, manifest.hidden_size)
    if tuple(weight.shape) != expected:
        raise PromptFileError(
            f"{where} has shape {tuple(weight.shape)} but its manifest says {expected}; "
            "the files do not belong together, so re-save or retrain the prompt"
        )
    if not torch.isfinite(weight).all():
        bad = int((~torch.isfinite(weight)).sum())
        raise PromptFileError(
            f"{where} contains {bad} NaN or infinite values; training diverged, so retrain "
            "with a lower learning rate or restore an earlier version"
        )


def check_compatible(manifest: PromptManifest, lm: FrozenLM) -> None:
    """Refuse a prompt made for another model; an empty fingerprint means 'unknown', allowed.

    Allowed, but said: without a fingerprint nothing can tell that the prompt was made for this
    model (a manifest edited to blank it would otherwise pass unnoticed).
    """
    if manifest.hidden_size != lm.hidden_size:
        raise PromptMismatchError(
            f"prompt {manifest.name!r} has hidden size {manifest.hidden_size} but model "
            f"{lm.model_id} has {lm.hidden_size}; retrain it for this model or load the "
            f"model it was made for ({manifest.base_model_id})"
        )
    if not manifest.base_fingerprint:
        warn_unfingerprinted(manifest, lm)
    elif manifest.base_fingerprint != lm.fingerprint:
        raise PromptMismatchError(
            f"this prompt was trained for model {manifest.base_model_id} (fingerprint "
            f"{manifest.base_fingerprint}), not {lm.model_id} (fingerprint {lm.fingerprint}); "
            "retrain it or load the model it was made for"
        )


def warn_unfingerprinted(manifest: PromptManifest, lm: FrozenLM) -> None:
    log.warning(
        "prompt %s@%s has no base-model fingerprint, so softloop cannot check that it was made "
        "for %s; re-save it from a prompt trained on this model",
        manifest.name,
        manifest.version,
        lm.model_id,
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
