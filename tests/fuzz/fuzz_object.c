/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the object side (issue 17): a .bpf.o mutated from the
 * shipped ones goes through what the engine does with an object before the
 * load syscall (bb_loader_prepare_mem(): libbpf's open of ELF, BTF and map
 * definitions, the program and hook index, the maps checked against the
 * config, kaddrs written into .rodata, the probes, the choice of
 * alternatives). Nothing is loaded.
 *
 * Input: byte 0 picks the config (kmalloc.yaml, syscalls.yaml, or
 * tests/fuzz/object/bbtest.yaml with kaddrs and hooks), the rest is the
 * object. The seeds (tests/fuzz/corpus-object, made by
 * tests/fuzz/object/make-seeds) are the matching objects without DWARF.
 * Checked: no crash, leak or sanitizer report; a refusal is a negative errno
 * with a one-line message.
 *
 * Per input there is no file I/O: the configs are parsed once, the kaddrs are
 * fixed addresses instead of /proc/kallsyms, and the loader keeps the
 * kernel's BTF and its probe results across inputs (bb_loader_hold). They are
 * dropped every 65536 inputs so mutated section names do not grow the probe
 * cache without bound; reloading the kernel's BTF and probing again takes
 * about a second (it made a 13 s timeout on the loaded machine when done
 * every 4096 inputs).
 * Built by `make fuzz`; run by tests/fuzz/run-short.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const config_paths[] = {
	BB_FUZZ_SRC "/bpf/kmalloc.yaml",
	BB_FUZZ_SRC "/bpf/syscalls.yaml",
	BB_FUZZ_SRC "/tests/fuzz/object/bbtest.yaml",
};
#define N_CONFIGS (sizeof(config_paths) / sizeof(config_paths[0]))
#define HOLD_INPUTS 65536

static struct bb_config *configs[N_CONFIGS];
static uint64_t kaddrs[16];

static void quiet(enum bb_log_level level, const char *msg, void *c)
{
	(void)level;
	(void)msg;
	(void)c;
}

static struct bb_config *parse(const char *path)
{
	struct bb_config *cfg = NULL;
	char err[1024], *buf;
	FILE *f = fopen(path, "re");
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		abort();
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
		abort();
	fclose(f);
	if (bb_config_parse(path, buf, (size_t)len, &cfg, err, sizeof(err))) {
		fprintf(stderr, "fuzz_object: %s\n", err);
		abort();
	}
	free(buf);
	return cfg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	bb_log_set_sink(quiet, NULL);
	bb_log_set_level(BB_LOG_ERR);
	for (size_t i = 0; i < N_CONFIGS; i++) {
		configs[i] = parse(config_paths[i]);
		if (configs[i]->n_kaddrs > sizeof(kaddrs) / sizeof(kaddrs[0]))
			abort();
	}
	for (size_t k = 0; k < sizeof(kaddrs) / sizeof(kaddrs[0]); k++)
		kaddrs[k] = 0xffffffff81000000ULL + 0x1000 * k;
	bb_loader_hold();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned long inputs;
	char err[1024];
	int ret;

	if (size < 1)
		return 0;
	if (++inputs % HOLD_INPUTS == 0) {
		bb_loader_release(); /* drops the cached failed probes */
		bb_loader_hold();
	}
	ret = bb_loader_prepare_mem(configs[data[0] % N_CONFIGS], data + 1, size - 1, kaddrs, err,
				    sizeof(err));
	if (ret > 0)
		abort();
	if (ret < 0 && (!err[0] || strchr(err, '\n'))) {
		fprintf(stderr, "fuzz_object: bad refusal %d: \"%s\"\n", ret, err);
		abort();
	}
	return 0;
}
