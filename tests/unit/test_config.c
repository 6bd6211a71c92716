/* SPDX-License-Identifier: MIT */
/*
 * Config parser tests: every bad config is refused with its exact one-line
 * message (position included), good configs come back complete, and nothing
 * leaks either way (run under valgrind).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* decode.h brings core/config.h: a bare "config.h" here would find autoconf's. */
#include "decode.h"
#include "log.h"

#define DATA BB_TEST_DATA_DIR "/config/"

/* Building blocks for the bad configs below; line numbers in the messages count them. */
#define COUNTER_HEAD "metrics:\n  counters:\n    - name: c_total\n      help: h\n"
#define LABEL_UINT                                                                   \
	"      labels:\n        - name: l\n          size: 4\n          decoders:\n" \
	"            - name: uint\n"
#define HIST_HEAD "metrics:\n  histograms:\n    - name: h_seconds\n      help: h\n"
#define BUCKET_LABEL                                                                             \
	"      labels:\n        - name: bucket\n          size: 4\n          decoders: [{name: " \
	"uint}]\n"

struct bad_case {
	const char *name;
	const char *yaml;
	const char *expect;
};

static const struct bad_case bad_cases[] = {
	{ "unknown_top_key", "programs: []\n" COUNTER_HEAD LABEL_UINT,
	  "bad.yaml:1:1: document: expected a key among metrics, kaddrs, hooks, name, tracing, "
	  "cgroup_id_map, got \"programs\"" },
	{ "unknown_counter_key", COUNTER_HEAD "      lables: []\n",
	  "bad.yaml:5:7: metrics.counters[0]: expected a key among name, help, labels, max_series, "
	  "perf_event_array, flush_interval, got \"lables\"" },
	{ "metrics_not_mapping", "metrics: []\n",
	  "bad.yaml:1:10: metrics: expected a mapping with counters and/or histograms, got an "
	  "empty list" },
	{ "counters_not_list", "metrics:\n  counters:\n    name: x\n",
	  "bad.yaml:3:5: metrics.counters: expected a list of counters, got a mapping" },
	{ "counter_not_mapping", "metrics:\n  counters:\n    - c_total\n",
	  "bad.yaml:3:7: metrics.counters[0]: expected a mapping describing a counter, got "
	  "\"c_total\"" },
	{ "missing_help", "metrics:\n  counters:\n    - name: c_total\n" LABEL_UINT,
	  "bad.yaml:3:7: metrics.counters[0]: expected key \"help\", got a mapping without it" },
	{ "missing_labels", HIST_HEAD "      bucket_type: exp2\n      bucket_max: 3\n",
	  "bad.yaml:3:7: metrics.histograms[0]: expected key \"labels\", got a mapping without "
	  "it" },
	{ "histogram_empty_labels",
	  HIST_HEAD "      bucket_type: exp2\n      bucket_max: 3\n"
		    "      labels: []\n",
	  "bad.yaml:7:15: metrics.histograms[0].labels: expected a list of at least one label, "
	  "got an empty list" },
	{ "flat_index_fixed",
	  HIST_HEAD "      bucket_type: fixed\n      bucket_keys: [1, 2]\n      flat_index: true\n"
		    "      labels:\n        - {name: op, size: 4, decoders: [{name: uint}]}\n"
		    "        - {name: bucket, size: 4, decoders: [{name: uint}]}\n",
	  "bad.yaml:7:19: metrics.histograms[0].flat_index: expected bucket_type exp2, exp2zero or "
	  "linear with flat_index: true (slots are bucket indexes), got bucket_type fixed" },
	{ "flat_index_two_labels",
	  HIST_HEAD "      bucket_type: exp2\n      bucket_max: 3\n      flat_index: true\n"
		    "      labels:\n        - {name: op, size: 4, decoders: [{name: uint}]}\n"
		    "        - {name: pid, size: 4, decoders: [{name: uint}]}\n"
		    "        - {name: bucket, size: 4, decoders: [{name: uint}]}\n",
	  "bad.yaml:7:19: metrics.histograms[0].flat_index: expected exactly one label before the "
	  "bucket label with flat_index: true (slot = label * (bucket_max + 2) + bucket), got 3 "
	  "labels in all" },
	{ "flat_index_odd_size",
	  HIST_HEAD "      bucket_type: exp2\n      bucket_max: 3\n      flat_index: true\n"
		    "      labels:\n        - {name: op, size: 3, decoders: [{name: hex}]}\n"
		    "        - {name: bucket, size: 4, decoders: [{name: uint}]}\n",
	  "bad.yaml:7:19: metrics.histograms[0].flat_index: expected label op to be an integer of "
	  "size 1, 2, 4 or 8 with flat_index: true, got size 3" },
	{ "flat_index_not_bool",
	  HIST_HEAD "      bucket_type: exp2\n      bucket_max: 3\n      flat_index: yes "
		    "please\n" BUCKET_LABEL,
	  "bad.yaml:7:19: metrics.histograms[0].flat_index: expected true or false, got \"yes "
	  "please\"" },
	{ "tracing_only", "tracing:\n  spans: []\n",
	  "bad.yaml:1:1: tracing: expected key \"metrics\", got a tracing-only config (tracing "
	  "spans are not supported by bpfbridge, which exports metrics only; run this config "
	  "under ebpf_exporter, or add metrics to it)" },
	{ "missing_label_name",
	  COUNTER_HEAD "      labels:\n        - size: 4\n          decoders: [{name: uint}]\n",
	  "bad.yaml:6:11: metrics.counters[0].labels[0]: expected key \"name\", got a mapping "
	  "without it" },
	{ "size_negative",
	  COUNTER_HEAD "      labels:\n        - name: l\n          size: -4\n          decoders: "
		       "[{name: uint}]\n",
	  "bad.yaml:7:17: metrics.counters[0].labels[0].size: expected a positive integer of at "
	  "most 1024, got \"-4\"" },
	{ "size_not_integer",
	  COUNTER_HEAD "      labels:\n        - name: l\n          size: four\n          "
		       "decoders: [{name: uint}]\n",
	  "bad.yaml:7:17: metrics.counters[0].labels[0].size: expected a positive integer of at "
	  "most 1024, got \"four\"" },
	{ "size_zero",
	  COUNTER_HEAD "      labels:\n        - name: l\n          size: 0\n          decoders: "
		       "[{name: uint}]\n",
	  "bad.yaml:7:17: metrics.counters[0].labels[0].size: expected a positive integer of at "
	  "most 1024, got \"0\"" },
	{ "size_quoted",
	  COUNTER_HEAD "      labels:\n        - name: l\n          size: \"4\"\n          "
		       "decoders: [{name: uint}]\n",
	  "bad.yaml:7:17: metrics.counters[0].labels[0].size: expected a positive integer of at "
	  "most 1024, got the quoted string \"4\"" },
	{ "key_too_large",
	  COUNTER_HEAD "      labels:\n        - {name: a, size: 1024, decoders: [{name: hex}]}\n  "
		       "      - {name: b, size: 8, decoders: [{name: uint}]}\n",
	  "bad.yaml:7:11: metrics.counters[0].labels[1]: expected labels of at most 1024 key bytes "
	  "in total, got 1032 up to here" },
	{ "duplicate_metric",
	  COUNTER_HEAD LABEL_UINT "  histograms:\n    - name: c_total\n      help: h\n      "
				  "bucket_type: linear\n      bucket_max: 4\n" BUCKET_LABEL,
	  "bad.yaml:11:13: metrics.histograms[0].name: expected a unique metric name, got "
	  "\"c_total\" again (first at 3:13)" },
	{ "duplicate_key", COUNTER_HEAD "      help: again\n" LABEL_UINT,
	  "bad.yaml:5:7: metrics.counters[0].help: expected each key once, got it again (first at "
	  "4:7)" },
	{ "bucket_type_unknown",
	  HIST_HEAD "      bucket_type: exp3\n      bucket_max: 4\n" BUCKET_LABEL,
	  "bad.yaml:5:20: metrics.histograms[0].bucket_type: expected one of exp2, exp2zero, "
	  "linear, fixed, got \"exp3\"" },
	{ "bucket_min_gt_max",
	  HIST_HEAD
	  "      bucket_type: linear\n      bucket_min: 9\n      bucket_max: 4\n" BUCKET_LABEL,
	  "bad.yaml:6:19: metrics.histograms[0].bucket_min: expected at most bucket_max (4), got "
	  "9" },
	{ "bucket_max_too_large",
	  HIST_HEAD "      bucket_type: exp2\n      bucket_max: 2000\n" BUCKET_LABEL,
	  "bad.yaml:6:19: metrics.histograms[0].bucket_max: expected an integer from 0 to 1023, "
	  "got \"2000\"" },
	{ "bucket_max_missing", HIST_HEAD "      bucket_type: exp2\n" BUCKET_LABEL,
	  "bad.yaml:3:7: metrics.histograms[0]: expected key \"bucket_max\" for bucket_type exp2, "
	  "got a mapping without it" },
	{ "fixed_without_keys", HIST_HEAD "      bucket_type: fixed\n" BUCKET_LABEL,
	  "bad.yaml:3:7: metrics.histograms[0]: expected key \"bucket_keys\" for bucket_type "
	  "fixed, got a mapping without it" },
	{ "bucket_keys_not_ascending",
	  HIST_HEAD "      bucket_type: fixed\n      bucket_keys: [1, 8, 4]\n" BUCKET_LABEL,
	  "bad.yaml:6:27: metrics.histograms[0].bucket_keys[2]: expected a key greater than 8 "
	  "(keys ascend), got \"4\"" },
	{ "bucket_keys_not_fixed",
	  HIST_HEAD
	  "      bucket_type: exp2\n      bucket_max: 4\n      bucket_keys: [1, 2]\n" BUCKET_LABEL,
	  "bad.yaml:7:20: metrics.histograms[0].bucket_keys: expected only with bucket_type fixed, "
	  "got bucket_type exp2" },
	{ "bucket_keys_fraction",
	  HIST_HEAD "      bucket_type: fixed\n      bucket_keys: [0.5]\n" BUCKET_LABEL,
	  "bad.yaml:6:21: metrics.histograms[0].bucket_keys[0]: expected a non-negative integer, "
	  "got \"0.5\"" },
	{ "bucket_multiplier_negative",
	  HIST_HEAD "      bucket_type: exp2\n      bucket_max: 4\n      bucket_multiplier: "
		    "-1e-6\n" BUCKET_LABEL,
	  "bad.yaml:7:26: metrics.histograms[0].bucket_multiplier: expected a positive number, got "
	  "\"-1e-6\"" },
	{ "bucket_bound_overflow",
	  HIST_HEAD "      bucket_type: linear\n      bucket_max: 1023\n      bucket_multiplier: "
		    "1e306\n" BUCKET_LABEL,
	  "bad.yaml:6:19: metrics.histograms[0].bucket_max: expected a top bucket bound that fits "
	  "a double, got one beyond 1.79769e+308 with bucket_multiplier 1e+306" },
	{ "bucket_max_exp2_beyond_64_bits",
	  HIST_HEAD "      bucket_type: exp2\n      bucket_max: 63\n" BUCKET_LABEL,
	  "bad.yaml:6:19: metrics.histograms[0].bucket_max: expected at most 62 for bucket_type "
	  "exp2 (bounds are 64-bit), got 63" },
	{ "histogram_no_labels",
	  HIST_HEAD "      bucket_type: exp2\n      bucket_max: 4\n      labels: []\n",
	  "bad.yaml:7:15: metrics.histograms[0].labels: expected a list of at least one label, got "
	  "an empty list" },
	{ "bucket_label_not_uint",
	  HIST_HEAD "      bucket_type: exp2\n      bucket_max: 4\n      labels:\n        - name: "
		    "bucket\n          size: 4\n          decoders:\n            - name: uint\n    "
		    "        - name: string\n",
	  "bad.yaml:12:15: metrics.histograms[0].labels[0].decoders[1]: expected uint as the last "
	  "decoder (the last label of a histogram is the bucket index), got string" },
	{ "bucket_label_size",
	  HIST_HEAD "      bucket_type: exp2\n      bucket_max: 4\n      labels:\n        - name: "
		    "bucket\n          size: 3\n          decoders: [{name: uint}]\n",
	  "bad.yaml:9:17: metrics.histograms[0].labels[0].size: expected 1, 2, 4 or 8 (the bucket "
	  "index is an unsigned integer), got 3" },
	{ "histogram_label_le",
	  HIST_HEAD "      bucket_type: exp2\n      bucket_max: 4\n      labels:\n        - {name: "
		    "le, size: 4, decoders: [{name: uint}]}\n        - {name: bucket, size: 4, "
		    "decoders: [{name: uint}]}\n",
	  "bad.yaml:8:18: metrics.histograms[0].labels[0].name: expected a label name other than "
	  "le in a histogram (le holds the bucket bound), got \"le\"" },
	{ "unknown_decoder",
	  COUNTER_HEAD "      labels:\n        - name: l\n          size: 4\n          decoders:\n "
		       "           - name: majorminr\n",
	  "bad.yaml:9:21: metrics.counters[0].labels[0].decoders[0].name: expected one of uint, "
	  "string, hex, static_map, regexp, ksym, kstack, syscall, errno, majorminor, inet_ip, "
	  "ifname, cgroup, dname, pci_vendor, pci_device, pci_class, pci_subclass, got "
	  "\"majorminr\"" },
	{ "decoders_empty",
	  COUNTER_HEAD
	  "      labels:\n        - name: l\n          size: 4\n          decoders: []\n",
	  "bad.yaml:8:21: metrics.counters[0].labels[0].decoders: expected a list of at least one "
	  "decoder, got an empty list" },
	{ "static_map_on_uint",
	  COUNTER_HEAD "      labels:\n        - name: l\n          size: 4\n          decoders:\n "
		       "           - name: uint\n              static_map: {0: zero}\n",
	  "bad.yaml:10:15: metrics.counters[0].labels[0].decoders[0].static_map: expected only in "
	  "a static_map decoder, got it in a uint decoder" },
	{ "static_map_missing",
	  COUNTER_HEAD "      labels:\n        - name: l\n          size: 4\n          decoders:\n "
		       "           - name: static_map\n",
	  "bad.yaml:9:15: metrics.counters[0].labels[0].decoders[0]: expected key \"static_map\" "
	  "for decoder static_map, got a mapping without it" },
	{ "static_map_duplicate",
	  COUNTER_HEAD "      labels:\n        - name: l\n          size: 4\n          decoders:\n "
		       "           - name: static_map\n              static_map:\n                "
		       "0: zero\n                1: one\n                0: nil\n",
	  "bad.yaml:13:17: metrics.counters[0].labels[0].decoders[0].static_map.0: expected each "
	  "key once, got it again (first at 11:17)" },
	{ "static_map_value_list",
	  COUNTER_HEAD
	  "      labels:\n        - name: l\n          size: 4\n          decoders:\n            - "
	  "name: static_map\n              static_map:\n                0: [zero]\n",
	  "bad.yaml:11:20: metrics.counters[0].labels[0].decoders[0].static_map.0: expected a "
	  "label value, got a list" },
	{ "regexp_missing",
	  COUNTER_HEAD "      labels:\n        - name: l\n          size: 4\n          decoders:\n "
		       "           - name: regexp\n",
	  "bad.yaml:9:15: metrics.counters[0].labels[0].decoders[0]: expected key \"regexps\" for "
	  "decoder regexp, got a mapping without it" },
	{ "allow_unknown_not_bool",
	  COUNTER_HEAD "      labels:\n        - name: l\n          size: 4\n          decoders:\n "
		       "           - name: static_map\n              static_map: {0: zero}\n       "
		       "       allow_unknown: maybe\n",
	  "bad.yaml:11:30: metrics.counters[0].labels[0].decoders[0].allow_unknown: expected true "
	  "or false, got \"maybe\"" },
	{ "label_name_invalid",
	  COUNTER_HEAD "      labels:\n        - name: my-label\n          size: 4\n          "
		       "decoders: [{name: uint}]\n",
	  "bad.yaml:6:17: metrics.counters[0].labels[0].name: expected an identifier "
	  "([A-Za-z_][A-Za-z0-9_]*), got \"my-label\"" },
	{ "label_name_reserved",
	  COUNTER_HEAD "      labels:\n        - name: __name__\n          size: 4\n          "
		       "decoders: [{name: uint}]\n",
	  "bad.yaml:6:17: metrics.counters[0].labels[0].name: expected a label name not starting "
	  "with __ (reserved), got \"__name__\"" },
	{ "label_name_duplicate",
	  COUNTER_HEAD "      labels:\n        - {name: cpu, size: 4, decoders: [{name: uint}]}\n  "
		       "      - {name: cpu, size: 4, decoders: [{name: uint}]}\n",
	  "bad.yaml:7:18: metrics.counters[0].labels[1].name: expected a unique label name, got "
	  "\"cpu\" again (first at 6:18)" },
	{ "metric_name_invalid",
	  "metrics:\n  counters:\n    - name: 9lives\n      help: h\n" LABEL_UINT,
	  "bad.yaml:3:13: metrics.counters[0].name: expected an identifier "
	  "([A-Za-z_][A-Za-z0-9_]*), got \"9lives\"" },
	{ "max_series_zero", COUNTER_HEAD "      max_series: 0\n" LABEL_UINT,
	  "bad.yaml:5:19: metrics.counters[0].max_series: expected a positive integer of at most "
	  "4294967295, got \"0\"" },
	{ "max_series_not_integer", COUNTER_HEAD "      max_series: 1.5\n" LABEL_UINT,
	  "bad.yaml:5:19: metrics.counters[0].max_series: expected a positive integer of at most "
	  "4294967295, got \"1.5\"" },
	{ "perf_event_array", COUNTER_HEAD "      perf_event_array: maybe\n" LABEL_UINT,
	  "bad.yaml:5:25: metrics.counters[0].perf_event_array: expected true or false, got "
	  "\"maybe\"" },
	{ "flush_interval_no_unit",
	  COUNTER_HEAD "      perf_event_array: true\n      flush_interval: 10\n" LABEL_UINT,
	  "bad.yaml:6:23: metrics.counters[0].flush_interval: expected a duration such as 30s, "
	  "5m or 1h30m, of at most 24h, got \"10\"" },
	{ "flush_interval_too_long",
	  COUNTER_HEAD "      perf_event_array: true\n      flush_interval: 25h\n" LABEL_UINT,
	  "bad.yaml:6:23: metrics.counters[0].flush_interval: expected a duration such as 30s, "
	  "5m or 1h30m, of at most 24h, got \"25h\"" },
	{ "flush_interval_alone", COUNTER_HEAD "      flush_interval: 1s\n" LABEL_UINT,
	  "bad.yaml:5:23: metrics.counters[0].flush_interval: expected only together with "
	  "perf_event_array: true, got \"1s\" without it" },
	{ "hook_program_twice",
	  "hooks:\n  - name: issue\n    alternatives:\n      - tp_btf_issue\n      - "
	  "[raw_tp_issue, tp_btf_issue]\n" COUNTER_HEAD LABEL_UINT,
	  "bad.yaml:5:24: hooks[0].alternatives[1][1]: expected each program in one alternative "
	  "only, got \"tp_btf_issue\" again (first at 4:9)" },
	{ "hook_program_two_hooks",
	  "hooks:\n  - name: a\n    alternatives: [prog_a]\n  - name: b\n    alternatives: "
	  "[prog_b, prog_a]\n" COUNTER_HEAD LABEL_UINT,
	  "bad.yaml:5:28: hooks[1].alternatives[1]: expected each program in one alternative only, "
	  "got \"prog_a\" again (first at 3:20)" },
	{ "hook_alternative_empty",
	  "hooks:\n  - name: a\n    alternatives:\n      - []\n" COUNTER_HEAD LABEL_UINT,
	  "bad.yaml:4:9: hooks[0].alternatives[0]: expected a list of at least one program name, "
	  "got an empty list" },
	{ "hook_alternative_mapping",
	  "hooks:\n  - name: a\n    alternatives:\n      - {program: x}\n" COUNTER_HEAD LABEL_UINT,
	  "bad.yaml:4:9: hooks[0].alternatives[0]: expected a program name or a list of program "
	  "names, got a mapping" },
	{ "hook_missing_alternatives", "hooks:\n  - name: a\n" COUNTER_HEAD LABEL_UINT,
	  "bad.yaml:2:5: hooks[0]: expected key \"alternatives\", got a mapping without it" },
	{ "hook_name_duplicate",
	  "hooks:\n  - {name: a, alternatives: [x]}\n  - {name: a, alternatives: "
	  "[y]}\n" COUNTER_HEAD LABEL_UINT,
	  "bad.yaml:3:12: hooks[1].name: expected a unique hook name, got \"a\" again (first at "
	  "2:12)" },
	{ "kaddrs_not_list", "kaddrs: jiffies\n" COUNTER_HEAD LABEL_UINT,
	  "bad.yaml:1:9: kaddrs: expected a list of kernel symbol names, got \"jiffies\"" },
	{ "kaddrs_duplicate", "kaddrs: [jiffies, init_task, jiffies]\n" COUNTER_HEAD LABEL_UINT,
	  "bad.yaml:1:30: kaddrs[2]: expected each symbol once, got \"jiffies\" again (first at "
	  "1:10)" },
	{ "kaddrs_invalid", "kaddrs: [foo.cold]\n" COUNTER_HEAD LABEL_UINT,
	  "bad.yaml:1:10: kaddrs[0]: expected an identifier ([A-Za-z_][A-Za-z0-9_]*), got "
	  "\"foo.cold\"" },
	{ "empty_file", "",
	  "bad.yaml:1:1: document: expected a mapping with key \"metrics\", got an empty "
	  "document" },
	{ "only_comments", "# nothing here\n\n",
	  "bad.yaml:1:1: document: expected a mapping with key \"metrics\", got an empty "
	  "document" },
	{ "document_scalar", "just text\n",
	  "bad.yaml:1:1: document: expected a mapping with key \"metrics\", got \"just text\"" },
	{ "document_list", "- metrics\n",
	  "bad.yaml:1:1: document: expected a mapping with key \"metrics\", got a list" },
	{ "no_metrics", "kaddrs: [jiffies]\n",
	  "bad.yaml:1:1: document: expected key \"metrics\", got a mapping without it" },
	{ "metrics_empty", "metrics: {}\n",
	  "bad.yaml:1:10: metrics: expected at least one counter or histogram, got none" },
	{ "invalid_utf8", "metrics:\n  counters:\n    - name: caf\xc3\x28\n",
	  "bad.yaml:3:17: document: expected printable UTF-8 text, got \"invalid trailing UTF-8 "
	  "octet\" (value 0x28)" },
	{ "syntax_error", "metrics:\n  counters:\n    - name: x\n   help: h\n",
	  "bad.yaml:4:4: document: expected valid YAML, got \"did not find expected key\" (while "
	  "parsing a block mapping at 2:3)" },
	{ "unclosed_flow", "metrics: {counters: [\n",
	  "bad.yaml:2:1: document: expected valid YAML, got \"did not find expected node content\" "
	  "(while parsing a flow node at 2:1)" },
	{ "tab_indent", "metrics:\n\tcounters: []\n",
	  "bad.yaml:2:1: document: expected valid YAML, got \"found character that cannot start "
	  "any token\" (while scanning for the next token at 2:1)" },
	{ "second_document", COUNTER_HEAD LABEL_UINT "---\nmetrics: {}\n",
	  "bad.yaml:11:1: document: expected a single document, got a second one" },
	{ "undefined_alias", "metrics: *nowhere\n",
	  "bad.yaml:1:10: document: expected valid YAML, got \"found undefined alias\"" },
	{ "complex_key", "? [a, b]\n: c\n",
	  "bad.yaml:1:3: document: expected a key among metrics, kaddrs, hooks, name, tracing, "
	  "cgroup_id_map, got a list" },
	{ "nul_in_name", "metrics:\n  counters:\n    - name: \"c\\0d\"\n      help: h\n" LABEL_UINT,
	  "bad.yaml:3:13: metrics.counters[0].name: expected an identifier "
	  "([A-Za-z_][A-Za-z0-9_]*), got text with a NUL character" },
	{ "help_empty", "metrics:\n  counters:\n    - name: c_total\n      help:\n" LABEL_UINT,
	  "bad.yaml:4:12: metrics.counters[0].help: expected a non-empty string, got an empty "
	  "value" },
	{ "padding_negative",
	  COUNTER_HEAD "      labels:\n        - name: l\n          size: 4\n          padding: "
		       "-1\n          decoders: [{name: uint}]\n",
	  "bad.yaml:8:20: metrics.counters[0].labels[0].padding: expected a non-negative integer "
	  "of at most 1024, got \"-1\"" },
	/* libyaml's scanner is quadratic in flow depth: refused before loading. */
	{ "too_deep", "metrics: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
	  "bad.yaml:1:41: document: expected at most 32 nested lists and mappings, got more" },
};

