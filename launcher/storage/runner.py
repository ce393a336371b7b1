"""Run the async engine from ordinary (blocking) code.

Ctrl-C and SIGTERM cancel the running sync instead of killing it mid-write, so temporary files are removed
and multipart uploads aborted before the process exits. SIGTERM is only taken over when nobody else handles
it (a job's boot code may push outputs on SIGTERM: its handler stays in charge).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from launcher.storage.errors import Interrupted

T = TypeVar("T")


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine built by `make()` to completion and return its result."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(make)
    # Called from inside an event loop (a notebook, an async caller): use a private loop in a thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="launcher-storage") as pool:
        return pool.submit(_run_here, make).result()


def _run_here(make: Callable[[], Awaitable[T]]) -> T:
    take_sigterm = (
        threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    )
    terminated = False

    async def main() -> T:
        nonlocal terminated
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if take_sigterm and task is not None:

            def on_sigterm() -> None:
                nonlocal terminated
                terminated = True
                task.cancel()

            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        try:
            return await make()
        finally:
            if take_sigterm:
                loop.remove_signal_handler(signal.SIGTERM)

    with asyncio.Runner() as runner:
        try:
            return runner.run(main())
        except asyncio.CancelledError:
            if terminated:
                raise Interrupted("interrupted by SIGTERM: finished files are in place, re-run to complete") from None
            raise
