/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/capability.h>

#include "privilege.h"

static const struct {
	uint64_t bit;
	const char *name;
} cap_names[] = {
	{ BB_CAP_BPF, "CAP_BPF" },
	{ BB_CAP_PERFMON, "CAP_PERFMON" },
	{ BB_CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH" },
	{ BB_CAP_SYSLOG, "CAP_SYSLOG" },
	{ BB_CAP_SYS_ADMIN, "CAP_SYS_ADMIN" },
	{ BB_CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE" },
};

uint64_t bb_caps_for_load(void)
{
	struct utsname u;
	struct rlimit rl;
	int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return BB_CAPS_BASE;
	if (major > 5 || (major == 5 && minor >= 11))
		return BB_CAPS_BASE; /* memory cgroup accounting instead */
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY)
		return BB_CAPS_BASE;
	return BB_CAPS_BASE | BB_CAP_SYS_RESOURCE;
}

uint64_t bb_caps_effective(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return (uint64_t)data[0].effective | (uint64_t)data[1].effective << 32;
}

/* "CAP_A", "CAP_A and CAP_B", "CAP_A, CAP_B and CAP_C" */
static size_t names(uint64_t set, char *out, size_t len)
{
	size_t n = 0, total = 0, used = 0;

	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		total += !!(set & cap_names[i].bit);
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]) && used < len; i++) {
		if (!(set & cap_names[i].bit))
			continue;
		n++;
		used += snprintf(out + used, len - used, "%s%s",
				 n == 1	      ? ""
				 : n == total ? " and "
					      : ", ",
				 cap_names[i].name);
	}
	return used;
}

void bb_caps_hint(int err, uint64_t needed, char *out, size_t len)
{
	uint64_t have, missing;
	size_t used;

	if (!len)
		return;
	out[0] = '\0';
	if (err < 0)
		err = -err;
	if (err != EPERM && err != EACCES)
		return;
	have = bb_caps_effective();
	/* the kernel's bpf_capable() and perfmon_capable() accept CAP_SYS_ADMIN too */
	if (have & BB_CAP_SYS_ADMIN)
		have |= BB_CAP_BPF | BB_CAP_PERFMON;
	missing = needed & ~have;
	if (!missing)
		return;
	used = snprintf(out, len, " (needs ");
	if (used < len)
		used += names(needed, out + used, len - used);
	if (used < len)
		used += snprintf(out + used, len - used, "; this process lacks ");
	if (used < len)
		used += names(missing, out + used, len - used);
	if (used < len)
		snprintf(out + used, len - used, ")");
}
