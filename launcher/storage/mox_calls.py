"""What mox.py and mox_file.py share: the set_auth() settings, telling URLs from local paths, and the wrapper
that turns storage errors into the Mox* exceptions scripts catch (and SIGTERM into death)."""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from launcher.storage.errors import Interrupted, StorageError
from launcher.storage.mox_errors import as_mox_error
from launcher.storage.profiles import Profile, load_profile
from launcher.storage.urls import parse_url

P = ParamSpec("P")
T = TypeVar("T")
_auth: dict[str, Any] = {}  # set_auth()'s settings, for this process


def _profile() -> Profile | None:
    return load_profile(**_auth) if _auth else None


def _is_remote(url: str | os.PathLike[str]) -> bool:
    text = os.fspath(url)
    return isinstance(text, str) and "://" in text and not text.lower().startswith("file://")


def _local(url: str | os.PathLike[str]) -> str:
    """A local path as given (relative stays relative, as os.* would see it); file:// URLs unwrapped."""
    text = os.fspath(url)
    return parse_url(text).path if text.lower().startswith("file://") else text


def _die_of_sigterm() -> None:
    """End the process as SIGTERM would have: the call has already removed its temporary files."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    while True:  # delivery is asynchronous in a multi-threaded process: wait for it here
        time.sleep(1)


def _api(fn: Callable[P, T]) -> Callable[P, T]:
    """One place that turns storage errors into the Mox* exceptions scripts catch, and SIGTERM into death."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except Interrupted:
            _die_of_sigterm()
            raise  # not reached
        except StorageError as exc:
            raise as_mox_error(exc) from None

    return call
