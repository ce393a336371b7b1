"""A local stand-in for the few Kubernetes API endpoints the Volcano backend uses, with a toy Volcano controller.

Bearer-token auth (401 Status otherwise), ConfigMaps, Secrets, Volcano Jobs (checked against the CRD-derived
schema and the pod template against the kubernetes models, 422 when invalid), pods that follow their Job
through a scripted list of phases (one step per read of the Job), pod logs (whole, or followed as a stream), and
foreground deletion (the Job lingers as Terminating, then is gone). Faults (429 with Retry-After, 5xx, 403, ...)
can be injected for the next matching requests. Every request is recorded.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from launcher.backends.volcano.manifests import from_wire
from launcher.backends.volcano.schema import job_schema_errors

JOBS = re.compile(r"^/apis/batch\.volcano\.sh/v1alpha1/namespaces/([^/]+)/jobs(?:/([^/]+))?$")
CORE = re.compile(r"^/api/v1/namespaces/([^/]+)/(configmaps|secrets|pods)(?:/([^/]+))?(/log)?$")
TERMINAL = ("Completed", "Failed", "Terminated", "Aborted")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    retry_after: str | None
    dry_run: bool | None = None  # None: a fault for dry runs and real requests alike


@dataclass
class FakeVolcanoJob:
    body: dict[str, Any]
    phases: deque[str]
    exit_code: int
    logs: dict[str, list[str]]  # pod name -> lines
    pod_uids: dict[str, str] = field(default_factory=dict)
    running_since: str | None = None
    deleting: int = -1  # reads left before a deleted Job is gone; -1 while not deleted


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    content_type: str


class FakeKube:
    def __init__(self, token: str) -> None:
        self.token = token
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, namespace, name) -> object
        self.jobs: dict[tuple[str, str], FakeVolcanoJob] = {}
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self.default_phases = ["Pending", "Running", "Running", "Completed"]
        self.exit_code = 0
        self.log_lines = ["entry: syncing data\n", "toy: step 1\n", "toy: step 2\n", "entry: pushed outputs\n"]
        self.forbidden_namespaces: set[str] = set()
        # The queues Volcano's admission webhook finds; None: any queue is there.
        self.queues: set[str] | None = None
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self) -> str:
        return yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                "users": [{"name": "tester", "user": {"token": self.token}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
                "current-context": "fake",
            }
        )

    def start(self) -> FakeKube:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(
        self,
        method: str,
        path: str,
        status: int,
        times: int = 1,
        retry_after: str | None = None,
        dry_run: bool | None = None,
    ) -> None:
        self.faults.append(Fault(method, re.compile(path), status, times, retry_after, dry_run))

    def calls(self, method: str, pattern: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # -- the toy controller -------------------------------------------------------------------------------------

    def _pods(self, namespace: str, job: FakeVolcanoJob) -> list[dict[str, Any]]:
        phase = job.phases[0]
        name = job.body["metadata"]["name"]
        task = job.body["spec"]["tasks"][0]
        labels = {**task["template"].get("metadata", {}).get("labels", {}), "volcano.sh/job-name": name}
        pods = []
        for index in range(task["replicas"]):
            pod = f"{name}-{task['name']}-{index}"
            uid = job.pod_uids.setdefault(pod, str(uuid.uuid4()))
            if phase == "Pending":
                state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
                pod_phase = "Pending"
            elif phase in ("Running", "Terminating", "Restarting"):
                state, pod_phase = {"running": {"startedAt": job.running_since}}, "Running"
            else:
                code = job.exit_code if phase != "Terminated" else 143
                reason = "Completed" if code == 0 else "Error"
                state = {
                    "terminated": {
                        "exitCode": code,
                        "reason": reason,
                        "startedAt": job.running_since,
                        "finishedAt": _now(),
                    }
                }
                pod_phase = "Succeeded" if code == 0 else "Failed"
            container = {
                "name": "trainer",
                "ready": "running" in state,
                "restartCount": 0,
                "image": "img",
                "imageID": "",
                "state": state,
            }
            pods.append(
                {
                    "metadata": {"name": pod, "namespace": namespace, "uid": uid, "labels": labels},
                    "spec": task["template"]["spec"],
                    "status": {"phase": pod_phase, "containerStatuses": [container]},
                }
            )
        return pods

    def _job_view(self, job: FakeVolcanoJob) -> dict[str, Any]:
        phase = job.phases[0]
        status: dict[str, Any] = {
            "state": {"phase": phase, "lastTransitionTime": _now()},
            "minAvailable": job.body["spec"]["minAvailable"],
        }
        if job.running_since:
            status["conditions"] = [
                {"status": "Pending", "lastTransitionTime": job.body["metadata"]["creationTimestamp"]}
            ]
            status["conditions"].append({"status": "Running", "lastTransitionTime": job.running_since})
        if phase == "Failed":
            status["state"]["message"] = "the job failed: a pod exited with a non-zero code"
        return {**job.body, "status": status}

    def _advance(self, job: FakeVolcanoJob) -> None:
        if len(job.phases) > 1:
            job.phases.popleft()
        if job.phases[0] != "Pending" and job.running_since is None:
            job.running_since = _now()

    def _collect_garbage(self, owner_uid: str) -> None:
        """Kubernetes' garbage collector: objects owned by a deleted Job go with it."""
        for key, found in list(self.objects.items()):
            if any(ref.get("uid") == owner_uid for ref in found["metadata"].get("ownerReferences") or []):
                del self.objects[key]

    # -- routes -------------------------------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        found = JOBS.match(path)
        if found:
            return self._jobs(method, found.group(1), found.group(2), query, body)
        found = CORE.match(path)
        if found:
            namespace, kind, name, log = found.groups()
            if kind == "pods":
                return self._pods_route(namespace, name, bool(log), query)
            return self._core(method, kind, namespace, name, body)
        return 404, _status(404, "NotFound", f"the server could not find the requested resource ({path})")

    def _selected(self, labels: dict[str, str], query: dict[str, list[str]]) -> bool:
        selector = query.get("labelSelector", [""])[0]
        wanted = dict(part.split("=", 1) for part in selector.split(",") if part)
        return all(labels.get(k) == v for k, v in wanted.items())

    def _jobs(
        self, method: str, namespace: str, name: str | None, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        if namespace in self.forbidden_namespaces:
            message = (
                f'jobs.batch.volcano.sh is forbidden: User "system:serviceaccount:ci:runner" cannot {method.lower()} '
                f'resource "jobs" in API group "batch.volcano.sh" in the namespace "{namespace}"'
            )
            return 403, _status(403, "Forbidden", message)
        if method == "POST" and name is None:
            problems = job_schema_errors(body)
            try:
                from_wire(body["spec"]["tasks"][0]["template"], "V1PodTemplateSpec")
            except (ValueError, KeyError, IndexError, TypeError) as error:
                problems.append(f"spec.tasks[0].template: {error}")
            if problems:
                return 422, _status(
                    422,
                    "Invalid",
                    f'Job.batch.volcano.sh "{body.get("metadata", {}).get("name")}" is invalid: {"; ".join(problems)}',
                )
            queue = body["spec"].get("queue", "default")
            if self.queues is not None and queue not in self.queues:  # as Volcano's validating webhook answers
                message = (
                    'admission webhook "validatejob.volcano.sh" denied the request: unable to find job queue: '
                    f'queues.scheduling.volcano.sh "{queue}" not found'
                )
                return 400, _status(400, "BadRequest", message)
            key = (namespace, body["metadata"]["name"])
            if key in self.jobs:
                return 409, _status(409, "AlreadyExists", f'jobs.batch.volcano.sh "{key[1]}" already exists')
            if query.get("dryRun") == ["All"]:  # validated and admitted, nothing stored
                return 201, body
            stored = json.loads(json.dumps(body))
            stored["metadata"] |= {
                "uid": str(uuid.uuid4()),
                "creationTimestamp": _now(),
                "resourceVersion": "1",
                "namespace": namespace,
            }
            pods = {f"{key[1]}-{t['name']}-{i}" for t in body["spec"]["tasks"] for i in range(t["replicas"])}
            phases = list(self.default_phases)
            if self.exit_code:
                phases[-1] = "Failed"
            self.jobs[key] = FakeVolcanoJob(
                stored, deque(phases), self.exit_code, {p: list(self.log_lines) for p in pods}
            )
            return 201, self._job_view(self.jobs[key])
        if method == "GET" and name is None:
            items = [
                self._job_view(j)
                for (ns, _), j in self.jobs.items()
                if ns == namespace and self._selected(j.body["metadata"].get("labels", {}), query)
            ]
            return 200, {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "JobList", "metadata": {}, "items": items}
        job = self.jobs.get((namespace, name or ""))
        if job is None:
            return 404, _status(404, "NotFound", f'jobs.batch.volcano.sh "{name}" not found')
        if method == "GET":
            if job.deleting == 0:
                del self.jobs[(namespace, name or "")]
                self._collect_garbage(job.body["metadata"]["uid"])
                return 404, _status(404, "NotFound", f'jobs.batch.volcano.sh "{name}" not found')
            if job.deleting > 0:
                job.deleting -= 1
            else:
                self._advance(job)
            return 200, self._job_view(job)
        if method == "DELETE":
            if job.deleting < 0:
                job.deleting = 2  # the pods take a moment to go (their grace period)
                if job.phases[0] not in TERMINAL:
                    job.phases = deque(["Terminating"])
                job.body["metadata"]["deletionTimestamp"] = _now()
            return 200, self._job_view(job)
        return 405, _status(405, "MethodNotAllowed", f"{method} is not supported here")

    def _core(self, method: str, kind: str, namespace: str, name: str | None, body: Any) -> tuple[int, Any]:
        if method == "POST" and name is None:
            key = (kind, namespace, body["metadata"]["name"])
            if key in self.objects:
                return 409, _status(409, "AlreadyExists", f'{kind} "{key[2]}" already exists')
            stored = json.loads(json.dumps(body))
            stored["metadata"] |= {"uid": str(uuid.uuid4()), "namespace": namespace, "creationTimestamp": _now()}
            self.objects[key] = stored
            return 201, stored
        key = (kind, namespace, name or "")
        if key not in self.objects:
            return 404, _status(404, "NotFound", f'{kind} "{name}" not found')
        if method == "GET":
            return 200, self.objects[key]
        if method == "PUT":
            self.objects[key] = {**body, "metadata": {**self.objects[key]["metadata"], **body["metadata"]}}
            return 200, self.objects[key]
        if method == "PATCH":  # a merge patch of the fields this backend patches
            self.objects[key]["metadata"].update(body.get("metadata", {}))
            if "stringData" in body:
                self.objects[key]["stringData"] = {**self.objects[key].get("stringData", {}), **body["stringData"]}
            return 200, self.objects[key]
        if method == "DELETE":
            del self.objects[key]
            return 200, _status(200, "", "deleted") | {"status": "Success"}
        return 405, _status(405, "MethodNotAllowed", f"{method} is not supported here")

    def _pods_route(self, namespace: str, name: str | None, log: bool, query: dict[str, list[str]]) -> tuple[int, Any]:
        pods = [p for (ns, _), j in self.jobs.items() if ns == namespace for p in self._pods(ns, j)]
        if name is None:
            items = [p for p in pods if self._selected(p["metadata"]["labels"], query)]
            return 200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}
        for (ns, _), job in self.jobs.items():
            if ns == namespace and name in job.logs:
                return 200, job.logs[name]
        return 404, _status(404, "NotFound", f'pods "{name}" not found')

    # -- HTTP ---------------------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else None
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                with fake.lock:
                    status, answer, headers = fake._answer(self, parts.path, query, body)
                    fake.requests.append(
                        Seen(self.command, parts.path, query, body, status, self.headers.get("Content-Type", ""))
                    )
                if status == 200 and isinstance(answer, list):  # a pod log
                    self._log(answer, query.get("follow", ["false"])[0] == "true")
                else:
                    self._reply(status, answer, headers)

            def _log(self, lines: list[str], follow: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                if not follow:
                    data = "".join(lines).encode()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_header("Connection", "close")  # a follow streams until the container ends
                self.end_headers()
                for line in lines:
                    self.wfile.write(line.encode())
                    self.wfile.flush()
                    time.sleep(0.01)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return Handler

    def _answer(
        self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, _status(401, "Unauthorized", "Unauthorized"), {}
        for fault in self.faults:
            dry = query.get("dryRun") == ["All"]
            if fault.dry_run is not None and fault.dry_run is not dry:
                continue
            if fault.times > 0 and fault.method == handler.command and fault.path.search(path):
                fault.times -= 1
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                reason = {429: "TooManyRequests", 403: "Forbidden"}.get(fault.status, "InternalError")
                return fault.status, _status(fault.status, reason, f"injected {fault.status}"), headers
        status, answer = self._route(handler.command, path, query, body)
        return status, answer, {}
