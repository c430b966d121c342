#!/usr/bin/env python3
"""`make docs-check`: the documentation, run as its readers would run it.

1. Starts a fresh `producer-profile serve` and `webhook-dispatcher` (a database and a
   topic of their own, free ports) with the local development configuration, and a
   webhook receiver (scripts/webhook-receiver.py).
2. Scrapes both fresh processes' /metrics with prometheus_client and finds every metric
   README.md's metrics table lists.
3. Runs every ```sh block of README.md and docs/*.md that calls grpcurl, and the
   commands `make run` prints, in one bash session, in order, as written — the only
   change is the server's and the receiver's address (127.0.0.1:50051 and
   127.0.0.1:8099 in the text). A command followed by a `# → …` comment must give what
   the comment says: `Code: X` means it fails with that gRPC code; every `"key": value`
   pair in the comment must appear in its output (a value ending in `…` is a prefix).
   Every other command must succeed, and an assignment `NAME=$(…)` must set NAME.
   grpcurl must never fail to decode an error's details.
4. Verifies the webhooks the session's endpoint received with the standardwebhooks
   library and the secret CreateEndpoint returned.

Exits non-zero, naming each failed command by file and line.
"""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "debug"
CONFIG = ROOT / ".local" / "producer-profile.toml"
LOGS = ROOT / ".local" / "logs"
DOCUMENTED_SERVER = "127.0.0.1:50051"
DOCUMENTED_RECEIVER = "127.0.0.1:8099"
ADMIN_URL = os.environ.get(
    "TEST_DATABASE_URL",
    "postgres://producer_profile:producer_profile@127.0.0.1:5432/producer_profile",
)
WAIT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Command:
    text: str
    where: str
    expect: list = field(default_factory=list)


def sh_blocks(path: Path):
    """(first line number, lines) of every ```sh block of a Markdown file."""
    lines = path.read_text().split("\n")
    block, start = None, 0
    for number, line in enumerate(lines, 1):
        if block is None and line.strip() == "```sh":
            block, start = [], number + 1
        elif block is not None and line.strip() == "```":
            yield start, block
            block = None
        elif block is not None:
            block.append(line)


def complete(text: str) -> bool:
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=False)
    except ValueError:  # an unclosed quote: the command goes on
        return False
    return True


def commands(lines, start: int, source: str):
    """The block's commands, each with the `# →` comment that follows it."""
    result, current, current_line, in_expectation = [], [], 0, False
    for offset, line in enumerate(lines):
        stripped = line.strip()
        if not current and stripped.startswith("#"):
            if stripped.startswith("# →") and result:
                result[-1].expect.append(stripped[3:].strip())
                in_expectation = True
            elif in_expectation and stripped.startswith("#   "):
                result[-1].expect.append(stripped[1:].strip())
            else:
                in_expectation = False
            continue
        if not current and not stripped:
            in_expectation = False
            continue
        if not current:
            current_line = start + offset
        current.append(line)
        text = "\n".join(current)
        if complete(text):
            result.append(Command(text.strip(), f"{source}:{current_line}"))
            current, in_expectation = [], False
    if current:
        raise SystemExit(f"{source}: an unfinished command at line {current_line}")
    return result


class Shell:
    """One bash session: variables set by one command are there for the next."""

    def __init__(self, cwd: Path, env: dict):
        self.out = cwd / ".docs-check-output"
        self.bash = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=env,
        )
        self.run("set -o pipefail")

    def run(self, text: str):
        self.bash.stdin.write(f"{{\n{text}\n}} >{self.out} 2>&1 </dev/null\necho \"__rc=$?\"\n")
        self.bash.stdin.flush()
        while True:
            line = self.bash.stdout.readline()
            if not line:
                raise SystemExit("the bash session ended")
            if line.startswith("__rc="):
                return int(line[5:]), self.out.read_text()

    def value(self, name: str) -> str:
        return self.run(f'printf %s "${name}"')[1]


def compact(text: str) -> str:
    """JSON with no space after a key's colon: grpcurl indents answers but prints error
    details compact."""
    return re.sub(r'":\s+', '":', text)


def expectation_failures(command: Command, rc: int, output: str, shell: Shell, moved):
    expected = moved(" ".join(command.expect))
    problems = []
    code = re.search(r"Code: (\w+)", expected)
    if code:
        if rc == 0 or f"Code: {code.group(1)}" not in output:
            problems.append(f"expected Code: {code.group(1)}")
    elif rc != 0:
        problems.append(f"failed with exit status {rc}")
    for key, value in re.findall(r'"(\w+)": ("(?:[^"\\]|\\.)*"|true|false|-?\d+)', expected):
        needle = f'"{key}": {value[:-2]}' if value.endswith('…"') else f'"{key}": {value}'
        if compact(needle) not in compact(output):
            problems.append(f"no {needle} in the answer")
    if "is not recognized" in output:
        problems.append("grpcurl could not decode the error details")
    assigned = re.match(r"^([A-Z_]+)=\$\(", command.text)
    if assigned and shell.value(assigned.group(1)) in ("", "null"):
        problems.append(f"{assigned.group(1)} came out empty")
    return problems


def documented_metrics(binary: str):
    """The metric names README.md's metrics table lists for `binary` (or `both`)."""
    table = (ROOT / "README.md").read_text().split("### Metrics")[1]
    names = []
    for row in table.split("\n"):
        if not row.startswith("| `") and names:
            break
        if not row.startswith("| `"):
            continue
        cells = row[2:].split(" | ")
        if cells[1] in (binary, "both"):
            names += [quoted.split("{")[0] for quoted in cells[0].split("`")[1::2]]
    return names


