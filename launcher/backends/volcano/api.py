"""The Kubernetes calls of the Volcano backend, through the `kubernetes` client (CustomObjectsApi, CoreV1Api).

Owns the cluster side: which kubeconfig/context, bounded retries on 429/5xx/connection failures (honouring
Retry-After), and turning ApiException into one-line errors that say what to fix.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client import ApiException, V1ConfigMap, V1ObjectMeta, V1OwnerReference, V1Secret
from kubernetes.config.config_exception import ConfigException

from launcher.backends.volcano.manifests import GROUP, PLURAL, VERSION
from launcher.errors import UserError
from launcher.redact import register_secret
from launcher.retry import RetryPolicy, call_with_retry, retry_after_s

T = TypeVar("T")


class KubeError(UserError):
    """The cluster refused or could not answer a request; the message says what to change."""


class Gone(KubeError):
    """The object is not there (404)."""


def _status_message(error: ApiException) -> str:
    """The `message` of the Status object the API server answers with, else its reason."""
    try:
        return str(json.loads(error.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.reason or "")


def _retry_after(error: BaseException) -> float | None:
    return retry_after_s(error.headers) if isinstance(error, ApiException) else None


def _transient(error: BaseException) -> bool:
    if isinstance(error, ApiException):
        return error.status == 429 or error.status >= 500
    return isinstance(error, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError)


def load_api_client(kubeconfig: str | None, context: str | None) -> client.ApiClient:
    """From the kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config), or in-cluster when there is none."""
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube" / "config")
    configuration = client.Configuration()
    try:
        if Path(path).expanduser().is_file():
            config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
        else:
            config.load_incluster_config(client_configuration=configuration)
    except ConfigException as error:
        raise KubeError(f"no usable Kubernetes configuration ({path}): {error}") from None
    configuration.retries = 0  # retries are ours: bounded, logged, and only for answers that invite them
    for value in configuration.api_key.values():
        register_secret(value.removeprefix("Bearer ").strip())
    if configuration.password:
        register_secret(configuration.password)
    return client.ApiClient(configuration)


class KubeAPI:
    def __init__(
        self, kubeconfig: str | None, context: str | None, namespace: str, retry: RetryPolicy, timeout_s: float = 60.0
    ) -> None:
        self.api_client = load_api_client(kubeconfig, context)
        self.host = self.api_client.configuration.host
        self.namespace = namespace
        self.retry = retry
        self.timeout_s = timeout_s
        self.custom = client.CustomObjectsApi(self.api_client)
        self.core = client.CoreV1Api(self.api_client)

    def _call(self, what: str, call: Callable[[], T], **retry: Any) -> T:
        try:
            return call_with_retry(
                call,
                policy=self.retry,
                transient=_transient,
                retry_after=_retry_after,
                what=f"Kubernetes {what}",
                **retry,
            )
        except ApiException as error:
            raise self._explain(what, error) from None
        except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as error:
            raise KubeError(f"cannot reach the Kubernetes API at {self.host} ({what}): {error}") from None

    def _explain(self, what: str, error: ApiException) -> KubeError:
        message = _status_message(error)
        if error.status == 401:
            return KubeError(f"Kubernetes credentials rejected ({what}: 401 {message}): check the kubeconfig's user")
        if error.status == 403:
            return KubeError(f"Kubernetes refused {what} in namespace {self.namespace} (403): {message}")
        if error.status == 404:
            return Gone(f"Kubernetes {what}: not found (404): {message}")
        if error.status == 429 or error.status >= 500:
            return KubeError(f"Kubernetes {what} failed after {self.retry.retries} retries ({error.status}): {message}")
        return KubeError(f"Kubernetes rejected {what} ({error.status}): {message}")

    def _t(self) -> float:
        return self.timeout_s

    # -- Volcano jobs -------------------------------------------------------------------------------------------

    def _no_volcano(self, error: ApiException) -> KubeError:
        found = _status_message(error)
        return KubeError(f"the cluster at {self.host} has no {GROUP}/{VERSION} jobs: is Volcano installed? ({found})")

    def check_job(self, body: dict[str, Any]) -> None:
        """The API server's dry run of creating the Job: its own validation against the installed CRD and the
        admission webhooks (Volcano's: queue, policies, resources), with nothing stored. Raises KubeError."""
        name = body["metadata"]["name"]

        def dry_run() -> None:
            try:
                self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, body, dry_run="All", _request_timeout=self._t()
                )
            except ApiException as error:
                if error.status == 409:
                    return  # already there (a resubmission): the create itself adopts it or says so
                if error.status == 404:
                    raise self._no_volcano(error) from None
                raise

        self._call(f"create Job {name} (dry run)", dry_run)

    def create_job(self, body: dict[str, Any], adopt: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Create the Job; a 409 for a Job that `adopt` recognises as this very one (a retried create that had
        gone through) returns it instead of failing."""
        name = body["metadata"]["name"]

        def create() -> dict[str, Any]:
            try:
                return self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, body, _request_timeout=self._t()
                )
            except ApiException as error:
                if error.status == 409:
                    existing = self.get_job(name)
                    if existing is not None and adopt(existing):
                        return existing
                if error.status == 404:
                    raise self._no_volcano(error) from None
                raise

        return self._call(f"create Job {name}", create)

    def get_job(self, name: str) -> dict[str, Any] | None:
        try:
            return self._call(
                f"get Job {name}",
                lambda: self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=self._t()
                ),
            )
        except Gone:
            return None

    def list_jobs(self, label_selector: str) -> list[dict[str, Any]]:
        found = self._call(
            "list Jobs",
            lambda: self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, label_selector=label_selector, _request_timeout=self._t()
            ),
        )
        return list(found.get("items", []))

    def delete_job(self, name: str) -> bool:
        """Delete the Job and, in the foreground, its pods (they get SIGTERM and the grace period); False if gone."""
        try:
            self._call(
                f"delete Job {name}",
                lambda: self.custom.delete_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    name,
                    propagation_policy="Foreground",
                    _request_timeout=self._t(),
                ),
            )
        except Gone:
            return False
        return True

    # -- core objects -------------------------------------------------------------------------------------------

    def apply_config_map(self, config_map: V1ConfigMap) -> None:
        name = config_map.metadata.name

        def create() -> None:
            try:
                self.core.create_namespaced_config_map(self.namespace, config_map, _request_timeout=self._t())
            except ApiException as error:
                if error.status != 409:  # already there (a retried create, or a resubmission): leave it as it is
                    raise

        self._call(f"create ConfigMap {name}", create)

    def own(self, kind: Literal["ConfigMap", "Secret"], name: str, job: dict[str, Any]) -> None:
        """Make the Job the owner of a ConfigMap or Secret, so that deleting the Job deletes it too."""
        owner = V1OwnerReference(
            api_version=job["apiVersion"], kind=job["kind"], name=job["metadata"]["name"], uid=job["metadata"]["uid"]
        )
        patch = {"metadata": {"ownerReferences": [self.api_client.sanitize_for_serialization(owner)]}}
        method = self.core.patch_namespaced_config_map if kind == "ConfigMap" else self.core.patch_namespaced_secret
        self._call(f"patch {kind} {name}", lambda: method(name, self.namespace, patch, _request_timeout=self._t()))

    def delete_config_map(self, name: str) -> None:
        with contextlib.suppress(Gone):  # already gone: with its owner Job, or never made
            self._call(
                f"delete ConfigMap {name}",
                lambda: self.core.delete_namespaced_config_map(name, self.namespace, _request_timeout=self._t()),
            )

    def write_secret(self, name: str, values: dict[str, str], labels: dict[str, str]) -> None:
        """Create a job's own Secret; one already there (our retried create) is replaced whole, never merged."""
        secret = V1Secret(
            api_version="v1",
            kind="Secret",
            metadata=V1ObjectMeta(name=name, namespace=self.namespace, labels=labels),
            type="Opaque",
            string_data=values,
        )

        def write() -> None:
            try:
                self.core.create_namespaced_secret(self.namespace, secret, _request_timeout=self._t())
            except ApiException as error:
                if error.status != 409:
                    raise
                self.core.replace_namespaced_secret(name, self.namespace, secret, _request_timeout=self._t())

        self._call(f"write Secret {name}", write)

    def delete_secret(self, name: str) -> None:
        with contextlib.suppress(Gone):  # already gone: with its owner Job, or never made
            self._call(
                f"delete Secret {name}",
                lambda: self.core.delete_namespaced_secret(name, self.namespace, _request_timeout=self._t()),
            )

    def pods(self, label_selector: str) -> list[client.V1Pod]:
        found = self._call(
            "list pods",
            lambda: self.core.list_namespaced_pod(
                self.namespace, label_selector=label_selector, _request_timeout=self._t()
            ),
        )
        return list(found.items or [])

    def pod_log(self, pod: str, container: str) -> str:
        # Raw response: the client's own decoding of this text/plain answer yields the repr of bytes.
        response = self._call(
            f"log of pod {pod}",
            lambda: self.core.read_namespaced_pod_log(
                pod, self.namespace, container=container, _preload_content=False, _request_timeout=self._t()
            ),
        )
        return response.data.decode("utf-8", errors="replace")

    def follow_pod_log(self, pod: str, container: str) -> Iterator[bytes]:
        """The log as it is written, until the container ends (or the connection drops)."""
        response = self._call(
            f"log of pod {pod}",
            lambda: self.core.read_namespaced_pod_log(
                pod,
                self.namespace,
                container=container,
                follow=True,
                _preload_content=False,
                _request_timeout=(min(10.0, self.timeout_s), None),
            ),
        )
        try:
            yield from response.stream(4096, decode_content=True)
        except urllib3.exceptions.HTTPError:
            return  # the stream broke: the caller looks at the job and follows again if it still runs
        finally:
            response.release_conn()
