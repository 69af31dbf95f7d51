"""Notification throughput from a backlog, measured, never asserted.

Run by `make bench-notifications` (inside scripts/with-moto.sh). Two paths:

- sqs: 10,000 Pipe-shaped messages wait in the notifications queue in moto;
  the release binary drains them, publishing to SNS and EventBridge in moto.
- embedded: 10,000 orders are placed while the embedded feed's publisher
  cannot reach SNS (so they pile up in the feed); the binary is restarted
  with the log publisher, and drains the backlog.

It prints the rate and the service's own CPU time (from /proc/<pid>/stat),
which separates the service's cost from the emulator's. Then, for every
source (embedded, sqs and dynamodb-streams), it measures what an idle service
costs once its notifications are all published: CPU over IDLE_SECONDS, as a
share of one core.
"""

import json
import os
import pathlib
import sys
import tempfile
import time
import uuid

import boto3
import requests

from processes import cpu_seconds, launch

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINARY = pathlib.Path(os.environ.get("BENCH_BINARY") or pathlib.Path(
    os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "ecommerce-service")
FIXTURE = (ROOT / "tests" / "fixtures" / "pipe-insert.json").read_text()
COUNT = int(os.environ.get("BENCH_MESSAGES", "10000"))
# moto slows down as a queue fills: it had not accepted a 10,000-message
# backlog after 8.5 minutes, so the SQS path has its own, smaller default.
SQS_COUNT = int(os.environ.get("BENCH_SQS_MESSAGES", "1000"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "10"))




def start(env, log):
    process, port = launch(BINARY, env, log)
    for _ in range(200):
        try:
            if requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).ok:
                return process, f"http://127.0.0.1:{port}"
        except requests.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("the service did not become ready")


def idle_cpu_percent(process):
    """The service's CPU over IDLE_SECONDS with nothing to do, as % of one core."""
    time.sleep(1)  # the last batch's own follow-up (acknowledgements, a checkpoint)
    before = cpu_seconds(process.pid)
    time.sleep(IDLE_SECONDS)
    return round((cpu_seconds(process.pid) - before) / IDLE_SECONDS * 100, 3)


def wait_for_events(log_path, count):
    deadline = time.monotonic() + 600
    while log_path.read_text().count('"order event"') < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"fewer than {count} events after 10 minutes")
        time.sleep(0.1)


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
        idle = idle_cpu_percent(process)
        stop(process)
    return elapsed, cpu, idle


def embedded_path():
    with tempfile.TemporaryDirectory() as data:
        with open(os.devnull, "w") as log:
            # SNS refuses every connection: each change stays in the feed.
            process, base = start({
                "DATA_DIR": data, "NOTIFICATIONS_PUBLISHER": "aws",
                "ORDER_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:unreachable",
                "AWS_ENDPOINT_URL_SNS": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_EVENTBRIDGE": "http://127.0.0.1:1",
                "RUST_LOG": "off",
            }, log)
            session = requests.Session()
            session.post(f"{base}/add_user", json={"email": "b@example.com", "name": "b", "username": "bench"})
            for _ in range(COUNT):
                session.post(f"{base}/orders", json={"amount": 5.5, "numItems": 2, "username": "bench"})
            stop(process)
        log_path = pathlib.Path(data) / "events.log"
        with open(log_path, "w") as log:
            began = time.monotonic()
            process, _ = start({"DATA_DIR": data, "NOTIFICATIONS_SOURCE": "embedded", "NOTIFICATIONS_PUBLISHER": "log"}, log)
            wait_for_events(log_path, COUNT)
            elapsed = time.monotonic() - began
            cpu = cpu_seconds(process.pid)
            idle = idle_cpu_percent(process)
            stop(process)
    return elapsed, cpu, idle


def streams_idle():
    """The dynamodb-streams source on moto, idle after publishing one order."""
    with tempfile.TemporaryDirectory() as data:
        log_path = pathlib.Path(data) / "events.log"
        with open(log_path, "w") as log:
            process, base = start({
                "STORE": "dynamodb", "CREATE_TABLE": "true", "TABLE_NAME": f"bench-{uuid.uuid4().hex[:8]}",
                "NOTIFICATIONS_SOURCE": "dynamodb-streams", "AWS_ENDPOINT_URL": os.environ["MOTO_ENDPOINT"],
            }, log)
            session = requests.Session()
            session.post(f"{base}/add_user", json={"email": "b@example.com", "name": "b", "username": "bench"})
            session.post(f"{base}/orders", json={"amount": 5.5, "numItems": 2, "username": "bench"})
            wait_for_events(log_path, 1)
            idle = idle_cpu_percent(process)
            stop(process)
    return idle


def main():
    results = {}
    for name, path, count in [("embedded", embedded_path, COUNT), ("sqs", sqs_path, SQS_COUNT)]:
        elapsed, cpu, idle = path()
        results[name] = {"messages": count, "seconds": round(elapsed, 2), "per_second": round(count / elapsed),
                         "service_cpu_seconds": round(cpu, 2), "service_cpu_us_per_message": round(cpu / count * 1e6),
                         "idle_cpu_percent": idle}
        print(f"{name}: {count} in {elapsed:.1f} s = {count / elapsed:.0f}/s; "
              f"service CPU {cpu:.2f} s ({cpu / count * 1e6:.0f} µs per message); idle afterwards {idle}% of a core",
              flush=True)
    results["dynamodb-streams"] = {"idle_cpu_percent": streams_idle()}
    print(f"dynamodb-streams: idle after one event {results['dynamodb-streams']['idle_cpu_percent']}% of a core",
          flush=True)
    out = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "notifications.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
