"""submit -> status -> logs -> stop through the real `kubernetes` client against a local API server with a toy
Volcano controller: bearer auth, schema-checked Jobs, ConfigMap ownership, the storage Secret, retries on
429/5xx (Retry-After honoured), one-line errors on 4xx."""

from __future__ import annotations

import json

import pytest

from launcher.backends import get_backend
from launcher.backends.volcano.backend import VolcanoBackend
from launcher.backends.volcano.manifests import k8s_name
from launcher.errors import UserError
from launcher.jobs import JobState, JobStore
from launcher.paths import objects_root
from tests.backends.fake_kube import FakeKube

IMAGE = "registry.local/launcher:1.0"
SECRET = "Obs-Secret-Key-Cycle-77"


@pytest.fixture(autouse=True)
def storage_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS_KEY_ID", "obs-ak")
    monkeypatch.setenv("SECRET_ACCESS_KEY", SECRET)


def backend(**options) -> VolcanoBackend:  # noqa: ANN003
    values = {
        "storage_endpoint": "http://minio.storage.svc:9000",
        "api_retry_delay_s": 0.01,
        "poll_interval_s": 0.01,
        "stop_timeout_s": 5,
        **options,
    }
    found = get_backend("volcano", JobStore(), values)
    assert isinstance(found, VolcanoBackend)
    return found