/* Warnings logged by the parser, captured instead of printed. */
static char logged[4][BB_ERRMSG_MAX];
static size_t n_logged;

static void capture_log(enum bb_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= BB_LOG_WARN && n_logged < 4)
		snprintf(logged[n_logged++], sizeof(logged[0]), "%s", msg);
}

static int reset_log(void **state)
{
	(void)state;
	n_logged = 0;
	memset(logged, 0, sizeof(logged));
	bb_log_set_sink(capture_log, NULL);
	return 0;
}

static void test_bad(void **state)
{
	const struct bad_case *bc = *state;
	struct bb_config *cfg = (struct bb_config *)&cfg; /* must be reset to NULL */
	char err[BB_ERRMSG_MAX];

	memset(err, 'x', sizeof(err));
	assert_int_equal(bb_config_parse("bad.yaml", bc->yaml, strlen(bc->yaml), &cfg, err,
					 sizeof(err)),
			 -EINVAL);
	assert_null(cfg);
	assert_string_equal(err, bc->expect);
	assert_int_equal(n_logged, 0);
}

static struct bb_config *parse_ok(const char *path, const char *yaml)
{
	struct bb_config *cfg = NULL;
	char err[BB_ERRMSG_MAX] = "";
	int rc = bb_config_parse(path, yaml, strlen(yaml), &cfg, err, sizeof(err));

