"""The series store on the real kernel: labels that resolve after a cgroup is
created, sticky admission under the series limit, invalid bytes in cgroup
names that stay two series (and valid Prometheus text), and metric names that
must be unique across configs. Driven through `bpfbridge dump --count`."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import require, run_marker, wait_for
from engine_helpers import build_test_objects, make_config, run_cli

CGROUP_YAML = """
metrics:
  counters:
    - name: cgroup_marker_total
      help: Marker syscalls by cgroup
      labels:
        - name: cgroup
          size: 8
          decoders:
            - name: cgroup
    - name: cgroup_limited_total
      help: Marker syscalls by cgroup, two series allowed
      max_series: 2
      labels:
        - name: cgroup
          size: 8
          decoders:
            - name: cgroup
"""

IN_CGROUP = """
import ctypes, os, sys
with open(os.path.join(os.fsencode(sys.argv[1]), b"cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
libc = ctypes.CDLL(None, use_errno=True)
for _ in range(int(sys.argv[2])):
    assert libc.syscall(252, 0xBAD, 0) == -1
"""


def cgroup2_root():
    with open("/proc/mounts") as f:
        mounts = {line.split()[1]: line.split()[2] for line in f}
    for path in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if mounts.get(path) == "cgroup2":
            return path
    return None


@pytest.fixture(scope="module")
def cgobj(tmp_path_factory, build_dir):
    return build_test_objects(str(tmp_path_factory.mktemp("bpfobj")))["bbcgroup"]


@pytest.fixture
def cgroups():
    """Make cgroups (by name, bytes allowed) under the v2 root; removed afterwards."""
    root = cgroup2_root()
    require(root is not None, "no cgroup v2 hierarchy mounted")
    made = []

    def make(name):
        path = os.path.join(os.fsencode(root), name)
        os.mkdir(path)
        made.append(path)
        return path

    yield make
    for path in reversed(made):
        wait_for(lambda: _try_rmdir(path), timeout=10, what="cgroup %r to empty" % path)


def _try_rmdir(path):
    try:
        os.rmdir(path)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def marker_in(cgroup, n):
    subprocess.run([sys.executable, "-c", IN_CGROUP, cgroup, str(n)], check=True, timeout=30)


class Stream:
    """`bpfbridge dump --count N --format json`, one document per read, as they come."""

    def __init__(self, cli, configs, tmp_path, count, interval=1.0):
        self.ready = os.path.join(str(tmp_path), "ready-%d" % time.monotonic_ns())
        self.proc = subprocess.Popen(
            [cli, "dump", "--interval", str(interval), "--count", str(count), "--format",
             "json", "--ready-file", self.ready, *configs],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: os.path.exists(self.ready) or self.proc.poll() is not None,
                 timeout=30, what="bpfbridge dump to attach")
        assert self.proc.poll() is None, self.proc.communicate()[1]

    def next(self):
        lines = []
        while True:
            line = self.proc.stdout.readline()
            assert line, "dump ended early: " + self.proc.stderr.read()
            lines.append(line)
            if line == "]}\n":
                return json.loads("".join(lines))

    def close(self):
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err


def labels_of(doc, metric):
    for fam in doc["families"]:
        if fam["name"] == metric:
            return {s["labels"]["cgroup"]: s["value"] for s in fam["series"]}
    raise AssertionError("no family " + metric)


def self_value(doc, family, metric):
    for fam in doc["families"]:
        if fam["name"] == family:
            for s in fam["series"]:
                if s["labels"].get("metric") == metric:
                    return s["value"]
    raise AssertionError("no %s for %s" % (family, metric))


def test_cgroup_made_after_start_gets_its_path(cli, cgobj, cgroups, tmp_path):
    cfg = make_config(str(tmp_path / "c"), "bbcgroup", CGROUP_YAML, cgobj)
    s = Stream(cli, [cfg], tmp_path, count=6)
    run_marker(1)  # this test's own cgroup: the decoder walks the tree once now
    first = s.next()
    assert len(labels_of(first, "cgroup_marker_total")) == 1
    name = b"bbtest-late-%d" % os.getpid()
    marker_in(cgroups(name), 5)
    want = "/" + name.decode()
    if cgroup2_root() == "/sys/fs/cgroup/unified":
        pass  # paths are relative to the v2 root either way
    seen_at = labelled_at = None
    history = []
    for i in range(1, 6):
        doc = s.next()
        vals = labels_of(doc, "cgroup_marker_total")
        history.append(vals)
        ours = {k: v for k, v in vals.items() if v == 5}
        if ours and seen_at is None:
            seen_at = i
        if vals.get(want) == 5 and labelled_at is None:
            labelled_at = i
    s.close()
    assert seen_at is not None, history
    assert labelled_at is not None, history
    assert labelled_at - seen_at < 3, history  # within 3 reads of the key's first read
    # never stuck on a fallback label
    assert not any(k.startswith("unknown_cgroup_id:") for k in history[-1]), history[-1]


def test_over_the_limit_never_displaces_an_admitted_series(cli, cgobj, cgroups, tmp_path):
    cfg = make_config(str(tmp_path / "l"), "bbcgroup", CGROUP_YAML, cgobj)
    pid = os.getpid()
    a, b, c, d = (cgroups(b"bbtest-%s-%d" % (x, pid)) for x in (b"a", b"b", b"c", b"d"))
    s = Stream(cli, [cfg], tmp_path, count=4)
    marker_in(a, 3)
    marker_in(b, 4)
    doc = s.next()
    name = lambda p: "/" + os.path.basename(p).decode()
    assert labels_of(doc, "cgroup_limited_total") == {name(a): 3, name(b): 4}
    marker_in(c, 5)
    marker_in(d, 6)
    marker_in(a, 1)
    for _ in range(3):
        doc = s.next()
        # the first two stay, with exact counts; the later two are dropped
        assert labels_of(doc, "cgroup_limited_total") == {name(a): 4, name(b): 4}
    s.close()
    full = labels_of(doc, "cgroup_marker_total")
    assert {name(a): 4, name(b): 4, name(c): 5, name(d): 6}.items() <= full.items()
    # c and d are dropped once per read: three reads
    assert self_value(doc, "bpfbridge_series_dropped_total", "cgroup_limited_total") == 6
    assert self_value(doc, "bpfbridge_series_dropped_total", "cgroup_marker_total") == 0


def test_invalid_bytes_in_cgroup_names_stay_two_series(cli, cgobj, cgroups, tmp_path):
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool not installed (apt-get install prometheus)")
    cfg = make_config(str(tmp_path / "u"), "bbcgroup", CGROUP_YAML, cgobj)
    pid = os.getpid()
    ff = cgroups(b"bbtest-\xff-%d" % pid)
    fe = cgroups(b"bbtest-\xfe-%d" % pid)
    s = Stream(cli, [cfg], tmp_path, count=2)
    marker_in(ff, 2)
    marker_in(fe, 3)
    s.next()
    doc = s.next()
    s.close()
    vals = labels_of(doc, "cgroup_marker_total")
    assert vals["/bbtest-\\xff-%d" % pid] == 2
    assert vals["/bbtest-\\xfe-%d" % pid] == 3
    # the same through the Prometheus text format, which promtool accepts
    marker_in(ff, 1)
    res = run_cli(cli, "dump", "--interval", "0", cfg)
    assert res.returncode == 0, res.stderr
    lines = [l for l in res.stdout.splitlines() if l.startswith("cgroup_marker_total{")]
    assert len(lines) == len(set(l.rsplit(" ", 1)[0] for l in lines))
    chk = subprocess.run([promtool, "check", "metrics"], input=res.stdout, capture_output=True,
                         text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr


def test_metric_names_are_unique_across_configs(cli, cgobj, tmp_path):
    one = make_config(str(tmp_path / "one"), "bbcgroup", CGROUP_YAML, cgobj)
    two = make_config(str(tmp_path / "two"), "bbcgroup", CGROUP_YAML, cgobj)
    res = run_cli(cli, "check", one, two)
    assert res.returncode == 1
    msg = "%s:4:7: metric cgroup_marker_total: already exported by %s; metric names must be " \
          "unique across configs" % (two, one)
    assert msg in res.stdout + res.stderr, res.stdout + res.stderr
