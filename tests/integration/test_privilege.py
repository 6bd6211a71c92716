"""Least privilege, measured: as uid 65534 holding exactly the capabilities
docs/containers.md lists for an attach type, the program attaches; with any
one of them dropped it does not, and the message names the capability that
is missing. Then the CLI, the AgentX subagent (through snmpwalk) and collectd
count the marker exactly as uid 65534 with CAP_BPF and CAP_PERFMON only, and
name CAP_PERFMON when it is taken away."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import MARKER_SYSCALL_NAME, run_marker, wait_for
from engine_helpers import build_test_objects, copy_for_nobody, make_config, parse_check_table

NOBODY = 65534
N = 41

# docs/containers.md, "Capabilities": measured on Linux 6.18 with
# kernel.perf_event_paranoid=2, kernel.kptr_restrict=0, tracefs mode 0700.
COUNTER = """
    - name: {name}
      help: x
      labels:
        - name: k
          size: {size}
          decoders:
            - name: uint
"""
CASES = {
    # name: (object, config text, program that must attach, capabilities)
    "tp_btf": ("syscalls", None, "tp_btf_sys_exit", ["bpf", "perfmon"]),
    "raw_tp": ("bbtest", "metrics:\n  counters:\n" + COUNTER.format(name="marker_calls_total",
                                                                   size=4)
               + "hooks:\n  - name: sys_enter\n    alternatives:\n      - raw_tp_marker\n",
               "raw_tp_marker", ["bpf", "perfmon"]),
    "tracepoint": ("bbtp", "metrics:\n  counters:\n"
                   + COUNTER.format(name="tp_marker_calls_total", size=4),
                   "tracepoint_marker", ["bpf", "perfmon", "dac_read_search"]),
    "perf_event": ("bbperf", "metrics:\n  counters:\n"
                   + COUNTER.format(name="cpu_clock_samples_total", size=4)
                   + "        - name: cpu\n          size: 4\n          decoders:\n"
                     "            - name: uint\n",
                   "cpu_clock_sample", ["bpf", "perfmon"]),
    "uprobe": ("bbuprobe", "metrics:\n  counters:\n"
               + COUNTER.format(name="getpid_calls_total", size=4)
               + "hooks:\n  - name: getpid\n    alternatives:\n      - uprobe_getpid\n",
               "uprobe_getpid", ["sys_admin"]),
    "kaddrs": ("bbtest", "metrics:\n  counters:\n"
               + COUNTER.format(name="marker_calls_total", size=4)
               + "kaddrs:\n  - schedule\n"
               + "hooks:\n  - name: sys_enter\n    alternatives:\n      - raw_tp_marker\n",
               "raw_tp_marker", ["bpf", "perfmon", "syslog"]),
    "cgroup_id_map hash": ("bbcgidmap", "metrics:\n  counters:\n"
                           + COUNTER.format(name="marker_hash_matched_total", size=8)
                           + "cgroup_id_map:\n  name: cgroup_id_map\n  type: hash\n"
                             "  regexps:\n    - ^/$\n",
                           "marker_by_cgroup", ["bpf", "perfmon"]),
    "cgroup_id_map cgrp_storage": ("bbcgidmap", "metrics:\n  counters:\n"
                                   + COUNTER.format(name="marker_storage_matched_total", size=8)
                                   + "cgroup_id_map:\n  name: cgroup_storage\n"
                                     "  type: cgrp_storage\n  regexps:\n    - ^/$\n",
                                   "marker_by_cgroup", ["bpf", "perfmon"]),
}
# uprobe's one-fewer case: the set people would try first
UPROBE_WITHOUT_SYS_ADMIN = ["bpf", "perfmon"]


def as_nobody(caps):
    spec = "-all" + "".join(",+" + c for c in caps)
    return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
            "--inh-caps=" + spec, "--ambient-caps=" + spec, "--"]


def cap_name(c):
    return "CAP_" + c.upper()


@pytest.fixture(scope="module")
def shared_dir():
    """A 0755 directory uid 65534 can traverse (pytest's tmp_path is 0700)."""
    d = tempfile.mkdtemp(prefix="bbpriv.", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


@pytest.fixture(scope="module")
def nobody(shared_dir, build_dir):
    """(cli, build dir, config dir) that uid 65534 can reach."""
    d = os.path.join(shared_dir, "copies")
    os.makedirs(d)
    return copy_for_nobody(build_dir, os.path.join(build_dir, "bpf"), d)


@pytest.fixture(scope="module")
def cli(nobody):
    return nobody[0]


@pytest.fixture(scope="module")
def config_dir(nobody):
    return nobody[2]


@pytest.fixture(scope="module")
def objs(shared_dir, build_dir):
    d = os.path.join(shared_dir, "obj")
    os.makedirs(d)
    return build_test_objects(d)


def case_config(name, objs, config_dir, shared_dir):
    obj, text, _, _ = CASES[name]
    if text is None:
        return os.path.join(config_dir, obj + ".yaml")
    d = os.path.join(shared_dir, "cfg-" + name.replace(" ", "-"))
    return make_config(d, obj, text, objs[obj])


def check_as(cli, caps, yaml):
    return subprocess.run(as_nobody(caps) + [cli, "check", yaml], capture_output=True,
                          text=True, timeout=60)


def status(r, program):
    if not r.stdout.strip():
        return None
    rows = {row["PROGRAM"]: row for row in parse_check_table(r.stdout)}
    return rows[program]["STATUS"]


@pytest.mark.parametrize("name", CASES)
def test_the_documented_capabilities_are_enough(cli, objs, config_dir, shared_dir, name):
    yaml = case_config(name, objs, config_dir, shared_dir)
    _, _, program, caps = CASES[name]
    r = check_as(cli, caps, yaml)
    assert r.returncode == 0, r.stderr
    assert status(r, program) == "attached", r.stdout + r.stderr


@pytest.mark.parametrize("name", CASES)
def test_one_capability_fewer_is_named(cli, objs, config_dir, shared_dir, name):
    yaml = case_config(name, objs, config_dir, shared_dir)
    _, _, program, caps = CASES[name]
    trials = [(c, [k for k in caps if k != c]) for c in caps]
    if name == "uprobe":
        trials = [("sys_admin", UPROBE_WITHOUT_SYS_ADMIN)]
    for dropped, fewer in trials:
        r = check_as(cli, fewer, yaml)
        assert status(r, program) != "attached", (dropped, r.stdout)
        assert "this process lacks %s)" % cap_name(dropped) in r.stdout + r.stderr, \
            (dropped, r.stdout + r.stderr)


# ---- the front-ends, as uid 65534 with CAP_BPF and CAP_PERFMON ----------------------------

FRONTEND_CAPS = ["bpf", "perfmon"]


def nobody_dir(shared_dir, name):
    d = os.path.join(shared_dir, name)
    os.makedirs(d)
    os.chown(d, NOBODY, NOBODY)
    return d


def test_cli_counts_the_marker_exactly(cli, config_dir, shared_dir):
    work = nobody_dir(shared_dir, "cli")
    ready = os.path.join(work, "ready")
    proc = subprocess.Popen(as_nobody(FRONTEND_CAPS) + [
        cli, "dump", "--interval", "2", "--format", "json", "--ready-file", ready,
        "--config-dir", config_dir, "syscalls"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    wait_for(lambda: os.path.exists(ready) or proc.poll() is not None, timeout=30,
             what="bpfbridge dump as uid 65534")
    run_marker(N)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    snap = json.loads(out)
    fam = [f for f in snap["families"] if f["name"] == "syscalls_total"][0]
    got = [s["value"] for s in fam["series"] if s["labels"]["syscall"] == MARKER_SYSCALL_NAME]
    assert got == [N]


def test_cli_without_perfmon_names_it(cli, config_dir):
    r = check_as(cli, ["bpf"], os.path.join(config_dir, "syscalls.yaml"))
    assert "tp_btf sys_exit: EPERM (Operation not permitted) (needs CAP_BPF and CAP_PERFMON; " \
        "this process lacks CAP_PERFMON)" in r.stdout, r.stdout
    r = check_as(cli, ["perfmon"], os.path.join(config_dir, "syscalls.yaml"))
    assert r.returncode == 1
    assert "loading failed: Operation not permitted (needs CAP_BPF and CAP_PERFMON; this " \
        "process lacks CAP_BPF)" in r.stderr, r.stderr


@pytest.mark.parametrize("caps", [FRONTEND_CAPS, ["bpf"]], ids=["bpf+perfmon", "bpf-only"])
def test_collectd(build_dir, config_dir, shared_dir, caps):
    from test_collectd import MARKER_TI, CollectdRunner
    so = os.path.join(build_dir, "plugin-collectd", ".libs", "ebpf.so")
    work = nobody_dir(shared_dir, "collectd-" + "-".join(caps))
    c = CollectdRunner(work, so, '  ConfigDir "%s"\n  Config "syscalls"\n' % config_dir,
                       interval=1, wrapper=as_nobody(caps))
    c.start()
    try:
        assert open("/proc/%d/status" % c.proc.pid).read().count("Uid:\t%d" % NOBODY) == 1
        if caps == ["bpf"]:
            wait_for(lambda: "this process lacks CAP_PERFMON)" in c.log(), timeout=20,
                     what="collectd's log to name CAP_PERFMON")
            return
        wait_for(lambda: c.csv_instances("syscalls", "bpfbridge_program_attached"),
                 timeout=20, what="first read")
        base = c.csv_last("syscalls", "syscalls_total", MARKER_TI) or 0.0
        run_marker(N)
        wait_for(lambda: c.csv_last("syscalls", "syscalls_total", MARKER_TI) == base + N,
                 timeout=15, what="csv syscalls_total == %d" % (base + N))
    finally:
        c.stop()


@pytest.mark.parametrize("caps", [FRONTEND_CAPS, ["bpf"]], ids=["bpf+perfmon", "bpf-only"])
def test_subagent_with_snmpwalk(nobody, config_dir, shared_dir, caps):
    import test_snmp as ts
    work = nobody_dir(shared_dir, "snmp-" + "-".join(caps))
    os.chmod(work, 0o755)

    class NobodyStack(ts.Stack):
        def snmpd_conf(self, master_agentx, extra):
            # the socket must be reachable by the subagent's uid
            return super().snmpd_conf(master_agentx, extra).replace(
                "agentXPerms 0600 0700", "agentXPerms 0666 0755")

    s = NobodyStack(work, nobody[1], config_dir)
    os.chown(s.persist, NOBODY, NOBODY)
    log = os.path.join(work, "subagent.log")
    open(log, "w").close()
    os.chown(log, NOBODY, NOBODY)
    try:
        s.start_snmpd()
        s.start_subagent(configs="syscalls", wrapper=as_nobody(caps))
        if caps == ["bpf"]:
            wait_for(lambda: "this process lacks CAP_PERFMON)" in s.subagent.log(), timeout=20,
                     what="the subagent's log to name CAP_PERFMON")
            return
        client = ts.Client(s)
        ts.wait_registered(client, daemons=(s.snmpd, s.subagent))
        run_marker(1)
        m = wait_for(lambda: ts.metric_index(client, "syscalls_total"), what="syscalls_total")
        i = wait_for(lambda: ts.series_index(client, m, ts.MARKER_SERIES), what="marker series")
        oid = "%s.%d.%d" % (ts.SERIES_VALUE, m, i)

        def walked():
            rows, _ = client.run("snmpwalk", oid)
            return dict(rows)[oid]

        old = walked()
        run_marker(1)
        base = wait_for(lambda: walked() != old and walked(), what="a newer snapshot")
        run_marker(N)
        after = wait_for(lambda: walked() != base and walked(), what="the marker's snapshot")
        assert after - base == N
    finally:
        s.stop_all()
