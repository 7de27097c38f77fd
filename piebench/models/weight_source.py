"""Telling a local folder from a Hugging Face hub id, and how to fetch either.

Every model setting (``model.path``, ``metrics.clip.path``, ``method.clip_model``,
``method.caption_model``) takes a hub id (``owner/name``) or a local folder. When the weights are
missing, the right advice differs: a folder path that does not exist is a typo or a download not
yet made, not a hub id to look up in the cache.
"""

from __future__ import annotations

from pathlib import Path


def names_local_folder(path: str) -> bool:
    """Whether ``path`` can only be a filesystem path: absolute, ``~``/``.``-relative, deeper
    than a hub id's ``owner/name``, or an existing file or folder."""
    text = str(path)
    local = Path(text).expanduser()
    return (
        local.is_absolute()
        or text.startswith(("~", "."))
        or text.strip("/").count("/") > 1
        or local.exists()
    )


def download_command(hub_id: str, folder: str | Path) -> str:
    """The Hugging Face CLI line that puts ``hub_id`` into ``folder`` (huggingface_hub's ``hf``)."""
    return f"hf download {hub_id} --local-dir {folder}"


def fetch_hint(path: str, hub_id: str) -> tuple[str, str]:
    """(command, folder) that gets the weights ``path`` names: ``hub_id`` into that folder when
    ``path`` is a folder, else ``path`` itself (a hub id) into ``/models/<name>``."""
    if names_local_folder(path):
        folder = str(Path(path).expanduser())
        return download_command(hub_id, folder), folder
    folder = f"/models/{Path(path).name}"
    return download_command(path, folder), folder
