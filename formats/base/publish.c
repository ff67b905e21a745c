/*
 * publish.c -- files written in a private folder beside their destination and renamed
 * into place when complete (publish.h): the private folder, publishing, the registry a
 * signal handler empties, and the cleaning of what killed writers left.
 *
 * Why a private folder and not a temporary file: HDF5 and GDAL open the names they are
 * given (HDF5 with O_CREAT|O_TRUNC, GDAL through fopen, SQLite with its journal beside
 * the file), so a temporary file made with mkstemp would be reopened by name, and a
 * name in a folder others can write can be swapped for a symbolic link between the two.
 * Nobody but this user can add a name in a mode-0700 folder of this user, and the
 * folder is reached through its own descriptor.  Linux only for that (/proc/self/fd);
 * elsewhere the folder's path is used.  It knows nothing of bundles or formats.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "publish.h"
#include "util.h"

#define BASE_IN_NAME  100         /* bytes of the destination's name kept in the folder's */
#define STALE_SECONDS (24 * 3600) /* a private folder untouched this long is abandoned */

/* ---- the registry a signal handler reads ---- */

enum { SLOT_FREE, SLOT_FILLING, SLOT_ACTIVE };
#define NSLOTS 16

static struct {
	atomic_int state;
	int dirfd, parentfd;
	char dname[NAME_MAX + 1], fname[NAME_MAX + 1];
} reg[NSLOTS];

static int reg_add(int dirfd, int parentfd, const char *dname, const char *fname)
{
	for (int i = 0; i < NSLOTS; i++) {
		int want = SLOT_FREE;
		if (!atomic_compare_exchange_strong(&reg[i].state, &want, SLOT_FILLING))
			continue;
		reg[i].dirfd = dirfd;
		reg[i].parentfd = parentfd;
		snprintf(reg[i].dname, sizeof reg[i].dname, "%s", dname);
		snprintf(reg[i].fname, sizeof reg[i].fname, "%s", fname);
		atomic_store(&reg[i].state, SLOT_ACTIVE);
		return i;
	}
	return -1; /* full: a signal then leaves the folder for the next run to clean */
}

static void reg_remove(int slot)
{
	if (slot >= 0 && slot < NSLOTS)
		atomic_store(&reg[slot].state, SLOT_FREE);
}

/* What writers may leave beside their file: SQLite's journals, GDAL's side car. */
static const char *const sidecars[] = {"", "-journal", "-wal", "-shm", ".aux.xml"};

/* Unlink every file of the private folder dirfd, whatever its name: what a library
   made there besides the names lode knows, or a file another thread of this process
   made while a signal's handler cleaned up.  getdents64 and unlinkat, no allocation:
   safe in a signal handler.  The folder is lode's own (lode__pub_begin checked it). */
static void sweep(int dirfd)
{
	char buf[4096] __attribute__((aligned(8)));
	ssize_t got;

	if (lseek(dirfd, 0, SEEK_SET) != 0)
		return;
	while ((got = getdents64(dirfd, buf, sizeof buf)) > 0) {
		for (ssize_t off = 0; off < got;) {
			const struct dirent64 *e = (const struct dirent64 *)(const void *)(buf + off);
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				unlinkat(dirfd, e->d_name, 0);
			off += e->d_reclen;
		}
	}
}

void lode__pub_abandon_all(void)
{
	const int saved = errno; /* a handler's caller may look at it */

	for (int i = 0; i < NSLOTS; i++) {
		if (atomic_load(&reg[i].state) != SLOT_ACTIVE)
			continue;
		for (size_t k = 0; k < sizeof sidecars / sizeof sidecars[0]; k++) {
			char name[NAME_MAX + 16];
			size_t n = strlen(reg[i].fname), m = strlen(sidecars[k]);
			memcpy(name, reg[i].fname, n);
			memcpy(name + n, sidecars[k], m + 1);
			unlinkat(reg[i].dirfd, name, 0);
		}
		/* Not empty: files of names lode does not know.  Sweep it and try again, a
		   few times (another thread of this process may still be making files). */
		for (int round = 0;; round++) {
			if (unlinkat(reg[i].parentfd, reg[i].dname, AT_REMOVEDIR) == 0 ||
			    errno != ENOTEMPTY || round == 3)
				break;
			sweep(reg[i].dirfd);
		}
	}
	errno = saved;
}

/* ---- names ---- */

/* This machine's short host name ("node12"): part of the private folders' names. */
static void short_host(char *buf, size_t n)
{
	if (gethostname(buf, n) != 0)
		snprintf(buf, n, "host");
	buf[n - 1] = '\0';
	for (char *c = buf; *c; c++)
		if (*c == '.' || *c == '/') {
			*c = '\0';
			break;
		}
	if (!buf[0])
		snprintf(buf, n, "host");
}

