"""Run a command for `make run` so that Ctrl-C stops it before honcho's SIGKILL.

    python -m demo.stop_in_time celery -A portal worker …

honcho 2.0 (requirements.txt) sends SIGTERM to each process group on Ctrl-C and SIGKILL
five seconds later (`honcho.manager.KILL_WAIT`); it has no option to wait longer. Celery's
warm shutdown on SIGTERM waits for the tasks in flight, however long they take. So this
wrapper lets the warm shutdown run for `WARM_SECONDS`, then sends SIGQUIT: Celery's cold
shutdown cancels what is left, and the broker hands those tasks out again at the next
start (acks late, rejected on a lost worker: portal/settings.py). Standard library only:
it starts before Django and adds nothing to the shutdown.
"""

import signal
import subprocess
import sys
import threading
import time

WARM_SECONDS = 2.5
COLD_SECONDS = 2.0  # the rest of honcho's five seconds, less a margin


def _wait(child: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return child.poll() is not None


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m demo.stop_in_time COMMAND [ARG…]", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    child = subprocess.Popen(argv)  # noqa: S603  (the Procfile's own command)
    while child.poll() is None and not stop.wait(0.1):
        pass
    if child.poll() is not None and not stop.is_set():
        return child.returncode  # it ended on its own: say how
    # honcho signals the whole group, so the child may have its SIGTERM already; a
    # second one is ignored by Celery's warm shutdown.
    child.send_signal(signal.SIGTERM)
    if not _wait(child, WARM_SECONDS):
        child.send_signal(signal.SIGQUIT)
        _wait(child, COLD_SECONDS)
    return 0 if child.poll() is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