def test_ascend_submit_status_logs_to_the_end(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    runner = backend(namespace="train")
    job = make_job("volcano", device="ascend", count=2, nodes=2, image=IMAGE)
    record = runner.submit(job)
    name = k8s_name(job.id)
    assert record.state is JobState.PENDING and record.handle["name"] == name and record.handle["namespace"] == "train"
    # Sent in order: the job's Secret (from the profile), the ConfigMap, the Job; then the Job owns both.
    secret = kube.objects[("secrets", "train", f"{name}-storage")]
    assert secret["stringData"] == {"ACCESS_KEY_ID": "obs-ak", "SECRET_ACCESS_KEY": SECRET}
    config_map = kube.objects[("configmaps", "train", f"rings-config-{name}")]
    owner = kube.jobs[("train", name)].body["metadata"]
    for owned in (config_map, secret):
        assert owned["metadata"]["ownerReferences"] == [
            {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "name": name, "uid": owner["uid"]}
        ]
    dry_run, *posted = kube.calls("POST", "/apis/batch.volcano.sh/v1alpha1/namespaces/train/jobs$")
    assert dry_run.query["dryRun"] == ["All"] and dry_run.body == runner.render(job).manifests[-1]
    assert [p.status for p in posted] == [201] and posted[0].body == runner.render(job).manifests[-1]
    code = objects_root() / "toy-bucket" / "launcher-code" / job.id / "code"
    assert (code / "entry" / "modelarts_entry_acc.py").is_file() and (code / "toyjobs" / "hparams.py").is_file()

    lines = list(runner.logs(job.id, follow=True, rank=3))
    assert "".join(lines) == "".join(kube.log_lines)  # the stream was followed again, nothing shown twice
    assert kube.calls("GET", f"/pods/{name}-worker-1/log$")
    final = runner.status(job.id)
    assert final.state is JobState.SUCCEEDED and final.exit_code == 0 and final.started_at is not None


def test_failed_pod_gives_exit_code_and_reason(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    kube.exit_code = 1
    runner = backend()
    job = make_job("volcano", image=IMAGE)
    runner.submit(job)
    for _ in range(5):
        record = runner.status(job.id)
    assert record.state is JobState.FAILED and record.exit_code == 1
    assert f"{k8s_name(job.id)}-worker-0: Error (exit 1)" in record.reason and "non-zero code" in record.reason
    assert "".join(runner.logs(job.id)) == "".join(kube.log_lines)


def test_stop_deletes_in_the_foreground(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    runner = backend()
    job = make_job("volcano", device="ascend", image=IMAGE)
    runner.submit(job)
    assert runner.status(job.id).state is JobState.RUNNING
    final = runner.cancel(job.id)
    assert not final.state.terminal  # cancel does not wait for the pods to go
    assert runner.cancel(job.id).stop_requested and len(kube.calls("DELETE", "/jobs/")) == 1  # asked once
    final = runner.wait(job.id, timeout=runner.stop_timeout(job.id))
    assert final.state is JobState.STOPPED and final.reason == "stopped"
    name = k8s_name(job.id)
    deletes = kube.calls("DELETE", f"/jobs/{name}$")
    assert len(deletes) == 1 and deletes[0].query["propagationPolicy"] == ["Foreground"]
    assert ("default", name) not in kube.jobs and ("configmaps", "default", f"rings-config-{name}") not in kube.objects
    assert runner.cancel(job.id) == final and len(kube.calls("DELETE", "/jobs/")) == 1


def test_list_reconciles_by_label_and_sees_deleted_jobs(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    kube.default_phases = ["Running"]
    runner = backend()
    first, second = make_job("volcano", image=IMAGE), make_job("volcano", image=IMAGE)
    runner.submit(first)
    runner.submit(second)
    del kube.jobs[("default", k8s_name(second.id))]  # someone ran kubectl delete
    states = {r.id: r for r in get_backend("volcano", JobStore()).list()}
    assert states[first.id].state is JobState.RUNNING
    assert states[second.id].state is JobState.FAILED and "deleted outside the launcher" in states[second.id].reason
    (listing,) = kube.calls("GET", "/namespaces/default/jobs$")
    assert listing.query["labelSelector"] == ["app.kubernetes.io/managed-by=launcher"]
    assert not kube.calls("GET", "/namespaces/default/jobs/.")  # one list, no get per job


def test_429_with_retry_after_and_5xx_are_retried(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    kube.fail_next("POST", "/jobs$", 429, times=1, retry_after="0.05")
    kube.fail_next("GET", "/pods$", 503, times=2)
    runner = backend()
    job = make_job("volcano", image=IMAGE)
    runner.submit(job)
    assert runner.status(job.id).state is JobState.RUNNING
    assert [c.status for c in kube.calls("POST", "/jobs$")] == [429, 201, 201]  # the dry run, retried; the create
    assert [c.status for c in kube.calls("GET", "/pods$")] == [503, 503, 200]


def test_retries_are_bounded(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    kube.fail_next("POST", "/jobs$", 500, times=10)
    with pytest.raises(UserError, match=r"Kubernetes create Job .* failed after 2 retries \(500\): injected 500"):
        backend(api_retries=2).submit(make_job("volcano", image=IMAGE))
    assert len(kube.calls("POST", "/jobs$")) == 3


def test_a_create_that_went_through_is_adopted(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    runner = backend()
    job = make_job("volcano", image=IMAGE)
    request = runner.render(job)
    first_try = runner._api()  # noqa: SLF001 - the create whose answer was lost on the way back
    first_try.create_job(request.manifests[-1], adopt=lambda _found: False)
    record = runner.send(job, request)
    assert record.handle["uid"] == kube.jobs[("default", k8s_name(job.id))].body["metadata"]["uid"]
    assert [c.status for c in kube.calls("POST", "/jobs$") if "dryRun" not in c.query] == [201, 409]


def test_wrong_token_is_credentials_rejected(kube: FakeKube, make_job, tmp_path) -> None:  # noqa: ANN001
    config = tmp_path / "other-kubeconfig"
    config.write_text(kube.kubeconfig().replace(kube.token, "wrong-token-1234"))
    with pytest.raises(UserError, match=r"Kubernetes credentials rejected \(.*401 Unauthorized\)") as caught:
        backend(kubeconfig=str(config)).submit(make_job("volcano", image=IMAGE))
    assert "wrong-token-1234" not in str(caught.value)
    assert len(kube.requests) == 1  # not retried


def test_forbidden_namespace_says_who_and_what(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    kube.forbidden_namespaces.add("prod")
    with pytest.raises(
        UserError, match=r'refused create Job .* in namespace prod \(403\): .*cannot post resource "jobs"'
    ):
        backend(namespace="prod").submit(make_job("volcano", image=IMAGE))


def test_cluster_without_volcano(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    kube.fail_next("POST", "/jobs$", 404)
    with pytest.raises(UserError, match=r"has no batch.volcano.sh/v1alpha1 jobs: is Volcano installed\?"):
        backend().submit(make_job("volcano", device="ascend", image=IMAGE))
    assert not kube.calls("POST", "/configmaps$") and not kube.calls("POST", "/secrets$")  # the dry run said so first
    kube.fail_next("POST", "/jobs$", 404, dry_run=False)  # Volcano uninstalled between the dry run and the create
    with pytest.raises(UserError, match=r"has no batch.volcano.sh/v1alpha1 jobs: is Volcano installed\?"):
        backend().submit(make_job("volcano", device="ascend", image=IMAGE))
    assert kube.calls("POST", "/configmaps$") and not [k for k in kube.objects if k[0] == "configmaps"]  # cleaned up


def secret_refs(kube: FakeKube, name: str) -> dict[str, dict]:
    pod = kube.jobs[("default", name)].body["spec"]["tasks"][0]["template"]["spec"]
    env = pod["containers"][0]["env"]
    return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "secretKeyRef" in e.get("valueFrom", {})}


def test_each_job_has_its_own_secret_with_the_token_deleted_with_the_job(
    kube: FakeKube, make_job, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """Two users in one namespace: neither overwrites the other's keys, the session token travels, and each
    Secret goes when its Job goes (ownerReferences: Kubernetes' garbage collector)."""
    kube.objects[("secrets", "default", "launcher-storage")] = {  # the old shared Secret: never touched again
        "metadata": {"name": "launcher-storage", "namespace": "default"},
        "stringData": {"ACCESS_KEY_ID": "someone-else"},
    }
    monkeypatch.setenv("SESSION_TOKEN", "alice-session-token")
    alice = make_job("volcano", image=IMAGE)
    backend().submit(alice)
    monkeypatch.setenv("ACCESS_KEY_ID", "bob-ak")
    monkeypatch.setenv("SECRET_ACCESS_KEY", "bob-sk")
    monkeypatch.delenv("SESSION_TOKEN")
    bob = make_job("volcano", image=IMAGE)
    backend().submit(bob)
    alice_name, bob_name = k8s_name(alice.id), k8s_name(bob.id)

    assert kube.objects[("secrets", "default", f"{alice_name}-storage")]["stringData"] == {
        "ACCESS_KEY_ID": "obs-ak",
        "SECRET_ACCESS_KEY": SECRET,
        "SESSION_TOKEN": "alice-session-token",
    }
    assert kube.objects[("secrets", "default", f"{bob_name}-storage")]["stringData"] == {
        "ACCESS_KEY_ID": "bob-ak",
        "SECRET_ACCESS_KEY": "bob-sk",
    }
    assert kube.objects[("secrets", "default", "launcher-storage")]["stringData"] == {"ACCESS_KEY_ID": "someone-else"}
    assert not kube.calls("PATCH", "/secrets/launcher-storage$") and not kube.calls("PUT", "/secrets/")
    assert {k: v["name"] for k, v in secret_refs(kube, alice_name).items()} == {
        "ACCESS_KEY_ID": f"{alice_name}-storage",
        "SECRET_ACCESS_KEY": f"{alice_name}-storage",
        "SESSION_TOKEN": f"{alice_name}-storage",
    }
    assert set(secret_refs(kube, bob_name)) == {"ACCESS_KEY_ID", "SECRET_ACCESS_KEY"}

    backend().cancel(alice.id)
    assert ("secrets", "default", f"{alice_name}-storage") not in kube.objects
    assert ("secrets", "default", f"{bob_name}-storage") in kube.objects
    kube.jobs[("default", bob_name)].deleting = 0  # deleted outside the launcher: the collector takes the Secret
    backend().status(bob.id)
    assert ("secrets", "default", f"{bob_name}-storage") not in kube.objects


def test_a_secret_the_user_keeps_is_only_read(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    job = make_job("volcano", image=IMAGE)
    backend(storage_secret="team-keys").submit(job)
    assert not [k for k in kube.objects if k[0] == "secrets"] and not kube.calls("POST", "/secrets")
    refs = secret_refs(kube, k8s_name(job.id))
    assert {k: (v["name"], v["optional"]) for k, v in refs.items()} == {
        "ACCESS_KEY_ID": ("team-keys", False),
        "SECRET_ACCESS_KEY": ("team-keys", False),
        "SESSION_TOKEN": ("team-keys", True),
    }


def test_a_job_that_cannot_be_created_leaves_no_secret(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    kube.fail_next("POST", "/jobs$", 422, dry_run=False)
    with pytest.raises(UserError):
        backend().submit(make_job("volcano", image=IMAGE))
    assert kube.calls("POST", "/secrets$") and not [k for k in kube.objects if k[0] == "secrets"]


def test_missing_kubeconfig(make_job, tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match="no usable Kubernetes configuration"):
        backend(kubeconfig=str(tmp_path / "nope")).submit(make_job("volcano", image=IMAGE))


def test_hyperparameters_too_large_for_one_argument_travel_in_an_owned_configmap(
    kube: FakeKube, make_job  # noqa: ANN001
) -> None:
    note = "n" * 300_000  # one exec argument may hold 128 KiB: the pod's entry would fail with E2BIG
    runner = backend()
    job = make_job("volcano", overrides={"note": note}, image=IMAGE)
    record = runner.submit(job)
    name = k8s_name(job.id)
    config_map = kube.objects[("configmaps", "default", f"{name}-hyperparameters")]
    assert json.loads(config_map["data"]["hyperparameters.json"])["note"] == note
    owner = kube.jobs[("default", name)].body
    assert config_map["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
    pod = owner["spec"]["tasks"][0]["template"]["spec"]
    (trainer,) = pod["containers"]
    assert trainer["command"][-1] == "--hyperparameters=@/etc/launcher/hyperparameters/hyperparameters.json"
    assert len(json.dumps(owner)) < 20_000
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["hyperparameters"]["configMap"] == {"name": f"{name}-hyperparameters"}
    mount = next(m for m in trainer["volumeMounts"] if m["name"] == "hyperparameters")
    assert mount["mountPath"] == "/etc/launcher/hyperparameters" and mount["readOnly"]
    assert record.handle["config_maps"] == [f"{name}-hyperparameters"]
    runner.cancel(job.id)
    assert ("configmaps", "default", f"{name}-hyperparameters") not in kube.objects


def test_the_cluster_dry_run_refuses_before_anything_is_made(kube: FakeKube, make_job) -> None:  # noqa: ANN001
    """What only the cluster knows (here: Volcano's webhook does not find the queue) is refused by the server-side
    dry run, before the code upload, the Secret, the ConfigMaps or the Job exist."""
    kube.queues = {"default"}
    job = make_job("volcano", device="ascend", image=IMAGE)
    with pytest.raises(UserError, match=r'denied the request: unable to find job queue: .*"ascend-q" not found'):
        backend(queue="ascend-q").submit(job)
    (dry_run,) = kube.calls("POST", "/jobs$")
    assert dry_run.query["dryRun"] == ["All"] and dry_run.status == 400
    assert not kube.jobs and not kube.objects and not kube.calls("POST", "/secrets$")
    assert not (objects_root() / "toy-bucket" / "launcher-code" / job.id).exists()
    backend(queue="default").submit(make_job("volcano", device="ascend", image=IMAGE))
    assert len(kube.jobs) == 1
