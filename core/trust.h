/* SPDX-License-Identifier: MIT */
/*
 * Files bpfbridge may load. Loading BPF is root-equivalent, so whoever can
 * change a config, an object or a BTF file owns the host. Every such file and
 * every directory from it up to / (through symlinks, which are followed by
 * hand) must be owned by root or by the effective user, and writable by no one
 * else; a sticky directory such as /tmp counts as not writable, since others
 * cannot replace what it holds. This holds whatever the uid: a container that
 * runs bpfbridge as a non-root user with CAP_BPF is just as root-equivalent.
 *
 * The walk opens each component with openat(O_PATH | O_NOFOLLOW) relative to
 * the directory already checked, and checks the descriptor (fstat), as
 * OpenSSH's safe_path() does but on descriptors: there is no name to swap
 * between the check and the open.
 */
#ifndef BPFBRIDGE_TRUST_H
#define BPFBRIDGE_TRUST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Open PATH read-only after the checks above (none when SKIP_CHECK, for tests
 * of other things). Returns the descriptor, or a negative errno with one line
 * in err: "PATH: refusing to load: OFFENDER ..." (-EPERM) naming the file,
 * directory or symlink at fault, or "PATH: WHAT: strerror" for other errors
 * (WHAT may be NULL).
 */
int bb_trust_open(const char *path, const char *what, bool skip_check, char *err, size_t errlen);

/* Read a file opened by bb_trust_open() whole into a NUL-terminated buffer (caller frees). */
int bb_trust_read_file(const char *path, bool skip_check, char **buf, size_t *len, char *err,
		       size_t errlen);

#endif
