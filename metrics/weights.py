"""Where metric networks come from: a config path, a hub cache, or one clear error.

Nothing is downloaded at run time. Each network is looked up in order: the path set in
``conf/metrics`` (``metrics.<net>.<key>``), then the file the usual library would have cached
(torch.hub's ``checkpoints/`` folder, the Hugging Face hub cache). When none exists the caller
gets a ``MissingWeightsError`` that names the file to fetch and the config key to set, instead
of a network error from deep inside torchvision or transformers.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

logger = logging.getLogger(__name__)


class MissingWeightsError(FileNotFoundError):
    """A metric network's weights are neither configured nor cached locally, or unreadable."""

    def __init__(self, network: str, fetch: str, config_key: str, tried: list[str]) -> None:
        self.network, self.config_key = network, config_key
        looked = "; ".join(tried) or "(nothing configured)"
        super().__init__(
            f"{network}: no usable weights offline (looked at: {looked}). Fetch {fetch} and set "
            f"{config_key}=<path>."
        )


class SeveralMissingWeightsError(MissingWeightsError):
    """Several metric networks missing at once: one message naming every one, so a user
    fetches them all in one go instead of meeting them one rerun at a time."""

    def __init__(self, errors: list[MissingWeightsError]) -> None:
        self.errors = errors
        self.network = ", ".join(e.network for e in errors)
        self.config_key = ", ".join(e.config_key for e in errors)
        FileNotFoundError.__init__(
            self,
            f"{len(errors)} metric networks have no weights offline:\n"
            + "\n".join(f"  {e}" for e in errors),
        )


def torch_hub_checkpoint(filename: str) -> Path:
    """Where ``torch.hub.load_state_dict_from_url`` would have cached ``filename``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def find_weights(
    network: str, configured: str | None, cached: list[Path], fetch: str, config_key: str
) -> Path:
    """Return the configured file if set (it must exist), else the first cached file found."""
    if configured:
        path = Path(configured).expanduser()
        if path.is_file():
            return path
        raise MissingWeightsError(network, fetch, config_key, [str(path)])
    for path in cached:
        if path.is_file():
            logger.info("%s: using cached weights %s", network, path)
            return path
    raise MissingWeightsError(network, fetch, config_key, [str(p) for p in cached])


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a ``.pth``/``.pt``/``.safetensors`` state dict on the CPU (tensors only)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model", "teacher"):
        if isinstance(state, dict) and wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
    return state


def read_weights(path: Path, network: str, fetch: str, config_key: str) -> dict[str, torch.Tensor]:
    """``load_state_dict``, where a file that is not a readable state dict (empty, cut short,
    another format) is a ``MissingWeightsError`` naming it, not a traceback from the reader."""
    try:
        return load_state_dict(path)
    # torch's unpickler raises whatever the bytes of a non-state-dict file lead it to (EOFError,
    # KeyError, RuntimeError, UnpicklingError ...): each means unusable weights to a user
    except Exception as err:  # noqa: BLE001
        first_line = str(err).splitlines()[0] if str(err) else "empty"
        reason = f"{type(err).__name__}: {first_line}"
        raise MissingWeightsError(
            network, fetch, config_key, [f"{path} (not a readable state dict: {reason})"]
        ) from None
