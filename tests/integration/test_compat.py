"""ebpf_exporter configs and objects on the real kernel: counters without
labels, regexp capture groups, per-CPU maps with only a cpu label, xdp/IFNAME
sections (on a veth pair in network namespaces the test makes), the
post_attach_mark uprobe, perf_event_array counters, and the exact texts of
the diagnostics ebpf_exporter users meet first."""
import ctypes
import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import require, run_marker
from engine_helpers import (Dump, build_test_objects, family, find_clang, make_config, run_cli,
                            value)

N_MARKERS = 41

COMPAT_YAML = """
metrics:
  counters:
    - name: nolabel_total
      help: Marker calls, a counter without labels
    - name: cpu_only_total
      help: Marker calls per CPU, the only label is cpu
      labels:
        - name: cpu
          size: 4
          decoders:
            - name: uint
    - name: comm_total
      help: Marker calls by comm, folded by a capture group
      labels:
        - name: comm
          size: 16
          decoders:
            - name: string
            - name: regexp
              regexps:
                - ^(bbcap)[0-9]+$
                - ^bbkeep$
    - name: perf_marker_total
      help: Marker calls as perf events
      perf_event_array: true
      flush_interval: 1h
      labels:
        - name: syscall
          size: 4
          decoders:
            - name: uint
            - name: syscall
    - name: post_attach_calls_total
      help: Calls of the post_attach_mark uprobe
"""

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME = 15


@pytest.fixture(scope="module")
def objs(tmp_path_factory, build_dir):
    return build_test_objects(str(tmp_path_factory.mktemp("bpfobj")))


@pytest.fixture
def compat(tmp_path, objs):
    return make_config(str(tmp_path / "cfg"), "bbcompat", COMPAT_YAML, objs["bbcompat"])


def markers_as(comm, n):
    """Make N marker calls from this thread while its comm is COMM."""
    with open("/proc/self/task/%d/comm" % threading.get_native_id()) as f:
        old = f.read().rstrip("\n")
    assert _libc.prctl(PR_SET_NAME, comm.encode(), 0, 0, 0) == 0
    try:
        run_marker(n)
    finally:
        _libc.prctl(PR_SET_NAME, old.encode(), 0, 0, 0)


def compat_snapshot(cli, compat, tmp_path, action):
    d = Dump(cli, [compat], tmp_path, interval=1.5).wait_ready()
    action()
    return d.snapshot()


def test_counter_without_labels_reads_key_zero(cli, compat, tmp_path):
    snap = compat_snapshot(cli, compat, tmp_path, lambda: run_marker(N_MARKERS))
    fam = family(snap, "nolabel_total")
    assert fam["labels"] == []
    # key 1 holds 1000 per call: only key 0 is the counter
    assert [s["value"] for s in fam["series"]] == [N_MARKERS]


def test_percpu_map_with_only_a_cpu_label(cli, compat, tmp_path):
    snap = compat_snapshot(cli, compat, tmp_path, lambda: run_marker(N_MARKERS))
    fam = family(snap, "cpu_only_total")
    assert fam["labels"] == ["cpu"]
    cpus = {int(s["labels"]["cpu"]): s["value"] for s in fam["series"]}
    assert sorted(cpus) == list(range(len(cpus))) and len(cpus) >= os.cpu_count()
    assert sum(cpus.values()) == N_MARKERS


def test_regexp_capture_group_folds_names(cli, compat, tmp_path):
    def act():
        markers_as("bbcap7", 5)
        markers_as("bbcap42", 6)
        markers_as("bbkeep", 3)   # matches the expression without a group: unchanged
        markers_as("bbdrop1", 9)  # matches nothing: dropped
    snap = compat_snapshot(cli, compat, tmp_path, act)
    got = {s["labels"]["comm"]: s["value"] for s in family(snap, "comm_total")["series"]}
    assert got == {"bbcap": 11, "bbkeep": 3}


def test_perf_event_array_counter_counts_every_event(cli, compat, tmp_path):
    snap = compat_snapshot(cli, compat, tmp_path, lambda: run_marker(N_MARKERS))
    assert family(snap, "perf_marker_total")["labels"] == ["syscall"]
    assert value(snap, "perf_marker_total", syscall="ioprio_get") == N_MARKERS


