/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "trust.h"

#define MAX_FILE_BYTES (256u << 20)
#define MAX_SYMLINKS 40 /* as the kernel's own path walk */

static const char why[] = "loading BPF is root-equivalent";

struct walk {
	const char *path; /* as given, for messages */
	const char *what;
	uid_t euid;
	char *err;
	size_t errlen;
	char at[PATH_MAX];  /* where the walk is, as an absolute path, for messages */
	char via[PATH_MAX]; /* the first symlink followed, if any */
};

static int io_error(struct walk *w, int e)
{
	if (w->what)
		snprintf(w->err, w->errlen, "%s: %s: %s", w->path, w->what, bb_strerror(e));
	else
		snprintf(w->err, w->errlen, "%s: %s", w->path, bb_strerror(e));
	return -e;
}

static const char *writers(mode_t mode)
{
	if ((mode & S_IWGRP) && (mode & S_IWOTH))
		return "group and others";
	return (mode & S_IWGRP) ? "its group" : "others";
}

/* Check what AT (in w->at) names: a directory, a symlink or the file itself. */
static int check_node(struct walk *w, const struct stat *st)
{
	char through[PATH_MAX + 40] = "";
	mode_t mode = st->st_mode;

	if (w->via[0] && strcmp(w->via, w->at))
		snprintf(through, sizeof(through), " (reached through the symlink %s)", w->via);
	if (st->st_uid != 0 && st->st_uid != w->euid) {
		char who[48] = "root";

		if (w->euid != 0)
			snprintf(who, sizeof(who), "root or uid %u", (unsigned)w->euid);
		snprintf(w->err, w->errlen,
			 "%s: refusing to load: %s%s is owned by uid %u, not %s (%s)", w->path,
			 w->at, through, (unsigned)st->st_uid, who, why);
		return -EPERM;
	}
	/* A symlink's own mode means nothing; a sticky directory protects its entries. */
	if (S_ISLNK(mode) || (S_ISDIR(mode) && (mode & S_ISVTX)))
		return 0;
	if (mode & (S_IWGRP | S_IWOTH)) {
		snprintf(
			w->err, w->errlen,
			"%s: refusing to load: %s%s has mode %04o, writable by %s (%s; chmod go-w)",
			w->path, w->at, through, (unsigned)(mode & 07777), writers(mode), why);
		return -EPERM;
	}
	return 0;
}

static void at_push(struct walk *w, const char *name, size_t len)
{
	size_t n = strlen(w->at);

	if (n > 1 && n + 1 < sizeof(w->at))
		w->at[n++] = '/';
	if (n + len >= sizeof(w->at))
		len = sizeof(w->at) - n - 1;
	memcpy(w->at + n, name, len);
	w->at[n + len] = '\0';
}

static void at_pop(struct walk *w)
{
	char *slash = strrchr(w->at, '/');

	if (slash && slash != w->at)
		*slash = '\0';
	else
		snprintf(w->at, sizeof(w->at), "/");
}

static int open_root(struct walk *w, int *dirfd)
{
	struct stat st;
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return io_error(w, errno);
	snprintf(w->at, sizeof(w->at), "/");
	if (fstat(fd, &st)) {
		int e = errno;

		close(fd);
		return io_error(w, e);
	}
	if (check_node(w, &st)) {
		close(fd);
		return -EPERM;
	}
	if (*dirfd >= 0)
		close(*dirfd);
	*dirfd = fd;
	return 0;
}

/*
 * REST holds what is left to walk; a symlink's target is put in front of it.
 * Returns the opened file or a negative errno.
 */
