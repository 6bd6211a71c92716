"""The core's interval quantiles against real Prometheus.

For each histogram shape, two reads of one series go through the real series
store (tests/unit/quantile_shapes). The same cumulative buckets become input
series of a `promtool test rules` file, which evaluates
histogram_quantile(q, increase(..._bucket[1m])) over the same interval. The
core's answer must agree within 1e-9 relative (NaN with NaN), for every q.
"""
import json
import math
import os
import random
import shutil
import subprocess

import pytest

from conftest import require

QUANTILE_TOL = 1e-9


def shapes():
    """(name, type, min, max, multiplier, prev counts, cur counts) per shape;
    counts are per raw bucket key min..max, then the sum, then above the sum key."""
    out = []

    def add(name, typ, lo, hi, mult, prev, cur):
        assert len(prev) == len(cur) == hi - lo + 3
        out.append((name, typ, lo, hi, mult, prev, cur))

    n = 8  # exp2 0..7: bounds 1..128 (times the multiplier)
    zero = [0] * (n + 2)
    add("empty_interval", "exp2", 0, 7, 1e-6, [3, 1, 4, 1, 5, 9, 2, 6, 100, 1],
        [3, 1, 4, 1, 5, 9, 2, 6, 100, 1])
    add("all_in_inf", "exp2", 0, 7, 1e-6, zero, [0] * n + [500, 7])
    add("single_bucket", "exp2", 0, 7, 1e-6, zero, [0, 0, 0, 10, 0, 0, 0, 0, 60, 0])
    add("first_bucket_only", "exp2", 0, 7, 1e-6, zero, [4, 0, 0, 0, 0, 0, 0, 0, 4, 0])
    add("last_bucket_only", "exp2", 0, 7, 1e-6, zero, [0, 0, 0, 0, 0, 0, 0, 9, 900, 0])
    add("one_observation", "exp2", 0, 7, 1e-6, zero, [0, 0, 0, 0, 1, 0, 0, 0, 12, 0])
    add("with_history", "exp2", 0, 7, 1e-3, [5, 5, 5, 5, 5, 5, 5, 5, 500, 5],
        [5, 6, 9, 25, 5, 7, 5, 5, 900, 8])
    add("linear", "linear", 0, 9, 1, [0] * 12, [1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 150, 1])
    add("linear_scaled", "linear", 2, 9, 0.25, [0] * 10, [7, 0, 0, 3, 0, 0, 0, 1, 40, 0])
    # exp2zero: the first bound is 0, so a rank in the first bucket answers 0
    add("exp2zero_zeros", "exp2zero", 0, 6, 1, [0] * 9, [10, 0, 0, 1, 0, 0, 0, 3, 0])
    add("exp2zero_mixed", "exp2zero", 0, 6, 1, [0] * 9, [2, 3, 0, 4, 0, 1, 0, 40, 2])
    rng = random.Random(25186)
    while len(out) < 24:
        hi = rng.randint(1, 12)
        prev = [rng.randint(0, 50) for _ in range(hi + 1)] + [rng.randint(0, 9999),
                                                             rng.randint(0, 3)]
        cur = [p + (rng.randint(0, 200) if rng.random() < 0.6 else 0) for p in prev]
        add("random_%d" % len(out), rng.choice(["exp2", "linear"]), 0, hi,
            rng.choice([1, 1e-6, 0.001, 2.5]), prev, cur)
    return out


def core_answers(build_dir):
    helper = os.path.join(build_dir, "tests", "unit", "quantile_shapes")
    require(os.access(helper, os.X_OK), "tests/unit/quantile_shapes not built (make check)")
    lines = []
    for name, typ, lo, hi, mult, prev, cur in shapes():
        lines.append("%s %s %d %d %r | %s | %s" % (name, typ, lo, hi, mult,
                                                    " ".join(map(str, prev)),
                                                    " ".join(map(str, cur))))
    res = subprocess.run([helper], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, check=True)
    return [json.loads(l) for l in res.stdout.splitlines()]


def expr_for(name, q, want):
    hq = 'histogram_quantile(%r, increase(lat_seconds_bucket{shape="%s"}[1m]))' % (q, name)
    if want == "NaN":
        return "sum(%s != bool %s)" % (hq, hq)  # 1 only for NaN
    tol = QUANTILE_TOL * abs(want)
    return "sum(abs(%s - (%r)) <= bool %r)" % (hq, want, tol)


def test_core_quantiles_match_prometheus(build_dir, tmp_path):
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool not installed (apt-get install prometheus)")
    answers = core_answers(build_dir)
    assert len(answers) >= 20
    series, cases = [], []
    for a in answers:
        les = a["le"] + ["+Inf"]
        for i, le in enumerate(les):
            vals = [r["buckets"][i] if i < len(a["le"]) else r["count"] for r in a["reads"]]
            series.append({"series": 'lat_seconds_bucket{shape="%s",le="%s"}' % (a["name"], le),
                           "values": "%d %d" % tuple(vals)})
        for q, want in zip(a["q"], a["quantiles"]):
            cases.append({"expr": expr_for(a["name"], q, want), "eval_time": "1m",
                          "exp_samples": [{"labels": "{}", "value": 1}]})
    # the shapes the issue names are there, and behave as Prometheus says
    by_name = {a["name"]: a for a in answers}
    assert all(v == "NaN" for v in by_name["empty_interval"]["quantiles"])
    assert by_name["all_in_inf"]["quantiles"] == [128e-6] * 7  # the highest finite bound
    assert by_name["exp2zero_zeros"]["quantiles"][0] == 0
    rules = tmp_path / "rules.yml"
    rules.write_text("groups: []\n")
    test = tmp_path / "test.yml"
    test.write_text(json.dumps({"rule_files": [str(rules)], "evaluation_interval": "1m",
                                "tests": [{"interval": "1m", "input_series": series,
                                           "promql_expr_test": cases}]}, indent=1))
    res = subprocess.run([promtool, "test", "rules", str(test)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert "SUCCESS" in res.stdout + res.stderr
    assert len(cases) >= 20 * 7


def test_promtool_disagrees_with_a_wrong_answer(build_dir, tmp_path):
    """The comparison can fail: a quantile off by 1e-6 relative is caught."""
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool not installed (apt-get install prometheus)")
    a = [x for x in core_answers(build_dir) if x["name"] == "with_history"][0]
    les = a["le"] + ["+Inf"]
    series = [{"series": 'lat_seconds_bucket{shape="with_history",le="%s"}' % le,
               "values": "%d %d" % tuple(r["buckets"][i] if i < len(a["le"]) else r["count"]
                                         for r in a["reads"])}
              for i, le in enumerate(les)]
    wrong = a["quantiles"][3] * (1 + 1e-6)
    rules = tmp_path / "rules.yml"
    rules.write_text("groups: []\n")
    test = tmp_path / "test.yml"
    test.write_text(json.dumps({"rule_files": [str(rules)], "evaluation_interval": "1m",
                                "tests": [{"interval": "1m", "input_series": series,
                                           "promql_expr_test": [{
                                               "expr": expr_for("with_history", 0.5, wrong),
                                               "eval_time": "1m",
                                               "exp_samples": [{"labels": "{}", "value": 1}]}]}]}))
    res = subprocess.run([promtool, "test", "rules", str(test)], capture_output=True, text=True)
    assert res.returncode != 0
    assert not math.isnan(a["quantiles"][3])
