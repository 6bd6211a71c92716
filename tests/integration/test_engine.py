"""The engine on the real kernel, driven through `bpfbridge check` and `dump`:
exact counts, block I/O latency, alternatives and load fallbacks, refusals of
bad configs and objects, cardinality limits, per-CPU maps, kaddrs, tracefs
mounting, and teardown (no program left behind, even after SIGKILL)."""
import ctypes
import json
import os
import re
import signal
import subprocess

import pytest

from conftest import run_marker, wait_for
from engine_helpers import (SELF_FAMILIES, Dump, assert_progs_gone, build_test_objects,
                            direct_writes, family, loaded_prog_ids, make_config,
                            parse_check_table, prepare_direct_write_file, root_disk_dir, run_cli,
                            uprobe_config, value)

N_MARKERS = 37


@pytest.fixture(scope="module")
def objs(tmp_path_factory, build_dir):
    return build_test_objects(str(tmp_path_factory.mktemp("bpfobj")))


BBTEST_METRICS = """
metrics:
  counters:
    - name: marker_calls_total
      help: Marker syscalls seen
      labels:
        - name: syscall
          size: 4
          decoders:
            - name: uint
            - name: syscall
    - name: marker_percpu_total
      help: Marker syscalls seen, per-CPU map summed
      labels:
        - name: syscall
          size: 4
          decoders:
            - name: uint
            - name: syscall
    - name: many_series_total
      help: Twenty series per marker, five allowed
      max_series: 5
      labels:
        - name: i
          size: 4
          decoders:
            - name: uint
    - name: kaddr_value_total
      help: The address the loader wrote into kaddr_schedule
      labels:
        - name: zero
          size: 4
          decoders:
            - name: uint
"""

BBTEST_HOOKS = """
hooks:
  - name: sys_enter
    alternatives:
      - tp_btf_broken
      - raw_tp_marker
  - name: ghost
    alternatives:
      - tp_missing
      - fentry_missing
"""


@pytest.fixture
def bbtest(tmp_path, objs):
    return make_config(str(tmp_path / "cfg"), "bbtest", BBTEST_METRICS + BBTEST_HOOKS,
                       objs["bbtest"])


def cfg(config_dir, name):
    return os.path.join(config_dir, name + ".yaml")


def attached(snap, config):
    fam = family(snap, "bpfbridge_program_attached")
    return {s["labels"]["program"]: s["value"] for s in fam["series"]
            if s["labels"]["config"] == config}


# ---- exact counts --------------------------------------------------------------


def test_syscalls_counts_the_marker_exactly(cli, config_dir, tmp_path):
    d = Dump(cli, [cfg(config_dir, "syscalls")], tmp_path, interval=1.5).wait_ready()
    run_marker(N_MARKERS)
    snap = d.snapshot()
    assert value(snap, "syscalls_total", syscall="ioprio_get") == N_MARKERS
    assert value(snap, "syscall_errors_total", syscall="ioprio_get", errno="EINVAL") == N_MARKERS
    # every self-metric family is there, for every config
    for name in SELF_FAMILIES:
        assert family(snap, name)["series"], name + " has no series"
    assert value(snap, "bpfbridge_read_errors_total", config="syscalls") == 0
    assert value(snap, "bpfbridge_series", config="syscalls") == sum(
        len(family(snap, n)["series"]) for n in ("syscalls_total", "syscall_errors_total"))
    assert 1 in attached(snap, "syscalls").values()
    assert_progs_gone(d.prog_ids)


def test_series_ids_are_unique_and_ascend_per_family(cli, config_dir, tmp_path):
    """Every series, the self-metrics' too, has an id of its own (the SNMP
    tables use it as the series index), ascending within each family as the
    store and the engine write them."""
    d = Dump(cli, [cfg(config_dir, "syscalls")], tmp_path, interval=1.0).wait_ready()
    run_marker(10)
    snap = d.snapshot()
    ids = [s["id"] for f in snap["families"] for s in f["series"]]
    assert len(ids) > len(SELF_FAMILIES) and all(i >= 1 for i in ids)
    assert len(ids) == len(set(ids)), "an id is shared by two series"
    for f in snap["families"]:
        fam_ids = [s["id"] for s in f["series"]]
        assert fam_ids == sorted(fam_ids), f["name"]


