"""Cgroups on the real kernel (core/cgroups.c): a marker process in a new cgroup
is counted under that cgroup's path; cgroup_id_map (type hash and type
cgrp_storage) lets through exactly the matching cgroup's calls and none of a
sibling's; a cgroup made after load is in the map within the documented delay
(docs/containers.md); and the same holds on a unified v2 tree (cgroup2 mounted
at /sys/fs/cgroup in a private mount namespace) as on this machine's hybrid
layout (v2 at /sys/fs/cgroup/unified)."""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import require, wait_for
from engine_helpers import (Dump, build_test_objects, family, make_config,
                            prepare_direct_write_file, root_disk_dir, run_cli, series, value)
from test_programs import attached, with_alternative_first

N_MATCH = 23
N_OTHER = 17
# docs/containers.md: a new cgroup is in the map this long after its mkdir, at most.
PICKUP_DELAY = 0.5


def v2_root():
    for d in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        r = subprocess.run(["stat", "-f", "-c", "%T", d], capture_output=True, text=True)
        if r.stdout.strip() == "cgroup2fs":
            return d
    return None


@pytest.fixture(scope="module")
def objs(tmp_path_factory, build_dir):
    return build_test_objects(str(tmp_path_factory.mktemp("bpfobj")))


class Tree:
    """A private subtree of the v2 hierarchy, removed afterwards."""

    def __init__(self):
        self.root = v2_root()
        require(self.root is not None, "no cgroup v2 hierarchy mounted")
        self.name = "bbtest-%d-%d" % (os.getpid(), time.monotonic_ns() % 10**9)
        self.top = os.path.join(self.root, self.name)
        os.mkdir(self.top)
        self.made = [self.top]

    def mkdir(self, rel):
        path = os.path.join(self.top, rel)
        os.mkdir(path)
        self.made.append(path)
        return path

    def rel(self, path):
        """The path as the cgroup decoder and the regexps see it."""
        return "/" + os.path.relpath(path, self.root)

    def remove(self):
        for path in reversed(self.made):
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)  # the marker child is still exiting
            else:
                raise AssertionError("cannot remove cgroup " + path)


@pytest.fixture
def tree():
    t = Tree()
    yield t
    t.remove()


MARKER_CHILD = r"""
import ctypes, os, sys
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
libc = ctypes.CDLL(None, use_errno=True)
for _ in range(int(sys.argv[2])):
    assert libc.syscall(252, 0xBAD, 0) == -1 and ctypes.get_errno() == 22
"""


def markers_in(cgroup, n):
    """N marker syscalls from a child process that first moves itself into CGROUP."""
    subprocess.run([sys.executable, "-c", MARKER_CHILD, cgroup, str(n)], check=True, timeout=30)


COUNTER = """
    - name: {name}
      help: marker calls by cgroup
      labels:
        - name: cgroup
          size: 8
          decoders:
            - name: uint
            - name: cgroup
"""


def config(tmp_path, objs, name, map_type, regexp, metrics=("marker_by_cgroup_total",)):
    text = "metrics:\n  counters:\n" + "".join(COUNTER.format(name=m) for m in metrics)
    map_name = "cgroup_id_map" if map_type == "hash" else "cgroup_storage"
    text += "cgroup_id_map:\n  name: %s\n  type: %s\n  regexps:\n    - '%s'\n" % (
        map_name, map_type, regexp)
    return make_config(str(tmp_path / "cfg"), name, text, objs["bbcgidmap"])


def test_marker_counted_under_its_cgroup_path(cli, objs, tree, tmp_path):
    mine = tree.mkdir("app")
    yaml = config(tmp_path, objs, "bbcg", "hash", "^/nothing-matches-this$")
    d = Dump(cli, [yaml], tmp_path, interval=2).wait_ready()
    markers_in(mine, N_MATCH)
    snap = d.snapshot()
    assert value(snap, "marker_by_cgroup_total", cgroup=tree.rel(mine)) == N_MATCH


