"""`mvpbench dashboard`: serve the dashboard on the cache."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from pipeline.cli.options import cache_arg

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def dashboard_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The `streamlit run` command and environment for `mvpbench dashboard`: bound to 127.0.0.1 unless
    --address says otherwise; beyond loopback the Runs page may start scoring jobs only with
    --allow-remote-jobs (anyone who can reach the page could otherwise run any model on this machine)."""
    from pipeline.checks import checked_port

    checked_port(args.port)  # Streamlit's own refusal of 99999 was a traceback
    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    env = dict(os.environ)
    if args.cache:
        env["MVPBENCH_CACHE"] = str(args.cache)
    env["MVPBENCH_ALLOW_JOBS"] = "1" if args.address in LOOPBACK or args.allow_remote_jobs else "0"
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.address,
               "--server.port", str(args.port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--client.toolbarMode", "viewer",
               "--server.enableStaticServing", "true",  # the map's shapes: fetched once per browser, not sent per rerun
               # Streamlit's source watcher re-scans every loaded module after each page run, on the thread that sends
               # replies (~70 ms per filter change at a hundred runs): a served dashboard does not reload itself
               "--server.fileWatcherType", "auto" if args.watch else "none"]
    return command, env


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard. On POSIX, streamlit takes this process's place (exec): the pid that was
    started is the server's, so SIGTERM, SIGINT (Ctrl-C) or SIGHUP to it stops the server, and no
    child is left serving the port when `mvpbench dashboard` is killed (a child process was before)."""
    command, env = dashboard_command(args)
    host = f"[{args.address}]" if ":" in args.address else args.address
    jobs = "" if env["MVPBENCH_ALLOW_JOBS"] == "1" else "; scoring jobs from the page are off (--allow-remote-jobs)"
    print(f"dashboard on http://{host}:{args.port}  (Ctrl-C to stop{jobs})", flush=True)
    if os.name == "posix":
        os.execvpe(command[0], command, env)  # does not return
    child = subprocess.Popen(command, env=env)  # Windows has no exec that keeps the pid: wait, and stop the child on the way out
    try:
        return child.wait()
    finally:
        if child.poll() is None:
            child.terminate()
            child.wait()


def add_parser(sub) -> None:
    dash = sub.add_parser("dashboard", help="open the dashboard on the cache",
                          description="Serve the dashboard. It listens on 127.0.0.1 only unless --address says otherwise.")
    dash.add_argument("--port", type=int, default=8501)
    dash.add_argument("--address", default="127.0.0.1",
                      help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    dash.add_argument("--allow-remote-jobs", action="store_true",
                      help="let the Runs page start scoring jobs when listening beyond this machine (off by default)")
    dash.add_argument("--watch", action="store_true",
                      help="reload the app when its source files change (for developing pages; off by default, it slows every page run)")
    cache_arg(dash)
    dash.set_defaults(func=cmd_dashboard)
