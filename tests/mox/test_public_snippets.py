"""Real public ModelArts data-moving code, run unchanged against the shim (embedded store and SeaweedFS).

Each snippet keeps the data-moving calls exactly as the named script makes them (short excerpts; the
surrounding argument parsing is reduced to sys.argv). Paths the scripts hard-code under /cache or /tmp are
handed in as arguments so that each test owns its folders.
"""

from __future__ import annotations

import logging
import os
import runpy
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import moxing as mox
from tests.storage.helpers import read_tree, write_tree

REPO = Path(__file__).resolve().parents[2]


def run_snippet(tmp_path: Path, name: str, code: str, *argv: str) -> None:
    """Run `code` as a script (`__main__`, its own sys.argv) in this process."""
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code))
    saved = sys.argv
    sys.argv = [str(script), *argv]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = saved


# mindspore-ai/models official/cv/ResNet/src/model_utils/moxing_adapter.py: `sync_data` is
# `mox.file.copy_parallel(from_path, to_path)`; `moxing_wrapper` syncs data_url and train_url down, lists
# them (`print("Workspace downloaded: ", os.listdir(config.output_dir))`), trains, syncs output_dir up.
MINDSPORE_ADAPTER = """
import os, sys
import moxing as mox

data_url, train_url, data_path, output_dir = sys.argv[1:]

def sync_data(from_path, to_path):
    mox.file.copy_parallel(from_path, to_path)

sync_data(data_url, data_path)
print("Dataset downloaded: ", os.listdir(data_path))
sync_data(train_url, output_dir)
print("Workspace downloaded: ", os.listdir(output_dir))
if not os.path.exists(output_dir):
    os.makedirs(output_dir)
with open(os.path.join(output_dir, "resnet-1_10.ckpt"), "wb") as f:
    f.write(b"ckpt")
sync_data(output_dir, train_url)
"""


def test_mindspore_moxing_adapter(bucket_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path / "data", {"train/a.bin": b"a", "val/b.bin": b"b"})
    mox.file.copy_parallel(str(tmp_path / "data"), f"{bucket_url}/imagenet")
    train_url = f"{bucket_url}/job-1/output/"  # a fresh job: nothing there yet
    run_snippet(
        tmp_path, "adapter", MINDSPORE_ADAPTER,
        f"{bucket_url}/imagenet", train_url, str(tmp_path / "cache/data"), str(tmp_path / "cache/out"),
    )
    out = capsys.readouterr().out
    assert "Dataset downloaded:  ['train', 'val']" in out and "Workspace downloaded:  []" in out
    assert mox.file.list_directory(train_url) == ["resnet-1_10.ckpt"]


# Ascend/ModelZoo-TensorFlow TensorFlow/contrib/cv/3D-POSE-BASELINE_ID0795_for_TensorFlow/src/help_modelarts.py
# (`obs_data2modelarts`, `modelarts_result2obs`) and boot_modelarts.py (`os.mkdir("/cache/profiling")`).
ASCEND_HELP_MODELARTS = """
import os, sys
import moxing as mox

class Flags: pass
config = FLAGS = Flags()
config.data_url, config.modelarts_data_dir, FLAGS.obs_dir, FLAGS.result, profiling = sys.argv[1:]

mox.file.copy_parallel(src_url=config.data_url, dst_url=config.modelarts_data_dir)
files = os.listdir(config.modelarts_data_dir)
print("===>>>Files:", files)

os.mkdir(profiling)
os.makedirs(FLAGS.result)
with open(os.path.join(FLAGS.result, "events.out"), "w") as f:
    f.write("event")

obs_result_dir = os.path.join(FLAGS.obs_dir, 'result')
if not mox.file.exists(obs_result_dir):
    mox.file.make_dirs(obs_result_dir)
mox.file.copy_parallel(src_url=FLAGS.result, dst_url=obs_result_dir)
mox.file.copy_parallel(profiling, os.path.join(obs_result_dir, 'profiling'))
"""


