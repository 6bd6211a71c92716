"""Helpers shared by test_engine.py and test_cli.py: running the bpfbridge CLI,
building the test-only BPF objects in tests/integration/bpf/, and finding the
BPF programs a process holds (by program id, so tests running at the same time
with the same shipped programs cannot confuse the teardown checks)."""
import glob
import json
import mmap
import os
import re
import shutil
import signal
import subprocess
import time

from conftest import BUILD_DIR, REQUIRE_BPF, require, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_BPF_DIR = os.path.join(HERE, "bpf")
# The shipped programs' headers (maps.bpf.h's bb_counter_inc), shared with the test objects.
SHIPPED_BPF_DIR = os.path.join(os.path.dirname(os.path.dirname(HERE)), "bpf")

SELF_FAMILIES = [
    "bpfbridge_program_attached",
    "bpfbridge_read_duration_seconds",
    "bpfbridge_series",
    "bpfbridge_series_dropped_total",
    "bpfbridge_decode_errors_total",
    "bpfbridge_read_errors_total",
    "bpfbridge_series_retired_total",
    "bpfbridge_labels_truncated_total",
]


def find_clang():
    for name in ("clang", "clang-16", "clang-15", "clang-14"):
        path = shutil.which(name)
        if path:
            return path
    return None


def build_test_objects(out_dir):
    """Compile every tests/integration/bpf/*.bpf.c into OUT_DIR; {name: path}."""
    clang = find_clang()
    require(clang is not None, "clang is needed to build the test BPF objects")
    vmlinux_dir = os.path.join(BUILD_DIR, "bpf")
    require(os.path.exists(os.path.join(vmlinux_dir, "vmlinux.h")),
            "vmlinux.h not generated in " + vmlinux_dir)
    objs = {}
    for src in sorted(glob.glob(os.path.join(TEST_BPF_DIR, "*.bpf.c"))):
        name = os.path.basename(src)[: -len(".bpf.c")]
        out = os.path.join(out_dir, name + ".bpf.o")
        subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-Wall",
                        "-I", vmlinux_dir, "-I", SHIPPED_BPF_DIR, "-c", src, "-o", out], check=True)
        objs[name] = out
    return objs


def make_config(directory, name, yaml_text, obj_path):
    """NAME.yaml + a copy of OBJ_PATH as NAME.bpf.o in DIRECTORY, both root-only writable."""
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    yaml_path = os.path.join(directory, name + ".yaml")
    with open(yaml_path, "w") as f:
        f.write(yaml_text)
    os.chmod(yaml_path, 0o644)
    if obj_path is not None:
        dst = os.path.join(directory, name + ".bpf.o")
        shutil.copyfile(obj_path, dst)
        os.chmod(dst, 0o644)
    return yaml_path


def copy_for_nobody(build_dir, config_dir, dest):
    """The CLI, the subagent and the syscalls config copied under DEST (made 0755), so that
    uid 65534 can run them wherever the build tree is (it may sit under a 0700 home).
    Returns (cli, fake build dir holding plugin-snmp/bpfbridge-snmp, config dir)."""
    os.chmod(dest, 0o755)
    fake_build = os.path.join(dest, "build")
    configs = os.path.join(dest, "configs")
    for d in (os.path.join(fake_build, "cli"), os.path.join(fake_build, "plugin-snmp"), configs):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
    os.chmod(fake_build, 0o755)
    for rel in ("cli/bpfbridge", "plugin-snmp/bpfbridge-snmp"):
        if os.path.exists(os.path.join(build_dir, rel)):
            shutil.copy(os.path.join(build_dir, rel), os.path.join(fake_build, rel))
    for name in ("syscalls.yaml", "syscalls.bpf.o"):
        shutil.copy(os.path.join(config_dir, name), os.path.join(configs, name))
        os.chmod(os.path.join(configs, name), 0o644)
    return os.path.join(fake_build, "cli", "bpfbridge"), fake_build, configs


def run_cli(cli, *args, timeout=60, **kw):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=timeout, **kw)


def held_prog_ids(pid):
    """Ids of the BPF programs the process PID holds open (from /proc/PID/fdinfo)."""
    ids = set()
    for fdinfo in glob.glob("/proc/%d/fdinfo/*" % pid):
        try:
            with open(fdinfo) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass  # an fd closed while we looked
    return ids


