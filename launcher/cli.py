"""`python -m launcher` / `launcher`: thin fire commands that parse, call the API and print.

Every flag that is not a launcher option is a hyperparameter override, validated against the recipe's own
model (`--epochs two` -> one line naming `epochs`, exit 2). Errors are one line; `--debug` shows tracebacks.
"""

from __future__ import annotations

import inspect
import sys
import time
from json import dumps
from pathlib import Path
from typing import Any

import fire

from launcher import storage
from launcher.backends import backend_class, get_backend
from launcher.backends.base import Backend
from launcher.backends.docker.build import build_command
from launcher.errors import UserError
from launcher.flags import HP_PREFIX, parse_command_line, split_flags, typed_values
from launcher.jobs import JobRecord, JobState, JobStore, public_record
from launcher.jobspec import JobSpec, ResolvedJob, locate_recipe, plan_job, replay_job, use_code_dir
from launcher.logs import logger, setup_logging
from launcher.paths import objects_root
from launcher.progress import compare, format_comparison, progress_cell, progress_line, read_metrics, read_progress
from launcher.recipe import hyperparameters_class
from launcher.redact import redact
from launcher.storage.cli import DataCommands
from launcher.storage.display import printable
from launcher.usage import command_help

SUMMARY_METRICS = (
    "accuracy",
    "loss",
    "error",
    "rank1",
    "mAP",
    "inter_cls_dist",
    "intra_cls_dist",
    "top1",
    "top5",
    "ms_per_step",
    "samples_per_sec",
)


def _plan(
    recipe: str,
    flags: dict[str, Any],
    backend: str | None = None,
    data_url: str | None = None,
    train_url: str | None = None,
    perf: bool = False,
) -> tuple[JobSpec, Backend]:
    """Place the free flags (launcher/flags.py: hyperparameters, resources, the backend's options), then resolve
    the job and its backend."""
    loaded, _, _ = locate_recipe(recipe)
    name = backend or loaded.resources.backend
    cls = backend_class(name)
    split = split_flags(flags, name, cls.Options, frozenset(hyperparameters_class(loaded).model_fields))
    spec = plan_job(
        recipe,
        split.hyperparameters,
        resources={"backend": name, **split.resources},
        data_url=data_url,
        train_url=train_url,
        entry="perf" if perf else "acc",
    )
    return spec, cls(JobStore(), cls.parse_options(typed_values(cls.Options, split.options)))


def _plan_restart(old: JobRecord, overrides: dict[str, Any]) -> tuple[JobSpec, Backend]:
    """The job as stored at its submit (recipe snapshot, resources, backend options, entry mode), overrides on top."""
    if not old.resolved:  # a record from before resolved jobs were stored: re-plan from what it has
        stored = {f"{HP_PREFIX}.{k}": v for k, v in old.hyperparameters.items()}
        return _plan(old.recipe, {**stored, **overrides}, old.backend, old.data_url, old.train_url)
    resolved = ResolvedJob.model_validate(old.resolved)
    cls = backend_class(resolved.backend)
    use_code_dir(resolved.code_dir)
    fields = frozenset(hyperparameters_class(resolved.recipe).model_fields)
    split = split_flags(overrides, resolved.backend, cls.Options, fields)
    spec = replay_job(resolved, split.hyperparameters, resources=split.resources)
    options = cls.parse_options({**resolved.backend_options, **typed_values(cls.Options, split.options)})
    return spec, cls(JobStore(), options)


def embedded_path(url: str) -> Path | None:
    """Where an obs:// or s3:// URL lives on disk when no endpoint is configured (the embedded store)."""
    parsed = storage.parse_url(url)
    if parsed.is_local or not storage.load_profile().embedded:
        return None
    return objects_root() / parsed.bucket / parsed.key


def seed_demo_data(spec: JobSpec) -> None:
    """Fill an empty embedded-store data URL from the recipe's shipped demo data, so a fresh clone runs offline."""
    source = spec.recipe.demo_data
    if source is None or embedded_path(spec.data_url) is None or storage.exists(spec.data_url):
        return
    if not source.is_dir():
        raise UserError(f"{spec.recipe_path}: demo_data folder {source} does not exist")
    logger.info("seeding {} from {}", spec.data_url, source)
    storage.sync(str(source), spec.data_url)


def _format_duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def print_summary(record: JobRecord) -> None:
    exit_part = "" if record.exit_code is None else f" (exit {record.exit_code})"
    reason = f": {record.reason}" if record.reason and record.state is not JobState.SUCCEEDED else ""
    print(f"job {record.id} {record.state}{exit_part} in {_format_duration(record.duration)}{reason}")
    metrics = read_metrics(record)
    shown = [f"{k} {metrics[k]:.4g}" for k in SUMMARY_METRICS if k in metrics]
    if shown:
        print("  " + " · ".join(shown))
    where = embedded_path(record.train_url)
    print(f"  outputs: {record.train_url}" + (f"  ({where})" if where else ""))