def test_ascend_help_modelarts(bucket_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mox.file.write(f"{bucket_url}/h36m/train.h5", b"h5", binary=True)
    obs_dir = f"{bucket_url}/job-2/"  # ModelArts hands train_url with a trailing '/'
    run_snippet(
        tmp_path, "help_modelarts", ASCEND_HELP_MODELARTS,
        f"{bucket_url}/h36m", str(tmp_path / "cache/h36m"), obs_dir, str(tmp_path / "cache/result"),
        str(tmp_path / "cache/profiling"),
    )
    assert "===>>>Files: ['train.h5']" in capsys.readouterr().out
    assert mox.file.read(f"{bucket_url}/job-2/result/events.out") == "event"
    assert mox.file.is_directory(f"{bucket_url}/job-2/result/profiling")  # an empty folder is not a failure


# mindspore-lab/mindformers mindformers/tools/cloud_adapter/cloud_adapter.py: `mox_adapter` retries
# `mox.file.copy_parallel(src_url=src_dir, dst_url=target_dir)` on `except (FileNotFoundError, RuntimeError)`,
# then checks `mox.file.exists(target_dir)`; `Local2ObsMonitor.sync2obs` first does
# `if self.keep_last and mox.file.exists(target_dir): mox.file.remove(target_dir, recursive=True)`.
MINDFORMERS_CLOUD_ADAPTER = """
import os, sys
import moxing as mox

def mox_adapter(src_dir, target_dir, retry=3, retry_time=5):
    success = False
    for i in range(retry + 1):
        try:
            mox.file.copy_parallel(src_url=src_dir, dst_url=target_dir)
        except (FileNotFoundError, RuntimeError) as e:
            print("failed, will retry(%d) again: %s" % (i, e))
            continue
        if target_dir.startswith(("obs://", "s3://")):
            if mox.file.exists(target_dir):
                success = True
                break
        elif os.path.exists(target_dir):
            success = True
            break
    return success

def sync2obs(src_dir, target_dir, keep_last=True):
    if keep_last and mox.file.exists(target_dir):
        mox.file.remove(target_dir, recursive=True)
    return mox_adapter(src_dir, target_dir)

src, target, missing = sys.argv[1:]
print("upload", sync2obs(src, target))
print("missing", mox_adapter(missing, os.path.join(os.path.dirname(src), "pulled"), retry=1))
"""


def test_mindformers_cloud_adapter(s3: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path / "output", {"checkpoint/rank_0/llama.ckpt": b"w1"})
    mox.file.write(f"obs://{s3}/llm/stale.ckpt", "old")
    run_snippet(
        tmp_path, "cloud_adapter", MINDFORMERS_CLOUD_ADAPTER,
        str(tmp_path / "output"), f"obs://{s3}/llm", "obs://no-such-bucket-here/data",
    )
    out = capsys.readouterr().out
    assert "upload True" in out
    assert mox.file.list_directory(f"obs://{s3}/llm", recursive=True) == [
        "checkpoint", "checkpoint/rank_0", "checkpoint/rank_0/llama.ckpt"
    ]  # keep_last removed the stale file first
    # a missing bucket is a FileNotFoundError the retry loop catches: it retries, then reports failure
    assert "missing False" in out and out.count("will retry") == 2


# huaweicloud/ModelArts-Lab docs/moxing_api_doc/MoXing_API_File.md: "重定向logging日志到OBS文件"
# (`stream = mox.file.File(..., 'w')`, `logging.basicConfig(level=logging.DEBUG, stream=stream)`,
# `stream.flush()`), the stat example (`stat.length`, `stat.mtime_nsec`, `stat.is_directory`) and the
# shift Hello World (`mox.file.shift('os', 'mox')`, `os.listdir('s3://bucket_name')`, `open(...)`).
MODELARTS_LAB_FILE_DOC = """
import logging, os, sys
import moxing as mox

bucket_name = sys.argv[1]
stream = mox.file.File('s3://%s/sub_dir_0/logging.txt' % bucket_name, 'w')
logging.basicConfig(level=logging.DEBUG, stream=stream, force=True)
logging.info('hello world')
stream.flush()
print("visible:", mox.file.read('s3://%s/sub_dir_0/logging.txt' % bucket_name).strip())
stream.close()

stat = mox.file.stat('s3://%s/sub_dir_0/logging.txt' % bucket_name)
print(stat.length)
print(stat.mtime_nsec > 0)
print(stat.is_directory)

mox.file.shift('os', 'mox')
print(os.listdir('s3://%s' % bucket_name))
with open('s3://%s/hello_world.txt' % bucket_name) as f:
    print(f.read())
mox.file.shift('mox', 'os')
"""


def test_modelarts_lab_file_doc(bucket_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bucket = bucket_url.removeprefix("obs://")
    mox.file.write(f"s3://{bucket}/hello_world.txt", "Hello World!")
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        run_snippet(tmp_path, "file_doc", MODELARTS_LAB_FILE_DOC, bucket)
    finally:
        root.handlers[:] = handlers
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "visible: INFO:root:hello world", "22", "True", "False", "['hello_world.txt', 'sub_dir_0']", "Hello World!"
    ]


# Ascend/modelzoo built-in/MindSpore/Official/cv/detection/SSD_for_MindSpore/modelarts/start.py:
# `os.makedirs(ma.CACHE_TRAIN_OUT_URL, exist_ok=True)`, `os.chdir(...)`, train,
# `mox.file.copy_parallel(ma.CACHE_TRAIN_OUT_URL, args.train_url)`; and 0xFFD700-alter/rm
# RM_baseline/copy_file.py: `mox.file.copy_parallel('./data_test/', obs_dir)` and single files with
# `mox.file.copy_parallel('./models/model500.pth', obs_dir+'model.pth')`.
SSD_START_AND_COPY_FILE = """
import os, sys
import moxing as mox

CACHE_TRAIN_OUT_URL, train_url = sys.argv[1:]
os.makedirs(CACHE_TRAIN_OUT_URL, exist_ok=True)
os.chdir(CACHE_TRAIN_OUT_URL)
os.makedirs("models", exist_ok=True)
os.makedirs("data_test", exist_ok=True)
with open("models/model500.pth", "wb") as f:
    f.write(b"pth")
with open("data_test/x.csv", "w") as f:
    f.write("1,2")
mox.file.copy_parallel(CACHE_TRAIN_OUT_URL, train_url)

obs_dir = train_url + "deploy/"
mox.file.copy_parallel('./data_test/', obs_dir)
mox.file.copy_parallel('./models/model500.pth', obs_dir+'model.pth')
"""


def test_ssd_start_and_rm_copy_file(
    bucket_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the snippet changes directory; the test gets it back
    run_snippet(tmp_path, "start", SSD_START_AND_COPY_FILE, str(tmp_path / "cache/train_out"), f"{bucket_url}/ssd/")
    mox.file.copy_parallel(f"{bucket_url}/ssd", str(tmp_path / "pulled"))
    assert read_tree(tmp_path / "pulled") == {
        "models/model500.pth": b"pth",
        "data_test/x.csv": b"1,2",
        "deploy/x.csv": b"1,2",
        "deploy/model.pth": b"pth",
    }


# feijunxiong/MIMO-UNET src/ObsAndEnv.py: `ObsToEnv` wraps `mox.file.copy_parallel(obs_data_url, data_dir)` in
# `try: ... except Exception as e: print('moxing download ... failed: ' ...)`. A SIGTERM (the platform stopping
# the job) during that copy must stop the process, not be swallowed so that training starts on half a dataset.
MIMO_UNET_OBS_AND_ENV = """
import signal, sys
import moxing as mox

def ObsToEnv(obs_data_url, data_dir):
    try:
        mox.file.copy_parallel(obs_data_url, data_dir)
        print("Successfully Download {} to {}".format(obs_data_url, data_dir))
    except Exception as e:
        print('moxing download {} to {} failed: '.format(obs_data_url, data_dir) + str(e))
    return

ObsToEnv(sys.argv[1], sys.argv[2])
print("training on", flush=True)
"""


def test_sigterm_during_a_copy_ends_the_process(tmp_path: Path) -> None:
    files = {f"d{i % 9}/f{i:05d}.bin": os.urandom(2048) for i in range(3000)}
    write_tree(tmp_path / "src", files)
    mox.file.copy_parallel(str(tmp_path / "src"), "obs://bucket/dataset")  # the embedded store
    script = tmp_path / "obs_and_env.py"
    script.write_text(textwrap.dedent(MIMO_UNET_OBS_AND_ENV))
    dst = tmp_path / "cache" / "data"
    proc = subprocess.Popen(
        [sys.executable, str(script), "obs://bucket/dataset", str(dst)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (dst.exists() and sum(1 for _ in dst.rglob("*.bin")) >= 50):
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGTERM, out
    assert "failed" not in out and "training on" not in out
    done = read_tree(dst)
    assert 0 < len(done) < len(files)
    assert all(files[rel] == data for rel, data in done.items())  # nothing partial under a final name
    assert not [p for p in dst.rglob("*") if ".launcher-part-" in p.name]