@pytest.mark.parametrize("map_type", ["hash", "cgrp_storage"])
def test_cgroup_id_map_lets_only_the_matching_cgroup_through(cli, objs, tree, tmp_path,
                                                              map_type):
    match, other = tree.mkdir("match"), tree.mkdir("other")
    metric = "marker_%s_matched_total" % ("hash" if map_type == "hash" else "storage")
    yaml = config(tmp_path, objs, "bbcg", map_type, "^/%s/match$" % tree.name,
                  metrics=("marker_by_cgroup_total", metric))
    d = Dump(cli, [yaml], tmp_path, interval=2).wait_ready()
    markers_in(match, N_MATCH)
    markers_in(other, N_OTHER)
    snap = d.snapshot()
    # both ran the marker, and were seen
    assert value(snap, "marker_by_cgroup_total", cgroup=tree.rel(match)) == N_MATCH
    assert value(snap, "marker_by_cgroup_total", cgroup=tree.rel(other)) == N_OTHER
    # only the matching one passed the filter
    assert value(snap, metric, cgroup=tree.rel(match)) == N_MATCH
    assert value(snap, metric, cgroup=tree.rel(other)) in (None, 0)
    assert "cgroup_id_map %s (%s): 1 of " % (
        "cgroup_id_map" if map_type == "hash" else "cgroup_storage", map_type) in d.err


@pytest.mark.parametrize("map_type", ["hash", "cgrp_storage"])
def test_a_cgroup_made_after_load_is_picked_up(cli, objs, tree, tmp_path, map_type):
    metric = "marker_%s_matched_total" % ("hash" if map_type == "hash" else "storage")
    yaml = config(tmp_path, objs, "bbcg", map_type, "^/%s/late[0-9]+/svc$" % tree.name,
                  metrics=(metric,))
    d = Dump(cli, [yaml], tmp_path, interval=3).wait_ready()
    tree.mkdir("late1")
    late = tree.mkdir("late1/svc")  # a nested one, made right after its parent
    time.sleep(PICKUP_DELAY)
    markers_in(late, N_MATCH)
    snap = d.snapshot()
    assert value(snap, metric, cgroup=tree.rel(late)) == N_MATCH


def test_removed_cgroup_leaves_the_hash_map(cli, objs, tree, tmp_path):
    """rmdir takes the id out of the map (bpftool sees the map shrink back)."""
    yaml = config(tmp_path, objs, "bbcg", "hash", "^/%s/gone$" % tree.name,
                  metrics=("marker_hash_matched_total",))
    d = Dump(cli, [yaml], tmp_path, interval=4).wait_ready()
    gone = tree.mkdir("gone")
    ino = os.stat(gone).st_ino

    map_ids = held_map_ids(d.proc.pid, "cgroup_id_map")
    assert len(map_ids) == 1
    wait_for(lambda: ino in map_keys(map_ids[0]), timeout=PICKUP_DELAY,
             what="cgroup %s in cgroup_id_map" % gone)
    os.rmdir(gone)
    tree.made.remove(gone)
    wait_for(lambda: ino not in map_keys(map_ids[0]), timeout=PICKUP_DELAY,
             what="cgroup %s out of cgroup_id_map" % gone)
    d.kill()


def held_map_ids(pid, name):
    out = subprocess.run(["bpftool", "-j", "map", "list"], capture_output=True, text=True,
                         check=True).stdout
    by_id = {m["id"]: m.get("name", "") for m in json.loads(out or "[]")}
    ids = set()
    for fdinfo in os.listdir("/proc/%d/fdinfo" % pid):
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fdinfo)) as f:
                for line in f:
                    if line.startswith("map_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return sorted(i for i in ids if by_id.get(i) == name)


def map_keys(map_id):
    out = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(map_id)],
                         capture_output=True, text=True, check=True).stdout
    keys = set()
    for entry in json.loads(out or "[]"):
        raw = entry.get("key")
        if isinstance(raw, list):
            keys.add(int.from_bytes(bytes(int(b, 16) for b in raw), "little"))
        else:
            keys.add(int(raw))
    return keys


