/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the config parser: any bytes either give a config that
 * holds the parser's promises or one line "fuzz.yaml:LINE:COLUMN: ..." and
 * nothing allocated. Built by `make fuzz`; run by tests/fuzz/run-short.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* decode.h brings core/config.h: a bare "config.h" would find autoconf's. */
#include "decode.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum bb_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	bb_log_set_sink(quiet, NULL);
	return 0;
}

static void check_config(const struct bb_config *cfg)
{
	if (!cfg->n_metrics)
		abort();
	for (size_t i = 0; i < cfg->n_metrics; i++) {
		const struct bb_metric_conf *m = &cfg->metrics[i];
		uint32_t key_size = 0;

		/* a counter may have no labels: it reads u32 key 0, as ebpf_exporter does */
		if (!m->name || !m->help || m->key_size > 1024 ||
		    (!m->n_labels && m->kind == BB_METRIC_HISTOGRAM))
			abort();
		if (i && m->kind < cfg->metrics[i - 1].kind) /* counters first */
			abort();
		for (size_t j = 0; j < m->n_labels; j++) {
			const struct bb_label_conf *l = &m->labels[j];

			if (!l->name || !l->size || !l->n_decoders)
				abort();
			for (size_t k = 0; k < l->n_decoders; k++)
				if (!l->decoders[k].name || !bb_decoder_known(l->decoders[k].name))
					abort();
			key_size += l->size + l->padding;
		}
		if (key_size != m->key_size)
			abort();
		if (m->kind == BB_METRIC_HISTOGRAM) {
			const struct bb_label_conf *b = &m->labels[m->n_labels - 1];

			if (strcmp(b->decoders[b->n_decoders - 1].name, "uint"))
				abort();
			if (m->bucket_type == BB_BUCKET_FIXED
				    ? !m->n_bucket_keys
				    : m->bucket_min > m->bucket_max || m->bucket_max > 1023)
				abort();
			if (!(m->bucket_multiplier > 0))
				abort();
			/* flat_index: what the reader's slot split relies on */
			if (m->flat_index &&
			    (m->bucket_type == BB_BUCKET_FIXED || m->n_labels != 2 ||
			     !m->labels[0].size || (m->labels[0].size & (m->labels[0].size - 1)) ||
			     m->labels[0].size > 8))
				abort();
		}
	}
	for (size_t i = 0; i < cfg->n_hooks; i++)
		if (!cfg->hooks[i].name || !cfg->hooks[i].n_alternatives)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bb_config *cfg = NULL;
	char err[BB_ERRMSG_MAX];
	int line = 0, column = 0, used = 0;
	int rc;

	rc = bb_config_parse("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof(err));
	if (!rc) {
		if (!cfg)
			abort();
		check_config(cfg);
		bb_config_free(cfg);
		return 0;
	}
	if (cfg || strchr(err, '\n'))
		abort();
	if (rc == -ENOMEM && !strcmp(err, "fuzz.yaml: out of memory"))
		return 0;
	/* Every refusal of a document names a position. */
	if (rc != -EINVAL || sscanf(err, "fuzz.yaml:%d:%d: %n", &line, &column, &used) != 2 ||
	    !used || line < 1 || column < 1)
		abort();
	return 0;
}