class LauncherCLI:
    """Submit training recipes and follow them. --hp.NAME sets a hyperparameter, --<backend>.NAME a resource or
    backend option; a plain --NAME is whichever of them has that name (`launcher submit RECIPE --help`)."""

    build = staticmethod(build_command)  # `launcher build RECIPE`: the Docker image, rebuilt only when inputs change

    def __init__(self) -> None:
        self.data = DataCommands()  # listed by `launcher --help`; main sends `launcher data ...` to its own parser

    def submit(
        self,
        recipe: str,
        backend: str | None = None,
        detach: bool = False,
        perf: bool = False,
        data_url: str | None = None,
        train_url: str | None = None,
        **flags: Any,
    ) -> None:
        """Start a job from RECIPE; follow its log to the end (exit with its code) unless --detach.

        --perf runs the performance entry (a short run reporting ms/step and samples/s in perf.json).
        --hp.NAME sets a hyperparameter, --<backend>.NAME a resource (device, count, nodes, image) or one of the
        backend's options; a plain --NAME is whichever has that name. `launcher submit RECIPE --help` lists them."""
        _run(*_plan(recipe, flags, backend, data_url, train_url, perf), detach)

    def restart(self, job_id: str, detach: bool = False, **overrides: Any) -> None:
        """Run a job again exactly as it was resolved at submit (recipe snapshot, hyperparameters, resources, backend
        options, entry mode, data and train_url): it resumes from the newest complete checkpoint the earlier run
        pushed. Flags override, as in submit (--hp.NAME, --<backend>.NAME or a plain --NAME)."""
        old = JobStore().get(job_id)
        spec, runner = _plan_restart(old, overrides)
        print(f"restarting {old.id} ({old.state}) with its train_url {old.train_url}")
        _run(spec, runner, detach)

    def render(
        self,
        recipe: str,
        backend: str | None = None,
        perf: bool = False,
        data_url: str | None = None,
        train_url: str | None = None,
        **flags: Any,
    ) -> None:
        """Print exactly what `submit` would send to the backend (secrets redacted); start nothing."""
        spec, runner = _plan(recipe, flags, backend, data_url, train_url, perf)
        request = runner.render(spec)
        command_line = getattr(request, "command_line", None)
        print(redact(request.model_dump_json(indent=2)))
        if callable(command_line):
            print("\n# as a shell command:\n" + redact(command_line()))

    def status(self, job_id: str, json: bool = False) -> None:
        """State, exit code, times, URLs and live progress of one job; --json: the whole record, with the job as
        resolved at submit (what `restart` replays) and the latest progress report."""
        record = _backend_for(job_id).status(job_id)
        report = read_progress(record)
        if json:
            document = public_record(record) | {"progress": report.model_dump(mode="json") if report else None}
            print(redact(dumps(document, indent=2, sort_keys=True)))
            return
        print_summary(record)
        if report is not None:
            print(f"  progress: {progress_line(report)}")
        print(f"  backend: {record.backend}  recipe: {record.recipe}")
        print(f"  data: {record.data_url}")

    def compare(self, *job_ids: str) -> None:
        """Jobs side by side: the hyperparameters that differ and their final metrics."""
        if len(job_ids) < 2:
            raise UserError("usage: launcher compare JOB JOB [JOB...] (at least two jobs)")
        store = JobStore()
        print(redact(format_comparison(compare([store.get(job_id) for job_id in job_ids]))))

    def logs(self, job_id: str, follow: bool = False, rank: int = 0) -> None:
        """Print a job's log (of one rank); -f/--follow keeps printing until the job ends."""
        for line in _backend_for(job_id).logs(job_id, follow=follow, rank=rank):
            sys.stdout.write(line)
            sys.stdout.flush()

    def list(self, backend: str | None = None, limit: int = 20) -> None:
        """Recent jobs, newest first."""
        store = JobStore()
        names = [backend] if backend else sorted({r.backend for r in store.list(limit=limit)})
        records = sorted(
            (r for name in names for r in get_backend(name, store).list(limit)),
            key=lambda r: r.created_at,
            reverse=True,
        )[:limit]
        if not records:
            print("no jobs yet")
            return
        print(f"{'JOB':<36} {'BACKEND':<9} {'STATE':<10} {'EXIT':>4} {'DURATION':>9}  {'PROGRESS':<16}  CREATED")
        for r in records:
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at))
            exit_code = "" if r.exit_code is None else str(r.exit_code)
            # A running remote job's progress is at its train_url; an ended one's is shown only from this machine.
            progress = progress_cell(read_progress(r, remote=not r.state.terminal))
            print(
                f"{r.id:<36} {r.backend:<9} {r.state:<10} {exit_code:>4} {_format_duration(r.duration):>9}"
                f"  {progress:<16}  {created}"
            )

    def ui(self, port: int = 8765, host: str = "127.0.0.1", browser: bool = False) -> None:
        """The web dashboard: jobs of every backend, live logs, curves, outputs, Stop/Restart. Serves until Ctrl-C.

        --port 0 picks a free port; --host other than 127.0.0.1 prints a token the browser must present;
        --browser opens it."""
        from launcher.ui import serve  # the web stack loads only for this command

        serve(host=host, port=port, open_browser=browser)

    def stop(self, job_id: str) -> None:
        """SIGTERM the job (it pushes its outputs), SIGKILL after the grace period; waits for its end."""
        runner = _backend_for(job_id)
        print_summary(_stop(runner, job_id))