def loaded_prog_ids():
    out = subprocess.run(["bpftool", "-j", "prog", "list"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"] for p in json.loads(out or "[]")}


def assert_progs_gone(ids, timeout=10.0):
    """The kernel frees programs shortly after their last reference goes."""
    assert ids, "no program ids recorded: nothing was checked"
    wait_for(lambda: not (ids & loaded_prog_ids()), timeout=timeout,
             what="BPF programs %s to be unloaded" % sorted(ids & loaded_prog_ids()))


def root_disk_dir():
    """A writable directory on a real block device, and the names its I/O may
    be counted under (the whole disk; device-mapper's underlying disks)."""
    for d in ("/", "/var/tmp", "/root", "/tmp"):
        st = os.stat(d)
        major, minor = os.major(st.st_dev), os.minor(st.st_dev)
        sysdir = "/sys/dev/block/%d:%d" % (major, minor)
        if major == 0 or not os.path.exists(sysdir) or not os.access(d, os.W_OK):
            continue  # overlay, tmpfs, ...
        real = os.path.realpath(sysdir)
        disk = os.path.dirname(real) if os.path.exists(os.path.join(real, "partition")) else real
        names = {os.path.basename(disk)}
        slaves = os.path.join(disk, "slaves")
        if os.path.isdir(slaves) and os.listdir(slaves):
            names = set()
            for s in os.listdir(slaves):
                sreal = os.path.realpath(os.path.join(slaves, s))
                part = os.path.exists(os.path.join(sreal, "partition"))
                names.add(os.path.basename(os.path.dirname(sreal) if part else sreal))
        return d, names
    return None, None


def direct_writes(path, n):
    """N O_DIRECT 4 KiB overwrites of an already allocated file: one request each."""
    buf = mmap.mmap(-1, 4096)  # page aligned, as O_DIRECT wants
    buf.write(b"b" * 4096)
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    try:
        for i in range(n):
            assert os.pwrite(fd, buf, i * 4096) == 4096
        os.fsync(fd)
    finally:
        os.close(fd)


def prepare_direct_write_file(directory, n):
    """A file of N allocated 4 KiB blocks, synced: overwriting it with O_DIRECT
    then issues exactly one write request per call."""
    path = os.path.join(directory, ".bpfbridge-test-%d-%d" % (os.getpid(), time.monotonic_ns()))
    with open(path, "wb") as f:
        f.write(b"a" * 4096 * n)
        f.flush()
        os.fsync(f.fileno())
    return path


class Dump:
    """`bpfbridge dump --format json` in the background: wait until attached,
    act, then collect the one snapshot it prints."""

    def __init__(self, cli, configs, tmp_path, interval=1.0, extra=(), fmt="json"):
        self.ready = os.path.join(str(tmp_path), "ready-%d" % time.monotonic_ns())
        self.fmt = fmt
        self.proc = subprocess.Popen(
            [cli, "dump", "--interval", str(interval), "--format", fmt, "--ready-file",
             self.ready, *extra, *configs],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.started = time.monotonic()

    def wait_ready(self, timeout=30.0):
        def ready():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError("bpfbridge dump exited early (%s): %s" %
                                     (self.proc.returncode, err.strip()))
            return os.path.exists(self.ready)
        wait_for(ready, timeout=timeout, what="bpfbridge dump to attach its programs")
        self.prog_ids = held_prog_ids(self.proc.pid)
        return self

    def finish(self, timeout=60):
        out, err = self.proc.communicate(timeout=timeout)
        self.rc, self.out, self.err = self.proc.returncode, out, err
        return self

    def snapshot(self):
        self.finish()
        assert self.rc == 0, "dump failed (%d): %s" % (self.rc, self.err)
        return json.loads(self.out)

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        return self.finish()


def family(snap, name):
    for fam in snap["families"]:
        if fam["name"] == name:
            return fam
    raise AssertionError("family %s not in the snapshot (have: %s)" %
                         (name, [f["name"] for f in snap["families"]]))


def series(fam, **labels):
    """The series of FAM whose labels include LABELS (None if absent)."""
    found = [s for s in fam["series"] if all(s["labels"].get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, "labels %s match %d series of %s" % (labels, len(found), fam["name"])
    return found[0] if found else None


def value(snap, name, **labels):
    s = series(family(snap, name), **labels)
    return None if s is None else s["value"]


def parse_check_table(text):
    """Rows of `bpfbridge check` as dicts keyed by the header's column names."""
    lines = [l for l in text.splitlines() if l.strip()]
    assert lines and lines[0].startswith("CONFIG"), "no table header in:\n" + text
    header = lines[0]
    names = header.split()
    starts = [header.index(n) for n in names]
    rows = []
    for line in lines[1:]:
        if re.match(r"^\S+: \d+ of \d+ programs attached", line):
            continue  # the per-config summary lines
        row = {}
        for i, n in enumerate(names):
            end = starts[i + 1] if i + 1 < len(names) else None
            row[n] = line[starts[i]:end].strip()
        rows.append(row)
    return rows


def summary_lines(text):
    return [l for l in text.splitlines() if re.match(r"^\S+: \d+ of \d+ programs attached", l)]


__all__ = ["REQUIRE_BPF"]


def uprobe_config(*alternatives):
    """The YAML of tests/integration/bpf/bbuprobe.bpf.c: getpid() calls, hook
    `getpid` with ALTERNATIVES (program names) in that order."""
    return ("""metrics:
  counters:
    - name: getpid_calls_total
      help: getpid() calls in any process
      labels:
        - name: zero
          size: 4
          decoders:
            - name: uint
hooks:
  - name: getpid
    alternatives:
""" + "".join("      - %s\n" % a for a in alternatives))
