"""BPFBRIDGE-MIB through a real snmpd (Debian's /usr/sbin/snmpd 5.9) on 127.0.0.1.

Both ways the module is built: the AgentX subagent bpfbridge-snmp next to
snmpd running as master agentx (socket in a temp dir), and bpfbridge.so
loaded into snmpd by `dlmod`. Queries go through the real net-snmp clients
(snmpget, snmpbulkwalk) with numeric OIDs, so no MIB needs to be installed.

Every daemon started here is a Daemon, and the fixtures always stop it: they
check that it exited (with status 0 where it should) within a deadline, and
that the BPF programs it held are unloaded. Nothing sleeps a fixed time:
registration, cache expiry and AgentX reconnection are polled with deadlines.
"""
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import (MARKER_ERRNO, MARKER_SYSCALL_NAME, SRC_DIR, require, run_marker,
                      valgrind_wait, wait_for)
from engine_helpers import (assert_progs_gone, build_test_objects, direct_writes, held_prog_ids,
                            make_config, prepare_direct_write_file, root_disk_dir)

SNMPD = "/usr/sbin/snmpd"
MIB_DIR = os.path.join(SRC_DIR, "plugin-snmp")

ROOT = ".1.3.6.1.4.1.8072.9999.25186"
PROGRAMS, METRICS, SERIES, BUCKETS = 1, 2, 3, 4


def col(table, column):
    return "%s.1.%d.1.%d" % (ROOT, table, column)


PROGRAM_NAME, PROGRAM_STATUS = col(PROGRAMS, 3), col(PROGRAMS, 7)
METRIC_NAME, METRIC_BUCKETS = col(METRICS, 2), col(METRICS, 9)
SERIES_LABELS, SERIES_VALUE, SERIES_COUNT = col(SERIES, 2), col(SERIES, 3), col(SERIES, 5)
BUCKET_BOUND, BUCKET_RAW, BUCKET_COUNT = col(BUCKETS, 2), col(BUCKETS, 3), col(BUCKETS, 4)

COMMUNITY = "bbview"  # has the view
OTHER_COMMUNITY = "sysonly"  # valid, but sees only the system group
V3_USER, V3_AUTH, V3_PRIV = "bbv3", "bb-auth-pass-1", "bb-priv-pass-1"
CACHE_TIMEOUT = 1
PING_INTERVAL = 1
RESTART_BOUND = 10.0  # seconds for the subagent to answer again after snmpd restarts
MARKER_SERIES = 'syscall="%s"' % MARKER_SYSCALL_NAME
MARKER_ERR_SERIES = 'syscall="%s",errno="%s"' % (MARKER_SYSCALL_NAME, MARKER_ERRNO)
NO_SUCH = ("No Such Object", "No Such Instance")
END_OF_VIEW = "No more variables left in this MIB View"


# ---- daemons -------------------------------------------------------------------------

def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """A foreground process with a log file; stop() checks that it really stopped."""

    def __init__(self, name, argv, log_path, env):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc = None
        self.stopped = False

    def start(self):
        out = open(self.log_path + ".out", "ab")
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                     env=self.env)
        out.close()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        text = ""
        for path in (self.log_path, self.log_path + ".out"):
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f.read()
        return text

    def assert_running(self):
        if not self.running():
            raise AssertionError("%s exited with %s:\n%s" % (self.name, self.proc.returncode,
                                                             self.log()[-4000:]))

    def stop(self, sig=signal.SIGTERM, timeout=None, expect_rc=0):
        """Send SIG and wait; a daemon that does not exit in time is killed and fails."""
        if self.proc is None or self.stopped:
            return self.proc.returncode if self.proc else None
        if timeout is None:
            timeout = valgrind_wait(15) if "valgrind" in self.argv else 15.0
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError("%s did not exit within %.0fs of signal %d:\n%s"
                                     % (self.name, timeout, sig, self.log()[-4000:]))
        rc = self.proc.returncode
        if expect_rc is not None:
            assert rc == expect_rc, "%s exited with %s, expected %s:\n%s" % (
                self.name, rc, expect_rc, self.log()[-4000:])
        return rc


