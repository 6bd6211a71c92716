"""Run-time configuration (issue 13): configs added, changed and removed while the agent runs.

The same sequence runs against each front-end: start with an empty watched
directory, copy syscalls in, break its YAML, change only its help text, then
remove it; every step is checked with exact marker counts and against the
kernel (`bpftool prog list`).
"""
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import MARKER_SYSCALL_NAME, run_marker, wait_for
from test_collectd import (HOSTNAME, MARKER_TI, bpf_prog_ids, collectd,  # noqa: F401 (fixtures)
                           plugin_so, prog_ids_held_by)

INTERVAL = 2.0
# Reading the csv file happens after collectd's csv writer flushed it: a little
# slack on top of the intervals the issue allows.
SLACK = 1.5


def confdir_block(confd):
    return '  ConfigDir "%s"\n  AutoLoad true\n' % confd


def install_copy(src_dir, dst_dir, name):
    """`cp` of both halves (not a rename): the watcher must wait for the close."""
    for suffix in (".yaml", ".bpf.o"):
        shutil.copy(os.path.join(src_dir, name + suffix), os.path.join(dst_dir, name + suffix))


def install_rename(path, text):
    """The documented safe way: write a temporary name, then rename."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def yaml_error_line(text, needle):
    return next(i for i, l in enumerate(text.splitlines(), 1) if needle in l)


class CsvView:
    """What collectd's csv writer shows of the config under run-time control."""

    def __init__(self, c, config):
        self.c = c
        self.config = config

    def marker(self):
        return self.c.csv_last(self.config, "syscalls_total", MARKER_TI)

    def self_metric(self, type_):
        return self.c.csv_last(self.config, type_, "config=" + self.config)

    def rows(self):
        return len(self.c.csv_rows(self.config, "syscalls_total", MARKER_TI))


def test_collectd_runtime_sequence(collectd, config_dir, tmp_path):
    confd = tmp_path / "confd"
    confd.mkdir()
    c = collectd(confdir_block(confd), interval=INTERVAL)
    assert "ebpf plugin: 0 config(s) loaded; watching %s (AutoLoad)" % confd in c.log(), c.log()
    assert not prog_ids_held_by(c.proc.pid)
    v = CsvView(c, "syscalls")

    # 1. copy in: loaded, its data sets registered at run time, exact count
    t0 = time.monotonic()
    install_copy(config_dir, str(confd), "syscalls")
    wait_for(lambda: "config syscalls: loaded from" in c.log(), timeout=2 * INTERVAL + 5,
             what="syscalls loaded")
    wait_for(lambda: v.self_metric("bpfbridge_config_last_reload_successful") is not None,
             timeout=2 * INTERVAL + 5, what="first read")
    loaded_after = time.monotonic() - t0
    ours = prog_ids_held_by(c.proc.pid)
    assert ours, "collectd holds no program after the copy"
    base = v.marker() or 0
    run_marker(41)
    t1 = time.monotonic()
    wait_for(lambda: v.marker() == base + 41, timeout=2 * INTERVAL + SLACK,
             what="exact count within 2 intervals")
    print("copy -> first values %.2f s; marker -> exact count %.2f s"
          % (loaded_after, time.monotonic() - t1))
    assert v.self_metric("bpfbridge_config_last_reload_successful") == 1
    assert v.self_metric("bpfbridge_config_reload_failures_total") == 0

    # 2. break the YAML: logged once with file:line:column, the old engine counts on
    yaml_path = str(confd / "syscalls.yaml")
    with open(yaml_path) as f:
        good = f.read()
    bad = good.replace("size: 4", "size: four", 1)
    assert bad != good
    line = yaml_error_line(bad, "size: four")
    install_rename(yaml_path, bad)
    pat = r"ebpf plugin: config syscalls: reload failed, the running version keeps running: " \
          r"(\S+):(\d+):(\d+): "
    m = wait_for(lambda: re.search(pat, c.log()), timeout=2 * INTERVAL + 5, what="reload error")
    assert m.group(1) == yaml_path and int(m.group(2)) == line and int(m.group(3)) > 0, m.group(0)
    wait_for(lambda: v.self_metric("bpfbridge_config_reload_failures_total") == 1,
             timeout=2 * INTERVAL + SLACK, what="reload failure counted")
    assert v.self_metric("bpfbridge_config_last_reload_successful") == 0
    run_marker(13)
    wait_for(lambda: v.marker() == base + 54, timeout=2 * INTERVAL + SLACK,
             what="old engine keeps counting")
    assert prog_ids_held_by(c.proc.pid) == ours
    # logged once: later polls do not repeat it
    rows = v.rows()
    wait_for(lambda: v.rows() >= rows + 2, timeout=3 * INTERVAL + SLACK, what="two more reads")
    assert len(re.findall(pat, c.log())) == 1, c.log()

    # 3. help text only: the maps (and counts) are kept, no reset
    fixed = re.sub(r"(help: )(.*)", r"\1\2 (edited at run time)", good, count=1)
    assert fixed != good
    install_rename(yaml_path, fixed)
    wait_for(lambda: "config syscalls: reloaded; same object" in c.log(),
             timeout=2 * INTERVAL + 5, what="help-text reload")
    after = prog_ids_held_by(c.proc.pid)
    assert after and not (after & ours), "the old programs are still attached"
    wait_for(lambda: v.self_metric("bpfbridge_config_last_reload_successful") == 1,
             timeout=2 * INTERVAL + SLACK, what="reload success shown")
    assert v.marker() == base + 54, "the count was reset by a YAML-only reload"
    run_marker(7)
    wait_for(lambda: v.marker() == base + 61, timeout=2 * INTERVAL + SLACK,
             what="count continues after the reload")
    for (_, value) in c.csv_rows("syscalls", "syscalls_total", MARKER_TI):
        assert value >= base, "a value below the running count: a reset"
    assert v.self_metric("bpfbridge_config_reload_failures_total") == 1

    # 4. remove: its programs leave the kernel within 2 intervals
    os.remove(yaml_path)
    os.remove(str(confd / "syscalls.bpf.o"))
    t2 = time.monotonic()
    wait_for(lambda: not (after & bpf_prog_ids()), timeout=2 * INTERVAL,
             what="programs gone within 2 intervals")
    print("remove -> programs gone %.2f s" % (time.monotonic() - t2))
    assert not prog_ids_held_by(c.proc.pid)
    assert "config syscalls: removed" in c.log()
    rows = v.rows()
    time.sleep(2 * INTERVAL + SLACK)
    assert v.rows() == rows, "values still dispatched after removal"
    c.assert_running()