def test_perf_event_array_counter_restarts_at_flush_interval(cli, objs, tmp_path):
    """Flushes come every 2 s from just before `ready`; the read comes at 3.3 s.
    Calls at once are flushed at ~2 s, the three at 2.5 s are what it reads."""
    yaml = COMPAT_YAML.replace("flush_interval: 1h", "flush_interval: 2s")
    path = make_config(str(tmp_path / "cfg"), "bbcompat", yaml, objs["bbcompat"])
    d = Dump(cli, [path], tmp_path, interval=3.3).wait_ready()
    ready_at = time.monotonic()
    run_marker(N_MARKERS)
    time.sleep(max(0.0, ready_at + 2.5 - time.monotonic()))
    run_marker(3)
    snap = d.snapshot()
    assert value(snap, "perf_marker_total", syscall="ioprio_get") == 3
    assert value(snap, "nolabel_total") == N_MARKERS + 3


def test_post_attach_mark_runs_once_after_attach(cli, compat, tmp_path):
    snap = compat_snapshot(cli, compat, tmp_path, lambda: run_marker(2))
    assert value(snap, "post_attach_calls_total") == 1
    attached = {s["labels"]["program"]: s["value"]
                for s in family(snap, "bpfbridge_program_attached")["series"]}
    assert attached == {"compat_marker": 1, "compat_init": 1}


def test_post_attach_mark_once_per_config_when_two_load(cli, objs, tmp_path):
    """The second config's post_attach_mark() call must not run the first's again."""
    a = make_config(str(tmp_path / "a"), "bbcompat", COMPAT_YAML, objs["bbcompat"])
    b = make_config(str(tmp_path / "b"), "bbmark", "metrics:\n  counters:\n    - name: "
                    "mark_calls_total\n      help: post_attach_mark calls\n", objs["bbmark"])
    snap = Dump(cli, [a, b], tmp_path, interval=0.5).wait_ready().snapshot()
    assert value(snap, "post_attach_calls_total") == 1
    assert value(snap, "mark_calls_total") == 1


# ---- xdp/IFNAME ----------------------------------------------------------------

XDP_YAML = """
metrics:
  counters:
    - name: xdp_udp_packets_total
      help: UDP packets to port 9999 seen by XDP on bbxdp0
"""

N_PACKETS = 23


