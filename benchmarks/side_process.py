"""A library's sides in a process of their own, driven from the coordinating worker.

:class:`SideProcess` starts ``serve`` in a fresh interpreter (``multiprocessing`` "spawn"; the
environment, hence the allocator settings, is inherited) that rebuilds the workloads'
benchmarks and answers ``prepare`` / ``sample`` / ``release`` / ``blas`` requests with a
:class:`~benchmarks.harness.SideRunner`.  Requests are answered one at a time, so while one side
is timed every other process waits idle on its pipe.  A process that dies (a crash inside an
anchor) turns into an error on the sides it was running, never into a crash of the harness.
"""

from __future__ import annotations

import multiprocessing

from .harness import Settings, SideRunner, describe_error
from .workloads import select

__all__ = ["SideFailed", "SideProcess", "serve"]


class SideFailed(RuntimeError):
    """A request failed inside the side's process (the message is the error there)."""


def serve(connection, workloads: list, quick: bool, settings: Settings) -> None:
    """The loop of a side process: one request in, one answer out, until ``stop``."""
    runner = SideRunner(select(workloads, quick), settings)
    while True:
        try:
            command, *arguments = connection.recv()
        except EOFError:  # the worker is gone
            return
        if command == "stop":
            return
        try:
            answer = ("ok", getattr(runner, command)(*arguments))
        except Exception as error:
            answer = ("error", describe_error(error))
        connection.send(answer)


class SideProcess:
    """The :class:`~benchmarks.harness.SideRunner` interface, answered by a child process."""

    def __init__(self, library: str, workloads: list, quick: bool, settings: Settings):
        context = multiprocessing.get_context("spawn")
        self.library = library
        self._connection, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, workloads, quick, settings),
                                        name=f"bench-{library}", daemon=True)
        self._process.start()
        child.close()
        self._ended = None

    def _ask(self, *request):
        if self._ended:
            raise SideFailed(self._ended)
        try:
            self._connection.send(request)
            status, answer = self._connection.recv()
        except (EOFError, OSError):
            self._process.join(timeout=5)
            self._ended = (f"the {self.library} process ended (exit code "
                           f"{self._process.exitcode})")
            raise SideFailed(self._ended) from None
        if status == "error":
            raise SideFailed(answer)
        return answer

    def prepare(self, bench_name: str, label: str) -> dict:
        return self._ask("prepare", bench_name, label)

    def sample(self, bench_name: str, label: str, number: int) -> tuple[float, float | None]:
        return self._ask("sample", bench_name, label, number)

    def release(self, bench_name: str) -> None:
        self._ask("release", bench_name)

    def blas(self) -> dict:
        return self._ask("blas")

    def close(self) -> None:
        if not self._ended:
            try:
                self._connection.send(("stop",))
            except OSError:
                pass
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._connection.close()
