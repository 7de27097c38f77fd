"""How the commands print a named user error: its message, less Hydra's config search path.

Hydra's "could not find 'metrics/paritty'" errors list the valid options (useful) and then the
config search path (internal folders a user never needs): the path is cut, the rest is kept.
"""

from __future__ import annotations

SEARCH_PATH_HEADER = "Config search path:"


def user_message(err: BaseException) -> str:
    """``str(err)`` without Hydra's trailing config search path section."""
    text = str(err)
    head, _, _ = text.partition(SEARCH_PATH_HEADER)
    return head.rstrip() or text