def test_siblings_count_exactly_while_other_hooks_fail(cli, bbtest, tmp_path):
    """The broken tp_btf alternative falls back to raw_tp, the unhooked broken
    program and the impossible `ghost` hook are reported, and what did attach
    counts every marker call."""
    d = Dump(cli, [bbtest], tmp_path, interval=1.0).wait_ready()
    run_marker(N_MARKERS)
    snap = d.snapshot()
    assert value(snap, "marker_calls_total", syscall="ioprio_get") == N_MARKERS
    assert attached(snap, "bbtest") == {
        "tp_btf_broken": 0, "raw_tp_marker": 1, "unhooked_broken": 0, "tp_missing": 0,
        "fentry_missing": 0}
    assert "failed to load" in d.err and "unhooked_broken" in d.err


def test_percpu_values_are_summed(cli, bbtest, tmp_path):
    d = Dump(cli, [bbtest], tmp_path, interval=1.0).wait_ready()
    run_marker(N_MARKERS)
    snap = d.snapshot()
    assert value(snap, "marker_percpu_total", syscall="ioprio_get") == N_MARKERS


def test_percpu_cpu_label_keeps_cpus_apart(cli, objs, tmp_path):
    metrics = """
metrics:
  counters:
    - name: marker_percpu_total
      help: Marker syscalls per CPU
      labels:
        - name: syscall
          size: 4
          decoders:
            - name: uint
            - name: syscall
        - name: cpu
          size: 4
          decoders:
            - name: uint
"""
    path = make_config(str(tmp_path / "cfg"), "bbcpu", metrics + BBTEST_HOOKS, objs["bbtest"])
    d = Dump(cli, [path], tmp_path, interval=1.0).wait_ready()
    run_marker(N_MARKERS)
    snap = d.snapshot()
    fam = family(snap, "marker_percpu_total")
    assert fam["labels"] == ["syscall", "cpu"]
    ncpu = os.cpu_count()
    cpus = {}
    for s in fam["series"]:
        assert s["labels"]["syscall"] == "ioprio_get"
        cpus[int(s["labels"]["cpu"])] = s["value"]
    assert set(cpus) == set(range(len(cpus))) and len(cpus) >= ncpu
    assert sum(cpus.values()) == N_MARKERS


def test_cardinality_limit_drops_and_counts(cli, bbtest, tmp_path):
    d = Dump(cli, [bbtest], tmp_path, interval=1.0).wait_ready()
    run_marker(3)
    snap = d.snapshot()
    fam = family(snap, "many_series_total")
    assert len(fam["series"]) == 5
    assert all(s["value"] == 3 for s in fam["series"])
    assert value(snap, "bpfbridge_series_dropped_total", config="bbtest",
                 metric="many_series_total") == 15
    assert value(snap, "bpfbridge_series_dropped_total", config="bbtest",
                 metric="marker_calls_total") == 0


def test_max_series_option_is_the_default_limit(cli, bbtest, tmp_path):
    d = Dump(cli, [bbtest], tmp_path, interval=1.0, extra=["--max-series", "1"]).wait_ready()
    run_marker(2)
    snap = d.snapshot()
    # many_series_total sets its own limit (5); the others now allow one series
    assert len(family(snap, "many_series_total")["series"]) == 5
    assert len(family(snap, "marker_calls_total")["series"]) == 1


def test_tracepoint_program_counts_exactly(cli, objs, tmp_path):
    metrics = """
metrics:
  counters:
    - name: tp_marker_calls_total
      help: Marker syscalls seen by tracepoint/raw_syscalls/sys_enter (an array map)
      labels:
        - name: zero
          size: 4
          decoders:
            - name: uint
"""
    path = make_config(str(tmp_path / "cfg"), "bbtp", metrics, objs["bbtp"])
    d = Dump(cli, [path], tmp_path, interval=1.0).wait_ready()
    run_marker(N_MARKERS)
    snap = d.snapshot()
    assert value(snap, "tp_marker_calls_total", zero="0") == N_MARKERS
    assert attached(snap, "bbtp") == {"tracepoint_marker": 1}


