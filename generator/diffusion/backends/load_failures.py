"""What a failed load of DeepFloyd IF means, in one sentence; and loading without the libraries' progress bars."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from generator.diffusion.backends.probe import CONFIG_TABLE, GATED, LOGIN, is_local_model, repo_folder

# diffusers re-raises some 401/403 responses as a plain OSError; this finds them in its message.
_GATED_TEXT = re.compile(r"\bgated\b|\b40[13]\b", re.IGNORECASE)
# safetensors and torch's words for a weights file that is cut short or overwritten
_CORRUPT_TEXT = re.compile(r"header|incomplete metadata|deserializ|unexpected end of|invalid load key", re.IGNORECASE)
_WEIGHTS_FILE = re.compile(r"'([^']+\.(?:safetensors|bin))'")
_NETWORK_ERROR_NAMES = {"ConnectionError", "ConnectError", "NetworkError", "TransportError", "Timeout", "TimeoutException"}


@contextmanager
def quiet_loading() -> Iterator[None]:
    """No per-component progress bars or "using the cached commit" notes from diffusers, transformers and huggingface_hub.

    A download's own progress (huggingface_hub's bars) still shows: that one is worth watching.
    """
    loggers = [logging.getLogger(name) for name in ("diffusers", "transformers", "huggingface_hub")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with _progress_bars_off():
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def _progress_bars_off() -> Iterator[None]:
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        diffusers_logging.enable_progress_bar()
        transformers_logging.enable_progress_bar()


def load_failure(err: BaseException, model_id: str) -> str:
    """The one sentence that tells a user what to do about `err`, raised while loading `model_id` (a Hub id or a folder)."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    where = f"{model_id} and download it again" if is_local_model(model_id) else f"{repo_folder(model_id)} to download it again"
    chain = _causes(err)
    statuses = {getattr(getattr(e, "response", None), "status_code", None) for e in chain if isinstance(e, HfHubHTTPError)}
    if any(isinstance(e, GatedRepoError) for e in chain) or statuses & {401, 403} or any(_GATED_TEXT.search(str(e)) for e in chain):
        return GATED
    if any(isinstance(e, RepositoryNotFoundError) for e in chain):
        return f"{model_id} was not found on the Hugging Face Hub; check the model id in {CONFIG_TABLE}, {LOGIN}."
    if any(isinstance(e, LocalEntryNotFoundError) or _is_network_error(e) for e in chain):
        return f"{model_id} is not in the local Hugging Face cache and the Hub can't be reached; connect to the internet (and unset HF_HUB_OFFLINE) to download it once, or use --backend mnist."
    if any(isinstance(e, torch.OutOfMemoryError) for e in chain):
        return f"{model_id} does not fit in GPU memory; set cpu_offload = true in {CONFIG_TABLE} or use a smaller stage_1 such as DeepFloyd/IF-I-L-v1.0."
    if any(isinstance(e, ImportError) for e in chain):
        return f"Loading {model_id} needs a missing package ({_first_line(err)}); install it, or set t5_8bit = false in {CONFIG_TABLE} if it is bitsandbytes."
    if any(type(e).__name__ == "SafetensorError" or _CORRUPT_TEXT.search(str(e)) for e in chain):
        named = [match.group(1) for e in chain for match in [_WEIGHTS_FILE.search(str(e))] if match]
        damaged = "/".join(Path(named[0]).parts[-2:]) if named else "a weights file"
        return f"{damaged} of {model_id} is damaged and cannot be read; delete {where}."
    return f"Could not load {model_id} ({_first_line(err)}); delete {where}, or use --backend mnist."


def _first_line(err: BaseException) -> str:
    detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return detail if len(detail) <= 160 else detail[:157] + "..."


def _is_network_error(err: BaseException) -> bool:
    """A failed connection, whichever HTTP client raised it (requests, httpx) or the socket layer below it."""
    names = {cls.__name__ for cls in type(err).__mro__}
    return isinstance(err, ConnectionError | TimeoutError | socket.gaierror) or bool(names & _NETWORK_ERROR_NAMES)


def _causes(err: BaseException) -> list[BaseException]:
    """`err` and every exception it was raised from or while handling."""
    chain: list[BaseException] = []
    pending: list[BaseException] = [err]
    while pending:
        current = pending.pop(0)
        if current not in chain:
            chain.append(current)
            pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return chain
