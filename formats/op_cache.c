/*
 * op_cache.c -- the cache of PROJ's operation searches (see op_cache.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "op_cache.h"
#include "sha256.h"
#include "util.h"

#define FORMAT          "lode operation cache 1"
#define MAX_ENTRY_BYTES ((size_t)1 << 20)
#define MAX_ENTRIES     512
#define KEEP_ENTRIES    384
#define STALE_SECONDS   3600

/* Ours and nobody else's to write: the user's, not writable by group or others. */
static int private_to_us(const struct stat *st)
{
	return st->st_uid == geteuid() && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* Open folder name under at (AT_FDCWD for a path), making it (0700) when missing. */
static int open_dir(int at, const char *name, int make)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && make && mkdirat(at, name, 0700) == 0)
		fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

/* The cache folder, or -1: LODE_OPERATION_CACHE, $XDG_CACHE_HOME/lode/operations or
   $HOME/.cache/lode/operations. */
static int cache_dir(void)
{
	const char *env = getenv("LODE_OPERATION_CACHE"), *xdg = getenv("XDG_CACHE_HOME"),
		   *home = getenv("HOME");
	int fd = -1, top;
	struct stat st;

	if (env && *env) {
		if (strcmp(env, "off") == 0)
			return -1;
		fd = open_dir(AT_FDCWD, env, 1);
	} else {
		if (xdg && xdg[0] == '/')
			top = open_dir(AT_FDCWD, xdg, 1);
		else if (home && home[0] == '/') {
			int h = open_dir(AT_FDCWD, home, 0);
			top = h < 0 ? -1 : open_dir(h, ".cache", 1);
			if (h >= 0)
				close(h);
		} else
			return -1;
		if (top >= 0) {
			int mid = open_dir(top, "lode", 1);
			close(top);
			if (mid >= 0) {
				fd = open_dir(mid, "operations", 1);
				close(mid);
			}
		}
	}
	if (fd >= 0 && (fstat(fd, &st) != 0 || !private_to_us(&st))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry of folder path (name, type, size, time), in name order, into h. */
static void hash_folder(lode__sha256 *h, const char *path)
{
	DIR *d = opendir(path);
	char **names = NULL, line[600];
	size_t n = 0, cap = 0;
	struct dirent *e;

	if (!d) {
		snprintf(line, sizeof line, "folder %s: %s\n", path, strerror(errno));
		lode__sha256_update(h, line, strlen(line));
		return;
	}
	snprintf(line, sizeof line, "folder %s\n", path);
	lode__sha256_update(h, line, strlen(line));
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
			if (!more)
				break;
			names = more;
		}
		if (!(names[n] = lode__strdup(e->d_name)))
			break;
		n++;
	}
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (fstatat(dirfd(d), names[i], &st, 0) == 0)
			snprintf(line, sizeof line, "%s %o %lld %lld.%09ld\n", names[i], (unsigned)st.st_mode,
				 (long long)st.st_size, (long long)st.st_mtim.tv_sec,
				 (long)st.st_mtim.tv_nsec);
		else
			snprintf(line, sizeof line, "%s ?\n", names[i]);
		lode__sha256_update(h, line, strlen(line));
		free(names[i]);
	}
	free(names);
	closedir(d);
}

/* proj_info() returns static storage: one caller at a time within lode. The digest of
   PROJ's folders is kept under the same lock, listed once per process for the search
   path and database it was made for (a run does not expect grids to appear midway). */
static pthread_mutex_t info_lock = PTHREAD_MUTEX_INITIALIZER;
static char *folders_for;
static unsigned char folders_sum[32];

/* The digest of every folder on PROJ's search path paths (changed in place). */
static int hash_folders(char *paths, unsigned char sum[32])
{
	lode__sha256 *f = lode__sha256_new();

	if (!f)
		return -1;
	for (char *p = paths, *next; p; p = next) {
		next = strchr(p, ':');
		if (next)
			*next++ = '\0';
		if (*p)
			hash_folder(f, p);
	}
	lode__sha256_final(f, sum);
	return 0;
}

