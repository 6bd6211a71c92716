"""The collectd plugin `ebpf` inside the real collectd 5.12 (/usr/sbin/collectd -f).

Every collectd started here goes through CollectdRunner, and the `collectd`
fixture always stops it afterwards. It checks that collectd exited cleanly
and within the timeout, and that none of the BPF programs it loaded are
still in the kernel.
"""
import glob
import json
import math
import mmap
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from conftest import (MARKER_ERRNO, MARKER_SYSCALL_NAME, SRC_DIR, require, run_marker,
                      valgrind_wait, wait_for)
from engine_helpers import (build_test_objects, direct_writes, make_config,
                            prepare_direct_write_file, root_disk_dir)

COLLECTD = "/usr/sbin/collectd"
SYSTEM_PLUGINS = "/usr/lib/collectd"
HOSTNAME = "bbtest"
INIT_DONE = "Initialization complete, entering read-loop."
MARKER_TI = "syscall=" + MARKER_SYSCALL_NAME
MARKER_ERR_TI = "syscall=%s,errno=%s" % (MARKER_SYSCALL_NAME, MARKER_ERRNO)


def bpf_prog_ids():
    out = subprocess.run(["bpftool", "-j", "prog", "list"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"] for p in json.loads(out or "[]")}


def prog_ids_held_by(pid):
    """IDs of the BPF programs process PID holds through an fd (a program or a link).

    Other tests may load programs at the same time, so a before/after diff of
    `bpftool prog list` could blame their programs on us.
    """
    ids = set()
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass  # the fd was closed meanwhile
    return ids


def child_pids(pid, comm):
    """PIDs of PID's children whose command name is COMM."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid and name == comm:
            out.append(int(entry))
    return out


def assert_unloaded(prog_ids, after):
    """None of PROG_IDS is loaded any more (the kernel frees them shortly after the last fd)."""
    deadline = time.monotonic() + 10
    left = prog_ids & bpf_prog_ids()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = prog_ids & bpf_prog_ids()
    assert not left, "BPF programs still loaded after %s: %s" % (after, sorted(left))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CollectdRunner:
    """One collectd process with a generated config, in its own temp dir."""

    def __init__(self, workdir, plugin_so, ebpf_block, interval=1.0, csv=True,
                 prometheus_port=None, valgrind=False, expect_rc=0, extra_conf="",
                 extra_plugins=(), wrapper=()):
        self.dir = str(workdir)
        self.plugin_so = plugin_so
        self.ebpf_block = ebpf_block
        self.interval = interval
        self.csv_dir = os.path.join(self.dir, "csv") if csv else None
        self.prometheus_port = prometheus_port
        self.valgrind = valgrind
        self.extra_conf = extra_conf
        self.wrapper = list(wrapper)  # e.g. setpriv, to run as another user
        self.plugins = ["logfile", "csv", "write_prometheus"] + list(extra_plugins)
        # collectd 5.12 exits 1 at shutdown when any plugin's init failed
        self.expect_rc = expect_rc
        self.log_path = os.path.join(self.dir, "collectd.log")
        self.out_path = os.path.join(self.dir, "collectd.out")
        self.valgrind_xml = os.path.join(self.dir, "valgrind.xml")
        self.conf_path = os.path.join(self.dir, "collectd.conf")
        self.proc = None
        self.progs_ours = set()
        self.stopped = False

    def plugin_dir(self):
        # collectd 5.12 loads NAME.so from one PluginDir and refuses symlinks:
        # copies of the plugins this config loads, ebpf.so included.
        d = os.path.join(self.dir, "plugins")
        os.makedirs(d, exist_ok=True)
        for p in self.plugins:
            shutil.copy(os.path.join(SYSTEM_PLUGINS, p + ".so"), d)
        shutil.copy(self.plugin_so, os.path.join(d, "ebpf.so"))
        return d

    def write_conf(self):
        parts = [
            'Hostname "%s"' % HOSTNAME,
            "FQDNLookup false",
            "Interval %g" % self.interval,
            "AutoLoadPlugin false",
            'TypesDB "/usr/share/collectd/types.db"',
            'PluginDir "%s"' % self.plugin_dir(),
            'BaseDir "%s"' % self.dir,
            'PIDFile "%s"' % os.path.join(self.dir, "collectd.pid"),
            "LoadPlugin logfile",
            "<Plugin logfile>\n  LogLevel info\n  File \"%s\"\n  Timestamp true\n</Plugin>"
            % self.log_path,
            "LoadPlugin ebpf",
            "<Plugin ebpf>\n%s\n</Plugin>" % self.ebpf_block.strip("\n"),
        ]
        if self.csv_dir:
            parts += ["LoadPlugin csv",
                      '<Plugin csv>\n  DataDir "%s"\n  StoreRates false\n</Plugin>' % self.csv_dir]
        if self.prometheus_port:
            parts += ["LoadPlugin write_prometheus",
                      '<Plugin write_prometheus>\n  Host "127.0.0.1"\n  Port "%d"\n</Plugin>'
                      % self.prometheus_port]
        parts.append(self.extra_conf)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(parts) + "\n")

    def start(self, timeout=30.0):
        self.write_conf()
        cmd = self.wrapper + [COLLECTD, "-f", "-C", self.conf_path]
        if self.valgrind:
            cmd = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
                   "--errors-for-leak-kinds=definite,indirect,possible", "--track-origins=yes",
                   "--num-callers=40", "--xml=yes", "--xml-file=" + self.valgrind_xml] + cmd
        self.out = open(self.out_path, "w")
        env = None
        if os.environ.get("BB_COLLECTD_PRELOAD"):  # tools/sanitize: an ASan ebpf.so
            env = dict(os.environ, LD_PRELOAD=os.environ["BB_COLLECTD_PRELOAD"],
                       ASAN_OPTIONS=os.environ.get("BB_COLLECTD_ASAN_OPTIONS", ""))
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT,
                                     cwd=self.dir, env=env)
        wait_for(lambda: self.proc.poll() is not None or INIT_DONE in self.log(),
                 timeout=timeout, what="collectd init")
        if self.proc.poll() is not None:
            raise AssertionError("collectd exited %s during init:\n%s\n%s"
                                 % (self.proc.returncode, self.log(), self.output()))
        self.progs_ours = prog_ids_held_by(self.proc.pid)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def output(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def assert_running(self):
        assert self.proc.poll() is None, "collectd died (rc %s):\n%s\n%s" % (
            self.proc.returncode, self.log()[-4000:], self.output()[-4000:])

    def stop(self, timeout=None):
        """SIGTERM, then require a clean exit and no program of ours left."""
        if self.stopped or self.proc is None:
            return
        if timeout is None:
            timeout = valgrind_wait(15) if self.valgrind else 60.0
        self.stopped = True
        if self.proc.poll() is None:
            self.progs_ours |= prog_ids_held_by(self.proc.pid)
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("collectd did not stop within %.0fs after SIGTERM:\n%s"
                                 % (timeout, self.log()[-4000:]))
        finally:
            self.out.close()
        assert rc == self.expect_rc, "collectd exited with %s:\n%s\n%s" % (
            rc, self.log()[-4000:], self.output()[-4000:])
        assert "Exiting normally" in self.log(), self.log()[-4000:]
        assert_unloaded(self.progs_ours, "collectd stopped")

    # ---- csv ----

    def csv_files(self, config, type_, type_instance):
        base = os.path.join(self.csv_dir, HOSTNAME, "ebpf-" + config,
                            "%s-%s-" % (type_, type_instance) if type_instance else type_ + "-")
        # the csv plugin appends the date
        return sorted(f for f in glob.glob(glob.escape(base) + "*")
                      if re.fullmatch(r"\d{4}-\d\d-\d\d", f[len(base):]))

    def csv_instances(self, config, type_):
        """{type_instance: last value} of every series of TYPE_ in the config's csv files."""
        d = os.path.join(self.csv_dir, HOSTNAME, "ebpf-" + config)
        out = {}
        for f in sorted(glob.glob(os.path.join(glob.escape(d), glob.escape(type_) + "-*"))):
            m = re.fullmatch(re.escape(type_) + r"-(.*)-\d{4}-\d\d-\d\d", os.path.basename(f))
            if m:
                out[m.group(1)] = self.csv_last(config, type_, m.group(1))
        return out

    def csv_rows(self, config, type_, type_instance):
        rows = []
        for path in self.csv_files(config, type_, type_instance):
            with open(path) as f:
                for line in f:
                    if line.startswith("epoch"):
                        continue
                    t, v = line.strip().split(",")
                    rows.append((float(t), float(v)))
        return rows

    def csv_last(self, config, type_, type_instance):
        rows = self.csv_rows(config, type_, type_instance)
        return rows[-1][1] if rows else None


@pytest.fixture
def plugin_so(build_dir):
    path = os.path.join(build_dir, "plugin-collectd", ".libs", "ebpf.so")
    require(os.path.exists(path), "collectd plugin not built at " + path)
    require(os.access(COLLECTD, os.X_OK), COLLECTD + " missing (apt-get install collectd-core)")
    return path


@pytest.fixture
def collectd(tmp_path, plugin_so):
    """Factory: collectd(ebpf_block, ...) starts one; all are stopped and checked after."""
    runners = []

    def start(ebpf_block, name="collectd", **kw):
        workdir = tmp_path / name
        workdir.mkdir()
        r = CollectdRunner(workdir, plugin_so, ebpf_block, **kw)
        runners.append(r)
        r.start(timeout=valgrind_wait(30) if kw.get("valgrind") else 30)
        return r

    yield start
    errors = []
    for r in runners:
        try:
            r.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n\n".join(errors)


def ebpf_block(config_dir, *configs, extra=""):
    lines = ['  ConfigDir "%s"' % config_dir]
    lines += ['  Config "%s"' % c for c in configs]
    return "\n".join(lines) + "\n" + extra


def wait_first_read(c, config):
    """Until the config's first read reached the csv writer; returns its programs' state."""
    d = os.path.join(c.csv_dir, HOSTNAME, "ebpf-" + config)

    def attached():
        c.assert_running()
        files = glob.glob(os.path.join(glob.escape(d), "bpfbridge_program_attached-*"))
        return files

    return wait_for(attached, timeout=20, what="first read of " + config)


def test_csv_marker_syscalls_exact(collectd, config_dir):
    """N marker syscalls show up as exactly N in the csv counters."""
    n = 37
    c = collectd(ebpf_block(config_dir, "syscalls", "biolatency"), interval=1)
    wait_first_read(c, "syscalls")
    wait_first_read(c, "biolatency")
    assert "ebpf plugin: 2 of 2 configs loaded" in c.log(), c.log()
    assert c.progs_ours, "collectd holds no BPF program"
    attached = c.csv_instances("syscalls", "bpfbridge_program_attached")
    assert 1.0 in attached.values(), "no syscalls program attached: %s\n%s" % (attached,
                                                                                 c.log())

    base = c.csv_last("syscalls", "syscalls_total", MARKER_TI) or 0.0
    base_err = c.csv_last("syscalls", "syscall_errors_total", MARKER_ERR_TI) or 0.0
    run_marker(n)
    wait_for(lambda: c.csv_last("syscalls", "syscalls_total", MARKER_TI) == base + n,
             timeout=15, what="csv syscalls_total == %d" % (base + n))
    wait_for(lambda: c.csv_last("syscalls", "syscall_errors_total", MARKER_ERR_TI) == base_err + n,
             timeout=15, what="csv syscall_errors_total == %d" % (base_err + n))
    # Several more reads: the value stays exactly there.
    rows_before = len(c.csv_rows("syscalls", "syscalls_total", MARKER_TI))
    wait_for(lambda: len(c.csv_rows("syscalls", "syscalls_total", MARKER_TI)) >= rows_before + 3,
             timeout=15, what="three more reads")
    assert c.csv_last("syscalls", "syscalls_total", MARKER_TI) == base + n
    assert c.csv_last("syscalls", "syscall_errors_total", MARKER_ERR_TI) == base_err + n
    c.assert_running()


def test_histogram_series_in_csv(collectd, config_dir, tmp_path):
    """A histogram becomes cumulative _bucket values (+Inf = _count) and a scaled _sum."""
    c = collectd(ebpf_block(config_dir, "biolatency"), interval=1)
    wait_first_read(c, "biolatency")
    device = write_direct(tmp_path / "direct.dat", 64)
    prefix = "device=%s,operation=write" % device

    def have_inf():
        c.assert_running()
        return c.csv_last("biolatency", "bio_latency_seconds_bucket", prefix + ",le=+Inf")

    wait_for(have_inf, timeout=20, what="bio_latency_seconds_bucket le=+Inf for " + device)
    time.sleep(2.5)  # a complete read after the writes
    # One read's values: the last row of every bucket file.
    buckets = {ti[len(prefix + ",le="):]: v
               for ti, v in c.csv_instances("biolatency", "bio_latency_seconds_bucket").items()
               if ti.startswith(prefix + ",le=")}
    bounds = sorted((float(k), v) for k, v in buckets.items())
    assert len(bounds) == 28, sorted(buckets)  # exp2 buckets 0..26 plus +Inf
    assert bounds[0][0] == 1e-06 and bounds[-1][0] == float("inf")
    values = [v for _, v in bounds]
    assert values == sorted(values), "buckets are not cumulative: %s" % bounds
    count = c.csv_last("biolatency", "bio_latency_seconds_count", prefix)
    total = c.csv_last("biolatency", "bio_latency_seconds_sum", prefix)
    assert count >= 64 and values[-1] == count
    # seconds, not microseconds: mean latency between 100ns and 10s
    assert 1e-7 < total / count < 10, (total, count)
    with open(c.csv_files("biolatency", "bio_latency_seconds_sum", prefix)[0]) as f:
        assert f.readline().strip() == "epoch,scaled"


def write_direct(path, blocks):
    """blocks O_DIRECT 4 KiB writes (+fsync) to PATH; returns the disk's name."""
    fd = os.open(str(path), os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o600)
    try:
        buf = mmap.mmap(-1, 4096)
        buf.write(b"b" * 4096)
        for i in range(blocks):
            os.pwrite(fd, buf, i * 4096)
        os.fsync(fd)
    finally:
        os.close(fd)
    st = os.stat(str(path))
    sys_dev = os.path.realpath("/sys/dev/block/%d:%d" % (os.major(st.st_dev),
                                                           os.minor(st.st_dev)))
    if os.path.exists(os.path.join(sys_dev, "partition")):
        sys_dev = os.path.dirname(sys_dev)
    return os.path.basename(sys_dev)


def test_bad_and_good_configs(collectd, config_dir, tmp_path):
    """A bad config is logged with file:line:column; collectd and the good one keep going."""
    confs = tmp_path / "configs"
    confs.mkdir()
    for name in ("syscalls.yaml", "syscalls.bpf.o"):
        with open(os.path.join(config_dir, name), "rb") as src, open(confs / name, "wb") as dst:
            dst.write(src.read())
    with open(os.path.join(config_dir, "syscalls.yaml")) as f:
        good = f.read()
    # a label size that does not fit the map key: a config error with a position
    bad = good.replace("size: 4", "size: four", 1)
    assert bad != good
    line = next(i for i, l in enumerate(bad.splitlines(), 1) if "size: four" in l)
    with open(confs / "broken.yaml", "w") as f:
        f.write(bad)
    with open(confs / "broken.bpf.o", "wb") as dst, \
            open(os.path.join(config_dir, "syscalls.bpf.o"), "rb") as src:
        dst.write(src.read())

    c = collectd(ebpf_block(str(confs), "broken", "missing", "syscalls"), interval=1)
    log = c.log()
    m = re.search(r"ebpf plugin: config broken: (\S+):(\d+):(\d+): (.*)", log)
    assert m, log
    assert m.group(1) == str(confs / "broken.yaml") and int(m.group(2)) == line, m.group(0)
    assert "size" in m.group(4), m.group(0)
    assert re.search(r"ebpf plugin: config missing: .*missing\.yaml", log), log
    assert "ebpf plugin: 1 of 3 configs loaded" in log, log

    wait_first_read(c, "syscalls")
    base = c.csv_last("syscalls", "syscalls_total", MARKER_TI) or 0.0
    run_marker(5)
    wait_for(lambda: c.csv_last("syscalls", "syscalls_total", MARKER_TI) == base + 5,
             timeout=15, what="the good config's values")
    # the broken config dispatches only its reload status (issue 13), no metric
    broken = os.path.join(c.csv_dir, HOSTNAME, "ebpf-broken")
    wait_for(lambda: c.csv_last("broken", "bpfbridge_config_reload_failures_total",
                                "config=broken") == 1, timeout=15, what="broken's status")
    assert c.csv_last("broken", "bpfbridge_config_last_reload_successful", "config=broken") == 0
    assert {f.split("-")[0] for f in os.listdir(broken)} == {
        "bpfbridge_config_reload_failures_total", "bpfbridge_config_last_reload_successful"}
    c.assert_running()


def test_no_config_loads(collectd, tmp_path):
    """If no config loads, the plugin's init fails cleanly and collectd keeps running."""
    c = collectd(ebpf_block(str(tmp_path), "nothere"), interval=1, expect_rc=1)
    log = c.log()
    assert "ebpf plugin: config nothere: " in log, log
    assert "ebpf plugin: none of the 1 configs could be loaded" in log, log
    assert re.search(r"Initialization of plugin .ebpf. failed", log), log
    assert not c.progs_ours
    time.sleep(1.5)
    c.assert_running()


def test_unknown_key_refuses_config(tmp_path, plugin_so, config_dir):
    """An unknown key in <Plugin ebpf> names the key, and collectd refuses the config."""
    r = CollectdRunner(tmp_path, plugin_so,
                       ebpf_block(config_dir, "syscalls", extra='  ConfigDirectory "/x"\n'))
    r.write_conf()
    p = subprocess.run([COLLECTD, "-f", "-C", r.conf_path], capture_output=True, text=True,
                       timeout=30)
    out = p.stdout + p.stderr + r.log()
    assert p.returncode != 0, out
    assert 'ebpf plugin: unknown option "ConfigDirectory"' in out, out
    assert "ConfigDir, Config, AutoLoad, Strict, MaxSeriesPerMetric, BTFPath, Interval" in out, out


# Only bpfbridge_series reaches the csv writer (one row per read of a config):
# every value is still built and dispatched, but valgrind-slowed write threads
# do not fall minutes behind.
ONLY_SERIES_CHAIN = """
LoadPlugin match_regex
<Chain "PreCache">
  <Rule "only_read_counter">
    <Match "regex">
      Type "^bpfbridge_series$"
      Invert true
    </Match>
    Target "stop"
  </Rule>
</Chain>
"""
INVALID_ACCESS = ("InvalidRead", "InvalidWrite", "InvalidFree", "MismatchedFree", "InvalidJump",
                  "InvalidMemPool", "Overlap", "FishyValue", "ClientCheck")


def valgrind_problems(xml_path):
    """Errors that count against us in a valgrind --xml report.

    - Any invalid access or bad free, wherever it is.
    - A leak (definite, indirect, possible) with a frame in ebpf.so.
    - An uninitialised value, unless valgrind's own blind spot made it: its
      origin is the buffer the kernel fills in BPF_MAP_LOOKUP_BATCH
      (collect_batch) or a bpf_attr on libbpf's stack. valgrind 3.19 does not
      model either, so everything computed from map contents looks
      uninitialised to it.
    """
    root = ET.parse(xml_path).getroot()
    problems = []
    for err in root.findall("error"):
        kind = err.findtext("kind")
        stacks = err.findall("stack")
        frames = [(fr.findtext("fn") or "?", os.path.basename(fr.findtext("obj") or ""))
                  for fr in stacks[0].findall("frame")] if stacks else []
        origin = [(fr.findtext("fn") or "?", os.path.basename(fr.findtext("obj") or ""))
                  for fr in stacks[1].findall("frame")] if len(stacks) > 1 else []
        ours = any(o == "ebpf.so" for _, o in frames)
        if kind.startswith("Leak_"):
            bad = ours
        elif kind.startswith("Uninit") or kind == "SyscallParam":
            bad = not any(f == "collect_batch" or o.startswith("libbpf.so") for f, o in origin)
        else:
            bad = kind in INVALID_ACCESS or ours
        if bad:
            what = err.findtext("xwhat/text") or err.findtext("what") or ""
            problems.append("%s: %s\n  %s\n  origin: %s" % (
                kind, what, "\n  ".join("%s (%s)" % f for f in frames[:15]),
                " <- ".join("%s (%s)" % f for f in origin[:6]) or "-"))
    return problems


@pytest.mark.slow
def test_valgrind_repeated_reads(collectd, config_dir):
    """>= 200 read cycles under valgrind: no leak from ebpf.so, no invalid access."""
    require(shutil.which("valgrind") is not None, "valgrind not installed")
    c = collectd(ebpf_block(config_dir, "syscalls", "biolatency"), interval=0.05,
                 valgrind=True, extra_conf=ONLY_SERIES_CHAIN, extra_plugins=["match_regex"])

    def reads(config):
        c.assert_running()
        return len(c.csv_rows(config, "bpfbridge_series", "config=" + config))

    wait_for(lambda: reads("syscalls") >= 200 and reads("biolatency") >= 200,
             timeout=valgrind_wait(240),
             interval=0.5, what="200 reads of each config")
    c.stop()
    problems = valgrind_problems(c.valgrind_xml)
    assert not problems, "valgrind:\n" + "\n\n".join(problems)


def test_main_job_run_collectd(build_dir, plugin_so):
    """tools/run-collectd: collectd in the foreground, PUTVAL lines, write_prometheus."""
    port = free_port()
    env = dict(os.environ, BB_BUILD_DIR=build_dir, BB_INTERVAL="1", BB_PROM_PORT=str(port))
    script = os.path.join(SRC_DIR, "tools", "run-collectd")
    printed = subprocess.run([script, "--print-config"], env=env, capture_output=True,
                             text=True, check=True).stdout
    shipped = sorted(os.path.basename(y)[:-5] for y in glob.glob(
        os.path.join(build_dir, "bpf", "*.yaml"))
        if os.path.exists(y[:-5] + ".bpf.o"))
    assert shipped and all('Config "%s"' % n in printed for n in shipped), printed

    proc = subprocess.Popen([script, "syscalls", "biolatency"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "/ebpf-syscalls/syscalls_total-" in line and line.startswith("PUTVAL "):
                break
        assert any(l.startswith("PUTVAL ") and "/ebpf-syscalls/syscalls_total-" in l
                   for l in lines), "".join(lines[-20:])
        metrics = wait_for(lambda: _get("http://127.0.0.1:%d/metrics" % port), timeout=10,
                           what="write_prometheus")
        assert "collectd_ebpf_syscalls_total_total{" in metrics
        collectd_pid = wait_for(lambda: child_pids(proc.pid, "collectd"), timeout=5,
                                what="collectd, child of run-collectd")
        assert len(collectd_pid) == 1, collectd_pid
        ours = prog_ids_held_by(collectd_pid[0])
        assert ours, "collectd holds no BPF program"
        # Ctrl-C: SIGINT to the whole process group
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=30)
        err = proc.stderr.read()
        assert rc == 0, err[-3000:]
        assert "Exiting normally" in err, err[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert_unloaded(ours, "run-collectd stopped")


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


# ---- percentiles, hostile labels and churn (tests/integration/bpf/bbcollectd.bpf.c) ----

BBCOLLECTD_YAML = """\
metrics:
  counters:
    - name: hostile_total
      help: Counters filled by the test, keyed by a hostile string
      labels:
        - name: name
          size: 304
          decoders:
            - name: string
    - name: churn_total
      help: getpgid() calls by argument (an LRU map)
      labels:
        - name: arg
          size: 4
          decoders:
            - name: uint
  histograms:
    - name: hostile_seconds
      help: A histogram filled by the test, keyed by a hostile string
      bucket_type: exp2
      bucket_min: 0
      bucket_max: 3
      bucket_multiplier: 0.001
      labels:
        - name: name
          size: 304
          decoders:
            - name: string
        - name: bucket
          size: 8
          decoders:
            - name: uint
    - name: churn_seconds
      help: getpgid() calls by argument, bucket arg % 4 (an LRU map)
      bucket_type: exp2
      bucket_min: 0
      bucket_max: 3
      bucket_multiplier: 1
      labels:
        - name: arg
          size: 4
          padding: 4
          decoders:
            - name: uint
        - name: bucket
          size: 8
          decoders:
            - name: uint
"""

HOSTILE_KEY_LEN = 304
# Invalid UTF-8, quotes, "/", "-", "=", and 300 bytes in all; the two differ
# only at byte 200 (past the 127-byte type_instance, before the core's
# 255-byte label limit).
HOSTILE = [b'\xff\xfe"q\'uo"te/a-b=c,d%e~f\\g ' + b"x" * 175 + bytes([c]) + b"y" * 99
           for c in (ord("1"), ord("2"))]
assert all(len(h) == 300 for h in HOSTILE)


@pytest.fixture(scope="module")
def bbcollectd_dir(tmp_path_factory):
    """A config dir holding bbcollectd.yaml + .bpf.o (root-owned, 0755)."""
    objs = build_test_objects(str(tmp_path_factory.mktemp("bpfobj")))
    d = str(tmp_path_factory.mktemp("bbcollectd"))
    make_config(d, "bbcollectd", BBCOLLECTD_YAML, objs["bbcollectd"])
    return d


def maps_held_by(pid):
    """{map name: map id} of the BPF maps process PID holds."""
    ids = set()
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                for line in f:
                    if line.startswith("map_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    out = {}
    for i in ids:
        info = json.loads(subprocess.run(["bpftool", "-j", "map", "show", "id", str(i)],
                                         capture_output=True, text=True, check=True).stdout)
        out[info.get("name", "")] = i
    return out


def map_update(map_id, key, value):
    hexes = lambda b: ["%02x" % x for x in b]
    subprocess.run(["bpftool", "map", "update", "id", str(map_id), "key", "hex"] + hexes(key) +
                   ["value", "hex"] + hexes(value.to_bytes(8, "little")), check=True,
                   capture_output=True)


def rrd_lastupdate(path):
    """(time, value) of the last update rrdtool stored in PATH (one data source)."""
    p = subprocess.run(["rrdtool", "lastupdate", path], capture_output=True, text=True)
    if p.returncode != 0:
        return None  # being created or updated right now: ask again
    t, v = p.stdout.strip().splitlines()[-1].split(":")
    # "U": rrdtool's unknown, stored for a NaN (a first read, an interval
    # without observations); callers skip non-finite values
    return int(t), float("nan") if v.strip() == "U" else float(v)


def rrd_files(rrd_dir, config, type_):
    d = os.path.join(rrd_dir, HOSTNAME, "ebpf-" + config)
    out = {}
    for f in glob.glob(os.path.join(glob.escape(d), glob.escape(type_) + "-*.rrd")):
        out[os.path.basename(f)[len(type_) + 1:-len(".rrd")]] = f
    return out


def require_rrdtool():
    require(os.path.exists(os.path.join(SYSTEM_PLUGINS, "rrdtool.so")),
            "collectd's rrdtool plugin missing (apt-get install collectd-core)")
    require(shutil.which("rrdtool") is not None, "rrdtool missing (apt-get install rrdtool)")
    ldd = subprocess.run(["ldd", os.path.join(SYSTEM_PLUGINS, "rrdtool.so")],
                         capture_output=True, text=True).stdout
    require("not found" not in ldd, "rrdtool.so cannot load: " + ldd)


def rrdtool_conf(rrd_dir):
    return ('LoadPlugin rrdtool\n<Plugin rrdtool>\n  DataDir "%s"\n  CacheTimeout 0\n'
            '</Plugin>\n' % rrd_dir)


def predicted_bucket(le, deltas, q):
    """The (lower, upper) bounds of the bucket holding rank Q * count of one
    interval's cumulative DELTAS (finite bounds LE, then +Inf)."""
    total = deltas[-1]
    rank = q * total
    for i, d in enumerate(deltas[:-1]):
        if d >= rank:
            return (le[i - 1] if i > 0 else 0.0), le[i]
    return le[-1], math.inf


def test_rrdtool_percentiles_within_buckets(collectd, config_dir, tmp_path):
    """A real collectd writes the interval's p50 and p99 to rrdtool; for a known
    O_DIRECT workload each stored value lies in the bucket that bpfbridge's own
    bucket counts (csv, the same reads) predict for that interval."""
    require_rrdtool()
    disk_dir, _ = root_disk_dir()
    require(disk_dir is not None, "no writable directory on a real block device")
    rrd_dir = str(tmp_path / "rrd")
    c = collectd(ebpf_block(config_dir, "biolatency"), interval=1, extra_plugins=["rrdtool"],
                 extra_conf=rrdtool_conf(rrd_dir))
    wait_first_read(c, "biolatency")
    path = prepare_direct_write_file(disk_dir, 64)
    stop = threading.Event()
    device = write_direct(tmp_path / "probe.dat", 1)
    prefix = "device=%s,operation=write" % device

    def workload():
        while not stop.is_set():
            direct_writes(path, 64)
            time.sleep(0.05)

    t = threading.Thread(target=workload)
    t.start()
    seen = {50: {}, 99: {}}
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and min(len(v) for v in seen.values()) < 4:
            c.assert_running()
            for p in seen:
                f = rrd_files(rrd_dir, "biolatency", "bio_latency_seconds_percentile").get(
                    "%s,percentile=%d" % (prefix, p))
                last = rrd_lastupdate(f) if f else None
                if last and math.isfinite(last[1]):
                    seen[p][last[0]] = last[1]
            time.sleep(0.3)
    finally:
        stop.set()
        t.join()
        os.unlink(path)
    assert min(len(v) for v in seen.values()) >= 4, (seen, c.log()[-2000:])
    time.sleep(1.5)  # the csv rows of the last sampled reads

    # bpfbridge's own cumulative buckets per read, from the same reads (csv)
    buckets = {}
    for ti in c.csv_instances("biolatency", "bio_latency_seconds_bucket"):
        if ti.startswith(prefix + ",le="):
            le = float(ti[len(prefix + ",le="):])
            buckets[le] = dict(c.csv_rows("biolatency", "bio_latency_seconds_bucket", ti))
    les = sorted(buckets)
    times = sorted(set.intersection(*(set(b) for b in buckets.values())))
    checked = 0
    for p, values in seen.items():
        for ts, v in values.items():
            # the read the rrd update came from: the rrdtool plugin rounds
            # collectd's time to whole seconds (CDTIME_T_TO_TIME_T)
            reads = [i for i, rt in enumerate(times) if round(rt) == ts]
            if len(reads) != 1 or reads[0] == 0:
                continue
            cur, prev = times[reads[0]], times[reads[0] - 1]
            deltas = [buckets[le][cur] - buckets[le][prev] for le in les]
            lo, hi = predicted_bucket(les[:-1], deltas, p / 100)
            assert lo <= v <= hi * (1 + 1e-9), (
                "p%d = %g at %d is outside (%g, %g], the bucket of rank %g of %s"
                % (p, v, ts, lo, hi, p / 100 * deltas[-1], deltas))
            checked += 1
    assert checked >= 4, (seen, times[-10:])
    # What an rrdtool user graphs: the average and the interval's count too.
    for type_ in ("bio_latency_seconds_average", "bio_latency_seconds_observations"):
        assert prefix in rrd_files(rrd_dir, "biolatency", type_), type_


class LineListener:
    """A TCP listener on 127.0.0.1 collecting the lines it is sent (a graphite stand-in)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        conns = []
        buf = {}
        while not self.stop_ev.is_set():
            try:
                conn, _ = self.sock.accept()
                conn.settimeout(0.05)
                conns.append(conn)
                buf[conn] = b""
            except socket.timeout:
                pass
            for conn in list(conns):
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    conns.remove(conn)
                    conn.close()
                    continue
                buf[conn] += data
                *done, buf[conn] = buf[conn].split(b"\n")
                with self.lock:
                    self.lines += [l.decode("utf-8", "replace") for l in done]
        for conn in conns:
            conn.close()
        self.sock.close()

    def get(self):
        with self.lock:
            return list(self.lines)

    def stop(self):
        self.stop_ev.set()
        self.thread.join()


def churn_calls(args, n):
    """N getpgid(ARG) calls for each ARG (they fail: no such process group)."""
    for _ in range(n):
        for a in args:
            try:
                os.getpgid(a)
            except OSError:
                pass


def test_graphite_percentile_lines(collectd, bbcollectd_dir):
    """write_graphite sends the percentile, average and count lines under the
    documented names; for a series whose observations all fall in one bucket
    the values are that bucket's linear interpolation."""
    listener = LineListener()
    try:
        conf = ('LoadPlugin write_graphite\n<Plugin write_graphite>\n  <Node "test">\n'
                '    Host "127.0.0.1"\n    Port "%d"\n    Protocol "tcp"\n'
                '    Prefix "bb."\n    EscapeCharacter "_"\n  </Node>\n</Plugin>\n'
                % listener.port)
        c = collectd(ebpf_block(bbcollectd_dir, "bbcollectd"), interval=1, csv=False,
                     extra_plugins=["write_graphite"], extra_conf=conf)
        # arg 4000002: bucket 2 (le 4, the one below is 2); arg 4000000: bucket 0 (le 1)
        base = "bb.%s.ebpf-bbcollectd.churn_seconds_" % HOSTNAME

        def lines():
            c.assert_running()
            churn_calls([4000002, 4000000], 50)
            got = {}
            for l in listener.get():
                parts = l.split(" ")
                if len(parts) == 3 and parts[0].startswith(base):
                    got[parts[0][len(base):]] = float(parts[1])
            # write_graphite replaces "," (and ".", " ") by its EscapeCharacter
            want = ["percentile-arg=4000002_percentile=50",
                    "percentile-arg=4000002_percentile=99",
                    "average-arg=4000002", "observations-arg=4000002",
                    "percentile-arg=4000000_percentile=90"]
            ok = all(w in got and math.isfinite(got[w]) and got[w] > 0 for w in want)
            return got if ok else None

        try:
            got = wait_for(lines, timeout=30, interval=0.5, what="graphite percentile lines")
        except AssertionError as e:
            raise AssertionError("%s; lines received (last 20 of %d):\n%s" % (
                e, len(listener.get()), "\n".join(listener.get()[-20:])))
        # histogram_quantile's interpolation inside the bucket (2, 4] and (0, 1]
        assert abs(got["percentile-arg=4000002_percentile=50"] - 3.0) < 1e-9, got
        assert abs(got["percentile-arg=4000002_percentile=99"] - 3.98) < 1e-9, got
        assert abs(got["percentile-arg=4000000_percentile=90"] - 0.9) < 1e-9, got
        # mean: the sum adds arg % 16 = 2 per call
        assert abs(got["average-arg=4000002"] - 2.0) < 1e-9, got
        assert got["observations-arg=4000002"] >= 1, got
        # every line is a well-formed graphite line (no space inside a path)
        for l in listener.get():
            assert len(l.split(" ")) == 3, l
    finally:
        listener.stop()


def test_hostile_labels_csv_rrdtool_prometheus(collectd, bbcollectd_dir, tmp_path):
    """Labels with invalid UTF-8, quotes, /, -, = and 300 bytes reach csv,
    rrdtool and write_prometheus as distinct, intact identifiers; promtool
    accepts the exposition."""
    require_rrdtool()
    require(os.access("/usr/bin/promtool", os.X_OK), "promtool missing (apt-get install prometheus)")
    rrd_dir = str(tmp_path / "rrd")
    port = free_port()
    c = collectd(ebpf_block(bbcollectd_dir, "bbcollectd"), interval=1, prometheus_port=port,
                 extra_plugins=["rrdtool"], extra_conf=rrdtool_conf(rrd_dir))
    maps = maps_held_by(c.proc.pid)
    assert "hostile_total" in maps and "hostile_seconds" in maps, maps
    for i, h in enumerate(HOSTILE):
        key = h + b"\0" * (HOSTILE_KEY_LEN - len(h))
        map_update(maps["hostile_total"], key, 11 * (i + 1))
        for bucket, n in ((1, 3), (3, 1), (4, 10)):  # 4 = the sum
            map_update(maps["hostile_seconds"], key + bucket.to_bytes(8, "little"), n)

    def csv_both():
        c.assert_running()
        got = c.csv_instances("bbcollectd", "hostile_total")
        return got if len(got) == 2 else None

    got = wait_for(csv_both, timeout=20, what="two hostile_total csv series")
    assert sorted(got.values()) == [11, 22], got
    for ti in got:
        assert len(ti.encode()) <= 127 and re.search(r"~[0-9a-f]{16}$", ti), ti
        # the core's escapes (\\xff: invalid UTF-8) with ours on top (%5C = \\)
        assert ti.startswith("name=%5Cxff%5Cxfe%22q'uo%22te%2Fa-b%3Dc%2Cd%25e%7Ef"), ti
        assert "/" not in ti

    # rrdtool: one file per series, same names, same values
    def rrd_both():
        files = rrd_files(rrd_dir, "bbcollectd", "hostile_total")
        return files if len(files) == 2 else None

    files = wait_for(rrd_both, timeout=20, what="two hostile_total rrd files")
    assert sorted(files) == sorted(got), (sorted(files), sorted(got))
    wait_for(lambda: sorted((rrd_lastupdate(f) or (0, -1))[1] for f in files.values())
             == [11, 22], timeout=10, what="rrdtool lastupdate 11 and 22")
    try:
        wait_for(lambda: len(rrd_files(rrd_dir, "bbcollectd", "hostile_seconds_percentile"))
                 == 6, timeout=20, what="3 percentiles x 2 hostile series in rrdtool")
    except AssertionError as e:
        raise AssertionError("%s: %s\n%s" % (e, sorted(os.listdir(os.path.join(
            rrd_dir, HOSTNAME, "ebpf-bbcollectd"))), c.log()[-3000:]))

    # write_prometheus: both series, and promtool is happy
    def prom():
        text = _get("http://127.0.0.1:%d/metrics" % port) or ""
        lines = [l for l in text.splitlines() if l.startswith("collectd_ebpf_hostile_total_total{")]
        return text if len(lines) == 2 else None

    text = wait_for(prom, timeout=20, what="hostile series on /metrics")
    vals = sorted(float(l.rsplit(" ", 2)[1]) for l in text.splitlines()
                  if l.startswith("collectd_ebpf_hostile_total_total{"))
    assert vals == [11, 22], vals
    p = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text,
                       capture_output=True, text=True)
    assert p.returncode == 0, "promtool check metrics (rc %d):\n%s%s" % (
        p.returncode, p.stdout, p.stderr)
    c.assert_running()


@pytest.mark.slow
def test_valgrind_churning_series(collectd, bbcollectd_dir):
    """>= 500 reads under valgrind while series appear and are evicted on every
    read (LRU maps, histograms with percentiles): no leak from ebpf.so."""
    require(shutil.which("valgrind") is not None, "valgrind not installed")
    c = collectd(ebpf_block(bbcollectd_dir, "bbcollectd", extra="  LabelsAsMetadata true\n"),
                 interval=0.05, valgrind=True, extra_conf=ONLY_SERIES_CHAIN,
                 extra_plugins=["match_regex"])
    stop = threading.Event()

    def churn():
        arg = 5000000
        while not stop.is_set():
            churn_calls(range(arg, arg + 8), 1)
            arg += 8
            time.sleep(0.01)

    t = threading.Thread(target=churn)
    t.start()
    try:
        def reads():
            c.assert_running()
            return len(c.csv_rows("bbcollectd", "bpfbridge_series", "config=bbcollectd"))

        wait_for(lambda: reads() >= 500, timeout=valgrind_wait(300), interval=1,
                 what="500 reads")
    finally:
        stop.set()
        t.join()
    c.stop(timeout=valgrind_wait(60))  # its leak check walks every series' allocations
    problems = valgrind_problems(c.valgrind_xml)
    assert not problems, "valgrind:\n" + "\n\n".join(problems)
