"""What the benchmarks read off this machine (Linux /proc): how idle its CPUs are before a run, and a process's
resident memory and its peak."""

import os
import time


def cpu_idle_share(seconds: float = 3.0) -> float:
    """The share of all CPUs' time spent idle (idle + iowait in /proc/stat) over `seconds`, 0 to 1."""

    def idle_and_total() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:]]
        return ticks[3] + ticks[4], sum(ticks)

    idle, total = idle_and_total()
    time.sleep(seconds)
    idle_after, total_after = idle_and_total()
    return round((idle_after - idle) / max(1, total_after - total), 3)


def rss_mb(field: str = "VmRSS", pid: int | str = "self") -> float:
    """A process's resident memory (VmRSS) or its peak so far (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def reset_peak_rss() -> None:
    """Writing 5 to clear_refs resets this process's VmHWM, so the peak read afterwards is what follows."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a local process (e.g. the database backend serving a connection)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