static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* ".BASE.tmp-", BASE cut to BASE_IN_NAME bytes, into buf. */
static void temp_prefix(const char *base, char *buf, size_t n)
{
	snprintf(buf, n, ".%.*s.tmp-", BASE_IN_NAME, base);
}

/*
 * Is name a private folder's name, ".BASE.tmp-HOST-PID-XXXXXX" (with this BASE unless
 * base is NULL)?  Then *host_len, *host_at and *pid describe it.
 */
static int parse_temp_name(const char *name, const char *base, const char **host_at, size_t *host_len,
			   long *pid)
{
	const char *rest, *tmp, *end, *dash;
	size_t len;
	char *stop;

	if (base) {
		char prefix[BASE_IN_NAME + 16];
		temp_prefix(base, prefix, sizeof prefix);
		if (strncmp(name, prefix, strlen(prefix)) != 0)
			return 0;
		rest = name + strlen(prefix);
	} else {
		if (name[0] != '.' || !(tmp = strstr(name + 1, ".tmp-")))
			return 0;
		while (strstr(tmp + 1, ".tmp-")) /* the last one: BASE may hold ".tmp-" */
			tmp = strstr(tmp + 1, ".tmp-");
		rest = tmp + 5;
	}
	len = strlen(rest);
	if (len < 10 || rest[len - 7] != '-') /* at least "h-1-XXXXXX" */
		return 0;
	end = rest + len - 7; /* the '-' before XXXXXX */
	for (dash = end - 1; dash > rest && *dash != '-'; dash--)
		;
	if (dash <= rest || dash + 1 == end)
		return 0;
	*pid = strtol(dash + 1, &stop, 10);
	if (stop != end || *pid <= 0)
		return 0;
	*host_at = rest;
	*host_len = (size_t)(dash - rest);
	return 1;
}

/* Has process pid ended?  A zombie counts as ended: where nothing reaps orphans (some
   containers' first process), a killed writer stays one. */
static int process_gone(long pid)
{
	char path[64], buf[512], *close_paren;
	FILE *f;
	size_t n;

	if (kill((pid_t)pid, 0) != 0)
		return errno == ESRCH;
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	close_paren = strrchr(buf, ')'); /* "PID (COMM) STATE ...", COMM may hold anything */
	return close_paren && close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X');
}

/* ---- removing a private folder ---- */

/* Remove the regular files and links in folder fd (never following a link); returns the
   newest modification time seen, the folder's own included. */
static time_t empty_folder(int fd, int remove)
{
	struct stat st;
	time_t newest = fstat(fd, &st) == 0 ? st.st_mtime : 0;
	int copy = dup(fd);
	DIR *d = copy >= 0 ? fdopendir(copy) : NULL;
	struct dirent *e;

	if (!d) {
		if (copy >= 0)
			close(copy);
		return newest;
	}
	rewinddir(d); /* the copy shares fd's offset, which an earlier pass left at the end */
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (st.st_mtime > newest)
			newest = st.st_mtime;
		if (remove && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
			unlinkat(fd, e->d_name, 0);
	}
	closedir(d);
	return newest;
}

void lode__pub_clean_stale(const char *dir, const char *base)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), copy;
	DIR *d;
	struct dirent *e;
	char host[128];

	if (dfd < 0)
		return;
	if ((copy = dup(dfd)) < 0 || !(d = fdopendir(copy))) {
		if (copy >= 0)
			close(copy);
		close(dfd);
		return;
	}
	short_host(host, sizeof host);
	while ((e = readdir(d)) != NULL) {
		const char *h;
		size_t hlen;
		long pid;
		struct stat st;
		int gone, sub;
		time_t newest;

		if (!parse_temp_name(e->d_name, base, &h, &hlen, &pid) ||
		    fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		gone = hlen == strlen(host) && strncmp(h, host, hlen) == 0 && pid != (long)getpid() &&
		       process_gone(pid);
		if (S_ISREG(st.st_mode)) { /* a temporary file of an older lode */
			if (gone || time(NULL) - st.st_mtime > STALE_SECONDS)
				unlinkat(dfd, e->d_name, 0);
			continue;
		}
		if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
			continue;
		sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		/* Its writer's lock (lode__pub_begin): held, the writer lives, whatever its pid
		   says; free on this host, the writer is gone even if its pid was reused. */
		if (flock(sub, LOCK_EX | LOCK_NB) != 0) {
			if (errno == EWOULDBLOCK) {
				close(sub);
				continue;
			}
		} else if (hlen == strlen(host) && strncmp(h, host, hlen) == 0 && pid != (long)getpid()) {
			gone = 1;
		}
		newest = empty_folder(sub, 0);
		if (gone || time(NULL) - newest > STALE_SECONDS) {
			empty_folder(sub, 1);
			unlinkat(dfd, e->d_name, AT_REMOVEDIR);
		}
		close(sub);
	}
	closedir(d);
	close(dfd);
}