def test_perf_event_section_samples_every_cpu(cli, objs, tmp_path):
    """ebpf_exporter's SEC("perf_event/type=1,config=0,frequency=99"): one
    perf event per online CPU, read back through a per-CPU array by cpu."""
    metrics = """
metrics:
  counters:
    - name: cpu_clock_samples_total
      help: cpu-clock samples at 99 Hz
      labels:
        - name: zero
          size: 4
          decoders:
            - name: uint
        - name: cpu
          size: 4
          decoders:
            - name: uint
"""
    path = make_config(str(tmp_path / "cfg"), "bbperf", metrics, objs["bbperf"])
    with open("/sys/devices/system/cpu/online") as f:
        online = set()
        for part in f.read().strip().split(","):
            lo, _, hi = part.partition("-")
            online.update(range(int(lo), int(hi or lo) + 1))
    d = Dump(cli, [path], tmp_path, interval=1.0).wait_ready()
    # An idle, tickless CPU takes no cpu-clock samples (seen: {0: 99, 1: 0}),
    # so keep every CPU busy for the whole interval.
    burners = [subprocess.Popen(["taskset", "-c", str(cpu), "timeout", "2",
                                 "sh", "-c", "while :; do :; done"]) for cpu in sorted(online)]
    try:
        snap = d.snapshot()
    finally:
        for b in burners:
            b.wait(timeout=10)
    assert attached(snap, "bbperf") == {"cpu_clock_sample": 1}
    per_cpu = {int(s["labels"]["cpu"]): s["value"]
               for s in family(snap, "cpu_clock_samples_total")["series"]}
    for cpu in online:
        # 99 Hz for about a second; generous bounds for a loaded machine
        assert 10 <= per_cpu[cpu] <= 99 * 10, per_cpu
    assert_progs_gone(d.prog_ids)


def test_uprobe_alternatives(cli, objs, tmp_path):
    """uprobe targets are probed before load: a missing symbol and a missing
    binary are skipped with reasons, a real libc function attaches."""
    metrics = uprobe_config("uprobe_missing_symbol", "uprobe_missing_binary", "uprobe_getpid")
    path = make_config(str(tmp_path / "cfg"), "bbuprobe", metrics, objs["bbuprobe"])
    r = run_cli(cli, "check", path)
    assert r.returncode == 0, r.stderr
    rows = {row["PROGRAM"]: row for row in parse_check_table(r.stdout)}
    assert re.fullmatch(r"uprobe libc\.so\.6:bbtest_no_such_function: \S+/libc\.so\.6 has no "
                        r"function bbtest_no_such_function \(ENOENT\)",
                        rows["uprobe_missing_symbol"]["REASON"]), rows
    assert rows["uprobe_missing_binary"]["REASON"] == (
        "uprobe /nonexistent/bbtest-binary:main: binary /nonexistent/bbtest-binary not found "
        "(ENOENT)")
    assert rows["uprobe_getpid"]["STATUS"] == "attached"
    d = Dump(cli, [path], tmp_path, interval=1.0).wait_ready()
    libc = ctypes.CDLL("libc.so.6")
    for _ in range(25):
        libc.getpid()
    snap = d.snapshot()
    assert value(snap, "getpid_calls_total", zero="0") >= 25


def test_kaddrs_fill_rodata_from_kallsyms(cli, objs, tmp_path):
    path = make_config(str(tmp_path / "cfg"), "bbk", BBTEST_METRICS + "kaddrs:\n  - schedule\n"
                       + BBTEST_HOOKS, objs["bbtest"])
    want = None
    with open("/proc/kallsyms") as f:
        for line in f:
            addr, _, name = line.split()[:3]
            if name == "schedule":
                want = int(addr, 16)
                break
    assert want, "schedule not in /proc/kallsyms"
    d = Dump(cli, [path], tmp_path, interval=1.0).wait_ready()
    run_marker(1)
    snap = d.snapshot()
    assert value(snap, "kaddr_value_total", zero="0") == want


# ---- block I/O latency -------------------------------------------------------------