def test_collectd_slow_cp_never_loads_truncated(collectd, config_dir, tmp_path):
    """A large .bpf.o written slowly in chunks (as `cp` of a big file does) over several
    intervals is loaded once, complete, never half-way."""
    confd = tmp_path / "confd"
    confd.mkdir()
    big = tmp_path / "big.bpf.o"
    pad = tmp_path / "pad.bin"
    with open(pad, "wb") as f:
        f.write(os.urandom(3 << 20))
    # the padding goes before the section headers, so every prefix is an invalid object
    subprocess.run(["llvm-objcopy", "--add-section", ".bbpad=%s" % pad,
                    os.path.join(config_dir, "syscalls.bpf.o"), str(big)], check=True)
    data = big.read_bytes()
    c = collectd(confdir_block(confd), interval=1.0)
    shutil.copy(os.path.join(config_dir, "syscalls.yaml"), str(confd / "syscalls.yaml"))
    chunk = 128 << 10
    with open(confd / "syscalls.bpf.o", "wb") as f:
        for off in range(0, len(data), chunk):
            f.write(data[off:off + chunk])
            f.flush()
            time.sleep(0.15)  # ~3.7 s in all: several polls see it growing
            assert "config syscalls: loaded" not in c.log(), "loaded before the copy ended"
    wait_for(lambda: "config syscalls: loaded from" in c.log(), timeout=10, what="loaded")
    log = c.log()
    assert "cannot open BPF object" not in log and "reload failed" not in log, log
    v = CsvView(c, "syscalls")
    wait_for(lambda: v.self_metric("bpfbridge_config_last_reload_successful") is not None,
             timeout=10, what="first read")
    base = v.marker() or 0
    run_marker(9)
    wait_for(lambda: v.marker() == base + 9, timeout=10, what="exact count")
    assert v.self_metric("bpfbridge_config_reload_failures_total") == 0
    c.assert_running()
