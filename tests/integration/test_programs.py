"""Exact counts of the shipped syscall programs through every alternative of
their hooks that this kernel can attach: each alternative in turn is moved
first in a copy of the shipped config, and the marker syscall must be counted
exactly, by the programs of that alternative."""
import os
import shutil
import time

import pytest
import yaml

from conftest import run_marker
from engine_helpers import Dump, family, value

N_MARKERS = 53


def shipped(config_dir, name):
    with open(os.path.join(config_dir, name + ".yaml")) as f:
        return yaml.safe_load(f)


def with_alternative_first(config_dir, name, index, directory):
    """A copy of NAME with alternative INDEX first in every hook; the programs it loads."""
    doc = shipped(config_dir, name)
    chosen = []
    for hook in doc["hooks"]:
        alts = hook["alternatives"]
        alts.insert(0, alts.pop(index))
        first = alts[0]
        chosen += first if isinstance(first, list) else [first]
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    path = os.path.join(directory, name + ".yaml")
    with open(path, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    shutil.copyfile(os.path.join(config_dir, name + ".bpf.o"),
                    os.path.join(directory, name + ".bpf.o"))
    for p in (path, os.path.join(directory, name + ".bpf.o")):
        os.chmod(p, 0o644)
    return path, chosen


def attached(snap, config):
    fam = family(snap, "bpfbridge_program_attached")
    return {s["labels"]["program"] for s in fam["series"]
            if s["labels"]["config"] == config and s["value"] == 1}


# syscalls: one hook, tp_btf -> raw_tp -> tracepoint.
@pytest.mark.parametrize("index", [0, 1, 2])
def test_syscalls_exact_through_each_alternative(cli, config_dir, tmp_path, index):
    path, chosen = with_alternative_first(config_dir, "syscalls", index, str(tmp_path / "cfg"))
    d = Dump(cli, [path], tmp_path, interval=1.0).wait_ready()
    run_marker(N_MARKERS)
    snap = d.snapshot()
    assert attached(snap, "syscalls") == set(chosen)
    assert value(snap, "syscalls_total", syscall="ioprio_get") == N_MARKERS
    assert value(snap, "syscall_errors_total", syscall="ioprio_get", errno="EINVAL") == N_MARKERS
    # a per-CPU array of 1024 slots: only the syscalls that ran are series
    fam = family(snap, "syscalls_total")
    assert all(s["value"] > 0 for s in fam["series"])
    assert 0 < len(fam["series"]) < 200


# syscall-latency: one hook of (enter, exit) pairs: task storage, then the LRU
# hash on tp_btf, raw_tp and tracepoint. The histogram is a per-CPU array of 28
# slots per syscall (flat_index): the reader rebuilds (syscall, bucket) keys.
@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_syscall_latency_exact_through_each_alternative(cli, config_dir, tmp_path, index):
    path, chosen = with_alternative_first(config_dir, "syscall-latency", index,
                                          str(tmp_path / "cfg"))
    d = Dump(cli, [path], tmp_path, interval=1.0).wait_ready()
    run_marker(N_MARKERS)
    snap = d.snapshot()
    assert attached(snap, "syscall-latency") == set(chosen)
    fam = family(snap, "syscall_latency_seconds")
    marker = [s for s in fam["series"] if s["labels"] == {"syscall": "ioprio_get"}]
    assert len(marker) == 1, fam["series"][:3]
    assert marker[0]["count"] == N_MARKERS
    assert marker[0]["buckets"][-1]["count"] == N_MARKERS
    # the 27 finite exp2 bounds (1 us .. 2^26 us), cumulative
    assert [b["le"] for b in marker[0]["buckets"]] == [2.0 ** i / 1e6 for i in range(27)]
    counts = [b["count"] for b in marker[0]["buckets"]]
    assert counts == sorted(counts)
    # only the syscalls that ran are series, each with observations
    assert all(s["count"] > 0 for s in fam["series"])
    assert 0 < len(fam["series"]) < 200


def alternatives(config_dir, name):
    return max(len(h["alternatives"]) for h in shipped(config_dir, name)["hooks"])


# kmalloc and runqlat: a histogram without labels in a per-CPU array by bucket
# (slots 0..bucket_max, then the sum). Their events are system-wide, so the
# counts cannot be exact: the histogram must be one complete, consistent series.
@pytest.mark.parametrize("name,bucket_max", [("kmalloc", 24), ("runqlat", 26)])
@pytest.mark.parametrize("index", [0, 1])
def test_array_histograms_through_each_alternative(cli, config_dir, tmp_path, name, bucket_max,
                                                   index):
    assert alternatives(config_dir, name) == 2
    path, chosen = with_alternative_first(config_dir, name, index, str(tmp_path / "cfg"))
    metric = shipped(config_dir, name)["metrics"]["histograms"][0]["name"]
    d = Dump(cli, [path], tmp_path, interval=1.0).wait_ready()
    for _ in range(20):
        time.sleep(0.005)  # context switches (runqlat), and kmalloc() in the kernel
    run_marker(N_MARKERS)
    snap = d.snapshot()
    assert attached(snap, name) == set(chosen)
    fam = family(snap, metric)
    assert len(fam["series"]) == 1 and fam["series"][0]["labels"] == {}
    s = fam["series"][0]
    counts = [b["count"] for b in s["buckets"]]
    assert len(counts) == bucket_max + 1  # le = 2^0 .. 2^bucket_max (+Inf is the count)
    assert counts == sorted(counts)  # cumulative
    assert counts[-1] == s["count"] > 0
    assert s["sum"] > 0


# softirq-latency: three hooks (raise, entry, exit), tp_btf -> raw_tp ->
# tracepoint; two histograms in per-CPU arrays of 32 slots per vector
# (flat_index). Softirqs are system-wide, so the counts cannot be exact:
# loopback UDP traffic must show up as net_rx series, and every series must be
# one complete, consistent histogram with a known vector name.
VECTORS = {"hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched",
           "hrtimer", "rcu"}


def loopback_udp(n):
    import socket
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        for i in range(n):
            tx.sendto(b"x", rx.getsockname())
            rx.recv(16)  # each datagram crossed the loopback device's receive path
    finally:
        rx.close()
        tx.close()


@pytest.mark.parametrize("index", [0, 1, 2])
def test_softirq_latency_through_each_alternative(cli, config_dir, tmp_path, index):
    assert alternatives(config_dir, "softirq-latency") == 3
    path, chosen = with_alternative_first(config_dir, "softirq-latency", index,
                                          str(tmp_path / "cfg"))
    d = Dump(cli, [path], tmp_path, interval=1.0).wait_ready()
    loopback_udp(200)
    snap = d.snapshot()
    assert attached(snap, "softirq-latency") == set(chosen)
    for metric in ("softirq_latency_seconds", "softirq_runtime_seconds"):
        fam = family(snap, metric)
        vectors = {s["labels"]["vector"] for s in fam["series"]}
        assert "net_rx" in vectors, (metric, vectors)
        assert vectors <= VECTORS, (metric, vectors)
        for s in fam["series"]:
            counts = [b["count"] for b in s["buckets"]]
            # le = 2^0 .. 2^30 ns, cumulative; the top finite bucket holds everything
            # (the program clamps), so it equals the count
            assert [b["le"] for b in s["buckets"]] == [2.0 ** i * 1e-9 for i in range(31)]
            assert counts == sorted(counts)
            assert counts[-1] == s["count"] > 0
            assert s["sum"] > 0
