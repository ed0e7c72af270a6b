"""One progress display for a whole sweep: a bar over every instance still to score (throughput and
ETA for the sweep), a line per run as it finishes, and with `--progress-file` a JSON file a page or
a script can read (per run: done / total, rate, ETA, failed)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from analysis.data.cache import atomic_write_json


class SweepProgress:
    def __init__(self, runs: dict[str, tuple[int, int]], *, enabled: bool = True, path: Path | None = None):
        """`runs`: run_id -> (selected, already cached)."""
        from tqdm import tqdm

        self.runs = {run_id: {"total": total, "cached": cached, "done": cached, "failed": 0, "started": None, "finished": None}
                     for run_id, (total, cached) in runs.items()}
        todo = sum(total - cached for total, cached in runs.values())
        self.enabled, self.path, self.began = enabled, path, time.time()
        self.bar = tqdm(total=todo, disable=not enabled or not todo, desc=f"sweep of {len(runs)} runs", unit="inst", dynamic_ncols=True,
                        file=sys.stderr)
        self._write()

    def _run_line(self, run_id: str, r: dict[str, Any]) -> str:
        seconds = (r["finished"] or time.time()) - (r["started"] or self.began)
        scored = r["done"] - r["cached"]
        rate = f", {scored / seconds:.1f}/s" if scored and seconds > 0 else ""
        failed = f", {r['failed']} failed" if r["failed"] else ""
        return f"{run_id}: {r['done']}/{r['total']} ({r['cached']} cached{rate}{failed})"

    def _advance(self, run_id: str, n: int, key: str) -> None:
        r = self.runs[run_id]
        r["started"] = r["started"] or time.time()
        r[key] += n
        self.bar.update(n)
        if r["done"] + r["failed"] >= r["total"] and r["finished"] is None:
            r["finished"] = time.time()
            if self.enabled:
                self.bar.write(self._run_line(run_id, r), file=sys.stderr)
        finished = sum(1 for x in self.runs.values() if x["finished"] or x["done"] >= x["total"])
        self.bar.set_postfix_str(f"{finished}/{len(self.runs)} runs done")
        self._write()

    def scored(self, run_id: str, n: int) -> None:
        self._advance(run_id, n, "done")

    def failed(self, run_id: str, n: int) -> None:
        self._advance(run_id, n, "failed")

    def table(self) -> dict[str, dict[str, Any]]:
        out = {}
        for run_id, r in self.runs.items():
            seconds = (r["finished"] or time.time()) - (r["started"] or time.time())
            scored = r["done"] - r["cached"]
            rate = scored / seconds if scored and seconds > 0 else None
            left = r["total"] - r["done"] - r["failed"]
            out[run_id] = {"total": r["total"], "cached": r["cached"], "done": r["done"], "failed": r["failed"],
                           "rate": round(rate, 3) if rate else None,
                           "eta_seconds": round(left / rate, 1) if rate and left else (0.0 if not left else None)}
        return out

    def _write(self) -> None:
        if self.path:
            atomic_write_json(Path(self.path), {"runs": self.table(), "updated": time.time()})

    def close(self) -> None:
        self._write()
        self.bar.close()
