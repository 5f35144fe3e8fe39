"""Loading a GGUF file (a llama.cpp checkpoint) as a plain Hugging Face model, converted once.

transformers reads GGUF (`gguf_file=`, with the `gguf` package) and dequantises it to ordinary
float weights, but slowly, and it then refuses `save_pretrained` because the model still says
it is quantised, although nothing quantised is left. So the first load converts: the float
model is saved as safetensors under `<cache>/models/<stem>-<sha256 prefix>/` (`$SOFTLOOP_HOME`
by default), and every later load of the same file reads that copy. The copy holds the very
weights the conversion produced, so a prompt's fingerprint is the same either way.

The copy is keyed by the file's content, not its path: a moved file finds its copy, an edited
one is converted again. It is written under a temporary name and renamed into place, so a
process that dies half-way leaves no copy that looks complete, and two processes converting at
once both end with the same one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from softloop.prompts.errors import SoftloopError
from softloop.prompts.home import softloop_home

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SUFFIX = ".gguf"
MARKER = "softloop-gguf.json"  # written last: a directory without it is not a finished copy
_CHUNK = 1 << 20


def is_gguf(path_or_id: str | Path) -> bool:
    """Whether a model argument names a GGUF file (by its suffix; it need not exist yet)."""
    return str(path_or_id).lower().endswith(SUFFIX)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_dir(path: Path, digest: str, cache_dir: Path | None = None) -> Path:
    """Where the converted copy of the GGUF file with this sha256 lives.

    The file's stem only makes the folder recognisable; it is reduced to safe characters, since
    a file name is not a softloop name and must not steer the path.
    """
    root = Path(cache_dir) if cache_dir is not None else softloop_home() / "models"
    stem = re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip(".-")[:48] or "model"
    return root / f"{stem}-{digest[:16]}"


def load_gguf(
    path: str | Path, dtype: Any = None, cache_dir: Path | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model and tokenizer of a GGUF file: from its converted copy, converting it first.

    Announces the conversion with one line on stderr, and keeps transformers' own conversion
    bars off it.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    file = Path(path).expanduser()
    if not file.is_file():
        raise SoftloopError(f"no GGUF file at {str(path)!r}; pass the path of a .gguf file")
    digest = file_sha256(file)
    target = converted_dir(file, digest, cache_dir)
    kwargs: dict[str, Any] = {"dtype": dtype} if dtype is not None else {}
    if (target / MARKER).is_file():
        tokenizer = AutoTokenizer.from_pretrained(target)
        return AutoModelForCausalLM.from_pretrained(target, **kwargs), tokenizer
    print(
        f"softloop: converting {file.name} to safetensors under {target} (once; later loads "
        "read the copy)",
        file=sys.stderr,
        flush=True,
    )
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # the converter's own progress bar
            tokenizer = AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
            model = AutoModelForCausalLM.from_pretrained(file.parent, gguf_file=file.name)
    except ImportError as err:
        raise SoftloopError(
            f"loading {file.name} needs the gguf package ({err}); pip install gguf"
        ) from err
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SoftloopError(f"cannot load the GGUF file {str(path)!r} ({first})") from err
    _unmark_quantised(model)
    _save_copy(model, tokenizer, target, file, digest)
    if dtype is not None:
        model = model.to(dtype)
    return model, tokenizer


def _unmark_quantised(model: Any) -> None:
    """Let `save_pretrained` write the dequantised floats the model already holds."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False


def _save_copy(model: Any, tokenizer: Any, target: Path, source: Path, digest: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        marker = {"source": source.name, "sha256": digest}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / MARKER).is_file():  # not another process's finished copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
