/* SPDX-License-Identifier: MIT */
/*
 * The object side before the load syscall (issue 17): bb_objcheck() and
 * bb_loader_prepare_mem() on the fuzz seeds and on objects that crashed
 * Debian 12's libbpf 1.1.2 inside bpf_object__open_mem() (found by
 * tests/fuzz/fuzz_object.c; the inputs are in data/object/, byte 0 picks the
 * config as in the fuzz target).
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "loader.h"
#include "log.h"
#include "objcheck.h"

static const char *const config_paths[] = {
	BB_SRC_DIR "/bpf/kmalloc.yaml",
	BB_SRC_DIR "/bpf/syscalls.yaml",
	BB_SRC_DIR "/tests/fuzz/object/bbtest.yaml",
};
static const char *const seeds[] = { "kmalloc", "syscalls", "bbtest" };
static const uint64_t kaddrs[4] = { 0xffffffff81000000ULL, 0xffffffff81001000ULL };

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	uint8_t *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static struct bb_config *config(size_t i)
{
	struct bb_config *cfg = NULL;
	char err[1024];
	size_t len;
	uint8_t *yaml = slurp(config_paths[i], &len);

	if (bb_config_parse(config_paths[i], (const char *)yaml, len, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	free(yaml);
	return cfg;
}

/* A fuzz input (config byte + object): the object in an aligned buffer. */
static uint8_t *object(const char *path, size_t *len, size_t *cfg)
{
	size_t n;
	uint8_t *in = slurp(path, &n), *obj = malloc(n);

	assert_non_null(obj);
	memcpy(obj, in + 1, n - 1);
	*cfg = in[0] % 3;
	*len = n - 1;
	free(in);
	return obj;
}

static uint8_t *seed(size_t i, size_t *len)
{
	char path[512];
	size_t cfg;

	snprintf(path, sizeof(path), "%s/%s", BB_SRC_DIR "/tests/fuzz/corpus-object", seeds[i]);
	uint8_t *obj = object(path, len, &cfg);
	assert_int_equal(cfg, i);
	return obj;
}

/* What the engine says about OBJ with config CFG, up to the load. */
static int prepare(size_t cfg_i, const uint8_t *obj, size_t len, char *err, size_t errlen)
{
	struct bb_config *cfg = config(cfg_i);
	int ret = bb_loader_prepare_mem(cfg, obj, len, kaddrs, err, errlen);

	bb_config_free(cfg);
	return ret;
}

static void assert_refused(int ret, const char *err, const char *want)
{
	if (ret >= 0 || !strstr(err, want) || strchr(err, '\n'))
		fail_msg("got %d \"%s\", expected a refusal saying \"%s\"", ret, err, want);
}

static void test_seeds_prepare(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		size_t len;
		uint8_t *obj = seed(i, &len);
		char err[1024] = "";

		assert_int_equal(bb_objcheck(obj, len, err, sizeof(err)), 0);
		if (prepare(i, obj, len, err, sizeof(err)))
			fail_msg("%s: %s", seeds[i], err);
		free(obj);
	}
}

/* fuzz_object's first crash: libbpf 1.1.2 read a struct member's type past
 * the end of the BTF (parse_btf_map_def -> skip_mods_and_typedefs, SIGSEGV). */
static void test_btf_member_type_past_end(void **state)
{
	size_t len, cfg;
	uint8_t *obj = object(BB_TEST_DATA_DIR "/object/btf-member-type-past-end", &len, &cfg);
	char err[1024];

	(void)state;
	assert_refused(prepare(cfg, obj, len, err, sizeof(err)), err,
		       "syscalls.bpf.o: not a valid BPF object: BTF type ");
	assert_refused(-1, err, ", past the last type (");
	free(obj);
}

/* A section name holding a newline: the refusal stays one line. */
static void test_newline_in_section_name(void **state)
{
	size_t len, cfg;
	uint8_t *obj = object(BB_TEST_DATA_DIR "/object/newline-in-section-name", &len, &cfg);
	char err[1024];

	(void)state;
	assert_refused(prepare(cfg, obj, len, err, sizeof(err)), err, "bbtest.bpf.o: ");
	free(obj);
}

static Elf64_Shdr *sections(uint8_t *obj, size_t *n)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)obj;

	*n = eh->e_shnum;
	return (Elf64_Shdr *)(obj + eh->e_shoff);
}

static size_t find_section(uint8_t *obj, uint32_t type)
{
	size_t n;
	Elf64_Shdr *sh = sections(obj, &n);

	for (size_t i = 1; i < n; i++)
		if (sh[i].sh_type == type)
			return i;
	fail_msg("no section of type %u", type);
	return 0;
}

static void test_section_past_end(void **state)
{
	size_t len, n;
	uint8_t *obj = seed(0, &len);
	Elf64_Shdr *sh = sections(obj, &n);
	char err[1024];

	(void)state;
	sh[find_section(obj, SHT_SYMTAB)].sh_size = len;
	assert_refused(prepare(0, obj, len, err, sizeof(err)), err, "is past the end of the file");
	free(obj);
}

static void test_symbol_in_no_section(void **state)
{
	size_t len, n;
	uint8_t *obj = seed(0, &len);
	Elf64_Shdr *sh = sections(obj, &n);
	Elf64_Sym *sym = (Elf64_Sym *)(obj + sh[find_section(obj, SHT_SYMTAB)].sh_offset);
	char err[1024];

	(void)state;
	sym[1].st_shndx = (uint16_t)(n + 3);
	assert_refused(prepare(0, obj, len, err, sizeof(err)), err, "symbol 1 is in section");
	free(obj);
}

static void test_relocation_of_no_symbol(void **state)
{
	size_t len, n;
	uint8_t *obj = seed(0, &len);
	Elf64_Shdr *sh = sections(obj, &n);
	Elf64_Rel *rel = (Elf64_Rel *)(obj + sh[find_section(obj, SHT_REL)].sh_offset);
	char err[1024];

	(void)state;
	rel[0].r_info = ELF64_R_INFO(100000, ELF64_R_TYPE(rel[0].r_info));
	assert_refused(prepare(0, obj, len, err, sizeof(err)), err, "names symbol 100000 of");
	free(obj);
}

static void test_not_elf(void **state)
{
	uint8_t *obj = calloc(1, 4096);
	char err[1024];

	(void)state;
	assert_non_null(obj);
	memcpy(obj,
	       "\x7f"
	       "ELF\x01\x01\x01",
	       7); /* 32-bit */
	assert_refused(prepare(0, obj, 4096, err, sizeof(err)), err,
		       "kmalloc.bpf.o: not a valid BPF object: not a 64-bit ELF file");
	assert_refused(prepare(0, obj, 3, err, sizeof(err)), err, "not an ELF file");
	free(obj);
}

static void quiet(enum bb_log_level level, const char *msg, void *c)
{
	(void)level;
	(void)msg;
	(void)c;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeds_prepare),
		cmocka_unit_test(test_btf_member_type_past_end),
		cmocka_unit_test(test_newline_in_section_name),
		cmocka_unit_test(test_section_past_end),
		cmocka_unit_test(test_symbol_in_no_section),
		cmocka_unit_test(test_relocation_of_no_symbol),
		cmocka_unit_test(test_not_elf),
	};

	bb_log_set_sink(quiet, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