	if (rc)
		fail_msg("%s", err);
	assert_non_null(cfg);
	return cfg;
}

static struct bb_config *load_ok(const char *path)
{
	struct bb_config *cfg = NULL;
	char err[BB_ERRMSG_MAX] = "";

	if (bb_config_load(path, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_non_null(cfg);
	return cfg;
}

static void assert_decoder(const struct bb_decoder_conf *d, const char *name)
{
	assert_non_null(d->name);
	assert_string_equal(d->name, name);
}

static void test_biolatency(void **state)
{
	struct bb_config *cfg = load_ok(DATA "biolatency.yaml");
	const struct bb_metric_conf *m;
	const struct bb_label_conf *l;
	const struct bb_decoder_conf *sm;
	static const char *const ops[] = { "read", "write", "flush", "discard" };

	(void)state;
	assert_string_equal(cfg->name, "biolatency");
	assert_string_equal(cfg->yaml_path, DATA "biolatency.yaml");
	assert_string_equal(cfg->object_path, DATA "biolatency.bpf.o");
	assert_int_equal(cfg->n_kaddrs, 0);
	assert_int_equal(cfg->n_hooks, 0);
	assert_int_equal(cfg->n_metrics, 1);
	m = &cfg->metrics[0];
	assert_int_equal(m->kind, BB_METRIC_HISTOGRAM);
	assert_string_equal(m->name, "bio_latency_seconds");
	assert_string_equal(m->help, "Block IO latency histogram");
	assert_int_equal(m->pos.line, 4);
	assert_int_equal(m->pos.column, 7);
	assert_int_equal(m->bucket_type, BB_BUCKET_EXP2);
	assert_int_equal(m->bucket_min, 0);
	assert_int_equal(m->bucket_max, 27);
	assert_true(m->bucket_multiplier == 0.000001);
	assert_null(m->bucket_keys);
	assert_int_equal(m->max_series, 0);
	assert_int_equal(m->key_size, 16);
	assert_int_equal(m->n_labels, 3);

	l = &m->labels[0];
	assert_string_equal(l->name, "device");
	assert_int_equal(l->size, 4);
	assert_int_equal(l->padding, 0);
	assert_int_equal(l->pos.line, 11);
	assert_int_equal(l->pos.column, 11);
	assert_int_equal(l->n_decoders, 1);
	assert_decoder(&l->decoders[0], "majorminor");
	assert_int_equal(l->decoders[0].pos.line, 14);
	assert_int_equal(l->decoders[0].pos.column, 15);

	l = &m->labels[1];
	assert_string_equal(l->name, "operation");
	assert_int_equal(l->n_decoders, 2);
	assert_decoder(&l->decoders[0], "uint");
	sm = &l->decoders[1];
	assert_decoder(sm, "static_map");
	assert_true(sm->allow_unknown);
	assert_false(l->decoders[0].allow_unknown);
	assert_int_equal(sm->n_static_map, 4);
	for (size_t i = 0; i < 4; i++) {
		char key[4];

		snprintf(key, sizeof(key), "%zu", i);
		assert_string_equal(sm->static_map[i].key, key);
		assert_string_equal(sm->static_map[i].value, ops[i]);
	}

	l = &m->labels[2];
	assert_string_equal(l->name, "bucket");
	assert_int_equal(l->size, 8);
	assert_decoder(&l->decoders[0], "uint");
	bb_config_free(cfg);
}

static void test_fixed(void **state)
{
	struct bb_config *cfg = load_ok(DATA "fixed.yaml");
	const struct bb_metric_conf *m = &cfg->metrics[0];
	static const double keys[] = { 512, 4096, 65536, 1048576 };

	(void)state;
	assert_int_equal(m->bucket_type, BB_BUCKET_FIXED);
	assert_int_equal(m->n_bucket_keys, 4);
	for (size_t i = 0; i < 4; i++)
		assert_true(m->bucket_keys[i] == keys[i]);
	assert_true(m->bucket_multiplier == 1.0);
	assert_int_equal(m->labels[0].padding, 4);
	assert_int_equal(m->key_size, 8);
	bb_config_free(cfg);
}

static void assert_alternative(const struct bb_alternative *a, size_t n, const char *p0,
			       const char *p1, int line, int column)
{
	assert_int_equal(a->n_programs, n);
	assert_string_equal(a->programs[0], p0);
	if (p1)
		assert_string_equal(a->programs[1], p1);
	assert_int_equal(a->pos.line, line);
	assert_int_equal(a->pos.column, column);
}

static void test_hooks_kaddrs_max_series(void **state)
{
	struct bb_config *cfg = load_ok(DATA "hooks.yaml");
	const struct bb_hook_conf *h;
	const struct bb_decoder_conf *re;

	(void)state;
	/* ebpf_exporter's own "name" key does not rename the config. */
	assert_string_equal(cfg->name, "hooks");
	assert_int_equal(cfg->n_kaddrs, 2);
	assert_string_equal(cfg->kaddrs[0], "jiffies");
	assert_string_equal(cfg->kaddrs[1], "init_task");

	assert_int_equal(cfg->n_hooks, 2);
	h = &cfg->hooks[0];
	assert_string_equal(h->name, "block_rq_issue");
	assert_int_equal(h->pos.line, 6);
	assert_int_equal(h->n_alternatives, 3);
	assert_alternative(&h->alternatives[0], 1, "tp_btf_block_rq_issue", NULL, 8, 9);
	assert_alternative(&h->alternatives[1], 1, "raw_tp_block_rq_issue", NULL, 9, 9);
	assert_alternative(&h->alternatives[2], 2, "kprobe_blk_mq_start_request",
			   "kprobe_blk_account_io_done", 10, 9);
	h = &cfg->hooks[1];
	assert_string_equal(h->name, "sched switch");
	assert_int_equal(h->n_alternatives, 1);
	assert_alternative(&h->alternatives[0], 1, "tp_sched_switch", NULL, 12, 20);

	/* Histograms come first in the file; counters still come first in metrics[]. */
	assert_int_equal(cfg->n_metrics, 3);
	assert_int_equal(cfg->metrics[0].kind, BB_METRIC_COUNTER);
	assert_string_equal(cfg->metrics[0].name, "syscalls_total");
	assert_int_equal(cfg->metrics[0].max_series, 5000);
	assert_int_equal(cfg->metrics[0].pos.line, 25);
	assert_int_equal(cfg->metrics[1].kind, BB_METRIC_COUNTER);
	assert_string_equal(cfg->metrics[1].name, "comm_total");
	assert_int_equal(cfg->metrics[1].max_series, 0);
	assert_int_equal(cfg->metrics[1].key_size, 16);
	re = &cfg->metrics[1].labels[0].decoders[1];
	assert_decoder(re, "regexp");
	assert_int_equal(re->n_regexps, 2);
	assert_string_equal(re->regexps[0], "^kworker");
	assert_string_equal(re->regexps[1], "^sshd$");
	assert_int_equal(cfg->metrics[2].kind, BB_METRIC_HISTOGRAM);
	assert_string_equal(cfg->metrics[2].name, "run_queue_seconds");
	assert_int_equal(cfg->metrics[2].bucket_type, BB_BUCKET_EXP2ZERO);
	assert_int_equal(cfg->metrics[2].bucket_max, 20);
	assert_int_equal(cfg->metrics[2].max_series, 100);
	assert_int_equal(cfg->metrics[2].pos.line, 15);
	bb_config_free(cfg);
}

/* ebpf_exporter's counters without labels, and perf_event_array counters. */
static void test_counter_without_labels_and_perf(void **state)
{
	struct bb_config *cfg = parse_ok(
		"ok.yaml", "metrics:\n  counters:\n    - name: a_total\n      help: h\n"
			   "    - name: b_total\n      help: h\n      labels: []\n"
			   "    - name: c_total\n      help: h\n      perf_event_array: true\n"
			   "      flush_interval: 1m30.5s\n" LABEL_UINT
			   "    - name: d_total\n      help: h\n      perf_event_array: yes\n"
			   "      flush_interval: 250ms\n");

	(void)state;
	assert_int_equal(cfg->n_metrics, 4);
	assert_int_equal(cfg->metrics[0].n_labels, 0);
	assert_int_equal(cfg->metrics[0].key_size, 0);
	assert_false(cfg->metrics[0].perf_event_array);
	assert_int_equal(cfg->metrics[1].n_labels, 0);
	assert_true(cfg->metrics[2].perf_event_array);
	assert_int_equal(cfg->metrics[2].flush_interval_ns, 90500000000ULL);
	assert_int_equal(cfg->metrics[2].key_size, 4);
	assert_int_equal(cfg->metrics[3].flush_interval_ns, 250000000ULL);
	assert_int_equal(n_logged, 0);
	bb_config_free(cfg);
}

static void test_unsupported_keys_warn(void **state)
{
	struct bb_config *cfg = load_ok(DATA "unsupported.yaml");

	(void)state;
	assert_int_equal(cfg->n_metrics, 1);
	assert_int_equal(n_logged, 1);
	assert_string_equal(logged[0], DATA
			    "unsupported.yaml:11:1: tracing: not supported by bpfbridge, ignored");
	/* cgroup_id_map is supported (core/cgroups.c): parsed, no warning */
	assert_non_null(cfg->cgroup_id_map);
	assert_string_equal(cfg->cgroup_id_map->name, "cgroup_map");
	assert_int_equal(cfg->cgroup_id_map->type, BB_CGROUP_MAP_HASH);
	assert_int_equal(cfg->cgroup_id_map->n_regexps, 2);
	assert_string_equal(cfg->cgroup_id_map->regexps[0], "^/system\\.slice/");
	assert_string_equal(cfg->cgroup_id_map->regexps[1], "docker");
	assert_int_equal(cfg->cgroup_id_map->pos.line, 15);
	bb_config_free(cfg);
}

static void test_cgroup_id_map(void **state)
{
	static const char head[] = "metrics:\n  counters:\n    - name: x_total\n      help: x\n"
				   "      labels:\n        - name: k\n          size: 8\n"
				   "          decoders:\n            - name: uint\n";
	static const struct {
		const char *tail, *err;
	} bad[] = {
		{ "cgroup_id_map:\n  type: hash\n  regexps: [a]\n",
		  "c.yaml:11:3: cgroup_id_map: expected key \"name\", got a mapping without it" },
		{ "cgroup_id_map:\n  name: m\n  type: lru\n  regexps: [a]\n",
		  "c.yaml:12:9: cgroup_id_map.type: expected hash or cgrp_storage, got \"lru\"" },
		{ "cgroup_id_map:\n  name: m\n  regexps: []\n",
		  "c.yaml:12:12: cgroup_id_map.regexps: expected a list of at least one regular "
		  "expression, got an empty list" },
		{ "cgroup_id_map:\n  name: m\n  regexps: ['a(']\n",
		  "c.yaml:12:13: cgroup_id_map.regexps[0]: expected a POSIX extended regular "
		  "expression, got \"a(\" (Unmatched ( or \\()" },
		{ "cgroup_id_map: [m]\n", "c.yaml:10:16: cgroup_id_map: expected a mapping with "
					  "name, type and regexps, got a "
					  "list" },
	};
	char doc[512], err[BB_ERRMSG_MAX];
	struct bb_config *cfg;

	(void)state;
	snprintf(doc, sizeof(doc),
		 "%scgroup_id_map:\n  name: m\n  type: cgrp_storage\n"
		 "  regexps: [x]\n",
		 head);
	cfg = parse_ok("c.yaml", doc);
	assert_int_equal(cfg->cgroup_id_map->type, BB_CGROUP_MAP_CGRP_STORAGE);
	assert_string_equal(bb_cgroup_map_type_name(cfg->cgroup_id_map->type), "cgrp_storage");
	bb_config_free(cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(doc, sizeof(doc), "%s%s", head, bad[i].tail);
		cfg = NULL;
		assert_int_equal(bb_config_parse("c.yaml", doc, strlen(doc), &cfg, err,
						 sizeof(err)),
				 -EINVAL);
		assert_null(cfg);
		assert_string_equal(err, bad[i].err);
	}
}

static void test_no_warning_for_refused_config(void **state)
{
	const char *yaml = "tracing: {}\nmetrics: {}\n";
	struct bb_config *cfg;
	char err[BB_ERRMSG_MAX];

	(void)state;
	assert_int_equal(bb_config_parse("bad.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(
		err,
		"bad.yaml:2:10: metrics: expected at least one counter or histogram, got none");
	assert_int_equal(n_logged, 0);
}

/* Anchors and aliases are fine: each use gets its own copy, freed once. */
static void test_aliases_shared_decoders(void **state)
{
	const char *yaml = "metrics:\n"
			   "  counters:\n"
			   "    - name: reads_total\n"
			   "      help: Reads\n"
			   "      labels:\n"
			   "        - name: op\n"
			   "          size: 0x4\n"
			   "          decoders: &ops\n"
			   "            - name: uint\n"
			   "            - name: static_map\n"
			   "              allow_unknown: yes\n"
			   "              static_map: {0: read, 1: write}\n"
			   "    - name: writes_total\n"
			   "      help: 'Writes'\n"
			   "      labels:\n"
			   "        - name: op\n"
			   "          size: 4\n"
			   "          decoders: *ops\n";
	struct bb_config *cfg = parse_ok("aliases.yaml", yaml);
	const struct bb_label_conf *a = &cfg->metrics[0].labels[0], *b = &cfg->metrics[1].labels[0];

	(void)state;
	assert_int_equal(a->size, 4);
	assert_int_equal(b->n_decoders, 2);
	assert_int_equal(b->decoders[1].n_static_map, 2);
	assert_true(b->decoders[1].allow_unknown);
	assert_string_equal(b->decoders[1].static_map[1].value, "write");
	assert_ptr_not_equal(a->decoders[1].static_map, b->decoders[1].static_map);
	assert_string_equal(cfg->metrics[1].help, "Writes");
	bb_config_free(cfg);
}

/* A few hundred bytes of aliases must not expand into millions of nodes. */
static void test_alias_blowup_refused(void **state)
{
	char yaml[4096], err[BB_ERRMSG_MAX];
	struct bb_config *cfg;
	size_t o = 0;

	(void)state;
	o += (size_t)snprintf(yaml + o, sizeof(yaml) - o,
			      "metrics:\n  counters:\n    - name: c_total\n      help: h\n"
			      "      labels:\n        - name: l\n          size: 4\n"
			      "          decoders: [&d {name: static_map, static_map: {");
	for (int i = 0; i < 100; i++)
		o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "%s%d: v", i ? ", " : "", i);
	o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "}}");
	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, ", *d");
	o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "]\n");
	assert_true(o < sizeof(yaml));
	assert_int_equal(bb_config_parse("bad.yaml", yaml, o, &cfg, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	assert_string_equal(
		err, "bad.yaml:8:56: metrics.counters[0].labels[0].decoders[100].static_map: "
		     "expected at most 20896 nodes after expanding aliases, got more");
}

/* libyaml searches its anchor list linearly: thousands of anchors are refused. */
static void test_anchor_limit(void **state)
{
	static char yaml[16384];
	char err[BB_ERRMSG_MAX];
	struct bb_config *cfg;
	size_t o = 0;

	(void)state;
	o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "metrics: [");
	for (int i = 0; i <= 1000; i++)
		o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "%s&a%d x", i ? ", " : "", i);
	o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "]\n");
	assert_true(o < sizeof(yaml));
	assert_int_equal(bb_config_parse("bad.yaml", yaml, o, &cfg, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	assert_string_equal(err,
			    "bad.yaml:1:8901: document: expected at most 1000 anchors, got more");
}

/* Decoder parameter errors come from bb_decoder_prepare(), prefixed with the decoder's position. */
static void test_decoder_prepare_error(void **state)
{
	const char *yaml = COUNTER_HEAD
		"      labels:\n        - name: comm\n          size: 16\n"
		"          decoders:\n            - name: string\n"
		"            - name: regexp\n              regexps: [\"ok\", \"(\"]\n";
	char *regexps[] = { "ok", "(" };
	struct bb_decoder_conf dec = { .name = "regexp", .regexps = regexps, .n_regexps = 2 };
	char fragment[BB_ERRMSG_MAX] = "", expect[2 * BB_ERRMSG_MAX], err[BB_ERRMSG_MAX];
	struct bb_config *cfg;

	(void)state;
	assert_int_not_equal(bb_decoder_prepare(&dec, fragment, sizeof(fragment)), 0);
	bb_decoder_release(&dec);
	assert_true(fragment[0] != '\0');
	snprintf(expect, sizeof(expect),
		 "bad.yaml:10:15: metrics.counters[0].labels[0].decoders[1]: %s", fragment);
	assert_int_equal(bb_config_parse("bad.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_null(cfg);
	assert_string_equal(err, expect);
}

static void test_object_path_and_name(void **state)
{
	const char *yaml = COUNTER_HEAD LABEL_UINT;
	struct bb_config *cfg;
	char err[BB_ERRMSG_MAX];

	(void)state;
	cfg = parse_ok("/etc/bpfbridge/syscalls.yaml", yaml);
	assert_string_equal(cfg->name, "syscalls");
	assert_string_equal(cfg->yaml_path, "/etc/bpfbridge/syscalls.yaml");
	assert_string_equal(cfg->object_path, "/etc/bpfbridge/syscalls.bpf.o");
	bb_config_free(cfg);

	cfg = parse_ok("plain.yaml", yaml);
	assert_string_equal(cfg->name, "plain");
	assert_string_equal(cfg->object_path, "plain.bpf.o");
	bb_config_free(cfg);

	assert_int_equal(bb_config_parse("conf.d/", yaml, strlen(yaml), &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_null(cfg);
	assert_string_equal(err, "conf.d/: expected a path to NAME.yaml, got no file name");
}

static void assert_path(const char *dir, const char *name, const char *expect)
{
	char *p = bb_config_path(dir, name);

	if (!expect) {
		assert_null(p);
		assert_int_equal(errno, EINVAL);
		return;
	}
	assert_non_null(p);
	assert_string_equal(p, expect);
	free(p);
}

static void test_config_path(void **state)
{
	(void)state;
	assert_path("/etc/bpfbridge", "biolatency", "/etc/bpfbridge/biolatency.yaml");
	assert_path("/etc/bpfbridge/", "biolatency.yaml", "/etc/bpfbridge/biolatency.yaml");
	assert_path("/etc/bpfbridge//", "runqlat", "/etc/bpfbridge/runqlat.yaml");
	assert_path("/", "a", "/a.yaml");
	assert_path("/etc/bpfbridge", "./local.yaml", "./local.yaml");
	assert_path("/etc/bpfbridge", "/opt/cfg/x.yaml", "/opt/cfg/x.yaml");
	assert_path("/etc/bpfbridge", "sub/x", "sub/x");
	assert_path(NULL, "a", "a.yaml");
	assert_path("", "a.yaml", "a.yaml");
	assert_path("d", "a.yml", "d/a.yml.yaml");
	assert_path("d", "", NULL);
	assert_path("d", ".yaml", NULL);
	assert_path("d", NULL, NULL);
}

static char *write_temp(size_t size, char fill)
{
	char *path = strdup("/tmp/bb-test-config-XXXXXX");
	char *buf = malloc(size);
	int fd;

	assert_non_null(path);
	assert_non_null(buf);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	memset(buf, fill, size);
	if (size)
		buf[size - 1] = '\n';
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
	return path;
}

static void test_load_size_limit(void **state)
{
	char err[BB_ERRMSG_MAX], expect[BB_ERRMSG_MAX];
	struct bb_config *cfg;
	char *path;

	(void)state;
	/* One byte over 1 MiB: refused before parsing. */
	path = write_temp(1024 * 1024 + 1, '#');
	assert_int_equal(bb_config_load(path, &cfg, err, sizeof(err)), -EFBIG);
	assert_null(cfg);
	snprintf(expect, sizeof(expect),
		 "%s: expected a config of at most 1048576 bytes, got 1048577 bytes", path);
	assert_string_equal(err, expect);
	unlink(path);
	free(path);

	/* Exactly 1 MiB is read and parsed (a comment: an empty document). */
	path = write_temp(1024 * 1024, '#');
	assert_int_equal(bb_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect),
		 "%s:1:1: document: expected a mapping with key \"metrics\", got an empty document",
		 path);
	assert_string_equal(err, expect);
	unlink(path);
	free(path);

	assert_int_equal(bb_config_parse("big.yaml", "", 1024 * 1024 + 1, &cfg, err, sizeof(err)),
			 -EFBIG);
	assert_string_equal(
		err, "big.yaml: expected a config of at most 1048576 bytes, got 1048577 bytes");
}

static void test_load_errors(void **state)
{
	char err[BB_ERRMSG_MAX];
	struct bb_config *cfg;

	(void)state;
	assert_int_equal(bb_config_load(DATA "missing.yaml", &cfg, err, sizeof(err)), -ENOENT);
	assert_null(cfg);
	assert_string_equal(err, DATA "missing.yaml: cannot open: No such file or directory");
	assert_int_equal(bb_config_load(BB_TEST_DATA_DIR "/config", &cfg, err, sizeof(err)),
			 -EISDIR);
	assert_string_equal(err,
			    BB_TEST_DATA_DIR "/config: expected a regular file, got a directory");
}

/* Short or missing error buffers are never overrun. */
static void test_error_buffer(void **state)
{
	const char *yaml = "metrics: []\n";
	struct bb_config *cfg;
	char err[17];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(bb_config_parse("bad.yaml", yaml, strlen(yaml), &cfg, err, 12), -EINVAL);
	assert_string_equal(err, "bad.yaml:1:");
	assert_int_equal(err[12], 'x');
	assert_int_equal(bb_config_parse("bad.yaml", yaml, strlen(yaml), &cfg, NULL, 0), -EINVAL);
	assert_null(cfg);
	assert_int_equal(bb_config_parse("bad.yaml", yaml, strlen(yaml), NULL, err, sizeof(err)),
			 -EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(bb_bucket_type_name(BB_BUCKET_EXP2), "exp2");
	assert_string_equal(bb_bucket_type_name(BB_BUCKET_EXP2ZERO), "exp2zero");
	assert_string_equal(bb_bucket_type_name(BB_BUCKET_LINEAR), "linear");
	assert_string_equal(bb_bucket_type_name(BB_BUCKET_FIXED), "fixed");
	assert_string_equal(bb_metric_kind_name(BB_METRIC_COUNTER), "counter");
	assert_string_equal(bb_metric_kind_name(BB_METRIC_HISTOGRAM), "histogram");
	assert_string_equal(bb_metric_kind_name(BB_METRIC_GAUGE), "gauge");
	bb_config_free(NULL);
}

/* The bad cases must stay distinct: two equal messages would mean a case tests nothing new. */
static void test_bad_cases_distinct(void **state)
{
	const size_t n = sizeof(bad_cases) / sizeof(bad_cases[0]);

	(void)state;
	assert_true(n >= 25);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (!strcmp(bad_cases[i].yaml, bad_cases[j].yaml) ||
			    !strcmp(bad_cases[i].name, bad_cases[j].name))
				fail_msg("cases %s and %s are the same", bad_cases[i].name,
					 bad_cases[j].name);
}

#define TEST(f) cmocka_unit_test_setup(f, reset_log)

int main(void)
{
	static const struct CMUnitTest fixed_tests[] = {
		TEST(test_biolatency),
		TEST(test_fixed),
		TEST(test_hooks_kaddrs_max_series),
		TEST(test_counter_without_labels_and_perf),
		TEST(test_unsupported_keys_warn),
		TEST(test_cgroup_id_map),
		TEST(test_no_warning_for_refused_config),
		TEST(test_aliases_shared_decoders),
		TEST(test_alias_blowup_refused),
		TEST(test_anchor_limit),
		TEST(test_decoder_prepare_error),
		TEST(test_object_path_and_name),
		TEST(test_config_path),
		TEST(test_load_size_limit),
		TEST(test_load_errors),
		TEST(test_error_buffer),
		TEST(test_names),
		TEST(test_bad_cases_distinct),
	};
	const size_t n_fixed = sizeof(fixed_tests) / sizeof(fixed_tests[0]);
	const size_t n_bad = sizeof(bad_cases) / sizeof(bad_cases[0]);
	struct CMUnitTest *tests = calloc(n_fixed + n_bad, sizeof(*tests));
	char(*names)[64] = calloc(n_bad, sizeof(*names));
	int rc;

	if (!tests || !names)
		return 1;
	memcpy(tests, fixed_tests, sizeof(fixed_tests));
	/* One test per bad config, so the TAP output names the case that broke. */
	for (size_t i = 0; i < n_bad; i++) {
		snprintf(names[i], sizeof(names[i]), "bad_%s", bad_cases[i].name);
		tests[n_fixed + i] = (struct CMUnitTest){ names[i], test_bad, reset_log, NULL,
							  (void *)&bad_cases[i] };
	}
	rc = _cmocka_run_group_tests("config", tests, n_fixed + n_bad, NULL, NULL);
	bb_log_set_sink(NULL, NULL);
	free(names);
	free(tests);
	return rc;
}