def _run(spec: JobSpec, runner: Backend, detach: bool) -> None:
    seed_demo_data(spec)
    record = runner.submit(spec)
    print(f"submitted {record.id} ({runner.name})", flush=True)
    if detach:
        print(f"follow it with: launcher logs -f {record.id}")
        return
    try:
        for line in runner.logs(record.id, follow=True):
            sys.stdout.write(line)
            sys.stdout.flush()
    except KeyboardInterrupt:
        print(f"\ninterrupted: stopping {record.id} (outputs are pushed before it exits)", flush=True)
        _stop(runner, record.id)
    final = runner.status(record.id)
    print_summary(final)
    if final.exit_code:
        sys.exit(final.exit_code)
    if final.state is not JobState.SUCCEEDED:
        sys.exit(1)


def _stop(runner: Backend, job_id: str) -> JobRecord:
    """Cancel, then wait out the grace period (the job is forced at its end); a job that is still ending then is
    said so, not waited for forever."""
    runner.cancel(job_id)
    record = runner.wait(job_id, timeout=runner.stop_timeout(job_id))
    if not record.state.terminal:
        print(f"{job_id} is still ending ({record.state}); see `launcher status {job_id}`", file=sys.stderr)
    return record


def _backend_for(job_id: str) -> Backend:
    store = JobStore()
    return get_backend(store.get(job_id).backend, store)


FREE_FLAG_COMMANDS = ("submit", "render", "restart")  # their free flags are parsed here, not by fire


def _run_free_flag_command(command: str, args: list[str]) -> None:
    """Call submit/render/restart with the free flags as the user typed them (fire would retype `1e3`, `True`
    and strip quotes); their own parameters come from the method's signature."""
    parameters = [
        p for p in inspect.signature(getattr(LauncherCLI, command)).parameters.values()
        if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    ]  # fmt: skip
    own = {p.name: isinstance(p.default, bool) for p in parameters} | {"help": True}
    positionals, values, free = parse_command_line(args, own)
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty]
    if values.pop("help", False) or "-h" in positionals:
        if command == "restart":
            print("usage: launcher restart JOB [--detach] [FLAGS]\n\n" + inspect.cleandoc(LauncherCLI.restart.__doc__ or ""))
        else:
            recipe = next((a for a in positionals if a != "-h"), None)
            print(command_help(command, recipe, values.get("backend")))
        return
    if len(positionals) != len(required):
        names = " ".join(n.upper() for n in required)
        raise UserError(f"usage: launcher {command} {names} [FLAGS] (got {len(positionals)} positional arguments)")
    getattr(LauncherCLI(), command)(*positionals, **values, **free)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    if args[:1] == ["data"]:  # `launcher --debug data ...` and callers of this main: the same parser as `launcher data`
        from launcher.__main__ import main as entry_main

        entry_main([*args, *["--debug"] * debug])
        return
    if args[:1] == ["logs"] and {"-f", "--follow"} & set(args):
        # fire reads `--follow JOB` as follow=JOB and has no `-f`: put the flag last, where it means True.
        args = [a for a in args if a not in ("-f", "--follow")] + ["--follow"]
    setup_logging("DEBUG" if debug else "INFO")
    try:
        if args[:1] and args[0] in FREE_FLAG_COMMANDS:
            _run_free_flag_command(args[0], args[1:])
            return
        fire.Fire(LauncherCLI, command=args, name="launcher")
    except UserError as error:
        if debug:
            raise
        print(f"launcher: error: {printable(redact(str(error)))}", file=sys.stderr)
        sys.exit(error.exit_code)
