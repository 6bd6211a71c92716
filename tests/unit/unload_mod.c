/* SPDX-License-Identifier: MIT */
/* A module that links the core, as ebpf.so and bpfbridge.so do: test_unload
 * dlopen()s it, routes libbpf's messages through it, and dlclose()s it. */
#include "loader.h"

void unload_mod_init(void);

void unload_mod_init(void)
{
	bb_loader_init_libbpf();
}
