"""The local backend on real processes: success, crash, stop (children gone), a lost supervisor, logs."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path


from launcher.backends import get_backend
from launcher.backends.local.backend import LocalBackend
from launcher.cli import seed_demo_data
from launcher.jobs import JobRecord, JobState, JobStore
from launcher.jobspec import plan_job
from launcher.paths import objects_root
from tests.launcher.helpers import FIXTURES, wait_for, wait_terminal


def submit(recipe: str, grace_seconds: float = 10, **overrides):  # noqa: ANN201
    store = JobStore()
    backend = get_backend("local", store, {"grace_seconds": grace_seconds})
    spec = plan_job(FIXTURES / recipe, overrides)
    seed_demo_data(spec)
    record = backend.submit(spec)
    return store, backend, spec, record


def stored(train_url: str) -> Path:
    assert train_url.startswith("obs://")
    return objects_root() / train_url.removeprefix("obs://")


def test_render_is_what_runs() -> None:
    spec = plan_job(FIXTURES / "toy_counter.yaml", {"steps": 2})
    request = get_backend("local").render(spec)
    assert request.argv[1].endswith("entry/modelarts_entry_acc.py")
    assert f"--train_url={spec.train_url}" in request.argv
    assert "--recipe=toy_counter.yaml" in request.argv
    assert json.loads(request.argv[-1].split("=", 1)[1])["steps"] == 2
    assert request.env["LAUNCHER_JOB_ID"] == spec.id
    assert request.ranks[0].env["CUDA_VISIBLE_DEVICES"] == ""  # device cpu
    assert request.ranks[0].env["RANK_ID"] == "0" and request.env["RANK_SIZE"] == "1"
    assert request.cwd == FIXTURES


def test_success_pushes_outputs_and_records_exit_code() -> None:
    store, backend, spec, record = submit("toy_counter.yaml", steps=3, flag=True)
    assert record.state in (JobState.PENDING, JobState.RUNNING)
    final = wait_terminal(store, record.id, backend)
    log = "".join(backend.logs(record.id))
    assert final.state is JobState.SUCCEEDED, log
    assert final.exit_code == 0
    out = stored(spec.train_url)
    assert json.loads((out / "metrics.json").read_text()) == {"accuracy": 0.5, "steps": 3.0, "ms_per_step": 0.0, "samples_per_sec": 10.0}
    seen = json.loads((out / "seen-rank-0.json").read_text())
    assert seen["data_files"] == ["a.txt", "sub/b.txt"]  # the demo data was seeded and synced in
    assert seen["flag"] is True and seen["job_id"] == record.id
    assert (out / "checkpoints" / "step-000000003" / "MANIFEST.json").is_file()
    stored_log = (out / "logs" / f"{record.id}-proc-rank-0-device-0.txt").read_text()
    assert "toy: step 3" in stored_log and '"note":"from-recipe"' in stored_log
    assert "toy: step 3" in log


def test_crash_is_failed_with_exit_code_log_and_failure_json() -> None:
    store, backend, spec, record = submit("toy_crasher.yaml")
    final = wait_terminal(store, record.id, backend)
    assert final.state is JobState.FAILED
    assert final.exit_code == 1 and final.reason == "RuntimeError: toy trainer exploded at step 2"
    log = "".join(backend.logs(record.id))
    assert "RuntimeError: toy trainer exploded at step 2" in log
    failure = json.loads((stored(spec.train_url) / "logs" / "failure.json").read_text())
    assert failure["reason"] == "RuntimeError: toy trainer exploded at step 2"
    assert any("about to fail" in line for line in failure["last_log_lines"])


def test_stop_running_job_pushes_and_leaves_no_process() -> None:
    store, backend, spec, record = submit("toy_spawner.yaml", steps=200, step_seconds=0.2)
    work_dir = Path(json.loads((Path(store.get(record.id).handle["job_dir"]) / "request.json").read_text())["env"]["LAUNCHER_WORK_DIR"])
    wait_for(lambda: "toy: step 2\n" in "".join(backend.logs(record.id)), timeout=90)
    child_pid = int((work_dir / "child.pid").read_text())
    backend.cancel(record.id)
    final = backend.wait(record.id, timeout=backend.stop_timeout(record.id))
    assert final.state is JobState.STOPPED
    assert final.exit_code == 143  # the entry exits 128+SIGTERM after its final push
    pgid = store.get(record.id).handle["pgid"]
    # The supervisor kills what is left of the group before it records the end: nothing survives the stop.
    assert _group_members(pgid) == []
    assert not Path(f"/proc/{child_pid}").exists() or _zombie(child_pid)
    out = stored(spec.train_url)
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints and all((out / "checkpoints" / c / "MANIFEST.json").is_file() for c in checkpoints)
    assert "stopped by SIGTERM: pushing outputs" in (out / "logs" / f"{record.id}-proc-rank-0-device-0.txt").read_text()
    assert backend.cancel(record.id) == store.get(record.id)  # cancelling an ended job changes nothing


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_cancel_asks_once_returns_at_once_and_wait_sees_the_end() -> None:
    store, backend, spec, record = submit("toy_spawner.yaml", steps=200, step_seconds=0.2)
    wait_for(lambda: "toy: step 2\n" in "".join(backend.logs(record.id)), timeout=90)
    asked = backend.cancel(record.id)
    assert asked.stop_requested and not asked.state.terminal  # the entry is still pushing: cancel did not wait
    first = backend.handle(asked).cancelled_at
    assert first is not None
    again = backend.cancel(record.id)  # harmless: no second SIGTERM that could cut the final push short
    assert backend.handle(again).cancelled_at == first
    final = backend.wait(record.id, timeout=backend.stop_timeout(record.id))
    assert final.state is JobState.STOPPED and final.exit_code == 143
    assert "".join(backend.logs(record.id)).count("stopped by SIGTERM: pushing outputs") == 1
    # Asked through the supervisor, which forwards it and then never fails fast (tests/entry/test_ranks.py)
    supervisor_log = (Path(store.get(record.id).handle["job_dir"]) / "supervisor.log").read_text()
    assert supervisor_log.count("launcher: SIGTERM: stopping every rank") == 1
    assert backend.cancel(record.id) == store.get(record.id) == final  # an ended job: nothing changes


def test_a_job_past_its_grace_period_is_killed_by_the_next_status() -> None:
    store, backend, spec, record = submit("toy_spawner.yaml", grace_seconds=0, steps=200, step_seconds=0.2)
    wait_for(lambda: "toy: step 2\n" in "".join(backend.logs(record.id)), timeout=90)
    backend.cancel(record.id)  # SIGTERM, then (grace 0) the status it returns already sends SIGKILL
    final = backend.wait(record.id, timeout=backend.stop_timeout(record.id))
    assert final.state is JobState.STOPPED and final.exit_code == 137
    assert _group_members(store.get(record.id).handle["pgid"]) == []


def test_cancel_of_a_pending_job_stops_it_before_it_starts() -> None:
    store = JobStore()
    backend = get_backend("local", store)
    spec = plan_job(FIXTURES / "toy_counter.yaml", {})
    store.create(JobRecord(id=spec.id, name="toy", recipe=str(spec.recipe_path), backend="local", handle={}))
    stopped = backend.cancel(spec.id)
    assert stopped.state is JobState.STOPPED and stopped.stop_requested
    assert backend.cancel(spec.id) == stopped and backend.wait(spec.id, timeout=0) == stopped


def test_sigterm_to_the_supervisor_stops_the_job_and_is_recorded() -> None:
    """The supervisor forwards a stop to the rank group (entry/ranks.py) and stays, outside the group, to record
    the end: the entry pushed its outputs, the record says STOPPED, no process of the job is left."""
    store, backend, spec, record = submit("toy_counter.yaml", steps=500, step_seconds=0.2)
    running = wait_for(lambda: (r := store.get(record.id)).state is JobState.RUNNING and "pgid" in r.handle and r)
    wait_for(lambda: "toy: step 2\n" in "".join(backend.logs(record.id)), timeout=90)
    os.kill(running.handle["supervisor_pid"], signal.SIGTERM)
    final = wait_for(lambda: (r := store.get(record.id)).state.terminal and r, timeout=60)
    assert (final.state, final.exit_code) == (JobState.STOPPED, 143)
    assert final.reason == "stopped: the supervisor got SIGTERM"
    assert _group_members(running.handle["pgid"]) == []
    log = (stored(spec.train_url) / "logs" / f"{record.id}-proc-rank-0-device-0.txt").read_text()
    assert "stopped by SIGTERM: pushing outputs" in log


def test_lost_supervisor_and_job_are_reported_failed() -> None:
    store, backend, spec, record = submit("toy_counter.yaml", steps=500, step_seconds=0.2)
    running = wait_for(lambda: (r := store.get(record.id)).state is JobState.RUNNING and "pgid" in r.handle and r)
    os.kill(running.handle["supervisor_pid"], signal.SIGKILL)
    os.killpg(running.handle["pgid"], signal.SIGKILL)
    final = wait_for(lambda: (r := backend.status(record.id)).state.terminal and r, timeout=20)
    assert final.state is JobState.FAILED
    assert "supervisor died" in final.reason


def test_logs_follow_returns_when_the_job_ends() -> None:
    store, backend, spec, record = submit("toy_counter.yaml", steps=3, step_seconds=0.1)
    text = "".join(backend.logs(record.id, follow=True))
    assert "toy: step 3" in text and "metrics:" in text
    assert backend.status(record.id).state is JobState.SUCCEEDED


def test_list_shows_jobs_of_this_backend() -> None:
    store, backend, spec, record = submit("toy_counter.yaml", steps=1)
    wait_terminal(store, record.id, backend)
    assert [r.id for r in LocalBackend(store, LocalBackend.parse_options({})).list()] == [record.id]