def missing_metrics(url: str, binary: str):
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    samples = {
        sample.name
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return [
        name
        for name in documented_metrics(binary)
        if not {f"producer_profile_{name}", f"producer_profile_{name}_count"} & samples
    ]


def wait_for(what: str, probe):
    deadline = time.time() + WAIT_SECONDS
    while time.time() < deadline:
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"waited {WAIT_SECONDS} s for {what}")


def http_ok(url: str) -> bool:
    return urllib.request.urlopen(url, timeout=2).status == 200


def main() -> int:
    if not CONFIG.exists():
        raise SystemExit(f"{CONFIG} is missing: run `make dev-config`")
    LOGS.mkdir(parents=True, exist_ok=True)
    server, receiver = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    serve_metrics, dispatcher_metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    database = f"pp_docs_check_{uuid.uuid4().hex[:12]}"
    database_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + database
    env = dict(
        os.environ,
        PP_LISTEN_ADDR=server,
        PP_DATABASE__URL=database_url,
        PP_KAFKA__TOPIC=f"pp-docs-check-{uuid.uuid4().hex[:12]}",
        PP_METRICS__SERVE_ADDR=serve_metrics,
        PP_METRICS__DISPATCHER_ADDR=dispatcher_metrics,
        PP_WEBHOOKS__POLL_INTERVAL_MS="100",
        NO_COLOR="1",
    )
    subprocess.run(["psql", "-q", ADMIN_URL, "-c", f'CREATE DATABASE "{database}"'], check=True)
    processes = []
    workdir = Path(tempfile.mkdtemp(prefix="pp-docs-check-"))
    failures = []
    try:
        config = ["--config", str(CONFIG)]
        subprocess.run([BIN / "producer-profile", *config, "migrate"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        for name, args in [("producer-profile", ["serve"]), ("webhook-dispatcher", [])]:
            log = open(LOGS / f"docs-check-{name}.log", "w")
            processes.append(subprocess.Popen([BIN / name, *config, *args], env=env,
                                              stdout=log, stderr=subprocess.STDOUT))
        receiver_log = workdir / "webhooks.jsonl"
        processes.append(subprocess.Popen(
            [sys.executable, ROOT / "scripts" / "webhook-receiver.py",
             "--port", receiver.split(":")[1], "--log", receiver_log],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        # The first scrape of each fresh process.
        for binary, address in [("serve", serve_metrics), ("dispatcher", dispatcher_metrics)]:
            wait_for(f"{binary}'s metrics port", lambda: http_ok(f"http://{address}/healthz"))
            missing = missing_metrics(f"http://{address}/metrics", binary)
            status = "ok" if not missing else f"FAILED: missing {missing}"
            print(f"first scrape of {binary}: every documented metric: {status}")
            if missing:
                failures.append(f"{binary} metrics: {missing}")
        wait_for("the server to answer health checks", lambda: subprocess.run(
            ["grpcurl", "-plaintext", server, "grpc.health.v1.Health/Check"],
            capture_output=True, text=True).stdout.count('"SERVING"') == 1)

        # The documented sessions, as written.
        for link in ["target", ".local"]:
            (workdir / link).symlink_to(ROOT / link)
        shell = Shell(workdir, env)
        documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        runnable = []
        for document in documents:
            for start, block in sh_blocks(document):
                if any("grpcurl " in line for line in block):
                    runnable += commands(block, start, document.relative_to(ROOT))
        hint = subprocess.run(["make", "-s", "run-hint"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.split("\n")
        hint = [line[2:] for line in hint if line.startswith("  ")]
        runnable += commands(hint, 1, "make run's hint")
        def moved(text):
            return text.replace(DOCUMENTED_SERVER, server).replace(DOCUMENTED_RECEIVER, receiver)
        for command in runnable:
            text = moved(command.text)
            rc, output = shell.run(text)
            problems = expectation_failures(command, rc, output, shell, moved)
            print(f"{command.where}: {'ok' if not problems else 'FAILED: ' + '; '.join(problems)}")
            if problems:
                print("    " + text.replace("\n", "\n    "))
                print("    → " + output.strip().replace("\n", "\n      "))
                failures.append(command.where)

        # The webhooks the session's endpoint got, checked by a Standard Webhooks verifier.
        secret = json.loads((workdir / "endpoint.json").read_text())["secret"]
        def arrived():
            if not receiver_log.exists():
                return []
            records = [json.loads(line) for line in receiver_log.read_text().splitlines()]
            return [r for r in records if json.loads(r["body"])["type"] == "id.producer.bank_account.updated"]
        wait_for("the test event's webhook at the receiver", lambda: arrived())
        verifier = Webhook(secret)
        for record in arrived():
            headers = {k.lower(): v for k, v in record["headers"].items()}
            verifier.verify(record["body"], headers)
        print(f"webhooks at the receiver: {len(arrived())} test event(s), signatures verify")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        subprocess.run(["psql", "-q", ADMIN_URL, "-c",
                        f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'], check=False)
    if failures:
        print(f"docs-check: {len(failures)} failed: {', '.join(failures)}")
        return 1
    print("docs-check: every documented command gave what its comment says")
    return 0


if __name__ == "__main__":
    sys.exit(main())