def test_unified_layout_in_a_private_mount_namespace(cli, objs, tree, tmp_path):
    """cgroup2 mounted over /sys/fs/cgroup, as on a unified host or in a container."""
    require(subprocess.run(["unshare", "-m", "true"]).returncode == 0,
            "cannot make a mount namespace")
    match, other = tree.mkdir("match"), tree.mkdir("other")
    yaml = config(tmp_path, objs, "bbcg", "hash", "^/%s/match$" % tree.name,
                  metrics=("marker_hash_matched_total",))
    ready = str(tmp_path / "ready")
    proc = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         "mount -t cgroup2 none /sys/fs/cgroup && exec \"$@\"", "sh",
         cli, "dump", "--interval", "2", "--format", "json", "--ready-file", ready, yaml],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: os.path.exists(ready) or proc.poll() is not None, timeout=30,
             what="bpfbridge dump in its mount namespace")
    markers_in(match, N_MATCH)
    markers_in(other, N_OTHER)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "under /sys/fs/cgroup match" in err, err
    snap = json.loads(out)
    assert value(snap, "marker_hash_matched_total", cgroup=tree.rel(match)) == N_MATCH
    assert value(snap, "marker_hash_matched_total", cgroup=tree.rel(other)) is None


def test_config_errors_name_the_position(cli, objs, tmp_path):
    yaml = config(tmp_path, objs, "bbcg", "hash", "^(unclosed$")
    r = run_cli(cli, "check", yaml)
    assert r.returncode == 1
    assert r.stderr == "bpfbridge check: %s:16:7: cgroup_id_map.regexps[0]: expected a POSIX " \
        "extended regular expression, got \"^(unclosed$\" (Unmatched ( or \\()\n" % yaml
    yaml = config(tmp_path, objs, "bbcg", "tree", "^/x$")
    r = run_cli(cli, "check", yaml)
    assert "%s:14:9: cgroup_id_map.type: expected hash or cgrp_storage, got \"tree\"" % yaml \
        in r.stderr, r.stderr
    # a hash map declared as cgrp_storage
    text = open(yaml).read().replace("type: tree", "type: cgrp_storage").replace(
        "name: cgroup_storage", "name: marker_by_cgroup_total")
    with open(yaml, "w") as f:
        f.write(text)
    r = run_cli(cli, "check", yaml)
    assert r.returncode == 1
    assert "%s:13:3: cgroup_id_map: type cgrp_storage expects map marker_by_cgroup_total to be " \
        "a cgrp_storage map with 4-byte keys and 8-byte values, got hash with 8-byte keys " \
        "and 8-byte values" % yaml in r.stderr, r.stderr


class PodCgroup:
    """A pod-like cgroup, TOP/kubepods-NAME/pod1, that the shipped *-cgroup configs'
    regexps (^/kubepods) match, beside the test tree's unmatched "other"."""

    def __init__(self, tree):
        self.top = os.path.join(tree.root, "kubepods-" + tree.name)
        os.mkdir(self.top)
        self.path = os.path.join(self.top, "pod1")
        os.mkdir(self.path)
        self.rel = tree.rel(self.path)

    def remove(self):
        for p in (self.path, self.top):
            for _ in range(50):
                try:
                    os.rmdir(p)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)  # a child is still exiting
            else:
                raise AssertionError("cannot remove cgroup " + p)


@pytest.fixture
def pod(tree):
    p = PodCgroup(tree)
    yield p
    p.remove()


def series_cgroups(snap, name):
    return {s["labels"]["cgroup"] for s in family(snap, name)["series"]}


def test_shipped_syscalls_cgroup_counts_only_container_cgroups(cli, config_dir, tree, pod,
                                                               tmp_path):
    """bpf/syscalls-cgroup.yaml: a pod-like cgroup (^/kubepods) is counted per syscall, exactly;
    a cgroup outside the regexps is not counted at all."""
    other = tree.mkdir("other")
    d = Dump(cli, [os.path.join(config_dir, "syscalls-cgroup.yaml")], tmp_path,
             interval=2).wait_ready()
    markers_in(pod.path, N_MATCH)
    markers_in(other, N_OTHER)
    snap = d.snapshot()
    assert value(snap, "syscalls_by_cgroup_total", cgroup=pod.rel,
                 syscall="ioprio_get") == N_MATCH
    cgroups = series_cgroups(snap, "syscalls_by_cgroup_total")
    assert tree.rel(other) not in cgroups
    assert "/" not in cgroups


