"""Notification throughput from a backlog, measured, never asserted.

Run by `make bench-notifications` (inside scripts/with-moto.sh). Two paths:

- sqs: 10,000 Pipe-shaped messages wait in the notifications queue in moto;
  the release binary drains them, publishing to SNS and EventBridge in moto.
- embedded: 10,000 orders are placed with notifications off; the binary is
  restarted with the embedded change feed and the log publisher, and drains
  the backlog.

It prints the rate and the service's own CPU time (from /proc/<pid>/stat),
which separates the service's cost from the emulator's.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import uuid

import boto3
import requests

from processes import cpu_seconds, free_port

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINARY = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "ecommerce-service"
FIXTURE = (ROOT / "tests" / "fixtures" / "pipe-insert.json").read_text()
COUNT = int(os.environ.get("BENCH_MESSAGES", "10000"))
# moto slows down as a queue fills: it had not accepted a 10,000-message
# backlog after 8.5 minutes, so the SQS path has its own, smaller default.
SQS_COUNT = int(os.environ.get("BENCH_SQS_MESSAGES", "1000"))




def start(env, log):
    port = free_port()
    full = {**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1", "LOG_FORMAT": "json"}
    process = subprocess.Popen([str(BINARY)], env=full, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            if requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).ok:
                return process, f"http://127.0.0.1:{port}"
        except requests.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("the service did not become ready")


def stop(process):
    process.terminate()
    process.wait(timeout=30)


def sqs_path():
    endpoint = os.environ["MOTO_ENDPOINT"]
    region = os.environ.get("AWS_REGION", "us-east-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region)
    sns = boto3.client("sns", endpoint_url=endpoint, region_name=region)
    events = boto3.client("events", endpoint_url=endpoint, region_name=region)
    name = uuid.uuid4().hex[:12]
    queue = sqs.create_queue(QueueName=f"bench-{name}")["QueueUrl"]
    topic = sns.create_topic(Name=f"bench-{name}")["TopicArn"]
    events.create_event_bus(Name=f"bench-{name}")
    filling = time.monotonic()
    for start_index in range(0, SQS_COUNT, 10):
        entries = []
        for i in range(start_index, min(start_index + 10, SQS_COUNT)):
            # Digits are valid ULID characters: a unique, well-formed order id.
            order = f"01{uuid.uuid4().int % 10**24:024d}"
            body = FIXTURE.replace("01JDHZ4Q5T8V0K3M7N2P6R9S1W", order).replace(
                "7de3041dd709b024af6f29e4fa13d34c", uuid.uuid4().hex)
            entries.append({"Id": str(i - start_index), "MessageBody": body})
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    print(f"sqs: moto accepted the backlog of {SQS_COUNT} in {time.monotonic() - filling:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as data, open(os.devnull, "w") as log:
        began = time.monotonic()
        process, _ = start({
            "DATA_DIR": data, "NOTIFICATIONS_SOURCE": "sqs", "NOTIFICATIONS_QUEUE_URL": queue,
            "NOTIFICATIONS_CONCURRENCY": "4", "ORDER_TOPIC_ARN": topic, "EVENT_BUS_NAME": f"bench-{name}",
            "AWS_ENDPOINT_URL": endpoint, "RUST_LOG": "warn",
        }, log)
        while True:
            attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            if sum(int(v) for v in attributes.values()) == 0:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - began
        cpu = cpu_seconds(process.pid)
        stop(process)
    return elapsed, cpu


def embedded_path():
    with tempfile.TemporaryDirectory() as data:
        with open(os.devnull, "w") as log:
            process, base = start({"DATA_DIR": data, "NOTIFICATIONS_SOURCE": "off"}, log)
            session = requests.Session()
            session.post(f"{base}/add_user", json={"email": "b@example.com", "name": "b", "username": "bench"})
            for _ in range(COUNT):
                session.post(f"{base}/orders", json={"amount": 5.5, "numItems": 2, "username": "bench"})
            stop(process)
        log_path = pathlib.Path(data) / "events.log"
        with open(log_path, "w") as log:
            began = time.monotonic()
            process, _ = start({"DATA_DIR": data, "NOTIFICATIONS_SOURCE": "embedded", "NOTIFICATIONS_PUBLISHER": "log"}, log)
            while log_path.read_text().count('"order event"') < COUNT:
                time.sleep(0.1)
            elapsed = time.monotonic() - began
            cpu = cpu_seconds(process.pid)
            stop(process)
    return elapsed, cpu


def main():
    results = {}
    for name, path, count in [("embedded", embedded_path, COUNT), ("sqs", sqs_path, SQS_COUNT)]:
        elapsed, cpu = path()
        results[name] = {"messages": count, "seconds": round(elapsed, 2), "per_second": round(count / elapsed),
                         "service_cpu_seconds": round(cpu, 2), "service_cpu_us_per_message": round(cpu / count * 1e6)}
        print(f"{name}: {count} in {elapsed:.1f} s = {count / elapsed:.0f}/s; "
              f"service CPU {cpu:.2f} s ({cpu / count * 1e6:.0f} µs per message)", flush=True)
    out = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "notifications.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
