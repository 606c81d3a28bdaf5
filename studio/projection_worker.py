"""UMAP and t-SNE fits in a long-lived worker process, so a projection job can be cancelled at once; also
the Custom prompts page's placements of new prompts on a fitted UMAP (`ProjectionWorker.place`).

A fit cannot be interrupted inside the studio's process: umap's epochs run in numba and sklearn's t-SNE in
C, with no callback, so a thread could only drop the result while the cores stay busy. One child process,
started on the first fit and kept, does the fits; Cancel terminates it (the cores go idle within the poll
period) and the next fit starts a new one. Kept, because a fresh process pays for importing umap and
compiling its numba code: 38 s for a 200-point fit the first time on this machine, under load, of which the
import (6 s once numba's on-disk cache is warm, `NUMBA_CACHE_DIR` below) is paid only once per process.

Requests and answers cross the worker's stdin/stdout as length-prefixed JSON headers and raw float32 bytes
(no pickle; a plain subprocess, so nothing of the server's main module is re-run in the child); the child's
own prints go to stderr. The worker is niced like the job threads (`studio.jobs.JOB_NICENESS`), so a live
prompt's model work takes the cores first.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from analysis.projection import Projection

POLL_S = 0.1  # how often a waiting fit checks for Cancel
NICENESS = 10  # the same step as studio.jobs.JOB_NICENESS
ROOT = Path(__file__).resolve().parents[1]


def _send(stream: BinaryIO, payload: bytes) -> None:
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()


def _receive(stream: BinaryIO) -> bytes:
    """One length-prefixed message; EOFError when the other side has gone."""
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", head)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError
    return payload


FITTED_KEPT = 4  # fitted projections a worker keeps for placing further prompts (one per artifact state)


def _placed(x: np.ndarray, header: dict, fitted: dict) -> Projection:
    """A `place` request: x's first rows are the reference (fitted, or found among the kept fits by their
    bytes), its last `place` rows new points put on that map; coords of both, reference first."""
    import hashlib
    import time

    from analysis.projection import fit_projection

    new = header["place"]
    reference, points = x[: len(x) - new], x[len(x) - new :]
    key = (hashlib.sha256(reference.tobytes()).hexdigest(), header["method"], header["seed"])
    start = time.perf_counter()
    model = fitted.pop(key, None)
    if model is None:
        model = fit_projection(reference, header["method"], header["seed"], header["params"] or None)
    fitted[key] = model  # the newest last: the oldest fit goes first
    while len(fitted) > FITTED_KEPT:
        fitted.pop(next(iter(fitted)))
    coords = np.vstack([model.coords, model.transform(points)]) if new else model.coords
    return Projection(coords, model.method, model.params, time.perf_counter() - start)


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """The worker's loop: (header, array) requests in, (header, coords) answers out, until input ends. A
    header with `place` asks for a fitted projection's coords and new points placed on it (kept fits
    make the next placement on the same map a transform only)."""
    from analysis.projection import project  # imported once per worker: umap, numba, sklearn on first use

    fitted: dict = {}
    while True:
        try:
            header = json.loads(_receive(requests))
            data = _receive(requests)
        except EOFError:
            return
        x = np.frombuffer(data, dtype=np.float32).reshape(header["shape"])
        try:
            if "place" in header:
                found = _placed(x, header, fitted)
            else:
                found = project(
                    x,
                    header["method"],
                    seed=header["seed"],
                    params=header["params"],
                    cache_dir=header["cache_dir"],
                )
        except Exception as error:  # the caller raises it as one line
            _send(answers, json.dumps({"error": f"{type(error).__name__}: {error}"}).encode())
            continue
        answer = {"method": found.method, "params": found.params, "seconds": found.seconds}
        answer["from_cache"] = found.from_cache
        _send(answers, json.dumps(answer).encode())
        _send(answers, np.ascontiguousarray(found.coords, dtype=np.float32).tobytes())


class ProjectionWorker:
    """One worker process (`python -m studio.projection_worker`), fits one at a time (callers queue on a
    lock)."""

    def __init__(self, niceness: int = NICENESS) -> None:
        self._niceness = niceness
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self.started = 0  # processes started so far (a cancel costs a new one)

    def fit(
        self,
        x: np.ndarray,
        method: str,
        *,
        seed: int = 0,
        params: dict[str, Any] | None = None,
        cache_dir: str | Path | None = None,
        poll: Callable[[], None] = lambda: None,
    ) -> Projection:
        """`analysis.projection.project(x, method, ...)` in the worker. `poll()` is called every POLL_S while
        the fit runs; whatever it raises (a job's Cancelled) terminates the worker and propagates."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        header = {"method": method, "seed": int(seed), "params": dict(params or {}), "shape": list(x.shape)}
        header["cache_dir"] = None if cache_dir is None else str(cache_dir)
        return self._request(header, x, poll)

    def place(
        self,
        reference: np.ndarray,
        points: np.ndarray,
        method: str,
        *,
        seed: int = 0,
        poll: Callable[[], None] = lambda: None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(reference coords (N, 2), points' coords (M, 2)): `analysis.projection.fit_projection(reference,
        method, seed)` and its `transform(points)`, in the worker. The worker keeps its last FITTED_KEPT
        fits, so placing more points on the same reference costs a transform; a cancel ends the worker and
        its fits with it."""
        reference = np.asarray(reference, dtype=np.float32)
        points = np.asarray(points, dtype=np.float32).reshape(-1, reference.shape[1])
        x = np.ascontiguousarray(np.vstack([reference, points]))
        header = {"method": method, "seed": int(seed), "params": {}, "shape": list(x.shape)}
        header |= {"cache_dir": None, "place": len(points)}
        found = self._request(header, x, poll)
        return found.coords[: len(reference)], found.coords[len(reference) :]

    def _request(self, header: dict[str, Any], x: np.ndarray, poll: Callable[[], None]) -> Projection:
        with self._lock:
            process = self._ensure()
            try:
                _send(process.stdin, json.dumps(header).encode())
                _send(process.stdin, x.tobytes())
                while not select.select([process.stdout], [], [], POLL_S)[0]:
                    poll()
                answer = json.loads(_receive(process.stdout))
                if "error" in answer:
                    raise ValueError(answer["error"])
                coords = np.frombuffer(_receive(process.stdout), dtype=np.float32).reshape(len(x), 2).copy()
            except (EOFError, BrokenPipeError) as error:
                self._stop()
                raise RuntimeError(f"the projection worker ended (exit code {process.poll()})") from error
            except BaseException:
                self._stop()
                raise
        return Projection(coords, answer["method"], answer["params"], answer["seconds"], answer["from_cache"])

    @property
    def pid(self) -> int | None:
        """The worker process's id while it runs."""
        return self._process.pid if self.alive() else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _ensure(self) -> subprocess.Popen:
        if self.alive():
            return self._process
        env = dict(os.environ)
        env.setdefault("NUMBA_CACHE_DIR", str(_numba_cache_dir()))  # a restarted worker imports umap fast
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "studio.projection_worker", str(self._niceness)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )
        self.started += 1
        return self._process

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=2)
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:  # a pipe the ended process broke
                pass


def _numba_cache_dir() -> Path:
    """numba's on-disk cache for the worker (the user's cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iclm-studio" / "numba"


WORKER = ProjectionWorker()

if __name__ == "__main__":
    try:
        os.nice(int(sys.argv[1]) if len(sys.argv) > 1 else NICENESS)
    except OSError:  # a sandbox that forbids it
        pass
    answers = os.fdopen(os.dup(1), "wb")  # the protocol's channel; anything else printed goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, answers)