# syscall-latency-cgroup: one hook of (enter, exit) pairs, as syscall-latency.
@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_shipped_syscall_latency_cgroup_exact_through_each_alternative(cli, config_dir, tree, pod,
                                                                       tmp_path, index):
    other = tree.mkdir("other")
    path, chosen = with_alternative_first(config_dir, "syscall-latency-cgroup", index,
                                          str(tmp_path / "cfg"))
    d = Dump(cli, [path], tmp_path, interval=2).wait_ready()
    markers_in(pod.path, N_MATCH)
    markers_in(other, N_OTHER)
    snap = d.snapshot()
    assert attached(snap, "syscall-latency-cgroup") == set(chosen)
    fam = family(snap, "syscall_latency_by_cgroup_seconds")
    marker = series(fam, cgroup=pod.rel, syscall="ioprio_get")
    assert marker is not None, fam["series"][:3]
    assert marker["count"] == N_MATCH
    assert marker["buckets"][-1]["count"] == N_MATCH
    assert tree.rel(other) not in series_cgroups(snap, "syscall_latency_by_cgroup_seconds")


# A child that moves itself into the pod while it runs, sleeps N times there,
# and moves itself out to the parking cgroup while it runs. It reads its own
# switch-in count (/proc/self/schedstat's third field, the count
# sched_info_arrive() keeps on the same context switches as sched_switch) just
# before and just after each move. Every switch-in after the move in and
# before the move out follows a switch-out or wakeup in the pod, and nothing
# else does; only a switch at a move's instant can fall either side, so the
# observations must lie within [out_before - in_after, out_after - in_before],
# which is one exact number unless the scheduler switched the child right at a
# move. (Moving a parked task from outside instead races: a task preempted
# between setting TASK_INTERRUPTIBLE and schedule() already shows state S, and
# is switched in once more, in whatever cgroup it is then.)
RUNQ_CHILD = r"""
import os, sys, time
done, pod, parking, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
def switch_ins():
    with open("/proc/self/schedstat") as f:
        return int(f.read().split()[2])
def move(cgroup):
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
in_before = switch_ins()
move(pod)
in_after = switch_ins()
for _ in range(n):
    time.sleep(0.001)
out_before = switch_ins()
move(parking)
out_after = switch_ins()
os.write(done, ("%d %d %d %d\n" % (in_before, in_after, out_before, out_after)).encode())
"""


def test_shipped_runqlat_cgroup_counts_each_switch_in_of_the_pod(cli, config_dir, tree, pod,
                                                                 tmp_path):
    """bpf/runqlat-cgroup.yaml: one observation per time a task of the pod was switched in
    after waiting, as many as the kernel's own schedstat count; none for the unmatched
    cgroup the task moves to afterwards."""
    require(os.path.exists("/proc/self/schedstat"), "no /proc/PID/schedstat (CONFIG_SCHED_INFO)")
    parking = tree.mkdir("parking")
    d = Dump(cli, [os.path.join(config_dir, "runqlat-cgroup.yaml")], tmp_path,
             interval=3).wait_ready()
    done_r, done_w = os.pipe()
    child = subprocess.Popen([sys.executable, "-c", RUNQ_CHILD, str(done_w), pod.path,
                              parking, str(N_MATCH)], pass_fds=(done_w,))
    os.close(done_w)
    try:
        with os.fdopen(done_r) as f:
            in_before, in_after, out_before, out_after = map(int, f.readline().split())
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    snap = d.snapshot()
    low, high = out_before - in_after, out_after - in_before
    assert low >= N_MATCH  # each sleep
    fam = family(snap, "run_queue_latency_by_cgroup_seconds")
    mine = series(fam, cgroup=pod.rel)
    assert mine is not None, fam["series"][:3]
    assert low <= mine["count"] <= high, (mine["count"], low, high)
    assert tree.rel(parking) not in series_cgroups(snap, "run_queue_latency_by_cgroup_seconds")