/* PROJ's release, search path, database and the search path's files, into h; 0, or -1
   when unknown. */
static int hash_proj(lode__sha256 *h, PJ_CONTEXT *ctx)
{
	char *text = NULL, *paths = NULL;
	const char *dbp = proj_context_get_database_path(ctx);
	unsigned char sum[32];
	int rc = -1;

	pthread_mutex_lock(&info_lock);
	{
		PJ_INFO info = proj_info();
		if (info.searchpath && info.searchpath[0])
			text =
			    lode__sprintf("proj %s\nsearch path %s\ndatabase %s\n",
					  info.release ? info.release : "", info.searchpath, dbp ? dbp : "");
		if (text && folders_for && strcmp(text, folders_for) == 0) {
			memcpy(sum, folders_sum, sizeof sum);
			rc = 0;
		} else if (text && (paths = lode__strdup(info.searchpath)) && hash_folders(paths, sum) == 0) {
			free(folders_for);
			folders_for = lode__strdup(text);
			memcpy(folders_sum, sum, sizeof sum);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&info_lock);
	if (rc == 0) {
		lode__sha256_update(h, text, strlen(text));
		lode__sha256_update(h, sum, sizeof sum);
	}
	free(text);
	free(paths);
	return rc;
}

int lode__op_cache_open(lode__op_cache *c, PJ_CONTEXT *ctx, const char *src_wkt, const char *dst_wkt,
			const double *aoi)
{
	struct stat exe;
	lode__sha256 *h;
	unsigned char sum[32];
	char line[200];

	c->dirfd = -1;
	c->name[0] = '\0';
	if (proj_context_is_network_enabled(ctx) || stat("/proc/self/exe", &exe) != 0)
		return 0;
	if ((c->dirfd = cache_dir()) < 0)
		return 0;
	if (!(h = lode__sha256_new())) {
		lode__op_cache_close(c);
		return 0;
	}
	snprintf(line, sizeof line, "%s\nexe %llu %llu %lld %lld.%09ld\n", FORMAT,
		 (unsigned long long)exe.st_dev, (unsigned long long)exe.st_ino, (long long)exe.st_size,
		 (long long)exe.st_mtim.tv_sec, (long)exe.st_mtim.tv_nsec);
	lode__sha256_update(h, line, strlen(line));
	if (aoi)
		snprintf(line, sizeof line, "aoi %a %a %a %a\n", aoi[0], aoi[1], aoi[2], aoi[3]);
	else
		snprintf(line, sizeof line, "aoi none\n");
	lode__sha256_update(h, line, strlen(line));
	/* each CRS with its length, so that no two pairs hash the same text */
	snprintf(line, sizeof line, "source %zu\n", strlen(src_wkt));
	lode__sha256_update(h, line, strlen(line));
	lode__sha256_update(h, src_wkt, strlen(src_wkt));
	snprintf(line, sizeof line, "\ntarget %zu\n", strlen(dst_wkt));
	lode__sha256_update(h, line, strlen(line));
	lode__sha256_update(h, dst_wkt, strlen(dst_wkt));
	lode__sha256_update(h, "\n", 1);
	if (hash_proj(h, ctx) != 0) {
		lode__sha256_final(h, sum);
		lode__op_cache_close(c);
		return 0;
	}
	lode__sha256_final(h, sum);
	for (int i = 0; i < 32; i++)
		snprintf(c->name + 2 * i, 3, "%02x", sum[i]);
	memcpy(c->name + 64, ".json", 6);
	return 1;
}

json_t *lode__op_cache_get(lode__op_cache *c)
{
	int fd;
	struct stat st;
	char *text = NULL;
	json_t *doc = NULL, *cands = NULL;
	size_t got = 0;

	if (c->dirfd < 0)
		return NULL;
	fd = openat(c->dirfd, c->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !private_to_us(&st) || st.st_size < 2 ||
	    (size_t)st.st_size > MAX_ENTRY_BYTES || !(text = malloc((size_t)st.st_size)))
		goto out;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
		if (r <= 0)
			goto out;
		got += (size_t)r;
	}
	doc = json_loadb(text, got, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(doc) && json_is_string(json_object_get(doc, "format")) &&
	    strcmp(json_string_value(json_object_get(doc, "format")), FORMAT) == 0 &&
	    json_is_string(json_object_get(doc, "key")) &&
	    strncmp(json_string_value(json_object_get(doc, "key")), c->name, 64) == 0 &&
	    strlen(json_string_value(json_object_get(doc, "key"))) == 64 &&
	    json_is_array(json_object_get(doc, "candidates")) &&
	    json_array_size(json_object_get(doc, "candidates")) > 0) {
		cands = json_incref(json_object_get(doc, "candidates"));
		futimens(fd, NULL); /* recently used: kept when the cache is pruned */
	}
out:
	json_decref(doc);
	free(text);
	close(fd);
	return cands;
}

