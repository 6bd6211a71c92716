"""The container side (docs/containers.md).

- deploy/daemonset.yaml, tools/build-image and tools/image/collectd.conf
  agree with the table in docs/containers.md (capabilities, host mounts, user,
  image, port). Always runs.
- The image's own root filesystem, run as a runtime would (this machine's
  runtimes cannot start containers: no CAP_SYS_RESOURCE): unshare (mount and
  pid namespaces) + chroot + capsh down to the documented capabilities,
  collectd with LoadPlugin ebpf and write_prometheus; curl from outside sees
  the marker's exact count. Opt-in, because building the image takes 1.5 to
  3.5 min and the Debian mirror: BB_IMAGE_ROOTFS=path/to/bpfbridge-rootfs.tar,
  or BB_IMAGE_BUILD=1 to build one with tools/build-image (CI's .ci/run sets it).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.request

import pytest
import yaml

from conftest import SRC_DIR, run_marker, wait_for

DOC = os.path.join(SRC_DIR, "docs", "containers.md")
DAEMONSET = os.path.join(SRC_DIR, "deploy", "daemonset.yaml")
BUILD_IMAGE = os.path.join(SRC_DIR, "tools", "build-image")
IMAGE_CONF = os.path.join(SRC_DIR, "tools", "image", "collectd.conf")
N = 31


def documented():
    """The settings table that follows the marker comment in docs/containers.md."""
    text = open(DOC).read()
    start = text.index("<!-- The table below is read by tests/integration/test_containers.py")
    rows = {}
    for line in text[start:].splitlines()[1:]:
        if not line.strip():
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] not in ("setting", "---"):
            rows[cells[0]] = cells[1]
    caps = [c.strip() for c in rows["capabilities"].split(",")]
    mounts = re.findall(r"`([^`]+)`", rows["host mounts"])
    return {
        "image": rows["image"].strip("`"),
        "user": int(rows["user"]),
        "caps": caps,
        "mounts": mounts,
        "port": int(rows["port"].split()[0]),
    }


# ---- the manifest and the build script against the docs -------------------------------------

def test_docs_table_is_complete():
    d = documented()
    assert d["caps"] == ["CAP_BPF", "CAP_PERFMON"]
    assert d["mounts"] == ["/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/cgroup",
                           "/sys/fs/bpf"]
    assert d["user"] == 65534 and d["port"] == 9103 and d["image"]


def test_daemonset_matches_the_docs():
    d = documented()
    with open(DAEMONSET) as f:
        docs = list(yaml.safe_load_all(f))
    assert len(docs) == 1
    ds = docs[0]
    assert ds["apiVersion"] == "apps/v1" and ds["kind"] == "DaemonSet"
    pod = ds["spec"]["template"]["spec"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= \
        ds["spec"]["template"]["metadata"]["labels"].items()
    assert pod.get("hostPID", False) is False
    assert pod.get("hostNetwork", False) is False
    (c,) = pod["containers"]
    assert c["image"] == d["image"]
    sc = c["securityContext"]
    assert sc["privileged"] is False
    assert sc["runAsUser"] == d["user"] and sc["runAsNonRoot"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    # Kubernetes spells them without the CAP_ prefix
    assert sc["capabilities"]["add"] == [cap[len("CAP_"):] for cap in d["caps"]]
    assert [p["containerPort"] for p in c["ports"]] == [d["port"]]
    assert ds["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == \
        str(d["port"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    host = {}
    for m in c["volumeMounts"]:
        v = volumes[m["name"]]
        if "hostPath" in v:
            # mounted where it is on the host, and read-only
            assert m["mountPath"] == v["hostPath"]["path"], m
            assert m.get("readOnly") is True, m
            host[m["mountPath"]] = v
    assert sorted(host) == sorted(d["mounts"])
    assert set(volumes) == {m["name"] for m in c["volumeMounts"]}, "unused volume"


def test_image_build_matches_the_docs():
    d = documented()
    script = open(BUILD_IMAGE).read()
    setcap = re.search(r"setcap (\S+)=ep /usr/sbin/collectd", script)
    assert setcap, "build-image does not give collectd its file capabilities"
    assert setcap.group(1).split(",") == [c.lower() for c in d["caps"]]
    assert "--change 'USER %d:%d'" % (d["user"], d["user"]) in script
    assert "--change 'EXPOSE %d'" % d["port"] in script
    assert re.search(r'^\s*Port "%d"$' % d["port"], open(IMAGE_CONF).read(), re.M)
    assert "tools/build-image" in open(DOC).read()


# ---- the image's root filesystem ------------------------------------------------------------

@pytest.fixture(scope="module")
def rootfs_tar(tmp_path_factory, build_dir):
    tar = os.environ.get("BB_IMAGE_ROOTFS")
    if not tar and os.environ.get("BB_IMAGE_BUILD") == "1":
        out = str(tmp_path_factory.mktemp("image"))
        subprocess.run([BUILD_IMAGE, "--build", build_dir, "--out", out, "--no-import"],
                       check=True, timeout=1200)
        tar = os.path.join(out, "bpfbridge-rootfs.tar")
    if not tar:
        pytest.skip("image test is opt-in (1.5 to 3.5 min to build): set BB_IMAGE_ROOTFS to "
                    "tools/build-image's tarball, or BB_IMAGE_BUILD=1 (docs/containers.md)")
    assert os.path.exists(tar), tar
    return tar


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RUN = r"""
set -e
R=$1; shift
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount --bind /sys/kernel/tracing "$R/sys/kernel/tracing"
mount --rbind /sys/fs/cgroup "$R/sys/fs/cgroup"
mount --bind /sys/fs/bpf "$R/sys/fs/bpf"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
exec chroot "$R" "$@"
"""


class Rootfs:
    def __init__(self, tar):
        self.dir = tempfile.mkdtemp(prefix="bbrootfs.", dir="/tmp")
        subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-xf", tar, "-C", self.dir],
                       check=True)
        os.chmod(self.dir, 0o755)
        self.proc = None

    def start(self, caps, port):
        conf = os.path.join(self.dir, "etc", "collectd", "collectd.conf")
        text = open(conf).read().replace('Port "9103"', 'Port "%d"' % port)
        text = text.replace("Interval 10", "Interval 1")
        with open(conf, "w") as f:
            f.write(text)
        capset = ",".join(c.lower() for c in caps)
        self.log = os.path.join(self.dir + ".log")
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--pid", "--fork", "--propagation", "private",
             "sh", "-c", RUN, "sh", self.dir,
             "/sbin/capsh", "--keep=1", "--user=nobody", "--inh=" + capset,
             "--addamb=" + capset, "--",
             "-c", "exec /usr/sbin/collectd -f -C /etc/collectd/collectd.conf"],
            stdout=self.out, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None
                 or "Initialization complete" in open(self.log).read(),
                 timeout=30, what="collectd in the image's root filesystem")
        assert self.proc.poll() is None, open(self.log).read()

    def collectd_pid(self):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if open("/proc/%s/comm" % pid).read().strip() == "collectd" and \
                        os.readlink("/proc/%s/root" % pid) == self.dir:
                    return int(pid)
            except OSError:
                continue
        return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            pid = self.collectd_pid()
            if pid:
                os.kill(pid, signal.SIGTERM)  # pid 1 of the namespace: all of it ends
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        with open("/proc/mounts") as f:
            assert self.dir not in f.read(), "mounts left behind"
        shutil.rmtree(self.dir)
        os.unlink(self.log)


def scrape(port, pattern):
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read()
    m = re.search(pattern, body.decode())
    return float(m.group(1)) if m else None


def test_rootfs_runs_collectd_with_the_documented_capabilities(rootfs_tar):
    d = documented()
    root = Rootfs(rootfs_tar)
    port = free_port()
    try:
        getcap = subprocess.run(["getcap", os.path.join(root.dir, "usr/sbin/collectd")],
                                capture_output=True, text=True).stdout
        m = re.search(r" (\S+)=ep$", getcap.strip())
        assert m and sorted(m.group(1).split(",")) == sorted(c.lower() for c in d["caps"]), \
            getcap
        root.start(d["caps"], port)
        pid = root.collectd_pid()
        assert pid, open(root.log).read()
        status = open("/proc/%d/status" % pid).read()
        assert re.search(r"^Uid:\t%d\t%d\t" % (d["user"], d["user"]), status, re.M), status
        want = (1 << 38) | (1 << 39)  # CAP_PERFMON, CAP_BPF
        assert int(re.search(r"^CapEff:\t(\w+)", status, re.M).group(1), 16) == want
        assert int(re.search(r"^CapPrm:\t(\w+)", status, re.M).group(1), 16) == want
        series = r'collectd_ebpf_syscalls_total(?:_total)?\{ebpf="syscalls",' \
                 r'type="syscall=ioprio_get"[^}]*\} (\d+)'
        run_marker(1)
        base = wait_for(lambda: scrape(port, series), timeout=20,
                        what="the marker series on write_prometheus")
        run_marker(N)
        wait_for(lambda: scrape(port, series) == base + N, timeout=20,
                 what="the marker count %d" % (base + N))
        assert "ebpf plugin: 1 of 1 configs loaded" in open(root.log).read()
    finally:
        root.stop()