BIO_CHILD = r"""
import mmap, os, sys
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
buf = mmap.mmap(-1, 4096)  # page aligned, as O_DIRECT wants
buf.write(b"c" * 4096)
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_DIRECT)
for i in range(int(sys.argv[3])):
    assert os.pwrite(fd, buf, i * 4096) == 4096
os.close(fd)
"""


def direct_writes_in(cgroup, path, n):
    """N O_DIRECT 4 KiB overwrites (one write request each) from a child in CGROUP."""
    subprocess.run([sys.executable, "-c", BIO_CHILD, cgroup, path, str(n)], check=True,
                   timeout=60)


def test_shipped_biolatency_cgroup_counts_the_submitters_requests(cli, config_dir, tree, pod,
                                                                  tmp_path):
    """bpf/biolatency-cgroup.yaml: N direct writes from a task of the pod are N write
    requests under the pod's path, whichever task issues them to the driver; the same
    writes from an unmatched cgroup are not counted."""
    disk_dir, _ = root_disk_dir()
    require(disk_dir is not None, "no writable directory on a real block device")
    other = tree.mkdir("other")
    path = prepare_direct_write_file(disk_dir, N_MATCH)
    try:
        d = Dump(cli, [os.path.join(config_dir, "biolatency-cgroup.yaml")], tmp_path,
                 interval=3).wait_ready()
        direct_writes_in(pod.path, path, N_MATCH)
        direct_writes_in(other, path, N_OTHER)
        snap = d.snapshot()
    finally:
        os.unlink(path)
    fam = family(snap, "bio_latency_by_cgroup_seconds")
    writes = [s for s in fam["series"]
              if s["labels"]["cgroup"] == pod.rel and s["labels"]["operation"] == "write"]
    assert sum(s["count"] for s in writes) == N_MATCH, fam["series"][:5]
    assert tree.rel(other) not in series_cgroups(snap, "bio_latency_by_cgroup_seconds")


POD_UID_ = "6f1d2c3b_4a59_4867_8f9e_0d1c2b3a4958"  # the systemd driver's spelling
CONTAINER_ID = "e0d1c2b3a4958677685940312a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b"
DOCKER_ID = "3f4e1c2d5b6a79808f9e0d1c2b3a49586776859403a2b1c0d9e8f7a6b5c4d3e2"


def test_shipped_syscalls_container_labels_pod_and_container(cli, config_dir, tree, tmp_path):
    """bpf/syscalls-container.yaml on the real kernel: cgroups named like a containerd
    container of a Kubernetes pod (systemd driver) and a Docker container; the regexps'
    capture groups make pod_uid and container_id of their paths, exactly counted, and a
    service's cgroup is not counted. (tests/unit/test_containers.c feeds every runtime's
    paths through the same decoders.)"""
    pod_slice = "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice" % (
        POD_UID_)
    for rel in ("kubepods.slice", "kubepods.slice/kubepods-besteffort.slice", pod_slice,
                "system.slice"):
        tree.mkdir(rel)
    containerd = tree.mkdir(pod_slice + "/cri-containerd-%s.scope" % CONTAINER_ID)
    docker = tree.mkdir("system.slice/docker-%s.scope" % DOCKER_ID)
    service = tree.mkdir("system.slice/bbtest.service")
    d = Dump(cli, [os.path.join(config_dir, "syscalls-container.yaml")], tmp_path,
             interval=2).wait_ready()
    markers_in(containerd, N_MATCH)
    markers_in(docker, N_OTHER)
    markers_in(service, 5)
    snap = d.snapshot()
    fam = family(snap, "syscalls_by_container_total")
    assert value(snap, "syscalls_by_container_total", pod_uid=POD_UID_,
                 container_id=CONTAINER_ID, syscall="ioprio_get") == N_MATCH, fam["series"][:5]
    assert value(snap, "syscalls_by_container_total", pod_uid="", container_id=DOCKER_ID,
                 syscall="ioprio_get") == N_OTHER, fam["series"][:5]
    # every series of the marker is one of the two containers: the service's calls are not
    marker = [s for s in fam["series"] if s["labels"]["syscall"] == "ioprio_get"]
    assert sorted(s["labels"]["container_id"] for s in marker) == sorted([CONTAINER_ID,
                                                                         DOCKER_ID])