def netns(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def veth_pair():
    """bbxdp0 (10.99.0.1) in one new namespace, its peer (10.99.0.2) in another."""
    require(shutil.which("ip") is not None, "iproute2 (ip) is needed for the XDP test")
    tag = "%d" % os.getpid()
    here, there = "bbxdp-a-" + tag, "bbxdp-b-" + tag
    made = []
    try:
        for ns in (here, there):
            netns("netns", "add", ns)
            made.append(ns)
        netns("-n", here, "link", "add", "bbxdp0", "type", "veth", "peer", "name", "bbxdp1",
              "netns", there)
        netns("-n", here, "addr", "add", "10.99.0.1/24", "dev", "bbxdp0")
        netns("-n", there, "addr", "add", "10.99.0.2/24", "dev", "bbxdp1")
        for ns, dev in ((here, "bbxdp0"), (there, "bbxdp1")):
            netns("-n", ns, "link", "set", "lo", "up")
            netns("-n", ns, "link", "set", dev, "up")
        yield here, there
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


SEND_UDP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.99.0.2", 0))
for i in range(int(sys.argv[1])):
    s.sendto(b"x" * 32, ("10.99.0.1", 9999))
"""


def test_xdp_section_attaches_to_the_named_interface(cli, objs, tmp_path, veth_pair):
    here, there = veth_pair
    path = make_config(str(tmp_path / "cfg"), "bbxdp", XDP_YAML, objs["bbxdp"])
    ready = str(tmp_path / "ready")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", here, cli, "dump", "--interval", "2", "--format", "json",
         "--ready-file", ready, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(ready):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "bpfbridge dump did not attach in 30 s"
        time.sleep(0.05)
    subprocess.run(["ip", "netns", "exec", there, "/usr/bin/python3", "-c", SEND_UDP,
                    str(N_PACKETS)], check=True)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    snap = json.loads(out)
    assert value(snap, "xdp_udp_packets_total") == N_PACKETS
    attached = {s["labels"]["program"]: s["value"]
                for s in family(snap, "bpfbridge_program_attached")["series"]}
    assert attached == {"xdp_count": 1}


def test_xdp_section_without_its_interface_says_so(cli, objs, tmp_path):
    path = make_config(str(tmp_path / "cfg"), "bbxdp", XDP_YAML, objs["bbxdp"])
    r = run_cli(cli, "check", path)
    assert r.returncode == 0, r.stderr
    assert ("xdp bbxdp0: no network interface bbxdp0 in this network namespace (ENODEV)"
            in r.stdout), r.stdout


# ---- diagnostics --------------------------------------------------------------


def kprobes_supported():
    return os.path.exists("/sys/bus/event_source/devices/kprobe/type")


def test_plain_kprobe_on_a_kernel_without_kprobes(cli, objs, tmp_path):
    yaml = """
metrics:
  counters:
    - name: nanosleep_calls_total
      help: do_nanosleep calls
"""
    path = make_config(str(tmp_path / "cfg"), "bbkprobe", yaml, objs["bbkprobe"])
    r = run_cli(cli, "check", path)
    if kprobes_supported():
        # the kernel has them: the same program simply attaches
        assert r.returncode == 0 and "attached" in r.stdout, (r.stdout, r.stderr)
        return
    assert r.returncode == 0, r.stderr
    assert "kprobe do_nanosleep: kprobes not supported by this kernel (ENOTSUP)" in r.stdout, \
        r.stdout
    assert "ENOENT" not in r.stdout
    r = run_cli(cli, "check", "--strict", path)
    assert r.returncode == 1
    assert r.stderr.strip().endswith(
        "strict: program kprobe_nanosleep (kprobe/do_nanosleep) did not attach: kprobe "
        "do_nanosleep: kprobes not supported by this kernel (ENOTSUP)"), r.stderr


EXTERN_SRC = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
extern u32 bb_plain_extern;  /* no .ksyms/.kconfig section: how older clang wrote externs */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} ext_total SEC(".maps");
SEC("raw_tp/sys_enter")
int ext(void *ctx)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&ext_total, &zero);
	if (v)
		*v += bb_plain_extern;
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_unresolved_extern_names_the_extern(cli, build_dir, tmp_path):
    clang = find_clang()
    require(clang is not None, "clang is needed to build the test BPF objects")
    src = tmp_path / "ext.bpf.c"
    src.write_text(EXTERN_SRC)
    obj = str(tmp_path / "ext.bpf.o")
    subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I",
                    os.path.join(build_dir, "bpf"), "-c", str(src), "-o", obj], check=True)
    path = make_config(str(tmp_path / "cfg"), "ext", "metrics:\n  counters:\n    - name: "
                       "ext_total\n      help: h\n", obj)
    r = run_cli(cli, "check", path)
    assert r.returncode == 1
    objpath = path[:-len(".yaml")] + ".bpf.o"
    assert re.fullmatch(
        r"bpfbridge check: " + re.escape(objpath) + r": cannot open BPF object: failed to find "
        r"BTF for extern 'bb_plain_extern' \[\d+\] section: -2 \(No such file or directory\)\n",
        r.stderr), r.stderr


def test_check_libbpf_debug_prints_libbpf_messages(cli, compat):
    r = run_cli(cli, "check", "--libbpf-debug", compat)
    assert r.returncode == 0, r.stderr
    assert "libbpf: loading object 'bbcompat' from buffer" in r.stderr, r.stderr[-2000:]
    quiet = run_cli(cli, "check", compat)
    assert "libbpf:" not in quiet.stderr


def test_tracing_only_config_says_spans_are_unsupported(cli, tmp_path):
    path = make_config(str(tmp_path / "cfg"), "exec", "tracing:\n  spans: []\n", None)
    r = run_cli(cli, "check", path)
    assert r.returncode == 1
    assert r.stderr == (
        "bpfbridge check: %s:1:1: tracing: expected key \"metrics\", got a tracing-only config "
        "(tracing spans are not supported by bpfbridge, which exports metrics only; run this "
        "config under ebpf_exporter, or add metrics to it)\n" % path), r.stderr


def test_counter_without_labels_needs_a_u32_key(cli, objs, tmp_path):
    yaml = """
metrics:
  counters:
    - name: comm_total
      help: a hash keyed by 16 bytes, read without labels
"""
    path = make_config(str(tmp_path / "cfg"), "bbcompat", yaml, objs["bbcompat"])
    r = run_cli(cli, "check", path)
    assert r.returncode == 1
    assert (":4:7: metric comm_total: it has no labels, so it reads u32 key 0 as ebpf_exporter "
            "does, but map comm_total has 16-byte keys") in r.stderr, r.stderr
