/* SPDX-License-Identifier: MIT */
/*
 * Issue 17: a module that links the core (snmpd's dlmod, collectd's ebpf.so)
 * installs its libbpf printer; after dlclose() libbpf, which stays loaded, must
 * have the printer it had before, not a pointer into the unmapped module.
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <bpf/libbpf.h>

static int host_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static void test_print_restored(void **state)
{
	void *mod, *init;
	libbpf_print_fn_t cur;

	(void)state;
	libbpf_set_print(host_print);
	mod = dlopen(UNLOAD_MOD, RTLD_NOW | RTLD_LOCAL);
	if (!mod)
		fail_msg("dlopen %s: %s", UNLOAD_MOD, dlerror());
	init = dlsym(mod, "unload_mod_init");
	assert_non_null(init);
	((void (*)(void))init)();
	cur = libbpf_set_print(NULL);
	assert_true(cur != host_print); /* the module's printer is in place */
	libbpf_set_print(cur);
	assert_int_equal(dlclose(mod), 0);
	/* the module is gone, and so is its printer */
	assert_null(dlopen(UNLOAD_MOD, RTLD_NOW | RTLD_NOLOAD));
	assert_true(libbpf_set_print(NULL) == host_print);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_print_restored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