typedef struct aged {
	char *name;
	struct timespec t;
} aged;

static int older(const void *a, const void *b)
{
	const aged *x = a, *y = b;

	if (x->t.tv_sec != y->t.tv_sec)
		return x->t.tv_sec < y->t.tv_sec ? -1 : 1;
	return (x->t.tv_nsec > y->t.tv_nsec) - (x->t.tv_nsec < y->t.tv_nsec);
}

/* More than MAX_ENTRIES entries: remove the least recently used down to KEEP_ENTRIES; and
   what killed writers left. */
static void prune(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	aged *all = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d))) {
		struct stat st;
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, ".new-", 5) == 0 &&
		    fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    time(NULL) - st.st_mtime > STALE_SECONDS) {
			unlinkat(dirfd, e->d_name, 0); /* left by a writer that was killed */
			continue;
		}
		if (len != 69 || strcmp(e->d_name + 64, ".json") != 0 ||
		    fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (n == cap) {
			aged *more = realloc(all, (cap = cap ? 2 * cap : 256) * sizeof *all);
			if (!more)
				break;
			all = more;
		}
		if (!(all[n].name = lode__strdup(e->d_name)))
			break;
		all[n++].t = st.st_mtim;
	}
	closedir(d);
	if (n > MAX_ENTRIES) {
		qsort(all, n, sizeof *all, older);
		for (size_t i = 0; i < n - KEEP_ENTRIES; i++)
			unlinkat(dirfd, all[i].name, 0);
	}
	for (size_t i = 0; i < n; i++)
		free(all[i].name);
	free(all);
}

void lode__op_cache_put(lode__op_cache *c, json_t *candidates)
{
	json_t *doc;
	char *text = NULL, tmp[] = ".new-XXXXXX";
	int fd = -1;
	size_t len;

	if (c->dirfd < 0 || !candidates)
		return;
	doc = json_pack("{s:s, s:s#, s:O}", "format", FORMAT, "key", c->name, (int)64, "candidates",
			candidates);
	if (doc)
		text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text || (len = strlen(text)) > MAX_ENTRY_BYTES)
		goto out;
	/* a private name in our own folder, then renamed into place: a reader sees a whole
	   entry or none */
	for (int tries = 0; tries < 10 && fd < 0; tries++) {
		unsigned char r[6];
		const char *digits = "abcdefghijklmnopqrstuvwxyz0123456789";
		if (getentropy(r, sizeof r) != 0)
			goto out;
		for (int i = 0; i < 6; i++)
			tmp[5 + i] = digits[r[i] % 36];
		fd = openat(c->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			goto out;
	}
	if (fd < 0)
		goto out;
	if (write(fd, text, len) != (ssize_t)len || close(fd) != 0) {
		fd = -1;
		unlinkat(c->dirfd, tmp, 0);
		goto out;
	}
	fd = -1;
	if (renameat(c->dirfd, tmp, c->dirfd, c->name) != 0)
		unlinkat(c->dirfd, tmp, 0);
	else
		prune(c->dirfd);
out:
	if (fd >= 0) {
		close(fd);
		unlinkat(c->dirfd, tmp, 0);
	}
	free(text);
}

void lode__op_cache_close(lode__op_cache *c)
{
	if (c->dirfd >= 0)
		close(c->dirfd);
	c->dirfd = -1;
}
