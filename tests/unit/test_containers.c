// SPDX-License-Identifier: MIT
/*
 * The shipped bpf/syscalls-container.yaml turns the cgroup paths each
 * container runtime makes into pod_uid and container_id labels (regexp
 * capture groups after the cgroup decoder), and its cgroup_id_map lets
 * exactly the container cgroups through. Real-looking paths of Docker
 * (systemd and cgroupfs drivers), Podman (root and rootless), containerd and
 * CRI-O under Kubernetes (systemd and cgroupfs drivers) are made as
 * directories of a fake cgroup root, and their inode numbers, which is what
 * a cgroup id is, go through the shipped decoder chains.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "decode.h"

#ifndef BB_SHIPPED_BPF_DIR
#error "BB_SHIPPED_BPF_DIR must point at the source tree's bpf/"
#endif

#define ID_DOCKER "3f4e1c2d5b6a79808f9e0d1c2b3a49586776859403a2b1c0d9e8f7a6b5c4d3e2"
#define ID_DOCKERFS "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define ID_PODMAN "0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"
#define ID_CONTAINERD "e0d1c2b3a4958677685940312a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b"
#define ID_CONTAINERDFS "77c3a9e1f0b2d4c6e8a0b1c3d5e7f9a2b4c6d8e0f1a3b5c7d9e2f4a6b8c0d1e3"
#define ID_CRIO "5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b"
#define ID_CRIOFS "b9a8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8"
#define UID_A "6f1d2c3b-4a59-4867-8f9e-0d1c2b3a4958"
#define UID_A_ "6f1d2c3b_4a59_4867_8f9e_0d1c2b3a4958"
#define UID_B "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define UID_C "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b"
#define UID_C_ "9e8d7c6b_5a4f_4e3d_9c2b_1a0f9e8d7c6b"
#define UID_D "13572468-9abc-4def-8123-456789abcdef"

static const struct runtime_path {
	const char *what;
	const char *path; /* relative to the cgroup root */
	const char *pod_uid;
	const char *container_id; /* NULL: not a container, cgroup_id_map must not match */
} paths[] = {
	{ "Docker, systemd driver", "system.slice/docker-" ID_DOCKER ".scope", "", ID_DOCKER },
	{ "Docker, cgroupfs driver", "docker/" ID_DOCKERFS, "", ID_DOCKERFS },
	{ "Podman", "machine.slice/libpod-" ID_PODMAN ".scope", "", ID_PODMAN },
	{ "Podman, rootless",
	  "user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID_PODMAN ".scope", "",
	  ID_PODMAN },
	{ "containerd, Kubernetes systemd driver",
	  "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_A_
	  ".slice/cri-containerd-" ID_CONTAINERD ".scope",
	  UID_A_, ID_CONTAINERD },
	{ "containerd, Kubernetes cgroupfs driver",
	  "kubepods/besteffort/pod" UID_B "/" ID_CONTAINERDFS, UID_B, ID_CONTAINERDFS },
	{ "CRI-O, Kubernetes systemd driver (guaranteed QoS)",
	  "kubepods.slice/kubepods-pod" UID_C_ ".slice/crio-" ID_CRIO ".scope", UID_C_, ID_CRIO },
	{ "CRI-O, Kubernetes cgroupfs driver", "kubepods/burstable/pod" UID_D "/crio-" ID_CRIOFS,
	  UID_D, ID_CRIOFS },
	/* a kind node: the whole tree again under the node container's cgroup */
	{ "containerd in kind, under Docker",
	  "system.slice/docker-" ID_DOCKERFS ".scope/kubelet.slice/kubelet-kubepods.slice/"
	  "kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" UID_A_
	  ".slice/cri-containerd-" ID_CONTAINERD ".scope",
	  UID_A_, ID_CONTAINERD },
	/* not containers */
	{ "CRI-O's conmon",
	  "kubepods.slice/kubepods-pod" UID_C_ ".slice/crio-conmon-" ID_CRIO ".scope", NULL, NULL },
	{ "a pod slice", "kubepods.slice/kubepods-pod" UID_C_ ".slice", NULL, NULL },
	{ "a systemd service", "system.slice/ssh.service", NULL, NULL },
	{ "the Docker daemon", "system.slice/docker.service", NULL, NULL },
	{ "a user session", "user.slice/user-1000.slice/session-3.scope", NULL, NULL },
};

#define N_PATHS (sizeof(paths) / sizeof(paths[0]))

static char root[] = "/tmp/bb-test-containers-XXXXXX";

