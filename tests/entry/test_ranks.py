"""The rank supervisor (entry/ranks.py) on real processes: fail fast, the first failure's rank and code, a rank
killed by a signal, a stop forwarded to every rank and to the children they started, labelled output, and
nothing of the group left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from entry.ranks import RankGroup, RankSpec, RanksSpec

REPO = Path(__file__).resolve().parents[2]


def ranks(count: int, **env: str) -> list[RankSpec]:
    return [RankSpec(rank=r, env={"RANK_ID": str(r), **env}) for r in range(count)]


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def supervisor(spec: RanksSpec, tmp_path: Path, **kwargs) -> subprocess.Popen[str]:
    """`python -m entry.ranks` as the container runs it (this tree first on the path)."""
    path = tmp_path / "ranks.json"
    path.write_text(spec.model_dump_json())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(
        [sys.executable, "-m", "entry.ranks", str(path)], cwd=tmp_path, env=env, text=True, **kwargs
    )


def wait_for_files(*paths: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, f"never written: {[str(p) for p in paths if not p.exists()]}"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_all_ranks_succeed_each_with_its_own_environment(tmp_path: Path) -> None:
    code = "import os, pathlib; pathlib.Path(f'rank-{os.environ[\"RANK_ID\"]}.txt').write_text(os.environ['COMMON'])"
    group = RankGroup(python(code), ranks(3), env={**os.environ, "COMMON": "shared"}, cwd=tmp_path)
    group.start()
    result = group.wait()
    assert (result.rank, result.returncode, result.exit_code) == (0, 0, 0)
    assert [(tmp_path / f"rank-{r}.txt").read_text() for r in range(3)] == ["shared"] * 3


def test_first_failure_stops_the_others_and_is_the_result(tmp_path: Path) -> None:
    code = (
        "import os, pathlib, signal, sys, time\n"
        "rank = os.environ['RANK_ID']\n"
        "def stopped(*_):\n"
        "    pathlib.Path(f'stopped-{rank}').write_text('pushed')\n"
        "    sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, stopped)\n"
        "pathlib.Path(f'ready-{rank}').touch()\n"
        "if rank == '1':\n"
        "    while not pathlib.Path('ready-0').exists(): time.sleep(0.01)\n"
        "    sys.exit(3)\n"
        "time.sleep(60)\n"
    )
    spec = RanksSpec(argv=python(code), ranks=ranks(2), result_file=str(tmp_path / "result.json"))
    started = time.monotonic()
    job = supervisor(spec, tmp_path)
    assert job.wait(timeout=30) == 3  # rank 0 was stopped at once, not waited for
    assert time.monotonic() - started < 20
    assert json.loads((tmp_path / "result.json").read_text()) == {"rank": 1, "exit_code": 3}
    assert (tmp_path / "stopped-0").read_text() == "pushed"  # SIGTERM, so rank 0 could push its outputs


def test_a_rank_that_ignores_the_fail_fast_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    code = (
        "import os, pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "if os.environ['RANK_ID'] == '1':\n"
        "    while not pathlib.Path('ignoring').exists(): time.sleep(0.01)\n"
        "    sys.exit(5)\n"
        "pathlib.Path('ignoring').touch()\n"
        "time.sleep(60)\n"
    )
    group = RankGroup(python(code), ranks(2), cwd=tmp_path, fail_fast_grace=0.5)
    group.start()
    started = time.monotonic()
    result = group.wait()
    assert time.monotonic() - started < 20
    assert (result.rank, result.exit_code) == (1, 5)  # the first failure, not the kill that followed
    assert group.children[0].returncode == -signal.SIGKILL


def test_a_stop_is_not_cut_short_by_the_fail_fast_grace(tmp_path: Path) -> None:
    """After a stop (`launcher stop`, `docker stop`) the first rank to exit 143 is not a failure to fail fast on:
    the others keep the stop's own grace to push their outputs, longer than the fail-fast grace."""
    code = (
        "import os, pathlib, signal, sys, time\n"
        "name = f'rank-{os.environ[\"RANK_ID\"]}'\n"
        "def stopped(*_):\n"
        "    if name == 'rank-1': time.sleep(2)  # a long final push\n"
        "    pathlib.Path(name + '.pushed').touch()\n"
        "    sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, stopped)\n"
        "pathlib.Path(name + '.ready').touch()\n"
        "time.sleep(60)\n"
    )
    group = RankGroup(python(code), ranks(2), cwd=tmp_path, fail_fast_grace=0.2)
    with group.forwarding():
        group.start()
        wait_for_files(tmp_path / "rank-0.ready", tmp_path / "rank-1.ready")
        os.kill(os.getpid(), signal.SIGTERM)  # the stop reaches the supervisor, which forwards it
        result = group.wait()
    assert (tmp_path / "rank-0.pushed").exists() and (tmp_path / "rank-1.pushed").exists()
    assert [c.returncode for c in group.children] == [143, 143] and result.exit_code == 143


def test_a_rank_killed_by_a_signal_exits_128_plus_n(tmp_path: Path) -> None:
    code = (
        "import os, signal, time\n"
        "if os.environ['RANK_ID'] == '1':\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "time.sleep(60)\n"
    )
    spec = RanksSpec(argv=python(code), ranks=ranks(2), result_file=str(tmp_path / "result.json"))
    job = supervisor(spec, tmp_path)
    assert job.wait(timeout=30) == 137
    assert json.loads((tmp_path / "result.json").read_text()) == {"rank": 1, "exit_code": 137}


