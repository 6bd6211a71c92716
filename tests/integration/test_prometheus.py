"""collectd's write_prometheus and a real Prometheus with `bpfbridge relabel` rules.

One collectd (syscalls + biolatency, interval 1s, write_prometheus) and one
Prometheus server (scrape interval 1s, the generated metric_relabel_configs)
are shared by the tests of this module. Both run on 127.0.0.1 only, and the
module's fixture always stops both and checks how they exited.
"""
import json
import math
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import MARKER_ERRNO, MARKER_SYSCALL_NAME, require, run_marker, wait_for
from test_collectd import CollectdRunner, ebpf_block, free_port, write_direct

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def http_get(url, timeout=3):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode()
    except OSError:
        return None


class PrometheusServer:
    def __init__(self, workdir, scrape_target, relabel_yaml):
        self.dir = str(workdir)
        self.port = free_port()
        self.config = os.path.join(self.dir, "prometheus.yml")
        self.log_path = os.path.join(self.dir, "prometheus.log")
        with open(self.config, "w") as f:
            f.write("global:\n"
                    "  scrape_interval: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: collectd\n"
                    "    static_configs:\n"
                    "      - targets: ['%s']\n" % scrape_target)
            f.write(relabel_yaml)
        self.proc = None

    def check_config(self):
        p = subprocess.run([PROMTOOL, "check", "config", self.config], capture_output=True,
                           text=True)
        assert p.returncode == 0, p.stdout + p.stderr

    def start(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + self.config,
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--storage.tsdb.path=" + os.path.join(self.dir, "tsdb")],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)

        def ready():
            assert self.proc.poll() is None, "prometheus exited:\n" + self.logtext()
            return http_get("http://127.0.0.1:%d/-/ready" % self.port) is not None

        wait_for(ready, timeout=30, interval=0.2, what="prometheus ready")

    def logtext(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("prometheus did not stop after SIGTERM:\n" + self.logtext())
        finally:
            self.log.close()
        assert rc == 0, "prometheus exited with %s:\n%s" % (rc, self.logtext())

    def query(self, expr):
        return self.query_at(expr, None)

    def query_at(self, expr, ts):
        args = {"query": expr}
        if ts is not None:
            args["time"] = "%.3f" % ts
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode(args))
        body = http_get(url)
        assert body is not None, "prometheus query failed: " + expr
        doc = json.loads(body)
        assert doc["status"] == "success", doc
        return doc["data"]["result"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, build_dir, config_dir, cli):
    plugin = os.path.join(build_dir, "plugin-collectd", ".libs", "ebpf.so")
    require(os.path.exists(plugin), "collectd plugin not built at " + plugin)
    require(os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK),
            "prometheus/promtool missing (apt-get install prometheus)")
    relabel = subprocess.run([cli, "relabel", "--config-dir", config_dir, "--indent", "4",
                              "syscalls", "biolatency"], capture_output=True, text=True)
    assert relabel.returncode == 0, relabel.stderr

    wp_port = free_port()
    c = CollectdRunner(tmp_path_factory.mktemp("collectd"), plugin,
                       ebpf_block(config_dir, "syscalls", "biolatency"), interval=1, csv=False,
                       prometheus_port=wp_port)
    p = PrometheusServer(tmp_path_factory.mktemp("prometheus"), "127.0.0.1:%d" % wp_port,
                         relabel.stdout)
    started = []
    try:
        p.check_config()
        c.start()
        started.append(c)
        p.start()
        started.append(p)
        yield c, p
    finally:
        errors = []
        for proc in reversed(started):
            try:
                proc.stop()
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, "\n\n".join(errors)


def metrics_text(c):
    return http_get("http://127.0.0.1:%d/metrics" % c.prometheus_port)


def test_write_prometheus_promtool(stack):
    """curl /metrics has our series, and promtool check metrics accepts them."""
    c, _ = stack

    def ours():
        c.assert_running()
        text = metrics_text(c) or ""
        return text if ("collectd_ebpf_syscalls_total_total{" in text and
                        "collectd_ebpf_bpfbridge_program_attached{" in text) else None

    text = wait_for(ours, timeout=20, what="our series on /metrics")
    assert 'ebpf="syscalls"' in text and 'type="syscall=' in text
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True)
    assert p.returncode == 0, "promtool check metrics (rc %d):\n%s%s" % (
        p.returncode, p.stdout, p.stderr)