def test_biolatency_sees_direct_writes(cli, config_dir, tmp_path):
    d_root, disks = root_disk_dir()
    if d_root is None:
        pytest.skip("no writable directory on a block device")
    n = 32
    path = prepare_direct_write_file(d_root, n)
    try:
        d = Dump(cli, [cfg(config_dir, "biolatency")], tmp_path, interval=1.5).wait_ready()
        direct_writes(path, n)
        snap = d.snapshot()
    finally:
        os.unlink(path)

    fam = family(snap, "bio_latency_seconds")
    assert fam["kind"] == "histogram" and fam["labels"] == ["device", "operation"]
    writes = [s for s in fam["series"] if s["labels"]["operation"] == "write"
              and s["labels"]["device"] in disks]
    assert writes, "no write series for %s; series: %s" % (
        sorted(disks), [s["labels"] for s in fam["series"]])
    assert sum(s["count"] for s in writes) >= n
    for s in writes:
        check_histogram_series(fam, s)
    # this kernel has BTF tracepoints: the first alternative of each hook wins
    progs = attached(snap, "biolatency")
    assert progs["tp_btf_block_rq_issue"] == 1 and progs["tp_btf_block_rq_complete"] == 1
    assert sum(progs.values()) == 2


def check_histogram_series(fam, s):
    """Cumulative, complete, and a _sum each bucket's bounds allow."""
    les = [b["le"] for b in s["buckets"]]
    counts = [b["count"] for b in s["buckets"]]
    assert les == sorted(les) and les == fam["le"]
    assert counts == sorted(counts), "buckets not cumulative"
    assert counts[-1] <= s["count"]
    assert s["sum"] == pytest.approx(s["sum_raw"] * fam["multiplier"])
    lo_sum = hi_sum = 0.0
    prev_le, prev_count = 0.0, 0
    for le, c in zip(les, counts):
        lo_sum += (c - prev_count) * prev_le
        hi_sum += (c - prev_count) * le
        prev_le, prev_count = le, c
    assert s["sum"] >= lo_sum * (1 - 1e-9), "sum %g below what the buckets hold (%g)" % (
        s["sum"], lo_sum)
    # the last bucket also holds clamped values above its bound, +Inf has none
    if s["count"] == counts[-1] and counts[-1] == (counts[-2] if len(counts) > 1 else 0):
        assert s["sum"] <= hi_sum * (1 + 1e-9), "sum %g above what the buckets allow (%g)" % (
            s["sum"], hi_sum)


# ---- alternatives ----------------------------------------------------------------------


def test_biolatency_check_picks_first_working_alternative(cli, config_dir):
    r = run_cli(cli, "check", "--config-dir", config_dir, "biolatency")
    assert r.returncode == 0, r.stderr
    rows = {row["PROGRAM"]: row for row in parse_check_table(r.stdout)}
    assert rows["tp_btf_block_rq_issue"]["STATUS"] == "attached"
    assert rows["tp_btf_block_rq_complete"]["STATUS"] == "attached"
    for name, row in rows.items():
        if row["STATUS"] == "skipped":
            assert row["REASON"].startswith("not needed: hook " + row["HOOK"]), row


def kprobes_exist():
    return (os.path.exists("/sys/bus/event_source/devices/kprobe")
            or os.path.exists("/sys/kernel/tracing/kprobe_events"))


def test_vfs_latency_reports_why_each_alternative_is_unavailable(cli, config_dir):
    r = run_cli(cli, "check", "--config-dir", config_dir, "vfs-latency", "syscalls")
    assert r.returncode == 0, r.stderr
    rows = parse_check_table(r.stdout)
    vfs = [row for row in rows if row["CONFIG"] == "vfs-latency"]
    assert {row["HOOK"] for row in vfs} == {"vfs_read", "vfs_write"}
    hooks_attached = {row["HOOK"] for row in vfs if row["STATUS"] == "attached"}
    for row in vfs:
        if row["HOOK"] in hooks_attached:
            continue
        # "fentry vfs_read: EPERM (Operation not permitted)", "... (ENOTSUP)"
        assert row["STATUS"] == "skipped", row
        assert re.search(r"\b(E[A-Z0-9]+)\b", row["REASON"]), row
        assert row["REASON"].split(":")[0] == row["SECTION"].replace("/", " "), row
        if row["SECTION"].startswith(("kprobe/", "kretprobe/")) and not kprobes_exist():
            assert "kprobes not supported by this kernel (ENOTSUP)" in row["REASON"], row
    # the other config loaded alongside keeps working
    assert any(row["CONFIG"] == "syscalls" and row["STATUS"] == "attached" for row in rows)
    strict = run_cli(cli, "check", "--strict", "--config-dir", config_dir, "vfs-latency")
    if len(hooks_attached) == 2:
        assert strict.returncode == 0, strict.stderr
    else:
        assert strict.returncode == 1
        assert re.search(r"vfs-latency\.yaml:\d+:\d+: hooks: vfs_(read|write): no alternative "
                         r"can attach \(.*E[A-Z]+", strict.stderr), strict.stderr