class Stack:
    """snmpd (+ the subagent) in one temp dir; everything goes through stop_all()."""

    def __init__(self, workdir, build_dir, config_dir):
        self.dir = str(workdir)
        self.build_dir = build_dir
        self.config_dir = config_dir
        self.port = free_udp_port()
        self.agentx = os.path.join(self.dir, "agentx.sock")
        self.persist = os.path.join(self.dir, "persist")
        os.makedirs(self.persist, exist_ok=True)
        self.env = dict(os.environ, MIBS="", SNMP_PERSISTENT_DIR=self.persist,
                        SNMPCONFPATH=self.dir, HOME=self.dir)
        self.snmpd = None
        self.subagent = None
        self.daemons = []
        self.snmpd_starts = 0

    # -- snmpd
    def snmpd_conf(self, master_agentx, extra):
        lines = [
            "# written by tests/integration/test_snmp.py",
            "view bbview included %s" % ROOT,
            "view sysview included .1.3.6.1.2.1.1",
            "com2sec bbsec 127.0.0.1 %s" % COMMUNITY,
            "com2sec syssec 127.0.0.1 %s" % OTHER_COMMUNITY,
            "group bbgroup v2c bbsec",
            "group sysgroup v2c syssec",
            'access bbgroup "" any noauth exact bbview none none',
            'access sysgroup "" any noauth exact sysview none none',
            'createUser %s SHA "%s" AES "%s"' % (V3_USER, V3_AUTH, V3_PRIV),
            "group bbv3group usm %s" % V3_USER,
            'access bbv3group "" usm priv exact bbview none none',
        ]
        if master_agentx:
            lines += ["master agentx", "agentXSocket %s" % self.agentx,
                      "agentXPerms 0600 0700", "agentXTimeout 10"]
        return "\n".join(lines + list(extra)) + "\n"

    def start_snmpd(self, master_agentx=True, extra=(), wrapper=()):
        conf = os.path.join(self.dir, "snmpd.conf")
        with open(conf, "w") as f:
            f.write(self.snmpd_conf(master_agentx, extra))
        self.snmpd_starts += 1
        log = os.path.join(self.dir, "snmpd-%d.log" % self.snmpd_starts)
        d = Daemon("snmpd", [*wrapper, SNMPD, "-f", "-Lf", log, "-C", "-c", conf,
                             "-p", os.path.join(self.dir, "snmpd.pid"),
                             "udp:127.0.0.1:%d" % self.port], log, self.env)
        self.daemons.append(d)
        self.snmpd = d.start()

        def ready():
            d.assert_running()
            return "NET-SNMP version" in d.log() and (not master_agentx
                                                       or os.path.exists(self.agentx))

        wait_for(ready, timeout=valgrind_wait(20) if "valgrind" in wrapper else 20,
                 what="snmpd to start")
        return d

    # -- subagent
    def start_subagent(self, extra=(), valgrind_xml=None, configs="syscalls,biolatency",
                       wrapper=()):
        binary = os.path.join(self.build_dir, "plugin-snmp", "bpfbridge-snmp")
        log = os.path.join(self.dir, "subagent.log")
        argv = [binary, "-f", "-x", self.agentx, "--config-dir", self.config_dir,
                "--config", configs, "--cache-timeout", str(CACHE_TIMEOUT),
                "--ping-interval", str(PING_INTERVAL), "-Lf", log, *extra]
        if valgrind_xml:
            argv = ["valgrind", "--leak-check=full", "--xml=yes", "--xml-file=" + valgrind_xml,
                    *argv]
        d = Daemon("bpfbridge-snmp", [*wrapper, *argv], log, self.env)
        self.daemons.append(d)
        self.subagent = d.start()
        return d

    def stop_all(self):
        """Stop every daemon, subagent first; re-raise the first failure."""
        failure = None
        for d in sorted(self.daemons, key=lambda d: d.name != "bpfbridge-snmp"):
            if d.stopped:
                continue
            try:
                progs = held_prog_ids(d.pid) if d.running() else set()
                d.stop()
                if progs:
                    assert_progs_gone(progs)
            except AssertionError as e:
                failure = failure or e
        self.daemons = []
        if failure:
            raise failure


# ---- the client side ------------------------------------------------------------------

LINE = re.compile(r"^(\.[0-9.]+) = (.*)$")


def parse_value(text):
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return text  # an exception such as "No Such Instance currently exists at this OID"


class Client:
    def __init__(self, stack, auth=None):
        self.stack = stack
        self.auth = auth or ["-v2c", "-c", COMMUNITY]

    def run(self, tool, *args, check=True):
        cmd = [tool, *self.auth, "-On", "-OQ", "-Oe", "-t", "5", "-r", "1",
               "127.0.0.1:%d" % self.stack.port, *args]
        r = subprocess.run(cmd, capture_output=True, text=True, env=self.stack.env, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr))
        rows = []
        for line in r.stdout.splitlines():
            m = LINE.match(line)
            if m:
                rows.append((m.group(1), parse_value(m.group(2))))
        return rows, r

    def get(self, *oids):
        rows, _ = self.run("snmpget", *oids)
        return dict(rows)

    def walk(self, oid, reps=25):
        rows, _ = self.run("snmpbulkwalk", "-Cr%d" % reps, oid)
        # The end of the view is printed as one more line with the last OID.
        return [(o, v) for o, v in rows if o.startswith(oid + ".") and
                not (isinstance(v, str) and v.startswith(END_OF_VIEW))]


def metric_index(client, name):
    for oid, value in client.walk(METRIC_NAME):
        if value == name:
            return int(oid.rsplit(".", 1)[1])
    return None


def series_index(client, metric, labels):
    for oid, value in client.walk("%s.%d" % (SERIES_LABELS, metric)):
        if value == labels:
            return int(oid.rsplit(".", 1)[1])
    return None


def wait_registered(client, timeout=30.0, daemons=()):
    def answered():
        for d in daemons:
            d.assert_running()
        try:
            value = client.get(METRIC_NAME + ".1").get(METRIC_NAME + ".1")
        except AssertionError:
            return False  # snmpd not answering yet
        return isinstance(value, str) and not value.startswith(NO_SUCH)

    wait_for(answered, timeout=timeout, interval=0.1, what="the bpfbridge tables to answer")


def changed_from(client, oids, old, timeout=15.0):
    """Poll until the values of OIDS differ from OLD (a fresh snapshot); return them."""
    def poll():
        now = client.get(*oids)
        values = tuple(now.get(o) for o in oids)
        return values if values != old else None

    return wait_for(poll, timeout=timeout, interval=0.1,
                    what="a snapshot newer than %s for %s" % (old, oids))


# ---- fixtures --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def snmp_tools(build_dir):
    for tool in ("snmpget", "snmpbulkwalk"):
        require(shutil.which(tool) is not None, tool + " missing (apt-get install snmp)")
    require(os.access(SNMPD, os.X_OK), "snmpd missing (apt-get install snmpd)")
    binary = os.path.join(build_dir, "plugin-snmp", "bpfbridge-snmp")
    require(os.access(binary, os.X_OK), "bpfbridge-snmp not built at " + binary)
    return build_dir


def dlmod_path(build_dir):
    path = os.path.join(build_dir, "plugin-snmp", ".libs", "bpfbridge.so")
    require(os.path.exists(path), "bpfbridge.so not built at " + path)
    return path


@pytest.fixture
def stack(tmp_path, snmp_tools, config_dir):
    s = Stack(tmp_path, snmp_tools, config_dir)
    yield s
    s.stop_all()