def test_histogram_quantile(stack, tmp_path):
    """histogram_quantile over the relabeled _bucket series is finite for the written device."""
    c, p = stack
    expr = None
    result = None
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        c.assert_running()
        device = write_direct(tmp_path / "direct.dat", 32)
        expr = ('histogram_quantile(0.5, rate(bio_latency_seconds_bucket'
                '{device="%s",operation="write"}[15s]))' % device)
        result = p.query(expr)
        if result and all(math.isfinite(float(r["value"][1])) for r in result):
            break
        time.sleep(1)
    assert result, "no result for %s; write series: %s" % (
        expr, p.query('count by (device, operation) (bio_latency_seconds_bucket)'))
    assert len(result) == 1, result
    q = float(result[0]["value"][1])
    assert math.isfinite(q) and 0 < q < 10, result

    # _sum and _count belong to the same series; _sum is in seconds
    mean = p.query('rate(bio_latency_seconds_sum{device="%s",operation="write"}[15s])'
                   ' / rate(bio_latency_seconds_count{device="%s",operation="write"}[15s])'
                   % (device, device))
    assert mean and 1e-7 < float(mean[0]["value"][1]) < 10, mean
    inf = p.query('bio_latency_seconds_bucket{device="%s",operation="write",le="+Inf"}'
                  ' - on (device, operation, instance, job, exported_instance)'
                  ' bio_latency_seconds_count' % device)
    assert inf and float(inf[0]["value"][1]) == 0, inf


def range_samples(p, selector):
    """[(timestamp, value)] of the raw samples of SELECTOR's one series (a range query)."""
    r = p.query(selector)
    assert len(r) <= 1, r
    return [(float(t), float(v)) for t, v in r[0]["values"]] if r else []


def test_percentile_equals_histogram_quantile(stack, tmp_path):
    """The percentile collectd dispatched for a read equals Prometheus'
    histogram_quantile over the same read's bucket increases (idelta between
    that read's sample and the one before, both stamped by collectd)."""
    c, p = stack
    checked = []
    deadline = time.monotonic() + 60
    device = None
    while time.monotonic() < deadline and len(checked) < 6:
        c.assert_running()
        device = write_direct(tmp_path / "direct.dat", 48)
        time.sleep(0.5)
        for q in (50, 90, 99):
            sel = ('bio_latency_seconds_percentile{device="%s",operation="write",'
                   'percentile="%d"}' % (device, q))
            for ts, v in range_samples(p, sel + "[20s]"):
                if not math.isfinite(v) or (q, ts) in {(x[0], x[1]) for x in checked}:
                    continue
                expr = ('histogram_quantile(%g, idelta(bio_latency_seconds_bucket'
                        '{device="%s",operation="write"}[1500ms]))' % (q / 100, device))
                r = p.query_at(expr, ts)
                if len(r) != 1 or not math.isfinite(float(r[0]["value"][1])):
                    continue  # the read before was more than 1.5 s earlier
                hq = float(r[0]["value"][1])
                checked.append((q, ts, v, hq))
    assert len(checked) >= 6, (checked, device)
    bounds = [float(r["metric"]["le"]) for r in p.query(
        'bio_latency_seconds_bucket{device="%s",operation="write"}' % device)]
    bounds = sorted(b for b in bounds if math.isfinite(b))
    for q, ts, v, hq in checked:
        # the same bucket, and the same interpolation inside it
        below = [b for b in bounds if b < hq]
        lo = below[-1] if below else 0.0
        hi = min([b for b in bounds if b >= hq] or [math.inf])
        assert lo <= v <= hi, (q, ts, v, hq, lo, hi)
        assert abs(v - hq) <= 1e-9 * max(abs(hq), 1e-12), (q, ts, v, hq)


def stable_value(p, expr, settle=3.0, timeout=30):
    """The query's single value once it stayed the same for SETTLE seconds."""
    last, since = None, time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = p.query(expr)
        v = float(r[0]["value"][1]) if r else None
        if v != last:
            last, since = v, time.monotonic()
        elif v is not None and time.monotonic() - since >= settle:
            return v
        time.sleep(0.25)
    raise AssertionError("%s did not settle (last %s)" % (expr, last))


