"""The Volcano backend's options (its runopts): where the cluster is, how pods are shaped, how calls retry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class VolcanoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str = Field("default", pattern=DNS_LABEL, description="namespace of the Job, ConfigMap and Secret")
    queue: str = Field("default", description="Volcano queue")
    kubeconfig: str | None = Field(None, description="kubeconfig file; default $KUBECONFIG, ~/.kube/config, in-cluster")
    context: str | None = Field(None, description="kubeconfig context; default its current-context")
    python: str = Field("python", description="interpreter in the image")
    code_url: str | None = Field(
        None, description="object-store folder for the code; default <train_url bucket>/launcher-code/<job>/code/"
    )
    code_in_image: str | None = Field(None, description="folder in the image that already holds the code: no upload")
    storage_endpoint: str | None = Field(None, description="S3_ENDPOINT inside the pods; default the storage profile's")
    storage_secret: str | None = Field(
        None,
        pattern=DNS_LABEL,
        description="an existing Secret with ACCESS_KEY_ID/SECRET_ACCESS_KEY (SESSION_TOKEN optional), left as it "
        "is; default: the job's own Secret <job>-storage from the local storage profile, deleted with the Job",
    )
    max_retry: int = Field(3, ge=0, description="Volcano restarts of the whole job (preemption, failed pod)")
    restart_on_failure: bool = Field(
        True, description="restart the job when a pod fails (it resumes from its checkpoint)"
    )
    cpu: str | None = Field(None, description="CPU request and limit per pod, e.g. 8")
    memory: str | None = Field(None, description="memory request and limit per pod, e.g. 32Gi")
    ascend_resource: str = Field("huawei.com/Ascend910", description="extended resource of an Ascend card")
    ring_controller: str = Field("ascend-910", description="value of the ring-controller.atlas label")
    gpu_resource: str = Field("nvidia.com/gpu", description="extended resource of a GPU")
    node_selector: dict[str, str] = Field(default_factory=dict)
    image_pull_secret: str | None = None
    grace_seconds: int = Field(120, ge=0, description="pod terminationGracePeriodSeconds: time to push outputs on stop")
    rank_table_timeout_s: float = Field(600.0, gt=0, description="how long a pod waits for the rank table")
    api_retries: int = Field(5, ge=0, le=10, description="retries on 429/5xx/connection errors")
    api_retry_delay_s: float = Field(1.0, ge=0)
    api_timeout_s: float = Field(60.0, gt=0)
    poll_interval_s: float = Field(5.0, gt=0, description="between polls while following or stopping")
    stop_timeout_s: float = Field(300.0, ge=0, description="how long `stop` waits for the pods to go")
