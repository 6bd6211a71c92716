/* SPDX-License-Identifier: MIT */
/*
 * Label decoders (ebpf_exporter's set). A label's decoders form a chain: the
 * first one sees the raw key bytes of the label, each next one sees the text
 * the previous one produced. Decoders that take a number (syscall, errno,
 * majorminor, ksym, ifname, cgroup, pci_*) accept either raw little-endian
 * bytes (when first in the chain) or the decimal text of a preceding "uint".
 */
#ifndef BPFBRIDGE_DECODE_H
#define BPFBRIDGE_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "config.h"

#define BB_LABEL_MAX 256 /* longest decoded label value, NUL included */

enum bb_decode_status {
	BB_DECODE_OK = 0,
	BB_DECODE_DROP = 1,   /* e.g. regexp did not match: drop the series, not an error */
	BB_DECODE_ERROR = -1, /* malformed input; err says why */
};

/* True if NAME is a decoder this build knows. */
bool bb_decoder_known(const char *name);

/* Comma-separated list of known decoder names, for error messages. */
const char *bb_decoder_names(void);

/*
 * Validate a decoder's parameters and compile its state (regexps). Called by
 * the config parser for each decoder; the message it writes is a fragment such
 * as "static_map: expected a mapping" that the parser prefixes with the
 * position. Returns 0 or -EINVAL.
 */
int bb_decoder_prepare(struct bb_decoder_conf *dec, char *err, size_t errlen);

/* Free what bb_decoder_prepare() allocated (dec->priv). */
void bb_decoder_release(struct bb_decoder_conf *dec);

/* Shared caches (kallsyms, /proc/partitions, cgroup paths, pci.ids).
 * One per engine; thread-safe. Paths are overridable for tests. */
struct bb_decode_ctx;

struct bb_decode_paths {
	const char *kallsyms;	 /* default /proc/kallsyms */
	const char *partitions;	 /* default /proc/partitions */
	const char *cgroup_root; /* default /sys/fs/cgroup */
	const char
		*pci_ids; /* default: first of /usr/share/misc/pci.ids, /usr/share/hwdata/pci.ids */
};

struct bb_decode_ctx *bb_decode_ctx_new(const struct bb_decode_paths *paths /* NULL = defaults */);
void bb_decode_ctx_free(struct bb_decode_ctx *ctx);

/* How often a cache (kallsyms, partitions, cgroups) may be reloaded after a miss. Default 5 s. */
void bb_decode_ctx_set_refresh_ms(struct bb_decode_ctx *ctx, unsigned ms);

/*
 * Decode one label: run LABEL's decoder chain over RAW (label->size bytes).
 * Writes a NUL-terminated value of at most outlen-1 bytes. On BB_DECODE_ERROR
 * err holds the reason ("uint: size 3 not one of 1, 2, 4, 8").
 */
enum bb_decode_status bb_decode_label(struct bb_decode_ctx *ctx, const struct bb_label_conf *label,
				      const uint8_t *raw, char *out, size_t outlen, char *err,
				      size_t errlen);

/* Flags bb_decode_label_flags() reports. */
#define BB_DECODE_PROVISIONAL \
	1u		       /* a fallback text (unknown cgroup, device, ksym, ifindex): a
				  * later decode may resolve it */
#define BB_DECODE_TRUNCATED 2u /* cut to BB_LABEL_MAX - 1 bytes with a hash suffix */

/*
 * bb_decode_label(), plus what the chain's last step did. With OUTLEN below
 * BB_LABEL_MAX the text is cut plainly (no hash suffix). Every chain ends with one step that makes the text valid
 * UTF-8 and keeps it unique (bb_label_escape).
 */
enum bb_decode_status bb_decode_label_flags(struct bb_decode_ctx *ctx,
					    const struct bb_label_conf *label, const uint8_t *raw,
					    char *out, size_t outlen, char *err, size_t errlen,
					    unsigned *flags);

/*
 * The last step of every decoder chain. IN (any bytes, NUL-terminated)
 * becomes valid UTF-8 in OUT (at least BB_LABEL_MAX bytes), reversibly:
 * a control byte (but tab and newline), DEL or a byte outside a valid UTF-8 sequence becomes
 * "\xNN" (lowercase hex), and a literal backslash that would read as such an
 * escape (followed by "x" and a byte >= 0x80, a control byte, DEL or "5c")
 * becomes "\x5c". Everything else, including systemd's "\x2d", passes
 * unchanged. So two different inputs never give the same label. A result
 * longer than BB_LABEL_MAX - 1 bytes keeps its first bytes plus "~" and 16
 * hex digits of a hash of the whole; returns true then.
 */
bool bb_label_escape(const char *in, char *out, size_t outlen);

#endif
