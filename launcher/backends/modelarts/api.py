"""The ModelArts v2 training-jobs API through the vendor SDK (`huaweicloudsdkmodelarts.v1`, `huaweicloudsdkcore`).

Owns the account side: where the endpoint is, which AK/SK and project, the SDK client, bounded retries on
429/5xx/connection failures, and turning the SDK's exceptions into one-line errors a user can act on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import (
    ClientRequestException,
    ConnectionException,
    RequestTimeoutException,
    SdkException,
    ServerResponseException,
    ServiceResponseException,
)
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkmodelarts.v1 import (
    CreateTrainingJobRequest,
    Filter,
    JobActionType,
    JobSearches,
    ListTrainingJobsRequest,
    ModelArtsClient,
    ShowTrainingJobDetailsRequest,
    ShowTrainingJobFlavorsRequest,
    ShowTrainingJobLogsPreviewRequest,
    StopTrainingJobRequest,
)
from huaweicloudsdkmodelarts.v1.region.modelarts_region import ModelArtsRegion
from pydantic import BaseModel, ConfigDict, SecretStr

from launcher.errors import JobNotFound, UserError
from launcher.redact import register_secret
from launcher.retry import RetryPolicy, call_with_retry
from launcher.storage.profiles import Profile

T = TypeVar("T")

ENV_AK, ENV_SK = "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"  # the SDK's own variable names
ENV_TOKEN = "HUAWEICLOUD_SDK_SECURITY_TOKEN"
ENV_PROJECT, ENV_REGION = "HUAWEICLOUD_SDK_PROJECT_ID", "HUAWEICLOUD_SDK_REGION"
_HUAWEI_HOST = re.compile(r"^(?:modelarts|obs)\.([a-z0-9-]+)\.myhuaweicloud\.(?:com|eu)$")


class ModelArtsError(UserError):
    """ModelArts refused or could not answer a request; the message says what to change."""


class Account(BaseModel):
    """Who calls ModelArts, where. Secrets are SecretStr: they never print, and are registered for redaction."""

    model_config = ConfigDict(frozen=True)

    endpoint: str
    region: str
    project_id: str
    ak: str
    sk: SecretStr
    security_token: SecretStr | None = None


def region_of_host(url: str) -> str | None:
    """`cn-north-4` from https://modelarts.cn-north-4.myhuaweicloud.com or an OBS endpoint; None for other hosts."""
    found = _HUAWEI_HOST.match(urlsplit(url if "://" in url else "https://" + url).hostname or "")
    return found.group(1) if found else None