def test_sigterm_to_the_supervisor_reaches_every_rank_and_their_children(tmp_path: Path) -> None:
    """One process group: the stop reaches each rank's own child (a data loader, a helper) directly, not through
    the rank; each writes down that it was stopped."""
    grandchild = (
        "import os, pathlib, signal, sys, time\n"
        "name = f'grandchild-{os.environ[\"RANK_ID\"]}'\n"
        "def stopped(*_):\n"
        "    pathlib.Path(name + '.stopped').touch()\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stopped)\n"
        "pathlib.Path(name + '.ready').touch()\n"
        "time.sleep(60)\n"
    )
    rank = (
        "import os, pathlib, signal, subprocess, sys, time\n"
        "name = f'rank-{os.environ[\"RANK_ID\"]}'\n"
        f"child = subprocess.Popen([sys.executable, '-c', {grandchild!r}])\n"
        "def stopped(*_):\n"
        "    child.wait(20)  # the rank does not pass the signal on: the group did\n"
        "    pathlib.Path(name + '.stopped').touch()\n"
        "    sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, stopped)\n"
        "pathlib.Path(name + '.ready').touch()\n"
        "time.sleep(60)\n"
    )
    spec = RanksSpec(argv=python(rank), ranks=ranks(2), result_file=str(tmp_path / "result.json"))
    job = supervisor(spec, tmp_path)
    names = [f"{who}-{r}" for who in ("rank", "grandchild") for r in (0, 1)]
    wait_for_files(*(tmp_path / f"{n}.ready" for n in names))
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=30) == 143
    assert sorted(p.name for p in tmp_path.glob("*.stopped")) == sorted(f"{n}.stopped" for n in names)
    assert json.loads((tmp_path / "result.json").read_text())["exit_code"] == 143


def test_a_stop_before_the_ranks_are_up_still_reaches_all_of_them(tmp_path: Path) -> None:
    code = "import time; time.sleep(60)"
    group = RankGroup(python(code), ranks(2), cwd=tmp_path, fail_fast_grace=0.2)
    group._on_signal(signal.SIGTERM, None)  # what the handler does when the stop lands before `start`
    started = time.monotonic()
    group.start()
    result = group.wait()
    assert time.monotonic() - started < 20
    assert [c.returncode for c in group.children] == [-signal.SIGTERM, -signal.SIGTERM]  # never SIGKILL
    assert result.exit_code == 143


def test_nothing_of_the_group_outlives_the_ranks(tmp_path: Path) -> None:
    code = (
        "import pathlib, subprocess, sys\n"
        "daemon = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "pathlib.Path('daemon.pid').write_text(str(daemon.pid))\n"
    )
    group = RankGroup(python(code), ranks(1), cwd=tmp_path)
    group.start()
    assert group.wait().exit_code == 0
    daemon = int((tmp_path / "daemon.pid").read_text())
    deadline = time.monotonic() + 10
    while alive(daemon) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(daemon)


def test_ranks_sharing_stdout_are_labelled_and_log_files_are_not(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "rank = os.environ['RANK_ID']\n"
        "for i in range(200):\n"
        "    print(f'line {i} of rank {rank}', flush=True)\n"
        "print(f'error of rank {rank}', file=sys.stderr, flush=True)\n"
        "sys.stdout.write(f'no newline from {rank}')\n"
    )
    log = tmp_path / "rank-2.log"
    specs = ranks(2) + [RankSpec(rank=2, env={"RANK_ID": "2"}, log_path=str(log))]
    job = supervisor(RanksSpec(argv=python(code), ranks=specs), tmp_path, stdout=subprocess.PIPE)
    out, _ = job.communicate(timeout=60)
    assert job.returncode == 0
    lines = out.splitlines()
    for rank in ("0", "1"):
        mine = [line for line in lines if line.startswith(f"[rank {rank}] ")]
        assert mine == [f"[rank {rank}] line {i} of rank {rank}" for i in range(200)] + [
            f"[rank {rank}] error of rank {rank}",
            f"[rank {rank}] no newline from {rank}",
        ]
    assert len(lines) == 2 * 202  # whole lines only: nothing else, nothing torn
    logged = log.read_text()
    assert logged.startswith("line 0 of rank 2\n") and "error of rank 2\n" in logged
    assert "[rank" not in logged


def test_one_rank_on_stdout_is_not_labelled(tmp_path: Path) -> None:
    job = supervisor(RanksSpec(argv=python("print('hello')"), ranks=ranks(1)), tmp_path, stdout=subprocess.PIPE)
    out, _ = job.communicate(timeout=60)
    assert (job.returncode, out) == (0, "hello\n")


def test_a_command_that_cannot_start_fails_in_one_line(tmp_path: Path) -> None:
    spec = RanksSpec(argv=[str(tmp_path / "missing")], ranks=ranks(2), result_file=str(tmp_path / "result.json"))
    job = supervisor(spec, tmp_path, stderr=subprocess.PIPE)
    _, err = job.communicate(timeout=60)
    assert job.returncode == 1
    assert err.startswith("launcher: cannot start the ranks: ") and len(err.splitlines()) == 1