@pytest.fixture(scope="module")
def subagent_stack(tmp_path_factory, snmp_tools, config_dir):
    """snmpd as master agentx and bpfbridge-snmp with the syscalls and biolatency configs."""
    s = Stack(tmp_path_factory.mktemp("snmp-subagent"), snmp_tools, config_dir)
    try:
        s.start_snmpd()
        s.start_subagent()
        wait_registered(Client(s), daemons=(s.snmpd, s.subagent))
        yield s
    finally:
        s.stop_all()


@pytest.fixture(scope="module")
def dlmod_stack(tmp_path_factory, snmp_tools, config_dir):
    """snmpd with `dlmod bpfbridge .../bpfbridge.so` and the same two configs."""
    s = Stack(tmp_path_factory.mktemp("snmp-dlmod"), snmp_tools, config_dir)
    try:
        s.start_snmpd(master_agentx=False, extra=dlmod_lines(snmp_tools, config_dir))
        wait_registered(Client(s), daemons=(s.snmpd,))
        yield s
    finally:
        s.stop_all()


def wait_reloaded(snmpd, reloads, timeout):
    """snmpd logged the module's start RELOADS + 1 times (and is still alive)."""
    def done():
        snmpd.assert_running()
        return snmpd.log().count("bpfbridge: serving") == reloads + 1

    wait_for(done, timeout=timeout, what="snmpd reload %d" % reloads)


def dlmod_lines(build_dir, config_dir):
    return ["dlmod bpfbridge %s" % dlmod_path(build_dir),
            "bpfbridgeConfigDir %s" % config_dir,
            "bpfbridgeConfig syscalls biolatency",
            "bpfbridgeCacheTimeout %d" % CACHE_TIMEOUT]


@pytest.fixture(params=["subagent", "dlmod"])
def any_stack(request):
    return request.getfixturevalue(request.param + "_stack")


# ---- the MIB --------------------------------------------------------------------------

def test_mib_lints_clean():
    """smilint -l 6 prints nothing (it exits 0 even on errors, so the output is the test)."""
    require(shutil.which("smilint") is not None, "smilint missing (apt-get install smitools)")
    env = dict(os.environ, SMIPATH="%s/mibs:/usr/share/snmp/mibs" % MIB_DIR)
    r = subprocess.run(["smilint", "-l", "6", os.path.join(MIB_DIR, "BPFBRIDGE-MIB.txt")],
                       capture_output=True, text=True, env=env)
    assert r.stdout + r.stderr == "", r.stdout + r.stderr