static void mkdir_p(const char *rel)
{
	char path[PATH_MAX], *slash;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (slash = path + strlen(root) + 1; (slash = strchr(slash, '/')); slash++) {
		*slash = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*slash = '/';
	}
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static uint64_t id_of(const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static struct bb_config *shipped(void)
{
	const char *yaml = BB_SHIPPED_BPF_DIR "/syscalls-container.yaml";
	char err[BB_ERRMSG_MAX], *buf;
	struct bb_config *cfg = NULL;
	long len;
	FILE *f;

	f = fopen(yaml, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len > 0);
	rewind(f);
	buf = malloc((size_t)len);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	if (bb_config_parse(yaml, buf, (size_t)len, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	free(buf);
	return cfg;
}

static const struct bb_label_conf *label(const struct bb_config *cfg, const char *name)
{
	for (size_t m = 0; m < cfg->n_metrics; m++) {
		if (strcmp(cfg->metrics[m].name, "syscalls_by_container_total"))
			continue;
		for (size_t l = 0; l < cfg->metrics[m].n_labels; l++)
			if (!strcmp(cfg->metrics[m].labels[l].name, name))
				return &cfg->metrics[m].labels[l];
	}
	fail_msg("no label %s in syscalls_by_container_total", name);
	return NULL;
}

static void rm_tree(const char *rel)
{
	char path[PATH_MAX], *slash;

	/* deepest first: remove the leaf, then each parent that is left empty */
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	while (strlen(path) > strlen(root)) {
		if (rmdir(path) != 0)
			assert_true(errno == ENOTEMPTY || errno == ENOENT);
		slash = strrchr(path, '/');
		*slash = '\0';
	}
}

static void test_runtime_paths_become_pod_and_container_labels(void **state)
{
	struct bb_config *cfg = shipped();
	const struct bb_label_conf *pod = label(cfg, "pod_uid");
	const struct bb_label_conf *container = label(cfg, "container_id");
	struct bb_decode_paths dpaths = { NULL, NULL, root, NULL };
	char out[BB_LABEL_MAX], err[BB_ERRMSG_MAX];
	struct bb_decode_ctx *ctx;
	regex_t *id_map;
	size_t i, r;

	(void)state;
	assert_non_null(mkdtemp(root));
	for (i = 0; i < N_PATHS; i++)
		mkdir_p(paths[i].path);

	assert_non_null(cfg->cgroup_id_map);
	id_map = calloc(cfg->cgroup_id_map->n_regexps, sizeof(*id_map));
	assert_non_null(id_map);
	for (r = 0; r < cfg->cgroup_id_map->n_regexps; r++)
		assert_int_equal(regcomp(&id_map[r], cfg->cgroup_id_map->regexps[r],
					 REG_EXTENDED | REG_NOSUB),
				 0);

	ctx = bb_decode_ctx_new(&dpaths);
	assert_non_null(ctx);
	for (i = 0; i < N_PATHS; i++) {
		uint64_t id = id_of(paths[i].path);
		char rel[PATH_MAX];
		enum bb_decode_status st;
		bool matched = false;

		/* cgroup_id_map sees the path as the cgroup decoder prints it */
		snprintf(rel, sizeof(rel), "/%s", paths[i].path);
		for (r = 0; r < cfg->cgroup_id_map->n_regexps; r++)
			matched |= regexec(&id_map[r], rel, 0, NULL, 0) == 0;
		if (matched != (paths[i].container_id != NULL))
			fail_msg("%s: cgroup_id_map %s %s", paths[i].what,
				 matched ? "matches" : "does not match", rel);

		st = bb_decode_label(ctx, container, (const uint8_t *)&id, out, sizeof(out), err,
				     sizeof(err));
		if (!paths[i].container_id) {
			if (st != BB_DECODE_DROP)
				fail_msg("%s: container_id gave \"%s\" (%d), expected no match",
					 paths[i].what, out, st);
			continue;
		}
		if (st != BB_DECODE_OK)
			fail_msg("%s: container_id: status %d: %s", paths[i].what, st, err);
		if (strcmp(out, paths[i].container_id))
			fail_msg("%s: container_id \"%s\", expected \"%s\"", paths[i].what, out,
				 paths[i].container_id);

		st = bb_decode_label(ctx, pod, (const uint8_t *)&id, out, sizeof(out), err,
				     sizeof(err));
		if (st != BB_DECODE_OK)
			fail_msg("%s: pod_uid: status %d: %s", paths[i].what, st, err);
		if (strcmp(out, paths[i].pod_uid))
			fail_msg("%s: pod_uid \"%s\", expected \"%s\"", paths[i].what, out,
				 paths[i].pod_uid);
	}
	bb_decode_ctx_free(ctx);
	for (r = 0; r < cfg->cgroup_id_map->n_regexps; r++)
		regfree(&id_map[r]);
	free(id_map);
	bb_config_free(cfg);
	for (i = N_PATHS; i-- > 0;)
		rm_tree(paths[i].path);
	for (i = N_PATHS; i-- > 0;)
		rm_tree(paths[i].path);
	assert_int_equal(rmdir(root), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runtime_paths_become_pod_and_container_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
