"""Shared fixtures for bpfbridge integration tests.

Every test here runs against the real kernel and real daemons. With
BPFBRIDGE_REQUIRE_BPF=1 (set by .ci/run) a missing capability is a failure,
never a skip: use require() instead of pytest.skip().
"""
import ctypes
import json
import os
import subprocess
import time

import pytest

SRC_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("BB_BUILD_DIR", os.path.join(SRC_DIR, "build"))
REQUIRE_BPF = os.environ.get("BPFBRIDGE_REQUIRE_BPF") == "1"

# ioprio_get(which=0xbad, who=0): fails with EINVAL, and nothing else on the
# machine calls it, so exact counts can be asserted system-wide.
MARKER_SYSCALL_NR = 252
MARKER_SYSCALL_NAME = "ioprio_get"
MARKER_ERRNO = "EINVAL"

_libc = ctypes.CDLL(None, use_errno=True)


def require(condition, why):
    """Skip when a capability is missing, or fail under BPFBRIDGE_REQUIRE_BPF=1."""
    if condition:
        return
    if REQUIRE_BPF:
        pytest.fail("required capability missing: " + why)
    pytest.skip(why)


def run_marker(n):
    """Make exactly n marker syscalls from this process; each must fail with EINVAL."""
    for _ in range(n):
        ret = _libc.syscall(MARKER_SYSCALL_NR, 0xBAD, 0)
        assert ret == -1 and ctypes.get_errno() == 22, "marker syscall did not fail with EINVAL"


def bpftool_prog_names():
    out = subprocess.run(["bpftool", "-j", "prog", "list"], capture_output=True, text=True,
                         check=True).stdout
    return [p.get("name", "") for p in json.loads(out or "[]")]


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# Waits on a daemon under valgrind: valgrind's start-up cost differs by an order
# of magnitude between a warm machine (about 1 s for snmpd -v) and a fresh one
# (cold page cache, debug info read for the first time). It is measured once,
# on the first use, and every such wait is its native bound plus this many times
# the measured start.
VALGRIND_WAIT_FACTOR = 40
_valgrind_start = []


def valgrind_start_seconds():
    """Seconds `valgrind --leak-check=full snmpd -v` takes here (measured once per session)."""
    if not _valgrind_start:
        t0 = time.monotonic()
        subprocess.run(["valgrind", "--leak-check=full", "--keep-debuginfo=yes", "--xml=yes",
                        "--xml-file=/dev/null", "/usr/sbin/snmpd", "-v"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        _valgrind_start.append(time.monotonic() - t0)
        print("valgrind start-up measured: %.1f s" % _valgrind_start[0])
    return _valgrind_start[0]


def valgrind_wait(native):
    """The deadline for a step that takes at most NATIVE seconds without valgrind."""
    return native + VALGRIND_WAIT_FACTOR * valgrind_start_seconds()


@pytest.fixture(scope="session")
def build_dir():
    require(os.path.isdir(BUILD_DIR), "build dir %s missing (set BB_BUILD_DIR)" % BUILD_DIR)
    return BUILD_DIR


@pytest.fixture(scope="session")
def config_dir(build_dir):
    d = os.path.join(build_dir, "bpf")
    require(os.path.exists(os.path.join(d, "syscalls.bpf.o")), "shipped BPF objects not built in " + d)
    return d


@pytest.fixture(scope="session")
def cli(build_dir):
    path = os.path.join(build_dir, "cli", "bpfbridge")
    require(os.access(path, os.X_OK), "CLI not built at " + path)
    return path


@pytest.fixture(scope="session", autouse=True)
def bpf_capable():
    require(os.geteuid() == 0, "integration tests load BPF programs and must run as root")
    require(os.path.exists("/sys/kernel/btf/vmlinux"), "kernel has no BTF (/sys/kernel/btf/vmlinux)")
    if not os.path.exists("/sys/kernel/tracing/events"):
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=False)
