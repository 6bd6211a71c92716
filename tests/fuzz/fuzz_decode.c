/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the decoder chains on random key bytes (issue 17).
 * The input's first bytes choose a label size and a chain of up to three
 * decoders (static_map and regexp with fixed maps); the chain goes through the
 * config parser, so only chains a config may hold are decoded, and the rest of
 * the input is the key. A decode either gives a label shorter than
 * BB_LABEL_MAX, drops the series, or fails with a one-line message.
 * Built by `make fuzz`; run by tests/fuzz/run-short.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* decode.h brings core/config.h: a bare "config.h" would find autoconf's. */
#include "decode.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const decoders[] = {
	"uint",	  "string",  "hex",	   "static_map", "regexp",    "ksym",
	"kstack", "syscall", "errno",	   "majorminor", "inet_ip",   "ifname",
	"cgroup", "dname",   "pci_vendor", "pci_device", "pci_class", "pci_subclass",
};
#define N_DECODERS (sizeof(decoders) / sizeof(decoders[0]))
static const unsigned sizes[] = { 1, 2, 4, 6, 8, 16, 20, 32, 64, 128, 255, 256, 1024 };

static struct bb_decode_ctx *ctx;

static void quiet(enum bb_log_level level, const char *msg, void *c)
{
	(void)level;
	(void)msg;
	(void)c;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* the unit tests' files: the same symbols, devices and PCI names every run */
	const struct bb_decode_paths paths = {
		.kallsyms = BB_FUZZ_DATA "/kallsyms",
		.partitions = BB_FUZZ_DATA "/partitions",
		.cgroup_root = NULL,
		.pci_ids = BB_FUZZ_DATA "/pci.ids",
	};

	(void)argc;
	(void)argv;
	bb_log_set_sink(quiet, NULL);
	ctx = bb_decode_ctx_new(&paths);
	if (!ctx)
		abort();
	bb_decode_ctx_set_refresh_ms(ctx, 3600 * 1000);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char yaml[2048], out[BB_LABEL_MAX], err[BB_ERRMSG_MAX];
	uint8_t *key;
	struct bb_config *cfg = NULL;
	unsigned label_size, flags = 0;
	size_t len, n = 0;
	enum bb_decode_status st;

	if (size < 4)
		return 0;
	label_size = sizes[data[0] % (sizeof(sizes) / sizeof(sizes[0]))];
	len = (size_t)snprintf(yaml, sizeof(yaml),
			       "metrics:\n  counters:\n    - name: f_total\n      help: h\n"
			       "      labels:\n        - name: l\n          size: %u\n"
			       "          decoders:\n",
			       label_size);
	for (int i = 1; i <= 3; i++) {
		const char *d;

		if (data[i] >= 3 * N_DECODERS) /* fewer than three decoders */
			break;
		d = decoders[data[i] % N_DECODERS];
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "            - name: %s\n",
					d);
		if (!strcmp(d, "static_map"))
			len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
						"              static_map: {0: zero, 1: one, 7: "
						"\"a b\", 255: \"\"}\n"
						"              allow_unknown: %s\n",
						data[i] >= N_DECODERS ? "true" : "false");
		else if (!strcmp(d, "regexp"))
			len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
						"              regexps: [\"^sd[a-z]+$\", \"^nv\", "
						"\"(a|b)*c\"]\n");
		n++;
	}
	if (!n || bb_config_parse("fuzz.yaml", yaml, len, &cfg, err, sizeof(err)) != 0)
		return 0;
	data += 4;
	size -= 4;
	key = calloc(1, label_size);
	if (!key)
		abort();
	memcpy(key, data, size < label_size ? size : label_size);
	err[0] = '\0';
	memset(out, 'X', sizeof(out));
	st = bb_decode_label_flags(ctx, &cfg->metrics[0].labels[0], key, out, sizeof(out), err,
				   sizeof(err), &flags);
	if (st == BB_DECODE_OK) {
		if (!memchr(out, '\0', sizeof(out)))
			abort();
	} else if (st == BB_DECODE_ERROR) {
		if (!err[0] || strchr(err, '\n') || !memchr(err, '\0', sizeof(err))) {
			fprintf(stderr, "bad error message: \"%s\"\n", err);
			abort();
		}
	} else if (st != BB_DECODE_DROP) {
		abort();
	}
	free(key);
	bb_config_free(cfg);
	return 0;
}
