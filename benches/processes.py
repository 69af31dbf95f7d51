"""What the benchmark scripts read about the service process and its host."""

import json
import os
import pathlib
import subprocess
import threading

TICKS = os.sysconf("SC_CLK_TCK")


def launch(binary, env, log=None, timeout=30):
    """Starts the service on a port it binds itself (PORT=0) and returns the
    process and that port, read from its JSON "listening" log line. Probing
    a free port and handing it over would race with every other process on
    the machine. The output goes on to `log` (a binary file) or nowhere."""
    full = {**os.environ, **env, "PORT": "0", "HOST": "127.0.0.1", "LOG_FORMAT": "json"}
    process = subprocess.Popen([str(binary)], env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    listening = threading.Event()
    port = []

    def pump():
        for line in process.stdout:
            if log is not None:
                log.write(line)
                log.flush()
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("message") == "listening":
                port.append(int(event["port"]))
                listening.set()
                break
        # The rest in large chunks: under load the service logs every
        # request, and reading it line by line would cost the benchmark's
        # own cores.
        while chunk := process.stdout.read1(1 << 20):
            if log is not None:
                log.write(chunk)
                log.flush()

    threading.Thread(target=pump, daemon=True).start()
    if not listening.wait(timeout) and process.poll() is None:
        process.kill()
        raise SystemExit(f"{binary} logged no 'listening' line within {timeout} s")
    if not port:
        raise SystemExit(f"{binary} exited with {process.wait()} before it listened")
    return process, port[0]


def cpu_seconds(pid):
    """User plus system CPU time of `pid` (all its threads), from /proc/<pid>/stat."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS
