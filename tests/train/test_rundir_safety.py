"""The run directory: one writer, no silent reuse, nothing torn or stale left behind."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

import cnnzoo
from cnnzoo.train import rundir as R
from cnnzoo.train.checkpoint import save_checkpoint
from cnnzoo.train.meta import CheckpointMeta, Normalization
from cnnzoo.train.rundir import RunDirectory, RunDirError, RunDirLocked

HOLDER = textwrap.dedent(
    """
    import sys, time
    from cnnzoo.train.rundir import RunDirectory
    rd = RunDirectory.open(sys.argv[1], "new")
    print("ready", flush=True)
    time.sleep(120)
    """
)


def _meta(epoch: int) -> CheckpointMeta:
    return CheckpointMeta(
        model="lenet5", model_kwargs={"num_classes": 10, "in_chans": 1}, task="classification", data="digits",
        data_name="digits", num_classes=10, class_names=[], in_chans=1,
        normalize=Normalization(mean=[0.25], std=[0.5], size=[32, 32]), epoch=epoch,
    )  # fmt: skip


def _rows(path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def holder(tmp_path):
    """A separate process holding ``tmp_path / "run"`` open; killed with SIGKILL by the test or at the end."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_second_writer_is_refused_and_told_who_holds_the_directory(tmp_path, holder):
    with pytest.raises(RunDirLocked) as e:
        RunDirectory.open(tmp_path / "run", "resume")
    msg = str(e.value)
    assert isinstance(e.value, ValueError) and "\n" not in msg
    assert f"pid {holder.pid}" in msg and "in use" in msg
    assert json.loads((tmp_path / "run" / ".lock").read_text())["pid"] == holder.pid


def test_check_refuses_as_open_would_and_changes_nothing(tmp_path, holder):
    run = tmp_path / "run"
    before = (run / ".lock").read_text()
    with pytest.raises(RunDirLocked, match=f"pid {holder.pid}"):
        RunDirectory.check(run, "resume")
    assert (run / ".lock").read_text() == before  # the holder's record is left as it was
    used = tmp_path / "used"
    used.mkdir()
    (used / "metrics.jsonl").write_text('{"epoch": 1}\n')
    with pytest.raises(RunDirError, match="not empty"):
        RunDirectory.check(used, "new")
    RunDirectory.check(used, "overwrite")  # allowed, and nothing is cleared or locked
    assert (used / "metrics.jsonl").exists() and not (used / ".lock").exists()
    RunDirectory.check(tmp_path / "absent", "new")
    assert not (tmp_path / "absent").exists()
    with pytest.raises(RunDirError, match="no such run directory"):
        RunDirectory.check(tmp_path / "absent", "resume")


def test_a_sigkilled_holder_does_not_block_the_next_run(tmp_path, holder):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with RunDirectory.open(tmp_path / "run", "resume") as rd:
        assert rd.rows == []
    assert json.loads((tmp_path / "run" / ".lock").read_text())["pid"] == os.getpid()


def test_the_same_process_cannot_open_a_directory_twice_until_it_closes_it(tmp_path):
    rd = RunDirectory.open(tmp_path, "new")
    with pytest.raises(RunDirLocked, match=f"pid {os.getpid()} .*this very process"):
        RunDirectory.open(tmp_path, "resume")
    rd.close()
    rd.close()
    RunDirectory.open(tmp_path, "resume").close()


def test_a_used_directory_is_not_reused_without_resume_or_overwrite(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n')
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError) as e:
        RunDirectory.open(tmp_path, "new")
    msg = str(e.value)
    assert "metrics.jsonl" in msg and "notes.txt" in msg and f"--resume {tmp_path}" in msg and "--overwrite" in msg
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / ".lock").exists()
    with RunDirectory.open(tmp_path / "fresh", "new") as rd:  # a missing directory is created
        assert rd.path.is_dir()


def test_overwrite_removes_the_previous_run(tmp_path):
    with RunDirectory.open(tmp_path, "new") as rd:
        rd.append_row({"epoch": 1, "test_acc": 0.5})
        rd.write_config({"epochs": 1})
        (tmp_path / "tensorboard").mkdir()
        (tmp_path / "tensorboard" / "events").write_text("x")
    with RunDirectory.open(tmp_path, "overwrite") as rd:
        assert rd.rows == []
        assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]
        rd.append_row({"epoch": 1, "test_acc": 0.7})
    assert _rows(tmp_path) == [{"epoch": 1, "test_acc": 0.7}]


def test_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(RunDirError, match="thesis.tex.*nothing was deleted"):
        RunDirectory.open(tmp_path, "overwrite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]


def test_resume_reads_the_rows_and_truncates_after_the_checkpoint(tmp_path):
    with RunDirectory.open(tmp_path, "new") as rd:
        for e in (1, 2, 3):
            rd.append_row({"epoch": e, "train_loss": 1.0 / e})
    with RunDirectory.open(tmp_path, "resume") as rd:
        assert [r["epoch"] for r in rd.rows] == [1, 2, 3] and rd.warnings == []
        rd.truncate_after(2)
        assert [r["epoch"] for r in rd.rows] == [1, 2]
    assert [r["epoch"] for r in _rows(tmp_path)] == [1, 2]
    assert (tmp_path / "metrics.csv").read_text().splitlines() == ["epoch,train_loss", "1,1.0", "2,0.5"]


@pytest.mark.parametrize("tail", ['{"epoch": 3, "train_lo', '{"epoch": 3}'])
def test_a_torn_last_line_is_dropped_on_resume(tmp_path, tail):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2}\n' + tail)
    with RunDirectory.open(tmp_path, "resume") as rd:
        assert [r["epoch"] for r in rd.rows] == [1, 2]
        assert len(rd.warnings) == 1 and "incomplete last line" in rd.warnings[0]
        rd.append_row({"epoch": 3})
    assert (tmp_path / "metrics.jsonl").read_text() == '{"epoch": 1}\n{"epoch": 2}\n{"epoch": 3}\n'


def test_a_damaged_line_in_the_middle_is_an_error_not_a_silent_loss(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\nxx\n{"epoch": 3}\n')
    with pytest.raises(RunDirError, match="metrics.jsonl line 2"):
        RunDirectory.open(tmp_path, "resume")
    RunDirectory.open(tmp_path, "overwrite").close()  # the failed open let go of the lock


def test_orphaned_temporary_files_are_removed_on_open(tmp_path):
    orphan = tmp_path / ".checkpoint-last.safetensors.k2j3h4.tmp"
    orphan.write_bytes(b"half a checkpoint")
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n')
    with RunDirectory.open(tmp_path, "resume") as rd:
        assert not orphan.exists()
        assert any(".checkpoint-last.safetensors.k2j3h4.tmp" in w for w in rd.warnings)
    assert (tmp_path / "metrics.jsonl").exists()


def test_a_sidecar_that_disagrees_with_its_weights_is_repaired_on_open(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "checkpoint-last", cnnzoo.create("lenet5", num_classes=10), _meta(epoch=5))
    sidecar = tmp_path / "checkpoint-last.json"
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text()) | {"epoch": 2}))
    with RunDirectory.open(tmp_path, "resume") as rd:
        assert any("checkpoint-last.json" in w for w in rd.warnings)
    assert json.loads(sidecar.read_text())["epoch"] == 5


def test_a_full_disk_while_appending_is_one_line_and_leaves_the_file_whole(tmp_path, monkeypatch):
    with RunDirectory.open(tmp_path, "new") as rd:
        rd.append_row({"epoch": 1})
        before = (tmp_path / "metrics.jsonl").read_bytes()
        monkeypatch.setattr(R.os, "write", _no_space)
        with pytest.raises(RunDirError) as e:
            rd.append_row({"epoch": 2})
        monkeypatch.undo()
        msg = str(e.value)
        assert isinstance(e.value, ValueError) and "\n" not in msg
        assert str(tmp_path / "metrics.jsonl") in msg and "No space left" in msg and "epoch 1" in msg
        assert (tmp_path / "metrics.jsonl").read_bytes() == before and [r["epoch"] for r in rd.rows] == [1]


def _no_space(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_while_writing_the_config_names_the_file(tmp_path, monkeypatch):
    with RunDirectory.open(tmp_path, "new") as rd:
        monkeypatch.setattr(R, "atomic_write_bytes", _no_space)
        with pytest.raises(RunDirError, match=r"cannot write .*config\.json: No space left"):
            rd.write_config({"epochs": 3})


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_run_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        with RunDirectory.open(tmp_path, "new") as rd:
            rd.write_config({"epochs": 1})
            rd.append_row({"epoch": 1})
    finally:
        os.umask(old)
    for name in (".lock", "config.json", "metrics.jsonl", "metrics.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_checkpoint_stem_is_inside_the_run(tmp_path):
    with RunDirectory.open(tmp_path, "new") as rd:
        assert rd.checkpoint_stem("checkpoint-last") == tmp_path / "checkpoint-last"
        with pytest.raises(ValueError, match="plain file name"):
            rd.checkpoint_stem("../elsewhere")


def test_an_unknown_mode_and_a_missing_resume_directory_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="mode must be one of new, resume, overwrite"):
        RunDirectory.open(tmp_path, "append")
    with pytest.raises(RunDirError, match="no such run directory"):
        RunDirectory.open(tmp_path / "missing", "resume")