def test_load_failure_falls_back_and_is_reported(cli, bbtest):
    r = run_cli(cli, "check", bbtest)
    assert r.returncode == 0, r.stderr
    rows = {row["PROGRAM"]: row for row in parse_check_table(r.stdout)}
    assert rows["tp_btf_broken"]["STATUS"] == "skipped"
    assert rows["tp_btf_broken"]["REASON"].startswith("load failed: EACCES (Permission denied): ")
    assert rows["raw_tp_marker"]["STATUS"] == "attached"
    assert rows["raw_tp_marker"]["ALT"] == "1"
    assert rows["unhooked_broken"]["STATUS"] == "failed"
    assert rows["unhooked_broken"]["HOOK"] == "raw_tp/sys_exit"
    assert "load failed: EACCES" in rows["unhooked_broken"]["REASON"]
    assert rows["tp_missing"]["REASON"] == (
        "tracepoint bbtest_no_such_category/bbtest_no_such_event: no such tracepoint "
        "(/sys/kernel/tracing/events/bbtest_no_such_category/bbtest_no_such_event missing) "
        "(ENOENT)")
    assert rows["fentry_missing"]["REASON"] == (
        "fentry bbtest_no_such_function: no such function in the kernel's BTF (ENOENT)")
    assert "bbtest: 1 of 5 programs attached; hook ghost: no alternative attached" in r.stdout


def test_strict_fails_on_a_hook_without_alternative(cli, bbtest):
    r = run_cli(cli, "check", "--strict", bbtest)
    assert r.returncode == 1
    assert re.search(r"bbtest\.yaml:\d+:\d+: hooks: ghost: no alternative can attach \(tracepoint "
                     r"bbtest_no_such_category/bbtest_no_such_event: .*\(ENOENT\); fentry "
                     r"bbtest_no_such_function: .*\(ENOENT\)\)", r.stderr), r.stderr
    assert r.stdout == ""


def test_hook_naming_an_unknown_program_is_a_config_error(cli, objs, tmp_path):
    hooks = BBTEST_HOOKS + "      - raw_tp_marker_never\n"
    path = make_config(str(tmp_path / "cfg"), "bbtest", BBTEST_METRICS + hooks, objs["bbtest"])
    refused(cli, path, re.escape(path) + r":\d+:\d+: hooks: ghost: program raw_tp_marker_never "
            r"not found in .*bbtest\.bpf\.o \(its programs: tp_btf_broken, raw_tp_marker, ")


def test_strict_fails_on_a_program_that_does_not_attach(cli, objs, tmp_path):
    """Without the ghost hook its programs are loaded like any other: they
    fail, the rest works, and --strict turns that into an error."""
    hooks = BBTEST_HOOKS.split("  - name: ghost")[0]
    path = make_config(str(tmp_path / "cfg"), "bbtest", BBTEST_METRICS + hooks, objs["bbtest"])
    r = run_cli(cli, "check", path)
    assert r.returncode == 0, r.stderr
    rows = {row["PROGRAM"]: row for row in parse_check_table(r.stdout)}
    assert rows["raw_tp_marker"]["STATUS"] == "attached"
    assert rows["fentry_missing"]["STATUS"] == "failed"
    assert rows["tp_missing"]["STATUS"] == "failed"
    r = run_cli(cli, "check", "--strict", path)
    assert r.returncode == 1
    assert re.search(r"bbtest\.bpf\.o: strict: program \w+ \(\S+\) did not attach: ", r.stderr), \
        r.stderr


