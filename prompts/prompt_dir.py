"""A prompt directory's files checked and its manifest read, without torch.

Commands check a `--prompt DIR` with this before they import torch or load a model, so a wrong
path fails in a second; `files.load_prompt` runs the same checks and then reads the tensor.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from softloop.prompts.errors import PromptFileError
from softloop.prompts.manifest import PromptManifest

WEIGHTS = "prompt.safetensors"
MANIFEST = "manifest.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")


def open_prompt_dir(directory: str | Path) -> tuple[Path, PromptManifest]:
    """The prompt's directory and validated manifest; refuses a missing or unsafe directory."""
    path = Path(directory)
    if path.is_file():
        if path.name != WEIGHTS:
            raise PromptFileError(_not_a_prompt(path))
        path = path.parent
    if not path.is_dir():
        raise PromptFileError(f"no prompt directory at {path}; check the path or save one there")
    weights, manifest_path = path / WEIGHTS, path / MANIFEST
    if not weights.is_file():
        raise PromptFileError(_not_a_prompt(path))
    if _looks_pickled(weights):
        raise PromptFileError(
            f"{weights} is a pickle/torch.save file, which softloop never loads because "
            "unpickling can run arbitrary code; re-save the prompt as safetensors"
        )
    if not manifest_path.is_file():
        raise PromptFileError(f"{manifest_path} is missing; a prompt directory needs its manifest")
    try:
        manifest = PromptManifest.model_validate_json(manifest_path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError, UnicodeDecodeError) as err:
        raise PromptFileError(
            f"{manifest_path} is not a valid prompt manifest ({first_problem(err)})"
        ) from err
    return path, manifest


def read_manifest(directory: str | Path) -> PromptManifest:
    """The manifest of a saved prompt, validated, without reading the tensor."""
    path = Path(directory) / MANIFEST
    try:
        return PromptManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError) as err:
        raise PromptFileError(
            f"{path} cannot be read as a prompt manifest ({first_problem(err)})"
        ) from err


def first_problem(err: Exception) -> str:
    """The first problem a validation error names, as `field: message`, on one line."""
    if isinstance(err, ValidationError) and err.errors():
        first = err.errors()[0]
        # A key from the file may hold anything, a line break included: such a part is quoted.
        where = ".".join(_printable(str(part)) for part in first["loc"])
        msg = _printable(str(first["msg"]))
        return f"{where}: {msg}" if where else msg
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)


def _looks_pickled(path: Path) -> bool:
    # Pickle protocol 2+ starts with 0x80; torch.save's zip format with "PK".
    with path.open("rb") as fh:
        head = fh.read(2)
    return head[:1] == b"\x80" or head == b"PK"


def _not_a_prompt(path: Path) -> str:
    if path.is_dir():
        pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            return (
                f"{path} holds {', '.join(pickles)} but no {WEIGHTS}; softloop never loads "
                "pickle files because they can run code, so re-save the prompt as safetensors"
            )
    elif path.suffix in PICKLE_SUFFIXES:
        return (
            f"{path} is a pickle-format file, which softloop never loads because it can run "
            "code; re-save the prompt as safetensors"
        )
    return f"{path} is not a prompt directory (no {WEIGHTS}); pass a directory made by save()"