def resolve_endpoint(region: str | None, endpoint: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """(endpoint, region): an explicit endpoint wins; otherwise the SDK's table of regions."""
    region = region or environ.get(ENV_REGION) or None
    if endpoint:
        endpoint = endpoint.rstrip("/")
        if "://" not in endpoint:
            endpoint = "https://" + endpoint
        host_region = region_of_host(endpoint)
        if region and host_region and host_region != region:
            raise ModelArtsError(f"region mismatch: region is {region} but the endpoint {endpoint} is in {host_region}")
        region = region or host_region
        if not region:
            raise ModelArtsError(f"cannot tell the region of endpoint {endpoint}: give --region (e.g. cn-north-4)")
        return endpoint, region
    if not region:
        raise ModelArtsError(f"no ModelArts region: give --region (e.g. cn-north-4) or set {ENV_REGION}")
    try:
        return ModelArtsRegion.value_of(region).endpoints[0], region
    except KeyError:
        raise ModelArtsError(
            f"unknown ModelArts region {region!r}; give --endpoint for a region the SDK does not list"
        ) from None


def resolve_account(
    *,
    region: str | None,
    endpoint: str | None,
    project_id: str | None,
    profile: Profile,
    environ: Mapping[str, str] | None = None,
) -> Account:
    """AK/SK from HUAWEICLOUD_SDK_AK/SK, else the storage profile's keys (OBS and ModelArts share an account's
    AK/SK); the project id from --project_id or HUAWEICLOUD_SDK_PROJECT_ID (one project per region)."""
    env = os.environ if environ is None else environ
    endpoint, region = resolve_endpoint(region, endpoint, env)
    obs_region = profile.region or (region_of_host(profile.endpoint) if profile.endpoint else None)
    if obs_region and obs_region != region:
        raise ModelArtsError(
            f"region mismatch: ModelArts region is {region} but the storage endpoint {profile.endpoint} is in "
            f"{obs_region}; a training job reads and writes OBS in its own region"
        )
    ak = env.get(ENV_AK) or profile.access_key_id
    sk = env.get(ENV_SK) or (profile.secret_access_key.get_secret_value() if profile.secret_access_key else None)
    token = env.get(ENV_TOKEN) or (profile.session_token.get_secret_value() if profile.session_token else None)
    if not ak or not sk:
        raise ModelArtsError(
            f"no ModelArts credentials: set {ENV_AK} and {ENV_SK} (or access_key_id/secret_access_key "
            f"in the storage profile {profile.name!r})"
        )
    project = project_id or env.get(ENV_PROJECT)
    if not project:
        raise ModelArtsError(f"no ModelArts project id for {region}: give --project_id or set {ENV_PROJECT}")
    for secret in (sk, token):
        register_secret(secret)
    return Account(
        endpoint=endpoint,
        region=region,
        project_id=project,
        ak=ak,
        sk=SecretStr(sk),
        security_token=SecretStr(token) if token else None,
    )


def _transient(error: BaseException) -> bool:
    if isinstance(error, ServiceResponseException):
        return error.status_code == 429 or error.status_code >= 500
    return isinstance(error, ConnectionException | RequestTimeoutException)


def _describe(error: ServiceResponseException) -> str:
    return f"{error.status_code} {error.error_code}: {error.error_msg}".strip()


class ModelArtsAPI:
    """The calls the backend makes, each retried on transient failures and translated on permanent ones."""

    def __init__(self, account: Account, retry: RetryPolicy, verify_ssl: bool = True, timeout_s: float = 60.0) -> None:
        self.account = account
        self.retry = retry
        config = HttpConfig(ignore_ssl_verification=not verify_ssl, timeout=(min(10.0, timeout_s), timeout_s))
        config.retry_times = 0  # retries are ours: bounded, logged, and only for answers that invite them
        credentials = BasicCredentials(account.ak, account.sk.get_secret_value(), account.project_id)
        if account.security_token is not None:
            credentials = credentials.with_security_token(account.security_token.get_secret_value())
        self.client: ModelArtsClient = (
            ModelArtsClient.new_builder()
            .with_http_config(config)
            .with_credentials(credentials)
            .with_endpoints([account.endpoint])
            .build()
        )

    def job_from_wire(self, body: dict[str, Any]) -> Any:
        """The SDK `Job` model for a body dict, through the SDK's own deserializer (unknown keys do not survive)."""
        return self.client._deserialize(body, "Job")

    def _call(
        self,
        what: str,
        call: Callable[[], T],
        *,
        job_id: str | None = None,
        explain: Callable[[ClientRequestException], UserError | None] = lambda _error: None,
        **retry: Any,
    ) -> T:
        try:
            return call_with_retry(call, policy=self.retry, transient=_transient, what=f"ModelArts {what}", **retry)
        except ClientRequestException as error:
            raise explain(error) or self._client_error(what, error, job_id) from None
        except ServerResponseException as error:
            raise ModelArtsError(
                f"ModelArts {what} failed after {self.retry.retries} retries: {_describe(error)}; try again later"
            ) from None
        except SdkException as error:  # connection refused, TLS, timeout
            raise ModelArtsError(
                f"cannot reach ModelArts at {self.account.endpoint} ({what}): {error.error_msg}"
            ) from None

    def _client_error(self, what: str, error: ClientRequestException, job_id: str | None) -> UserError:
        status = error.status_code
        if status == 401:
            return ModelArtsError(
                f"ModelArts credentials rejected ({_describe(error)}): check {ENV_AK}/{ENV_SK} "
                f"and that the clock is right (requests are signed with the time)"
            )
        if status == 403:
            return ModelArtsError(
                f"ModelArts refused access ({_describe(error)}): the credentials were rejected for project "
                f"{self.account.project_id} in {self.account.region}, or lack ModelArts permissions"
            )
        if status == 404 and job_id is not None:
            return JobNotFound(
                f"ModelArts has no training job {job_id} in project {self.account.project_id} ({_describe(error)})"
            )
        if status == 429:
            return ModelArtsError(
                f"ModelArts is rate limiting ({what}) after {self.retry.retries} retries; try again later"
            )
        return ModelArtsError(f"ModelArts rejected {what}: {_describe(error)}")

    def flavors(self) -> list[Any]:
        response = self._call(
            "flavor list", lambda: self.client.show_training_job_flavors(ShowTrainingJobFlavorsRequest())
        )
        return list(response.flavors or [])

    def create(self, body: dict[str, Any]) -> Any:
        request = CreateTrainingJobRequest(body=self.job_from_wire(body))
        name = body["metadata"]["name"]

        def made_anyway() -> Any | None:
            # A create answered with 5xx may have been carried out: adopt that job rather than start a second.
            return self.find_by_name(name)

        def explain(error: ClientRequestException) -> UserError | None:
            if error.status_code == 400 and "flavor" in str(error.error_msg).lower():
                flavor = body.get("spec", {}).get("resource", {}).get("flavor_id")
                return ModelArtsError(f"unknown flavor {flavor!r} in {self.account.region}: {_describe(error)}")
            return None

        return self._call(
            "create training job",
            lambda: self.client.create_training_job(request),
            before_retry=made_anyway,
            explain=explain,
        )

    def show(self, training_job_id: str) -> Any:
        request = ShowTrainingJobDetailsRequest(training_job_id=training_job_id)
        return self._call("job details", lambda: self.client.show_training_job_details(request), job_id=training_job_id)

    def stop(self, training_job_id: str) -> Any:
        request = StopTrainingJobRequest(training_job_id=training_job_id, body=JobActionType(action_type="terminate"))
        return self._call("stop", lambda: self.client.stop_training_job(request), job_id=training_job_id)

    def log_preview(self, training_job_id: str, task_id: str) -> Any:
        request = ShowTrainingJobLogsPreviewRequest(training_job_id=training_job_id, task_id=task_id)
        return self._call(
            "log preview", lambda: self.client.show_training_job_logs_preview(request), job_id=training_job_id
        )

    def search(self, limit: int = 50, name: str | None = None) -> list[Any]:
        filters = [Filter(key="name", operator="like", value=[name])] if name else None
        request = ListTrainingJobsRequest(body=JobSearches(offset=0, limit=min(max(limit, 1), 50), filters=filters))
        response = self._call("job list", lambda: self.client.list_training_jobs(request))
        return list(response.items or [])

    def find_by_name(self, name: str) -> Any | None:
        try:
            return next((j for j in self.search(name=name) if j.metadata and j.metadata.name == name), None)
        except ModelArtsError:
            return None  # the retry goes on; the create itself will say what is wrong