def test_tracefs_is_mounted_when_missing(cli, objs, tmp_path):
    """In a private mount namespace without tracefs, a tracepoint program makes
    the loader mount it (and say so)."""
    metrics = """
metrics:
  counters:
    - name: tp_marker_calls_total
      help: x
      labels:
        - name: zero
          size: 4
          decoders:
            - name: uint
"""
    path = make_config(str(tmp_path / "cfg"), "bbtp", metrics, objs["bbtp"])
    script = ("while umount /sys/kernel/tracing 2>/dev/null; do :; done; "
              "while umount /sys/kernel/debug 2>/dev/null; do :; done; "
              "test -e /sys/kernel/tracing/events && exit 99; "
              "exec %s -v check %s" % (cli, path))
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60)
    if r.returncode == 99:
        pytest.skip("cannot unmount tracefs in a private mount namespace")
    assert r.returncode == 0, r.stderr
    assert "mounted tracefs at /sys/kernel/tracing" in r.stderr
    rows = parse_check_table(r.stdout)
    assert rows[0]["PROGRAM"] == "tracepoint_marker" and rows[0]["STATUS"] == "attached"


def test_external_btf_file(cli, config_dir):
    r = run_cli(cli, "check", "--btf", "/sys/kernel/btf/vmlinux", "--config-dir", config_dir,
                "syscalls")
    assert r.returncode == 0, r.stderr
    r = run_cli(cli, "check", "--btf", "/nonexistent/vmlinux.btf", "--config-dir", config_dir,
                "syscalls")
    assert r.returncode == 1
    assert "/nonexistent/vmlinux.btf: BTF file: No such file or directory" in r.stderr


# ---- refused configs and objects ----------------------------------------------------------


