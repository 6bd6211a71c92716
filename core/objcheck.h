/* SPDX-License-Identifier: MIT */
/* The structure of a .bpf.o, checked before libbpf opens it (see objcheck.c). */
#ifndef BPFBRIDGE_OBJCHECK_H
#define BPFBRIDGE_OBJCHECK_H

#include <stddef.h>

/*
 * 0 when BUF (LEN bytes, 8-byte aligned) is an ELF object whose sections,
 * symbols, relocations and BTF types point only inside it; otherwise a
 * negative errno and WHY says what is wrong (without the file name).
 */
int bb_objcheck(const void *buf, size_t len, char *why, size_t wlen);

#endif