/* ---- writing and publishing ---- */

lode_status lode__pub_check_dest(const char *dest, lode_error *err)
{
	struct stat st;

	if (lstat(dest, &st) != 0)
		return errno == ENOENT ? LODE_OK : lode__err(err, LODE_EIO, "%s: %s", dest, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return lode__err(err, LODE_EUSAGE,
				 "%s is a symbolic link: lode never writes through one (remove it, or name "
				 "the file it points to)",
				 dest);
	if (!S_ISREG(st.st_mode))
		return lode__err(err, LODE_EUSAGE, "%s exists and is not a regular file (%s)", dest,
				 S_ISDIR(st.st_mode) ? "a folder" : "a device, pipe or socket");
	return LODE_OK;
}

static mode_t new_file_mode(void)
{
	mode_t mask = umask(0);

	umask(mask);
	return 0666 & ~mask;
}

/* The path writers use: through /proc/self/fd when it reaches the same folder. */
static char *writer_path(const lode__pub *p, const char *base)
{
	char *via = lode__sprintf("/proc/self/fd/%d", p->dirfd);
	struct stat a, b;
	int ok = via && stat(via, &a) == 0 && fstat(p->dirfd, &b) == 0 && a.st_dev == b.st_dev &&
		 a.st_ino == b.st_ino;
	char *path = ok ? lode__sprintf("%s/%s", via, base) : lode__sprintf("%s/%s", p->dir, base);

	free(via);
	return path;
}

lode_status lode__pub_begin(lode__pub *p, const char *dest, lode_error *err)
{
	char host[128], prefix[BASE_IN_NAME + 16], *folder = NULL;
	const char *base = base_of(dest);
	struct stat st;
	sigset_t stop, was;
	int blocked = 0;
	lode_status rc;

	memset(p, 0, sizeof *p);
	p->dirfd = p->parentfd = p->slot = -1;
	if ((rc = lode__pub_check_dest(dest, err)))
		return rc;
	if (!base[0] || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return lode__err(err, LODE_EUSAGE, "%s: not a file name", dest);
	if (!(p->dest = lode__strdup(dest)) || !(folder = lode__dirname(dest))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto fail;
	}
	if ((p->parentfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = lode__err(err, LODE_EIO, "%s: cannot open its folder: %s", dest, strerror(errno));
		goto fail;
	}
	p->mode = new_file_mode();
	lode__pub_clean_stale(folder, base);
	short_host(host, sizeof host);
	temp_prefix(base, prefix, sizeof prefix);
	if (!(p->dir = lode__sprintf("%s/%s%s-%ld-XXXXXX", folder, prefix, host, (long)getpid()))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto fail;
	}
	/* From the folder's making to its registration, a signal waits: its handler must
	   find every folder this thread made. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, &was);
	blocked = 1;
	if (!mkdtemp(p->dir)) {
		rc = lode__err(err, LODE_EIO, "%s: cannot create a file in that folder: %s", dest,
			       strerror(errno));
		free(p->dir);
		p->dir = NULL;
		goto fail;
	}
	/* Ours, as made: a folder of this user that only this user can write. */
	p->dirfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p->dirfd < 0 || fstat(p->dirfd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 0077)) {
		rc = lode__err(err, LODE_EIO, "%s: the temporary folder %s was replaced while lode made it",
			       dest, p->dir);
		goto fail;
	}
	/* Held for as long as this process (or a child it forked) lives: the kernel lets go
	   of it when the last descriptor closes, kill -9 included, so lode__pub_clean_stale
	   can tell an abandoned folder from a live one even when the writer's pid has been
	   given to another process.  Where flock does not work on a folder (NFS), the pid
	   alone decides, as before. */
	(void)flock(p->dirfd, LOCK_EX | LOCK_NB);
	p->slot = reg_add(p->dirfd, p->parentfd, base_of(p->dir), base);
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	blocked = 0;
	if (!(p->path = writer_path(p, base))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto fail;
	}
	free(folder);
	return LODE_OK;
fail:
	free(folder);
	lode__pub_abort(p);
	if (blocked)
		pthread_sigmask(SIG_SETMASK, &was, NULL);
	return rc;
}

int lode__pub_create(lode__pub *p, lode_error *err)
{
	int fd =
	    openat(p->dirfd, base_of(p->dest), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		lode__err(err, LODE_EIO, "%s: cannot create the temporary file: %s", p->dest,
			  strerror(errno));
	return fd;
}

lode_status lode__pub_commit(lode__pub *p, lode_error *err)
{
	const char *base = p->dest ? base_of(p->dest) : "";
	struct stat st;
	lode_status rc = LODE_OK;
	int fd;

	if (!p->dir)
		return lode__err(err, LODE_EINTERNAL, "publishing a file that was not begun");
	fd = openat(p->dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = lode__err(err, LODE_EIO, "%s: the file written is gone or not a regular file", p->dest);
		goto out;
	}
	/* The mode of the file it replaces (a private bundle stays private), else a new
	   file's. */
	if (fstatat(p->parentfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(st.st_mode)) {
			rc = lode__pub_check_dest(p->dest, err);
			if (!rc)
				rc = lode__err(err, LODE_EIO, "%s: replaced while lode wrote it", p->dest);
			goto out;
		}
		p->mode = st.st_mode & 0777;
	}
	if (fchmod(fd, p->mode) != 0 || fsync(fd) != 0) {
		rc = lode__err(err, LODE_EIO, "%s: %s", p->dest, strerror(errno));
		goto out;
	}
	if (renameat(p->dirfd, base, p->parentfd, base) != 0) {
		rc = lode__err(err, LODE_EIO, "%s: cannot move the finished file into place: %s", p->dest,
			       strerror(errno));
		goto out;
	}
	fsync(p->parentfd); /* the new name on disk too (not every file system can) */
out:
	if (fd >= 0)
		close(fd);
	lode__pub_abort(p);
	return rc;
}

void lode__pub_abort(lode__pub *p)
{
	if (!p)
		return;
	if (!p->dest) /* zeroed, or failed before anything was made: nothing is ours */
		goto reset;
	if (p->dir && p->dirfd >= 0) {
		empty_folder(p->dirfd, 1);
		if (p->parentfd >= 0)
			unlinkat(p->parentfd, base_of(p->dir), AT_REMOVEDIR);
	} else if (p->dir) {
		rmdir(p->dir);
	}
	reg_remove(p->slot);
	if (p->dirfd >= 0)
		close(p->dirfd);
	if (p->parentfd >= 0)
		close(p->parentfd);
	free(p->dest);
	free(p->path);
	free(p->dir);
reset:
	memset(p, 0, sizeof *p);
	p->dirfd = p->parentfd = p->slot = -1;
}

/* Replace every `from` in message (of size cap) by `to`. */
static void replace_all(char *message, size_t cap, const char *from, const char *to)
{
	char out[sizeof(((lode_error *)0)->message)];
	size_t n = 0, flen = strlen(from), tlen = strlen(to);
	const char *s = message;

	if (!flen || cap > sizeof out)
		return;
	while (*s && n + 1 < cap) {
		if (strncmp(s, from, flen) == 0 && n + tlen + 1 < cap) {
			memcpy(out + n, to, tlen);
			n += tlen;
			s += flen;
		} else {
			out[n++] = *s++;
		}
	}
	out[n] = '\0';
	memcpy(message, out, n + 1);
}

void lode__pub_message(const lode__pub *p, lode_error *err)
{
	char *inside;

	if (!p || !p->dest || !err)
		return;
	if (p->path)
		replace_all(err->message, sizeof err->message, p->path, p->dest);
	if (p->dir && (inside = lode__sprintf("%s/%s", p->dir, base_of(p->dest)))) {
		replace_all(err->message, sizeof err->message, inside, p->dest);
		free(inside);
	}
}

/* The absolute path of a file that may not exist: its folder resolved, its name kept. */
static char *resolve(const char *path)
{
	char *full = realpath(path, NULL), *dir, *rdir;

	if (full)
		return full;
	if (!(dir = lode__dirname(path)))
		return NULL;
	rdir = realpath(dir, NULL);
	free(dir);
	if (!rdir)
		return NULL;
	full = lode__sprintf("%s/%s", strcmp(rdir, "/") == 0 ? "" : rdir, base_of(path));
	free(rdir);
	return full;
}

int lode__same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	char *ra, *rb;
	int same;

	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	ra = resolve(a);
	rb = resolve(b);
	same = ra && rb && strcmp(ra, rb) == 0;
	free(ra);
	free(rb);
	return same;
}