def refused(cli, path, *pattern):
    r = run_cli(cli, "check", path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == "", "nothing may be reported as loaded: " + r.stdout
    for p in pattern:
        assert re.search(p, r.stderr), "%r not in %r" % (p, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r


def test_refuses_labels_not_matching_the_key_size(cli, objs, tmp_path):
    bad = BBTEST_METRICS.replace("""        - name: syscall
          size: 4""", """        - name: syscall
          size: 8""", 1)
    path = make_config(str(tmp_path / "cfg"), "bbtest", bad + BBTEST_HOOKS, objs["bbtest"])
    refused(cli, path, re.escape(path) + r":4:7: metric marker_calls_total: labels add up to 8 "
            r"bytes but map marker_calls_total has 4-byte keys")


def test_refuses_a_missing_object(cli, tmp_path):
    path = make_config(str(tmp_path / "cfg"), "bbtest", BBTEST_METRICS, None)
    obj = os.path.join(str(tmp_path / "cfg"), "bbtest.bpf.o")
    refused(cli, path, re.escape(obj) + r": no such file: config " + re.escape(path)
            + " needs its BPF object next to it")


def test_refuses_a_world_writable_object(cli, objs, tmp_path):
    path = make_config(str(tmp_path / "cfg"), "bbtest", BBTEST_METRICS + BBTEST_HOOKS,
                       objs["bbtest"])
    obj = path[: -len(".yaml")] + ".bpf.o"
    os.chmod(obj, 0o646)
    refused(cli, path, re.escape(obj) + r": refusing to load: " + re.escape(obj)
            + r" has mode 0646, writable by others \(loading BPF is root-equivalent")


def test_refuses_a_group_writable_config_and_an_open_directory(cli, objs, tmp_path):
    path = make_config(str(tmp_path / "cfg"), "bbtest", BBTEST_METRICS + BBTEST_HOOKS,
                       objs["bbtest"])
    os.chmod(path, 0o664)
    refused(cli, path, re.escape(path) + r": refusing to load: " + re.escape(path)
            + r" has mode 0664, writable by its group")
    os.chmod(path, 0o644)
    os.chmod(os.path.dirname(path), 0o777)
    refused(cli, path, r"refusing to load: " + re.escape(os.path.dirname(path))
            + r" has mode 0777, writable by group and others")
    os.chmod(os.path.dirname(path), 0o1777)  # sticky, like /tmp: others cannot replace it
    assert run_cli(cli, "check", path).returncode == 0


def test_refuses_a_config_not_owned_by_root(cli, objs, tmp_path):
    path = make_config(str(tmp_path / "cfg"), "bbtest", BBTEST_METRICS + BBTEST_HOOKS,
                       objs["bbtest"])
    os.chown(path, 65534, 65534)
    refused(cli, path, re.escape(path) + r": refusing to load: " + re.escape(path)
            + r" is owned by uid 65534, not root \(")


def test_refuses_a_map_with_non_u64_values(cli, objs, tmp_path):
    metrics = BBTEST_METRICS + """    - name: bad_value_total
      help: 16-byte values
      labels:
        - name: key
          size: 4
          decoders:
            - name: uint
"""
    path = make_config(str(tmp_path / "cfg"), "bbtest", metrics + BBTEST_HOOKS, objs["bbtest"])
    refused(cli, path, re.escape(path) + r":\d+:\d+: metric bad_value_total: map bad_value_total "
            r"has 16-byte values, expected 8")


def test_refuses_a_metric_without_its_map(cli, objs, tmp_path):
    metrics = BBTEST_METRICS.replace("name: kaddr_value_total", "name: no_such_map_total")
    path = make_config(str(tmp_path / "cfg"), "bbtest", metrics + BBTEST_HOOKS, objs["bbtest"])
    refused(cli, path, r":\d+:\d+: metric no_such_map_total: .*bbtest\.bpf\.o has no map named "
            r"no_such_map_total \(its maps: marker_calls_total, ")


def test_refuses_unknown_kaddrs(cli, objs, tmp_path):
    path = make_config(str(tmp_path / "c1"), "bbtest", BBTEST_METRICS + BBTEST_HOOKS
                       + "kaddrs:\n  - bbtest_no_such_symbol\n", objs["bbtest"])
    refused(cli, path, r"kaddrs: no symbol bbtest_no_such_symbol in /proc/kallsyms")
    path = make_config(str(tmp_path / "c2"), "bbtest", BBTEST_METRICS + BBTEST_HOOKS
                       + "kaddrs:\n  - vfs_read\n", objs["bbtest"])
    refused(cli, path, r"kaddrs: .*bbtest\.bpf\.o has no variable kaddr_vfs_read")


def test_refuses_something_that_is_not_a_bpf_object(cli, tmp_path):
    junk = tmp_path / "junk.bpf.o"
    junk.write_bytes(b"\x7fELF not really")
    path = make_config(str(tmp_path / "cfg"), "bbtest", BBTEST_METRICS, str(junk))
    # core/objcheck.c looks at the ELF before libbpf does (issue 17)
    refused(cli, path, r"bbtest\.bpf\.o: not a valid BPF object: not an ELF file$")


# ---- teardown ------------------------------------------------------------------------------


def test_nothing_left_after_dump(cli, config_dir, tmp_path):
    d = Dump(cli, [cfg(config_dir, "syscalls"), cfg(config_dir, "biolatency")], tmp_path,
             interval=0.5).wait_ready()
    assert len(d.prog_ids) >= 3
    d.snapshot()
    assert_progs_gone(d.prog_ids)


def test_nothing_left_after_sigkill(cli, config_dir, tmp_path):
    d = Dump(cli, [cfg(config_dir, "syscalls"), cfg(config_dir, "biolatency")], tmp_path,
             interval=60).wait_ready()
    assert d.prog_ids <= loaded_prog_ids()
    d.kill(signal.SIGKILL)
    assert d.rc == -signal.SIGKILL
    assert_progs_gone(d.prog_ids)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_dump_tears_down(cli, config_dir, tmp_path, sig):
    d = Dump(cli, [cfg(config_dir, "syscalls")], tmp_path, interval=60).wait_ready()
    d.kill(sig)
    assert d.rc == 128 + sig, d.err
    assert d.out == ""
    assert_progs_gone(d.prog_ids)


def test_nothing_left_after_check(cli, bbtest):
    """check exits on its own: its test-only programs must be gone with it."""
    def ours():
        out = subprocess.run(["bpftool", "-j", "prog", "list"], capture_output=True, text=True,
                             check=True).stdout
        return [p["id"] for p in json.loads(out or "[]") if p.get("name") == "raw_tp_marker"]
    assert ours() == [], "a raw_tp_marker is loaded before the test"
    r = run_cli(cli, "check", bbtest)
    assert r.returncode == 0, r.stderr
    assert "raw_tp_marker" in r.stdout
    wait_for(lambda: ours() == [], timeout=10, what="check's programs to be unloaded")
