"""A local stand-in for the ModelArts v2 training-jobs API, speaking its documented paths and answers.

It checks each request's SDK-HMAC-SHA256 signature with the SDK's own signer (so a wrong SK is a 401, as on the
real endpoint), keeps jobs in memory, moves each job through a scripted list of phases (one step per details
call), serves a growing log through the preview endpoint, and can be told to fail the next requests with any
status (429, 5xx, ...). Every request is recorded for the tests to inspect.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

_AUTH = re.compile(r"^SDK-HMAC-SHA256 Access=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]+)$")

DEFAULT_FLAVORS = [
    {
        "flavor_id": "modelarts.vm.cpu.8u",
        "flavor_name": "Computing CPU(8U) instance",
        "flavor_type": "CPU",
        "max_num": 1,
        "flavor_info": {"max_num": 1, "cpu": {"arch": "x86", "core_num": 8}, "memory": {"size": 32, "unit": "GB"}},
    },
    {
        "flavor_id": "modelarts.kat1.8xlarge",
        "flavor_name": "Ascend: 8*Ascend910",
        "flavor_type": "Ascend",
        "max_num": 16,
        "flavor_info": {"max_num": 16, "npu": {"unit_num": "8", "product_name": "Ascend-910", "memory": "32GB"}},
    },
]


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    body: dict[str, Any]
    then_create: bool = False  # a 5xx that still carried the create out


@dataclass
class FakeJob:
    id: str
    body: dict[str, Any]
    created_ms: int
    phases: deque[tuple[str, str]]
    log: deque[str]  # lines appended to the visible log, one per preview call
    visible: str = ""
    started_ms: int | None = None
    exit_code: int | None = None
    message: str = ""
    tasks: list[str] = field(default_factory=list)


@dataclass
class Seen:
    method: str
    path: str
    body: Any
    status: int


class FakeModelArts:
    def __init__(self, ak: str, sk: str, project_id: str) -> None:
        self.keys = {ak: sk}
        self.project_id = project_id
        self.flavors = list(DEFAULT_FLAVORS)
        self.jobs: dict[str, FakeJob] = {}
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self.default_phases = [
            ("Creating", "Creating"),
            ("Pending", "Queuing"),
            ("Running", "Running"),
            ("Completed", "Completed"),
        ]
        self.default_log = ["boot: syncing data\n", "toy: step 1\n", "toy: step 2\n", "done\n"]
        self.exit_code = 0
        self.terminating_looks = 1  # how many status looks a terminated job stays Terminating
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeModelArts:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(
        self, method: str, path: str, status: int, times: int = 1, then_create: bool = False, **body: Any
    ) -> None:
        payload = body or {"error_code": f"ModelArts.{status}", "error_msg": f"injected {status}"}
        self.faults.append(Fault(method, re.compile(path), status, times, payload, then_create))

    def calls(self, method: str, pattern: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # -- the API ------------------------------------------------------------------------------------------------

    def _job_json(self, job: FakeJob) -> dict[str, Any]:
        phase, secondary = job.phases[0]
        status: dict[str, Any] = {"phase": phase, "secondary_phase": secondary, "duration": 0, "tasks": job.tasks}
        if job.started_ms is not None:
            status["start_time"] = job.started_ms
            status["duration"] = int(time.time() * 1000) - job.started_ms
        if phase in ("Completed", "Failed", "Terminated"):
            status["task_statuses"] = [
                {"task": t, "exit_code": job.exit_code or 0, "message": job.message} for t in job.tasks
            ]
        return {
            "kind": job.body.get("kind", "job"),
            "metadata": {**job.body["metadata"], "id": job.id, "create_time": job.created_ms, "user_name": "tester"},
            "status": status,
            "algorithm": job.body.get("algorithm", {}),
            "spec": job.body.get("spec", {}),
        }

    def _advance(self, job: FakeJob) -> None:
        if len(job.phases) > 1:
            job.phases.popleft()
        if job.phases[0][0] in ("Running", "Completed", "Failed") and job.started_ms is None:
            job.started_ms = int(time.time() * 1000)

    def _create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        problems = [
            name
            for name, ok in (
                ("kind", body.get("kind") == "job"),
                ("metadata.name", bool(re.fullmatch(r"[\w-]{1,64}", body.get("metadata", {}).get("name", "")))),
                ("algorithm.code_dir", str(body.get("algorithm", {}).get("code_dir", "")).startswith("/")),
                (
                    "spec.resource.node_count",
                    isinstance(body.get("spec", {}).get("resource", {}).get("node_count"), int),
                ),
            )
            if not ok
        ]
        if problems:
            return 400, {"error_code": "ModelArts.2701", "error_msg": f"invalid parameter: {', '.join(problems)}"}
        flavor = body["spec"]["resource"].get("flavor_id")
        if flavor is not None and flavor not in {f["flavor_id"] for f in self.flavors}:
            return 400, {"error_code": "ModelArts.2763", "error_msg": f"The flavor {flavor} is not supported"}
        nodes = body["spec"]["resource"]["node_count"]
        job = FakeJob(
            id=str(uuid.uuid4()),
            body=body,
            created_ms=int(time.time() * 1000),
            phases=deque(self.default_phases),
            log=deque(self.default_log),
            exit_code=self.exit_code,
            message="" if not self.exit_code else "the process exited with 1",
            tasks=[f"worker-{i}" for i in range(nodes)],
        )
        if self.exit_code:
            job.phases = deque([*self.default_phases[:-1], ("Failed", "Failed")])
        self.jobs[job.id] = job
        return 201, self._job_json(job)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        prefix = f"/v2/{self.project_id}/"
        if not path.startswith(prefix):
            return 403, {"error_code": "ModelArts.0203", "error_msg": "Invalid project id in the request path"}
        rest = path[len(prefix) :].rstrip("/")
        if method == "GET" and rest == "training-job-flavors":
            return 200, {"total_count": len(self.flavors), "flavors": self.flavors}
        if method == "POST" and rest == "training-jobs":
            return self._create(body)
        if method == "POST" and rest == "training-job-searches":
            items = [self._job_json(j) for j in self.jobs.values()]
            for f in (body or {}).get("filters") or []:
                if f.get("key") == "name":
                    items = [i for i in items if any(v in i["metadata"]["name"] for v in f.get("value", []))]
            limit = (body or {}).get("limit", 10)
            return 200, {
                "total": len(items),
                "count": len(items[:limit]),
                "limit": limit,
                "offset": 0,
                "items": items[:limit],
            }
        found = re.fullmatch(r"training-jobs/([^/]+)(/.*)?", rest)
        if not found or found.group(1) not in self.jobs:
            return 404, {"error_code": "ModelArts.2762", "error_msg": "The training job does not exist"}
        job, tail = self.jobs[found.group(1)], found.group(2) or ""
        if method == "GET" and tail == "":
            self._advance(job)
            return 200, self._job_json(job)
        if method == "POST" and tail == "/actions":
            if (body or {}).get("action_type") != "terminate":
                return 400, {"error_code": "ModelArts.2701", "error_msg": "action_type must be terminate"}
            if job.phases[0][0] not in ("Completed", "Failed", "Terminated"):
                job.phases = deque([("Terminating", "Terminating")] * self.terminating_looks + [("Terminated", "Terminated")])
                job.exit_code, job.message = 143, "terminated by user"
            return 200, self._job_json(job)
        task = re.fullmatch(r"/tasks/([^/]+)/logs/preview", tail)
        if method == "GET" and task:
            if task.group(1) not in job.tasks:
                return 404, {"error_code": "ModelArts.2764", "error_msg": f"task {task.group(1)} does not exist"}
            over = job.phases[0][0] in ("Completed", "Failed", "Terminated")
            while job.log:  # one new line per look while it runs; all of it once it is over
                job.visible += job.log.popleft()
                if not over:
                    break
            data = job.visible.encode()
            return 200, {"content": data.decode(), "current_size": len(data), "full_size": len(data)}
        return 404, {"error_code": "ModelArts.0001", "error_msg": f"no route {method} {path}"}

    def _check_signature(self, handler: BaseHTTPRequestHandler, raw: bytes) -> tuple[int, dict[str, Any]] | None:
        found = _AUTH.match(handler.headers.get("Authorization", ""))
        if not found:
            return 401, {
                "error_code": "APIGW.0301",
                "error_msg": "Incorrect IAM authentication information: no signature",
            }
        ak, signed, signature = found.groups()
        if ak not in self.keys:
            return 401, {
                "error_code": "APIGW.0301",
                "error_msg": "Incorrect IAM authentication information: unknown access key",
            }
        parts = urlsplit(handler.path)
        request = SdkRequest(
            method=handler.command,
            schema="http",
            host=handler.headers.get("Host", ""),
            resource_path=parts.path,
            query_params=parse_qsl(parts.query, keep_blank_values=True),
            header_params={name: handler.headers.get(name, "") for name in signed.split(";")},
            body=raw,
        )
        expected = Signer(BasicCredentials(ak, self.keys[ak])).sign(request).header_params["Authorization"]
        if not expected.endswith(f"Signature={signature}"):
            return 401, {
                "error_code": "APIGW.0301",
                "error_msg": "Incorrect IAM authentication information: verify aksk signature fail",
            }
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else None
                path = urlsplit(self.path).path
                with fake.lock:
                    status, answer = fake._answer(self, raw, body, path)
                    fake.requests.append(Seen(self.command, path, body, status))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Request-Id", uuid.uuid4().hex)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

        return Handler

    def _answer(self, handler: BaseHTTPRequestHandler, raw: bytes, body: Any, path: str) -> tuple[int, dict[str, Any]]:
        refused = self._check_signature(handler, raw)
        if refused:
            return refused
        for fault in self.faults:
            if fault.times > 0 and fault.method == handler.command and fault.path.search(path):
                fault.times -= 1
                if fault.then_create:
                    self._route(handler.command, path, body)
                return fault.status, fault.body
        return self._route(handler.command, path, body)