def test_mib_tree():
    require(shutil.which("snmptranslate") is not None, "snmptranslate missing")
    env = dict(os.environ, MIBS="BPFBRIDGE-MIB",
               MIBDIRS="%s/mibs:%s:/usr/share/snmp/mibs" % (MIB_DIR, MIB_DIR))
    r = subprocess.run(["snmptranslate", "-Tp", "BPFBRIDGE-MIB::bpfbridgeMIB"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    for name in ("bpfbridgeMIB(25186)", "bpfbridgeProgramTable(1)", "bpfbridgeMetricTable(2)",
                 "bpfbridgeSeriesTable(3)", "bpfbridgeBucketTable(4)",
                 "Counter64 bpfbridgeSeriesValue(3)", "Counter64 bpfbridgeBucketCount(4)"):
        assert name in r.stdout, name
    r = subprocess.run(["snmptranslate", "-On", "BPFBRIDGE-MIB::bpfbridgeSeriesValue"],
                       capture_output=True, text=True, env=env)
    assert r.stdout.strip() == col(SERIES, 3)


# ---- both modes -------------------------------------------------------------------------

def test_marker_counter_exact(any_stack):
    """N marker syscalls advance syscalls_total and syscall_errors_total by exactly N."""
    client = Client(any_stack)
    run_marker(1)  # the series exist from here on
    m = wait_for(lambda: metric_index(client, "syscalls_total"), what="syscalls_total")
    e = wait_for(lambda: metric_index(client, "syscall_errors_total"), what="errors metric")
    s = wait_for(lambda: series_index(client, m, MARKER_SERIES), what=MARKER_SERIES)
    se = wait_for(lambda: series_index(client, e, MARKER_ERR_SERIES), what=MARKER_ERR_SERIES)
    oids = ("%s.%d.%d" % (SERIES_VALUE, m, s), "%s.%d.%d" % (SERIES_VALUE, e, se))

    # A value read before a marker call may come from an older snapshot; the
    # first value that differs after the call comes from a load made after it.
    old = tuple(client.get(*oids)[o] for o in oids)
    run_marker(1)
    base = changed_from(client, oids, old)
    n = 37
    run_marker(n)
    after = changed_from(client, oids, base)
    assert after[0] - base[0] == n, (base, after)
    assert after[1] - base[1] == n, (base, after)
    # The index of a series does not move between snapshots.
    assert series_index(client, m, MARKER_SERIES) == s


def test_buckets_cumulative(any_stack):
    """A histogram series' buckets are cumulative and end with the series count."""
    directory, disks = root_disk_dir()
    require(directory is not None, "no writable directory on a block device")
    client = Client(any_stack)
    path = prepare_direct_write_file(directory, 32)
    try:
        direct_writes(path, 32)
    finally:
        os.unlink(path)
    m = wait_for(lambda: metric_index(client, "bio_latency_seconds"), what="biolatency metric")

    def write_series():
        for oid, labels in client.walk("%s.%d" % (SERIES_LABELS, m)):
            for disk in disks:
                if labels == 'device="%s",operation="write"' % disk:
                    return int(oid.rsplit(".", 1)[1])
        return None

    s = wait_for(write_series, timeout=15, what="a write series for %s" % sorted(disks))
    n_buckets = client.get("%s.%d" % (METRIC_BUCKETS, m))["%s.%d" % (METRIC_BUCKETS, m)]
    assert n_buckets == 28  # exp2 buckets 0..26 and +Inf

    # One GET: one snapshot, so the +Inf bucket must equal the count exactly.
    count_oid = "%s.%d.%d" % (SERIES_COUNT, m, s)
    bucket_oids = ["%s.%d.%d.%d" % (BUCKET_COUNT, m, s, b) for b in range(1, n_buckets + 1)]
    values = client.get(count_oid, *bucket_oids)
    counts = [values[o] for o in bucket_oids]
    assert counts == sorted(counts), counts
    assert counts[-1] == values[count_oid] >= 32

    # The bucket table walked in bulk: cumulative, bounds ascending, +Inf last.
    prefix = "%d.%d." % (m, s)
    walked = [(o, v) for o, v in client.walk(BUCKET_COUNT, reps=50)
              if o[len(BUCKET_COUNT) + 1:].startswith(prefix)]
    assert len(walked) == n_buckets
    walked_counts = [v for _, v in walked]
    assert walked_counts == sorted(walked_counts), walked_counts
    # Counters only grow: the walk (after the GET) sees at least that count, at
    # most the count read after it.
    assert values[count_oid] <= walked_counts[-1] <= client.get(count_oid)[count_oid]
    bounds = [v for o, v in client.walk("%s.%d.%d" % (BUCKET_BOUND, m, s))]
    assert bounds[0] == "1e-06" and bounds[-1] == "+Inf" and len(bounds) == n_buckets
    assert [float(b) for b in bounds[:-1]] == sorted(float(b) for b in bounds[:-1])
    raw = [v for o, v in client.walk("%s.%d.%d" % (BUCKET_RAW, m, s))]
    assert raw == [2 ** i for i in range(n_buckets - 1)]  # microseconds; none for +Inf


def test_walk_is_ordered_and_complete(any_stack):
    """A bulk walk of the whole module returns strictly increasing OIDs in all four tables."""
    client = Client(any_stack)
    rows = client.walk(ROOT, reps=40)
    keys = [tuple(int(x) for x in o.strip(".").split(".")) for o, _ in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    tables = {k[len(ROOT.strip(".").split(".")) + 1] for k in keys}
    assert tables == {PROGRAMS, METRICS, SERIES, BUCKETS}
    statuses = [v for o, v in rows if o.startswith(PROGRAM_STATUS + ".")]
    assert statuses and set(statuses) <= {1, 2, 3}
    assert 1 in statuses  # at least one attached program per config


# ---- subagent ------------------------------------------------------------------------------

def test_access_control(subagent_stack):
    """Without the view no bpfbridge OID is visible; an SNMPv3 authPriv user with it sees all."""
    s = subagent_stack
    other = Client(s, ["-v2c", "-c", OTHER_COMMUNITY])
    sysdescr = ".1.3.6.1.2.1.1.1.0"
    assert isinstance(other.get(sysdescr)[sysdescr], str)  # the community itself works
    assert other.walk(ROOT) == []
    assert str(other.get(METRIC_NAME + ".1")[METRIC_NAME + ".1"]).startswith(NO_SUCH)

    v3 = Client(s, ["-v3", "-l", "authPriv", "-u", V3_USER, "-a", "SHA", "-A", V3_AUTH,
                    "-x", "AES", "-X", V3_PRIV])
    assert metric_index(v3, "syscalls_total") is not None
    # The same objects as the community with the view, in every table.
    assert [o for o, _ in v3.walk(METRIC_NAME)] == [o for o, _ in Client(s).walk(METRIC_NAME)]
    assert v3.walk(col(PROGRAMS, 2)) and v3.walk(SERIES_LABELS) and v3.walk(BUCKET_COUNT)

    wrong = Client(s, ["-v3", "-l", "authPriv", "-u", V3_USER, "-a", "SHA", "-A",
                       "not-the-password", "-x", "AES", "-X", V3_PRIV])
    rows, r = wrong.run("snmpget", METRIC_NAME + ".1", check=False)
    assert r.returncode != 0 and rows == [], r.stdout + r.stderr
    # The view needs privacy: the same user at authNoPriv gets nothing.
    nopriv = Client(s, ["-v3", "-l", "authNoPriv", "-u", V3_USER, "-a", "SHA", "-A", V3_AUTH])
    rows, r = nopriv.run("snmpget", METRIC_NAME + ".1", check=False)
    assert not any(isinstance(v, str) and not v.startswith(NO_SUCH) for _, v in rows), rows


def test_subagent_reconnects_after_snmpd_restart(stack):
    """snmpd killed and started again: the same subagent re-registers within RESTART_BOUND."""
    stack.start_snmpd()
    sub = stack.start_subagent()
    client = Client(stack)
    wait_registered(client, daemons=(stack.snmpd, sub))
    progs = held_prog_ids(sub.pid)
    assert progs

    old = stack.snmpd
    old.stop(sig=signal.SIGKILL, expect_rc=-signal.SIGKILL)
    stack.start_snmpd()
    started = time.monotonic()
    wait_registered(client, timeout=RESTART_BOUND + 20, daemons=(stack.snmpd, sub))
    elapsed = time.monotonic() - started
    print("subagent answered %.2fs after snmpd restarted" % elapsed)
    assert elapsed < RESTART_BOUND, "re-registration took %.2fs" % elapsed
    sub.assert_running()
    assert held_prog_ids(sub.pid) == progs  # the same process, the same programs
    assert metric_index(client, "syscalls_total") is not None


def test_subagent_sigterm_detaches_everything(stack):
    stack.start_snmpd()
    sub = stack.start_subagent()
    wait_registered(Client(stack), daemons=(stack.snmpd, sub))
    progs = held_prog_ids(sub.pid)
    assert progs
    assert sub.stop(sig=signal.SIGTERM) == 0
    assert_progs_gone(progs)
    assert "bpfbridge-snmp: stopping" in sub.log()
    # snmpd drops the registration: the tables are gone, snmpd still answers.
    client = Client(stack)
    wait_for(lambda: str(client.get(METRIC_NAME + ".1")[METRIC_NAME + ".1"]).startswith(NO_SUCH),
             timeout=10, what="the tables to disappear")
    stack.snmpd.assert_running()


def test_subagent_bad_option_and_config(stack):
    """Bad values are refused with a message naming the option or token, before any load."""
    binary = os.path.join(stack.build_dir, "plugin-snmp", "bpfbridge-snmp")
    r = subprocess.run([binary, "-f", "--cache-timeout", "soon"], capture_output=True, text=True,
                       env=stack.env, timeout=30)
    assert r.returncode == 1
    assert "--cache-timeout: expected a whole number of seconds" in r.stderr
    assert 'got "soon"' in r.stderr
    conf = os.path.join(stack.dir, "sub.conf")
    with open(conf, "w") as f:
        f.write("bpfbridgeConfig syscalls\nbpfbridgeRootOID .1.3.x\n")
    log = os.path.join(stack.dir, "bad.log")
    r = subprocess.run([binary, "-f", "-c", conf, "-x", stack.agentx, "-Lf", log],
                       capture_output=True, text=True, env=stack.env, timeout=30)
    with open(log) as f:
        text = f.read()
    assert r.returncode == 1, text
    assert "line 2" in text and "bpfbridgeRootOID: expected" in text, text


def test_subagent_failed_config_is_reported(stack):
    """A config that does not load is a configFailed row; the other config still serves."""
    stack.start_snmpd()
    sub = stack.start_subagent(configs="syscalls,no-such-config")
    client = Client(stack)
    wait_registered(client, daemons=(stack.snmpd, sub))
    rows = client.walk(col(PROGRAMS, 2))
    failed = [o.rsplit(".", 1)[1] for o, v in rows if v == "no-such-config"]
    assert len(failed) == 1
    idx = failed[0]
    got = client.get(PROGRAM_STATUS + "." + idx, col(PROGRAMS, 9) + "." + idx)
    assert got[PROGRAM_STATUS + "." + idx] == 4  # configFailed
    assert "no-such-config" in got[col(PROGRAMS, 9) + "." + idx]
    assert metric_index(client, "syscalls_total") is not None
    assert "config no-such-config not loaded" in sub.log()


@pytest.mark.parametrize("reader", [False, True], ids=["per-request", "reader-thread"])
def test_subagent_no_leaks_under_valgrind(stack, reader):
    """Cache loads and walks under valgrind: no leak and no invalid access in our code.
    per-request: cache timeout 0, >= 100 loads each reading the maps. reader-thread: a
    read and build every second on the reader thread, >= 15 of them swapped in."""
    require(shutil.which("valgrind") is not None, "valgrind missing (apt-get install valgrind)")
    stack.start_snmpd()
    xml = os.path.join(stack.dir, "valgrind.xml")
    binary = os.path.realpath(os.path.join(stack.build_dir, "plugin-snmp", "bpfbridge-snmp"))
    # cache timeout 0: every AgentX request loads a fresh snapshot (or swaps one in)
    extra = ("--cache-timeout", "0", "-D", "bpfbridge") + (("--interval", "1") if reader else ())
    sub = stack.start_subagent(extra=extra, valgrind_xml=xml)
    client = Client(stack)
    wait_registered(client, timeout=valgrind_wait(30), daemons=(stack.snmpd, sub))

    def loads():
        found = re.findall(r"cache load (\d+):", sub.log())
        return int(found[-1]) if found else 0

    want = 15 if reader else 100
    walks = 0
    deadline = time.monotonic() + valgrind_wait(120)
    while loads() < want:
        sub.assert_running()
        client.walk(col(METRICS, 2))
        client.walk("%s.%d" % (BUCKET_COUNT, metric_index(client, "bio_latency_seconds") or 0))
        walks += 1
        assert walks < 200 and time.monotonic() < deadline, \
            "only %d cache loads after %d walks" % (loads(), walks)
    assert sub.stop(sig=signal.SIGTERM, timeout=valgrind_wait(15)) == 0

    assert not valgrind_errors_in(xml, binary), valgrind_errors_in(xml, binary)


def valgrind_errors_in(xml, obj, invalid_anywhere=False):
    """Leaks and invalid accesses whose stack passes through OBJ (our code), as text.
    With INVALID_ANYWHERE, an invalid access anywhere counts too (a dangling
    pointer into an unloaded module shows up in net-snmp's frames)."""
    found = []
    for err in ET.parse(xml).getroot().findall("error"):
        kind = err.findtext("kind")
        frames = err.find("stack").findall("frame")
        ours = any(f.findtext("obj") == obj for f in frames)
        invalid = kind.startswith("Invalid")
        if (ours and (kind.startswith("Leak_") or invalid)) or (invalid and invalid_anywhere):
            found.append("%s: %s\n  %s" % (
                kind, err.findtext("what") or err.findtext("xwhat/text"),
                "\n  ".join("%s %s:%s (%s)" % (f.findtext("fn"), f.findtext("file"),
                                               f.findtext("line"), f.findtext("obj"))
                            for f in frames[:12])))
    return "\n".join(found)


# ---- dlmod -----------------------------------------------------------------------------------

def test_dlmod_sighup_reloads_cleanly(stack):
    """SIGHUP makes snmpd unload and reload dlmods: no crash, no duplicate registration,
    the old programs detached and the tables served again."""
    d = stack.start_snmpd(master_agentx=False, extra=dlmod_lines(stack.build_dir,
                                                                  stack.config_dir))
    client = Client(stack)
    wait_registered(client, daemons=(d,))
    progs = held_prog_ids(d.pid)
    assert progs
    for reload in (1, 2):
        d.proc.send_signal(signal.SIGHUP)
        wait_reloaded(d, reload, timeout=20)
        d.assert_running()
        assert d.log().count("bpfbridge: unloaded") == reload
        wait_registered(client, daemons=(d,))
        assert_progs_gone(progs)
        progs = held_prog_ids(d.pid)
        assert progs
    log = d.log()
    dup = [line for line in log.splitlines() if "duplicate registration" in line and
           ("bpfbridge" in line or ROOT in line)]
    assert not dup, dup
    assert metric_index(client, "syscalls_total") is not None
    assert d.stop() == 0
    assert_progs_gone(progs)


def test_dlmod_bad_token_is_reported(stack):
    """A bad bpfbridge* value in snmpd.conf is logged with its line; snmpd keeps running."""
    extra = dlmod_lines(stack.build_dir, stack.config_dir) + ["bpfbridgeCacheTimeout soon"]
    d = stack.start_snmpd(master_agentx=False, extra=extra)
    wait_registered(Client(stack), daemons=(d,))
    assert re.search(r"line \d+: Error: bpfbridgeCacheTimeout: expected a whole number of "
                     r'seconds from 0 to 86400, got "soon"', d.log()), d.log()


def test_dlmod_reloads_under_valgrind(stack):
    """snmpd under valgrind: two SIGHUP reloads (unload, dlclose, load) with walks in
    between leave no invalid access anywhere and no leak in bpfbridge.so."""
    require(shutil.which("valgrind") is not None, "valgrind missing (apt-get install valgrind)")
    so = os.path.realpath(dlmod_path(stack.build_dir))
    xml = os.path.join(stack.dir, "snmpd-valgrind.xml")
    extra = dlmod_lines(stack.build_dir, stack.config_dir)
    extra[-1] = "bpfbridgeCacheTimeout 0"  # every request loads a snapshot
    stack.start_snmpd(master_agentx=False, extra=extra,
                      wrapper=["valgrind", "--xml=yes", "--xml-file=" + xml, "--leak-check=full",
                               "--keep-debuginfo=yes"])
    d = stack.snmpd
    client = Client(stack)
    wait_registered(client, timeout=valgrind_wait(30), daemons=(d,))
    for reload in (1, 2):
        assert len(client.walk(ROOT, reps=40)) > 100
        d.proc.send_signal(signal.SIGHUP)
        wait_reloaded(d, reload, timeout=valgrind_wait(20))
        wait_registered(client, timeout=valgrind_wait(30), daemons=(d,))
    assert len(client.walk(ROOT, reps=40)) > 100
    assert d.stop(timeout=valgrind_wait(15)) == 0
    problems = valgrind_errors_in(xml, so, invalid_anywhere=True)
    assert not problems, problems


# ---- the virtual bucket table against the materialized one --------------------------------

HIST_NAMES = ("snmp_hist_a_seconds", "snmp_hist_b_seconds")
HIST_MULT = 0.000001


def random_hist_shape(rng):
    """For each histogram: bucket_min, bucket_max (bounds up to 2^40 raw, past an
    Integer32) and {series id: {bucket key: count}}, some with no series at all."""
    shape = []
    for _ in HIST_NAMES:
        lo = rng.randrange(0, 4)
        hi = lo + rng.randrange(0, 38)
        n = rng.choice((0, 1, rng.randrange(2, 30)))
        ids = rng.sample(range(0, 5000), n)
        series = {}
        for i in ids:
            keys = rng.sample(range(lo, hi + 1), rng.randrange(1, min(6, hi - lo + 1) + 1))
            series[i] = {k: rng.randrange(1, 1000) for k in keys}
        shape.append((lo, hi, series))
    return shape


def hist_yaml(shape):
    lines = ["# written by tests/integration/test_snmp.py", "metrics:", "  histograms:"]
    for name, (lo, hi, _) in zip(HIST_NAMES, shape):
        lines += ["    - name: %s" % name,
                  "      help: random shape",
                  "      bucket_type: exp2",
                  "      bucket_min: %d" % lo,
                  "      bucket_max: %d" % hi,
                  "      bucket_multiplier: %g" % HIST_MULT,
                  "      labels:",
                  "        - name: id",
                  "          size: 4",
                  "          padding: 4",
                  "          decoders:",
                  "            - name: uint",
                  "        - name: bucket",
                  "          size: 8",
                  "          decoders:",
                  "            - name: uint"]
    return "\n".join(lines) + "\n"


def held_map_ids(pid):
    ids = set()
    for fdinfo in glob.glob("/proc/%d/fdinfo/*" % pid):
        try:
            with open(fdinfo) as f:
                for line in f:
                    if line.startswith("map_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def fill_hist_maps(pid, shape, workdir):
    """Write SHAPE into the maps that process PID holds, with one bpftool batch."""
    by_name = {}
    for map_id in held_map_ids(pid):
        out = subprocess.run(["bpftool", "-j", "map", "show", "id", str(map_id)],
                             capture_output=True, text=True)
        if out.returncode == 0:
            by_name[json.loads(out.stdout).get("name")] = map_id
    cmds = []
    for name, (lo, hi, series) in zip(HIST_NAMES, shape):
        map_id = by_name.get(name[:15])  # the kernel keeps 15 characters of a map name
        assert map_id is not None, "map %s not held by %d: %s" % (name, pid, by_name)
        for sid, buckets in series.items():
            total = 0
            for key, count in list(buckets.items()) + [(hi + 1, None)]:
                value = count if count is not None else sum(
                    c * (2 ** k) for k, c in buckets.items())
                key_bytes = struct.pack("<IIQ", sid, 0, key)
                cmds.append("map update id %d key hex %s value hex %s" % (
                    map_id, " ".join("%02x" % b for b in key_bytes),
                    " ".join("%02x" % b for b in struct.pack("<Q", value))))
                total += 1
    batch = os.path.join(workdir, "fill.batch")
    with open(batch, "w") as f:
        f.write("\n".join(cmds) + "\n")
    if cmds:
        subprocess.run(["bpftool", "batch", "file", batch], check=True, capture_output=True)


def oid_key(oid):
    return tuple(int(x) for x in oid.strip(".").split("."))


def bucket_oracle(client, shape):
    """Every instance the materialized bucket table had, from SHAPE alone, plus the
    series indexes the agent gave: {oid tuple: value}."""
    want = {}
    for name, (lo, hi, series) in zip(HIST_NAMES, shape):
        m = metric_index(client, name)
        assert m, name
        labels = {v: int(o.rsplit(".", 1)[1])
                  for o, v in client.walk("%s.%d" % (SERIES_LABELS, m))}
        assert sorted(labels) == sorted('id="%d"' % i for i in series), (name, labels)
        n = hi - lo + 1
        for sid, buckets in series.items():
            s = labels['id="%d"' % sid]
            cum = 0
            for b in range(1, n + 2):
                key = lo + b - 1
                inst = lambda column: oid_key("%s.%d.%d.%d" % (col(BUCKETS, column), m, s, b))
                if b <= n:
                    cum += buckets.get(key, 0)
                    want[inst(2)] = ("bound", 2 ** key * HIST_MULT)
                    if 2 ** key <= 2 ** 31 - 1:
                        want[inst(3)] = 2 ** key
                    want[inst(4)] = cum
                else:
                    want[inst(2)] = "+Inf"
                    want[inst(4)] = cum
    return want


def same_value(got, want):
    if isinstance(want, tuple):  # a bound: the text of a double
        return isinstance(got, str) and abs(float(got) - want[1]) <= 1e-12 * want[1]
    return got == want


def check_walk(rows, oracle, what):
    keys = [oid_key(o) for o, _ in rows]
    assert keys == sorted(oracle), "%s: %d OIDs, want %d; first difference at %s" % (
        what, len(keys), len(oracle),
        next((i for i, (a, b) in enumerate(zip(keys, sorted(oracle))) if a != b), None))
    for (o, v), k in zip(rows, keys):
        assert same_value(v, oracle[k]), (what, o, v, oracle[k])


def getnext_probes(rng, oracle):
    """OIDs in, between, before and after the instances, and cut short."""
    table = oid_key(col(BUCKETS, 0))[:-1]  # ROOT.1.4.1
    keys = sorted(oracle)
    probes = [table[:-1], table, table[:-1] + (0,), table[:-1] + (2,),
              oid_key(col(SERIES, 99)), table + (1,), table + (5,), table + (2, 0),
              table + (4, 2 ** 32 - 1)]
    for _ in range(150):
        if keys and rng.random() < 0.6:
            k = list(rng.choice(keys))
            r = rng.random()
            if r < 0.25:
                k = k[:rng.randrange(len(table) + 1, len(k))]
            elif r < 0.5:
                k[-1] += rng.choice((-1, 1))
            elif r < 0.75:
                k += [rng.choice((0, 1, 7, 2 ** 32 - 1))]
            probes.append(tuple(k))
        else:
            k = table + (rng.randrange(0, 7),) + tuple(
                rng.choice((0, 1, 2, 3, 40, 2 ** 32 - 1, rng.randrange(0, 5000)))
                for _ in range(rng.randrange(0, 5)))
            probes.append(k)
    return probes


def check_getnext_probes(client, oracle, probes):
    keys = sorted(oracle)
    for i in range(0, len(probes), 20):
        chunk = probes[i:i + 20]
        rows, _ = client.run("snmpgetnext", *("." + ".".join(map(str, p)) for p in chunk))
        assert len(rows) == len(chunk), (chunk, rows)
        for p, (o, v) in zip(chunk, rows):
            nxt = next((k for k in keys if k > p), None)
            got = oid_key(o)
            if nxt is None:
                # after the last instance: the end of the view (answered with the
                # request's OID), or something past the table
                table = oid_key(col(BUCKETS, 0))[:-1]
                assert ((isinstance(v, str) and v.startswith(END_OF_VIEW)) or
                        (got > p and got[:len(table)] != table)), (p, o, v)
            else:
                assert got == nxt, ("GETNEXT from %s" % (p,), o, nxt)
                assert same_value(v, oracle[nxt]), (p, o, v, oracle[nxt])


@pytest.fixture(scope="module")
def hist_object(tmp_path_factory, build_dir):
    objs = build_test_objects(str(tmp_path_factory.mktemp("snmphist-obj")))
    return objs["bbsnmphist"]


@pytest.mark.parametrize("mode", ["dlmod", "subagent"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_virtual_bucket_table_walk_equivalence(tmp_path, snmp_tools, hist_object, mode, seed):
    """For random shapes of series and bucket counts, through a real snmpd: snmpbulkwalk
    and a GETNEXT walk (snmpwalk) of the bucket table return exactly the OIDs and values
    the materialized table had, in strict order; so does GETNEXT from OIDs between,
    before and after the instances and from cut-short OIDs."""
    rng = random.Random(seed)
    shape = random_hist_shape(rng)
    cfg = str(tmp_path / "cfg")
    make_config(cfg, "snmphist", hist_yaml(shape), hist_object)
    s = Stack(tmp_path / "stack", snmp_tools, cfg)
    try:
        if mode == "dlmod":
            d = s.start_snmpd(master_agentx=False, extra=[
                "dlmod bpfbridge %s" % dlmod_path(snmp_tools), "bpfbridgeConfigDir %s" % cfg,
                "bpfbridgeConfig snmphist", "bpfbridgeCacheTimeout %d" % CACHE_TIMEOUT])
            holder = d
        else:
            s.start_snmpd()
            holder = s.start_subagent(configs="snmphist")
        client = Client(s)
        wait_registered(client, daemons=tuple(s.daemons))
        fill_hist_maps(holder.pid, shape, s.dir)
        n_series = sum(len(series) for _, _, series in shape)

        def all_there():
            rows = [o for o, _ in client.walk(SERIES_COUNT)]
            return len(rows) >= n_series

        wait_for(all_there, timeout=15, what="%d histogram series" % n_series)
        oracle = bucket_oracle(client, shape)
        bucket_table = "%s.1.%d" % (ROOT, BUCKETS)
        check_walk(client.walk(bucket_table, reps=10), oracle, "snmpbulkwalk -Cr10")
        check_walk(client.walk(bucket_table, reps=rng.randrange(1, 60)), oracle, "snmpbulkwalk")
        rows, _ = client.run("snmpwalk", bucket_table)
        check_walk([(o, v) for o, v in rows if o.startswith(bucket_table + ".") and
                    not (isinstance(v, str) and v.startswith(END_OF_VIEW))], oracle,
                   "snmpwalk (GETNEXT)")
        check_getnext_probes(client, oracle, getnext_probes(rng, oracle))
    finally:
        s.stop_all()


# ---- percentiles for an NMS -------------------------------------------------------------------

SERIES_IV_COUNT, SERIES_P50, SERIES_P90, SERIES_P99 = (col(SERIES, c) for c in (8, 9, 10, 11))
SERIES_P50_SCALED, SERIES_P99_SCALED = col(SERIES, 12), col(SERIES, 14)


def test_percentiles_match_interval_bucket_deltas(any_stack):
    """Under a steady O_DIRECT write load, every read changes the write series, so polling
    much faster than the read interval sees each read. For two consecutive reads, the
    interval count is the difference of the counts, and p50 and p99 (raw and scaled) fall
    inside the bucket that Prometheus' rule picks from the differences of the buckets."""
    directory, disks = root_disk_dir()
    require(directory is not None, "no writable directory on a block device")
    client = Client(any_stack)
    path = prepare_direct_write_file(directory, 64)
    stop = threading.Event()

    def load():
        while not stop.is_set():
            direct_writes(path, 64)
            time.sleep(0.005)

    writer = threading.Thread(target=load)
    writer.start()
    try:
        m = wait_for(lambda: metric_index(client, "bio_latency_seconds"), what="biolatency")

        def write_series():
            for oid, labels in client.walk("%s.%d" % (SERIES_LABELS, m)):
                if labels in ['device="%s",operation="write"' % d for d in disks]:
                    return int(oid.rsplit(".", 1)[1])
            return None

        s = wait_for(write_series, timeout=15, what="a write series")
        n = client.get("%s.%d" % (METRIC_BUCKETS, m))["%s.%d" % (METRIC_BUCKETS, m)]
        bounds = [v for _, v in client.walk("%s.%d.%d" % (BUCKET_RAW, m, s))]
        assert len(bounds) == n - 1
        cols = [SERIES_COUNT, SERIES_IV_COUNT, SERIES_P50, SERIES_P90, SERIES_P99,
                SERIES_P50_SCALED, SERIES_P99_SCALED]
        oids = ["%s.%d.%d" % (c, m, s) for c in cols] + [
            "%s.%d.%d.%d" % (BUCKET_COUNT, m, s, b) for b in range(1, n + 1)]

        def view():  # one PDU: one set of rows
            values = client.get(*oids)
            return [values[o] for o in oids]

        checked = skipped = 0
        prev = view()
        deadline = time.monotonic() + 60
        while checked < 3 and time.monotonic() < deadline:
            cur = view()
            if cur[0] == prev[0]:
                time.sleep(0.05)
                continue
            count, iv_count, p50, p90, p99, p50s, p99s = cur[:7]
            deltas = [c - p for c, p in zip(cur[7:], prev[7:])]
            if prev[1] in NO_SUCH or isinstance(prev[1], str):
                prev = cur  # the series' first interval: nothing to compare yet
                continue
            assert count - prev[0] == deltas[-1] > 0, (prev, cur)
            if iv_count != deltas[-1]:
                # A read we did not see (a poll delayed past a whole interval on a
                # loaded machine): not two consecutive reads, so nothing to compare.
                skipped += 1
                prev = cur
                continue
            for q, raw, scaled in ((0.5, p50, p50s), (0.99, p99, p99s)):
                rank = q * deltas[-1]
                b = next((i for i, c in enumerate(deltas[:-1]) if c >= rank), None)
                if b is None:  # in +Inf: the highest finite bound
                    lo = hi = bounds[-1]
                else:
                    lo, hi = (bounds[b - 1] if b else 0), bounds[b]
                assert lo - 0.5 <= raw <= hi + 0.5, (q, raw, lo, hi, deltas)
                mult = 1e-6  # biolatency's bucket_multiplier
                assert lo * mult * (1 - 1e-9) <= float(scaled) <= hi * mult * (1 + 1e-9), (
                    q, scaled, lo, hi)
            assert p50 <= p90 <= p99
            checked += 1
            prev = cur
        assert checked == 3, "saw %d consecutive reads with writes in 60 s (%d pairs were " \
            "not consecutive)" % (checked, skipped)

        # An NMS view: snmptable with the MIB loaded names and renders the columns.
        r = subprocess.run(
            ["snmptable", "-v2c", "-c", COMMUNITY, "-m", "+BPFBRIDGE-MIB",
             "-M", "+%s/mibs:%s" % (MIB_DIR, MIB_DIR), "-Cf", "|", "-Cl",
             "127.0.0.1:%d" % any_stack.port, "BPFBRIDGE-MIB::bpfbridgeSeriesTable"],
            capture_output=True, text=True, env=any_stack.env, timeout=120)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        header = next(l for l in lines if l.startswith("bpfbridgeSeriesLabels"))
        names = header.split("|")
        for name in ("bpfbridgeSeriesIntervalCount", "bpfbridgeSeriesP50", "bpfbridgeSeriesP99",
                     "bpfbridgeSeriesP50Scaled", "bpfbridgeSeriesP99Scaled"):
            assert name in names, header
        row = next(l.split("|") for l in lines
                   if any(l.startswith('device="%s",operation="write"' % d) for d in disks))
        cell = dict(zip(names, row))
        # snmptable appends the MIB's UNITS clause
        assert re.fullmatch(r"[0-9]+ raw units", cell["bpfbridgeSeriesP99"]), cell
        assert float(cell["bpfbridgeSeriesP99Scaled"]) > 0, cell
    finally:
        stop.set()
        writer.join()
        os.unlink(path)