static int walk(struct walk *w, char *rest, size_t cap)
{
	int dirfd = -1, ret, links = 0;
	char target[PATH_MAX];

	ret = open_root(w, &dirfd);
	if (ret)
		return ret;
	for (;;) {
		char *name = rest + strspn(rest, "/"), *end = strchrnul(name, '/');
		size_t len = (size_t)(end - name);
		bool last = end[strspn(end, "/")] == '\0';
		char comp[NAME_MAX + 1];
		struct stat st;
		int fd;

		if (len == 0) { /* "/" or a trailing slash: a directory, not a file */
			close(dirfd);
			return io_error(w, EISDIR);
		}
		if (len >= NAME_MAX + 1) {
			close(dirfd);
			return io_error(w, ENAMETOOLONG);
		}
		memcpy(comp, name, len);
		comp[len] = '\0';
		memmove(rest, end, strlen(end) + 1);
		if (!strcmp(comp, ".") && !last)
			continue;
		fd = openat(dirfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st)) {
			int e = errno;

			if (fd >= 0)
				close(fd);
			close(dirfd);
			return io_error(w, e);
		}
		if (!strcmp(comp, ".."))
			at_pop(w);
		else if (strcmp(comp, "."))
			at_push(w, comp, len);
		ret = check_node(w, &st);
		if (ret) {
			close(fd);
			close(dirfd);
			return ret;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
			size_t rlen = strlen(rest);

			close(fd);
			if (n < 0 || ++links > MAX_SYMLINKS || (size_t)n + 1 + rlen + 1 > cap) {
				int e = n < 0 ? errno : links > MAX_SYMLINKS ? ELOOP : ENAMETOOLONG;

				close(dirfd);
				return io_error(w, e);
			}
			if (!w->via[0])
				snprintf(w->via, sizeof(w->via), "%s", w->at);
			at_pop(w);
			/* rest = target + "/" + rest */
			memmove(rest + n + 1, rest, rlen + 1);
			memcpy(rest, target, (size_t)n);
			rest[n] = '/';
			if (!rlen)
				rest[n] = '\0';
			if (target[0] == '/') {
				ret = open_root(w, &dirfd);
				if (ret) {
					close(dirfd);
					return ret;
				}
			}
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			close(dirfd);
			dirfd = fd;
			if (last) {
				close(dirfd);
				return io_error(w, EISDIR);
			}
			continue;
		}
		close(fd);
		if (!last || !S_ISREG(st.st_mode)) {
			close(dirfd);
			if (!last)
				return io_error(w, ENOTDIR);
			snprintf(w->err, w->errlen, "%s: not a regular file", w->path);
			return -EINVAL;
		}
		/* The checked inode, opened for reading from the checked directory. */
		fd = openat(dirfd, comp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		close(dirfd);
		if (fd < 0)
			return io_error(w, errno);
		{
			struct stat now;

			if (fstat(fd, &now) || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
				close(fd);
				snprintf(
					w->err, w->errlen,
					"%s: refusing to load: %s was replaced while being checked",
					w->path, w->at);
				return -EAGAIN;
			}
		}
		return fd;
	}
}

int bb_trust_open(const char *path, const char *what, bool skip_check, char *err, size_t errlen)
{
	struct walk w = {
		.path = path, .what = what, .euid = geteuid(), .err = err, .errlen = errlen
	};
	size_t cap = 2 * PATH_MAX;
	char *rest;
	int fd;

	if (skip_check) {
		struct stat st;

		fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return io_error(&w, errno);
		if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
			close(fd);
			snprintf(err, errlen, "%s: not a regular file", path);
			return -EINVAL;
		}
		return fd;
	}
	if (!path[0])
		return io_error(&w, ENOENT);
	rest = malloc(cap);
	if (!rest)
		return io_error(&w, ENOMEM);
	rest[0] = '\0';
	if (path[0] != '/' && !getcwd(rest, PATH_MAX)) {
		fd = io_error(&w, errno);
		free(rest);
		return fd;
	}
	if (strlen(rest) + 1 + strlen(path) + 1 > cap) {
		free(rest);
		return io_error(&w, ENAMETOOLONG);
	}
	if (rest[0])
		strcat(rest, "/");
	strcat(rest, path);
	fd = walk(&w, rest, cap);
	free(rest);
	return fd;
}

int bb_trust_read_file(const char *path, bool skip_check, char **buf, size_t *len, char *err,
		       size_t errlen)
{
	struct stat st;
	char *data = NULL;
	size_t got = 0;
	int fd, ret;

	*buf = NULL;
	*len = 0;
	fd = bb_trust_open(path, NULL, skip_check, err, errlen);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, bb_strerror(-ret));
		goto out;
	}
	if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
		ret = -EFBIG;
		snprintf(err, errlen, "%s: %lld bytes is more than the %u MiB limit", path,
			 (long long)st.st_size, MAX_FILE_BYTES >> 20);
		goto out;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, data + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", path, bb_strerror(-ret));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	data[got] = '\0';
	*buf = data;
	*len = got;
	data = NULL;
	ret = 0;
out:
	free(data);
	close(fd);
	return ret;
}
