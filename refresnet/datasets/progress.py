"""The one progress bar of a run."""

import sys
import time


class Progress:
    """A one-line progress bar with rate and ETA on ``stream`` (stderr), drawn only
    when ``enabled`` (the CLI enables it on a terminal, never with --json)."""

    def __init__(self, total, enabled, stream=None, clock=time.monotonic):
        self.total, self.done, self.enabled = total, 0, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.start = clock()

    def line(self):
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        elapsed = self.clock() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if rate > 0:
            eta = int(round((self.total - self.done) / rate))
            when = f"ETA {eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}"
        else:
            when = "ETA --:--:--"
        return f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} images  {rate:.1f} images/s  {when}"

    def step(self, n):
        self.done += n
        if self.enabled:
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
