"""The HTTP layer of benchmarks/endpoint_agreement.py: a recorder that keeps every exchange the
OpenAI backend makes (`urllib.request.urlopen`), a replayer that answers from recorded exchanges and
nothing else, and one exchange outside the backend (`http_exchange`: models list, probes)."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class _Reply(io.BytesIO):
    """What `urlopen` returned, already read, so it can be read again by the backend."""

    def __init__(self, data: bytes, status: int, headers: Any, url: str):
        super().__init__(data)
        self.status, self.headers, self.url = status, headers, url

    def getcode(self) -> int:
        return self.status


class Recorder:
    """Wraps `urllib.request.urlopen` (what OpenAIBackend calls) and keeps every exchange in call order."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._real = urllib.request.urlopen

    def _urlopen(self, request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        body = request.data if isinstance(request, urllib.request.Request) else None
        entry: dict[str, Any] = {"path": urllib.request.urlparse(url).path,
                                 "request": json.loads(body) if body else None}
        try:
            with self._real(request, *args, **kwargs) as response:
                data, status, headers = response.read(), response.status, response.headers
        except urllib.error.HTTPError as err:
            data = err.read()
            entry |= {"status": err.code, "response": json_or_text(data)}
            self._keep(entry)
            raise urllib.error.HTTPError(err.url, err.code, err.msg, err.headers, io.BytesIO(data)) from None
        entry |= {"status": status, "response": json_or_text(data)}
        self._keep(entry)
        return _Reply(data, status, headers, url)

    def _keep(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.exchanges.append(entry)

    @contextmanager
    def active(self):
        start = len(self.exchanges)
        urllib.request.urlopen = self._urlopen
        try:
            yield self.exchanges, start
        finally:
            urllib.request.urlopen = self._real


class Replayer:
    """Stands in for `urllib.request.urlopen` with recorded exchanges: a request (path + JSON body) that
    was recorded gets its recorded reply (an HTTPError for a recorded error status); any other request
    raises LookupError, so nothing is contacted and nothing unrecorded is answered."""

    def __init__(self, folder: Path):
        self.replies: dict[tuple[str, str], dict[str, Any]] = {}
        for path in sorted(folder.glob("*.json")):
            if path.name == "manifest.json":
                continue
            ex = json.loads(path.read_text())
            self.replies.setdefault(self.key(ex["path"], ex["request"]), ex)

    @staticmethod
    def key(path: str, request: Any) -> tuple[str, str]:
        return path, json.dumps(request, sort_keys=True)

    def __call__(self, request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        body = request.data if isinstance(request, urllib.request.Request) else None
        path = urllib.request.urlparse(url).path
        ex = self.replies.get(self.key(path, json.loads(body) if body else None))
        if ex is None:
            raise LookupError(f"no recorded reply for {path} with this request body")
        data = json.dumps(ex["response"]).encode() if not isinstance(ex["response"], str) else ex["response"].encode()
        status = ex.get("status", 200)
        if status >= 400:
            raise urllib.error.HTTPError(url, status, "recorded error", {}, io.BytesIO(data))
        return _Reply(data, status, {"Content-Type": "application/json"}, url)


def json_or_text(data: bytes) -> Any:
    """A reply body as JSON when it parses, else as text (an error page, a plain message)."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return data.decode("utf-8", "replace")


def http_exchange(url: str, payload: dict[str, Any] | None = None, timeout: float = 120.0) -> dict[str, Any]:
    """One exchange outside the backend (models list, probes): {"path", "status", "request", "response"}."""
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    return {"path": urllib.request.urlparse(url).path, "status": status, "request": payload, "response": json_or_text(body)}
