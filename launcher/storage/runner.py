"""Run the async engine from ordinary (blocking) code, on one long-lived event loop per process.

Every blocking `launcher.storage` call and every `mox.file` call runs its coroutine on a background loop
thread that lives as long as the process, so connection pools (session.py) stay warm between calls: a small
`exists` or `read` costs one request, not a new loop, session and TCP connection each time. The loop is safe
to use from any number of threads; after `fork` the child starts its own on first use (the parent's thread
does not exist there); at exit the pools are closed and the loop stopped.

Ctrl-C and SIGTERM cancel the running call instead of killing it mid-write, so temporary files are removed
and multipart uploads aborted before the process exits: Ctrl-C then raises KeyboardInterrupt, SIGTERM raises
`Interrupted`. SIGTERM is only taken over, by the main thread, when nobody else handles it (a job's boot code
may push outputs on SIGTERM: its handler stays in charge).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from launcher.storage.errors import Interrupted

T = TypeVar("T")
_CLOSE_TIMEOUT_S = 5.0
_DRAIN_TIMEOUT_S = 30.0
_IO_THREADS = "launcher-io"  # thread name prefix of the loop's executor and of transfer.py's pool


class _Loop:
    """The background loop thread and what must be closed on it at exit."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.executor = ThreadPoolExecutor(thread_name_prefix=_IO_THREADS)
        self.loop.set_default_executor(self.executor)
        self.closers: list[Callable[[], Awaitable[None]]] = []
        self.thread = threading.Thread(target=self._serve, name="launcher-storage-loop", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def drain(self) -> None:
        """Wait for disk work a cancelled call left on threads (a file being finished or its temporary file
        removed), so that nothing partial remains when the process goes on to exit."""
        old, self.executor = self.executor, ThreadPoolExecutor(thread_name_prefix=_IO_THREADS)
        self.loop.call_soon_threadsafe(self.loop.set_default_executor, self.executor)
        old.shutdown(wait=True)
        for thread in threading.enumerate():  # the engine's own pools, already shut down by the cancellation
            if thread.name.startswith(_IO_THREADS) and thread is not threading.current_thread():
                thread.join(_DRAIN_TIMEOUT_S)

    def close(self) -> None:
        async def close_all() -> None:
            for closer in reversed(self.closers):
                try:
                    await closer()
                except Exception:  # noqa: BLE001 - closing at exit must not mask the process's own outcome
                    pass

        if self.loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(_CLOSE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a pool that will not close in time is dropped with the process
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(_CLOSE_TIMEOUT_S)
        if not self.thread.is_alive():
            self.loop.close()


_lock = threading.Lock()
_current: _Loop | None = None
# A forked child inherits the parent's loop object but not its thread. It is kept referenced (never closed,
# never collected) so that no finaliser touches sockets the parent still uses.
_inherited: list[_Loop] = []


def _shared() -> _Loop:
    global _current
    with _lock:
        if _current is None:
            _current = _Loop()
        return _current


def _after_fork_in_child() -> None:
    global _current, _lock
    _lock = threading.Lock()  # another thread may have held it at the moment of the fork
    if _current is not None:
        _inherited.append(_current)
    _current = None


def _at_exit() -> None:
    global _current
    with _lock:
        shared, _current = _current, None
    if shared is not None:
        shared.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)


def current_loop() -> asyncio.AbstractEventLoop | None:
    """The shared loop of this process, if started."""
    shared = _current
    return shared.loop if shared is not None else None


def on_loop() -> bool:
    """True when the caller runs on the shared loop (pools bound to it may be used)."""
    loop = current_loop()
    if loop is None:
        return False
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def at_close(closer: Callable[[], Awaitable[None]]) -> None:
    """Run `closer()` on the shared loop when the process exits (must be called on the loop)."""
    shared = _current
    if shared is not None and on_loop():
        shared.closers.append(closer)


class _Call(Generic[T]):
    """One blocking call: its task on the shared loop, and the outcome handed back to the caller's thread."""

    def __init__(self, make: Callable[[], Awaitable[T]], loop: asyncio.AbstractEventLoop) -> None:
        self.make = make
        self.loop = loop
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None
        self.cancel_requested = False

    async def _drive(self) -> None:
        try:
            self.result = await self.make()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, which re-raises it
            self.error = exc
        finally:
            self.done.set()

    def _start(self) -> None:
        self.task = self.loop.create_task(self._drive())
        if self.cancel_requested:
            self.task.cancel()

    def _cancel(self) -> None:
        self.cancel_requested = True
        if self.task is not None:
            self.task.cancel()

    def start(self) -> None:
        self.loop.call_soon_threadsafe(self._start)

    def cancel(self) -> None:
        """Ask the task to stop (from any thread); it cleans up (temporary files, uploads) before `done`."""
        try:
            self.loop.call_soon_threadsafe(self._cancel)
        except RuntimeError:  # the loop is already closed (interpreter exit)
            self.done.set()

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[no-any-return]


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine built by `make()` on the shared loop and return its result."""
    shared = _shared()
    if threading.current_thread() is shared.thread:
        # A blocking call from code already running on the shared loop would wait on itself: use a
        # private loop in a helper thread for this one call.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="launcher-storage") as pool:
            return pool.submit(asyncio.run, make()).result()  # type: ignore[arg-type]
    call: _Call[T] = _Call(make, shared.loop)
    take_sigterm = (
        threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    )
    terminated = False

    def on_sigterm(signum: int, frame: object) -> None:
        nonlocal terminated
        terminated = True
        call.cancel()

    if take_sigterm:
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        call.start()
        try:
            call.done.wait()
        except BaseException:  # Ctrl-C (or another signal handler raising): stop the work cleanly first
            call.cancel()
            call.done.wait()
            shared.drain()
            raise
    finally:
        if take_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if terminated:  # even if the work finished first: the process was asked to stop, say so
        shared.drain()
        raise Interrupted("interrupted by SIGTERM: finished files are in place, re-run to complete") from None
    return call.outcome()
