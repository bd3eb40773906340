"""moto's standalone server (`moto[server]`): a real HTTP endpoint on loopback speaking
the AWS APIs, started here and seeded through boto3."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.tools import free_port

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    exe = Path(sys.executable).parent / "moto_server"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(log.read_text()[-2000:])
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def client(moto: str, service: str, region: str = REGION) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=moto,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return 1\n")
    return buf.getvalue()


APPSEC = [{"name": "DD_APPSEC_ENABLED", "value": "true"}]


def seed(moto: str, region: str = REGION, *, services: int = 7, functions: int = 7) -> None:
    """A fleet: one cluster with EC2 and Fargate services, a standalone task, and Lambda
    functions with Datadog layers (zip) and a container image function."""
    ecs = client(moto, "ecs", region)
    ecs.create_cluster(clusterName="shop")
    for i in range(services):
        fargate = i % 2 == 0
        family = f"svc{i}"
        ecs.register_task_definition(
            family=family,
            requiresCompatibilities=["FARGATE"] if fargate else ["EC2"],
            networkMode="awsvpc" if fargate else "bridge",
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": "app",
                    "image": "python:3.11-slim",
                    "essential": True,
                    "environment": APPSEC,
                    "dockerLabels": {
                        "ddcompat.io/ddtrace-version": "1.9.0" if i % 3 == 0 else "2.21.4"
                    },
                }
            ],
        )
        ecs.create_service(
            cluster="shop",
            serviceName=family,
            taskDefinition=family,
            desiredCount=1,
            launchType="FARGATE" if fargate else "EC2",
        )
    # a standalone task (a scheduled job started by hand or by EventBridge), on an EC2
    # container instance: read through ListTasks/DescribeTasks, not a service
    ec2 = client(moto, "ec2", region)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    ecs.register_container_instance(
        cluster="shop", instanceIdentityDocument=json.dumps({"instanceId": instance["InstanceId"]})
    )
    ecs.register_task_definition(
        family="nightly",
        requiresCompatibilities=["EC2"],
        networkMode="bridge",
        containerDefinitions=[
            {
                "name": "job",
                "image": "python:3.12-slim",
                "cpu": 256,
                "memory": 512,
                "essential": True,
                "environment": APPSEC,
                "dockerLabels": {"ddcompat.io/ddtrace-version": "1.9.0"},
            }
        ],
    )
    ecs.run_task(cluster="shop", taskDefinition="nightly", launchType="EC2", startedBy="cron")
    iam = client(moto, "iam", region)
    try:
        role = iam.create_role(RoleName="lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="lambda")["Role"]["Arn"]
    lam = client(moto, "lambda", region)
    # Datadog's layer, as test accounts host copies of it: versions 1..(101 + functions)
    layer_arn = ""
    for _ in range(101 + functions):
        layer_arn = lam.publish_layer_version(
            LayerName="Datadog-Python312",
            Content={"ZipFile": _zip()},
            CompatibleRuntimes=["python3.12"],
        )["LayerArn"]
    for i in range(functions):
        lam.create_function(
            FunctionName=f"fn{i}",
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": _zip()},
            Layers=[f"{layer_arn}:{101 + i}"],
            Environment={"Variables": {"DD_SERVERLESS_APPSEC_ENABLED": "true"}},
            Tags={"team": "payments"},
        )
    lam.create_function(
        FunctionName="node-fn",
        Runtime="nodejs20.x",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _zip()},
        Environment={"Variables": {"DD_APPSEC_ENABLED": "true"}},
    )


class FaultProxy:
    """A small proxy in front of moto that injects what real AWS does under pressure:
    ``deny`` (a service prefix: every call of it answers AccessDenied), ``throttle`` (the
    first N calls of ECS ``ListClusters`` answer ThrottlingException), ``fail`` (a request
    whose path or body holds the key answers that (status, error code): one resource
    failing alone) and ``hang`` (a request whose body holds the key gets no answer for
    that many seconds: a hung endpoint)."""

    def __init__(
        self,
        upstream: str,
        *,
        deny: str | None = None,
        throttle: int = 0,
        fail: dict[str, tuple[int, str]] | None = None,
        hang: dict[str, float] | None = None,
    ) -> None:
        import threading
        import time
        import urllib.parse
        import urllib.request
        from collections import Counter
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.counts: Counter[str] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                target = self.headers.get("X-Amz-Target", "")
                service = (
                    "lambda"
                    if self.path.startswith("/20")
                    else ("ecs" if "ContainerService" in target else "other")
                )
                op = target.rsplit(".", 1)[-1] or self.path
                proxy.counts[f"{service}:{op}"] += 1
                if deny and service == deny:
                    return self._fail(403, "AccessDeniedException", "not authorized")
                if op == "ListClusters" and proxy.counts[f"{service}:{op}"] <= throttle:
                    return self._fail(400, "ThrottlingException", "Rate exceeded")
                seen = urllib.parse.unquote(self.path) + (body or b"").decode("utf-8", "replace")
                for key, (status, code) in (fail or {}).items():
                    if key in seen:
                        proxy.counts[f"failed:{key}"] += 1
                        return self._fail(status, code, f"injected for {key}")
                for key, seconds in (hang or {}).items():
                    if key in seen:
                        proxy.counts[f"hung:{key}"] += 1
                        time.sleep(seconds)
                        return
                req = urllib.request.Request(
                    upstream + self.path,
                    data=body,
                    method=self.command,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                )
                try:
                    with urllib.request.urlopen(req) as resp:
                        data, status, headers = resp.read(), resp.status, resp.headers
                except urllib.error.HTTPError as exc:
                    data, status, headers = exc.read(), exc.code, exc.headers
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _fail(self, status: int, code: str, message: str) -> None:
                data = json.dumps({"__type": code, "message": message}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-ErrorType", code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _relay

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