def test_marker_counter_equals_n(stack):
    """N marker syscalls raise syscalls_total{syscall="ioprio_get"} by exactly N in Prometheus."""
    c, p = stack
    n = 23
    total = 'syscalls_total{syscall="%s"}' % MARKER_SYSCALL_NAME
    errors = 'syscall_errors_total{syscall="%s",errno="%s"}' % (MARKER_SYSCALL_NAME, MARKER_ERRNO)
    run_marker(1)  # the series exists from here on
    base = stable_value(p, total)
    base_err = stable_value(p, errors)
    run_marker(n)
    wait_for(lambda: (p.query(total) or [{"value": [0, "nan"]}])[0]["value"][1]
             == "%d" % (base + n), timeout=20, interval=0.25,
             what="%s == %d" % (total, base + n))
    assert stable_value(p, total) == base + n
    assert stable_value(p, errors) == base_err + n
    # the series carries exactly the original labels
    labels = set(p.query(total)[0]["metric"])
    assert labels == {"__name__", "syscall", "instance", "job", "exported_instance"}, labels
    c.assert_running()


def test_relabel_leaves_nothing_behind(stack):
    """Every ebpf series is renamed; no collectd or temporary labels are left."""
    c, p = stack
    wait_for(lambda: p.query("bpfbridge_program_attached"), timeout=20,
             what="self-metrics in prometheus")
    assert p.query('{__name__=~"collectd_ebpf_.*"}') == []
    for label in ("type", "ebpf", "__tmp_bb_labels", "__tmp_bb_config"):
        assert p.query('count({%s!=""})' % label) == [], label
    names = {r["metric"]["__name__"] for r in p.query(
        'count by (__name__) ({job="collectd"})')}
    expected = {"syscalls_total", "syscall_errors_total", "bio_latency_seconds_bucket",
                "bio_latency_seconds_sum", "bio_latency_seconds_count",
                "bio_latency_seconds_percentile", "bio_latency_seconds_average",
                "bio_latency_seconds_observations", "bpfbridge_program_attached", "bpfbridge_read_duration_seconds",
                "bpfbridge_series", "bpfbridge_series_dropped_total",
                "bpfbridge_decode_errors_total", "bpfbridge_read_errors_total",
                "bpfbridge_series_retired_total", "bpfbridge_labels_truncated_total",
                "bpfbridge_config_reload_failures_total",
                "bpfbridge_config_last_reload_successful"}
    # bio_latency_* appears once a block request completed; the rest always
    assert expected - {n for n in expected if n.startswith("bio_latency_seconds_")} <= names, \
        names
    assert names - {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                    "scrape_samples_post_metric_relabeling", "scrape_series_added"} <= expected, \
        names
    attached = p.query('bpfbridge_program_attached{config="syscalls"} == 1')
    assert attached and set(attached[0]["metric"]) >= {"config", "program", "hook", "section"}


def test_relabel_cli_errors(cli, config_dir, tmp_path):
    """Usage errors exit 2; a broken config exits 1 naming file:line:column."""
    p = subprocess.run([cli, "relabel"], capture_output=True, text=True)
    assert p.returncode == 2 and "no CONFIG given" in p.stderr, p.stderr
    p = subprocess.run([cli, "relabel", "--indent", "x", "syscalls"], capture_output=True,
                       text=True)
    assert p.returncode == 2 and "--indent" in p.stderr, p.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("metrics:\n  counters:\n    - name: x_total\n      labels: 3\n")
    p = subprocess.run([cli, "relabel", "--config-dir", config_dir, "syscalls", str(bad)],
                       capture_output=True, text=True)
    assert p.returncode == 1, p.stdout + p.stderr
    assert p.stdout == ""
    assert str(bad) + ":4:" in p.stderr, p.stderr
    # --prefix applies to every restored name
    p = subprocess.run([cli, "relabel", "--config-dir", config_dir, "--prefix", "ebpf_",
                        "syscalls"], capture_output=True, text=True, check=True)
    assert "replacement: 'ebpf_syscalls_total'" in p.stdout
    assert "replacement: 'ebpf_${1}'" in p.stdout
