/*
 * source_files.c -- what a source may read, checked before GDAL opens it and after.
 *
 * Before: the source must be a regular file (stat, never open: a FIFO would block), every
 * file beside it that GDAL could look for (the same name up to its first dot, any case:
 * .aux.xml, .ovr, .shx, .dbf, _rpc.txt ...) must not be a FIFO, socket or device, and a
 * VRT (raster or OGR, found by its first bytes as GDAL finds it) is read with GDAL's own
 * XML parser: every SourceFilename, SourceDataset and SrcDataSource in it is checked the
 * same way, nested VRTs too, and a VRTRawRasterBand is refused unless allowed.  After:
 * each file of GDAL's own list of the opened dataset is checked again.  A name is a
 * local file (links followed; with confine inside the manifest's folder), a file inside
 * a local archive (/vsizip/, /vsitar/, /vsigzip/), or a network name (other /vsi...
 * handlers of the network, a URL, a connection string such as PG: or WMS:) that only
 * allow: [network] lets through; /vsimem/, /vsistdin/, /vsisubfile/ and the other
 * virtual handlers are refused always.  GDAL subdataset names (NETCDF:"f.nc":v) pass
 * when a local file in them does.  The files found are the lineage's list.
 *
 * It does not make GDAL safe against a file changed between the check and GDAL's read,
 * and it does not hash (plan.c does).  lode__source_lockdown sets GDAL's own switches.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_minixml.h>
#include <cpl_vsi.h>
#include <gdal.h>

#include "error.h"
#include "gdal_util.h"
#include "source_files.h"
#include "util.h"

#define MAX_VRT_BYTES (64u << 20) /* a VRT larger than this is refused */
#define MAX_VRT_DEPTH 8           /* VRTs within VRTs */
#define MAX_XML_DEPTH 64          /* elements within elements */
#define MAX_NAMES     1000000     /* names checked for one source */
#define SNIFF_BYTES   4096        /* GDAL identifies a VRT in its first 1024 bytes */
#define WHO_BYTES     1536        /* the subject of a message */

/* A folder already looked at: its entries that must not be beside a source. */
typedef struct bad_entry {
	char *name;
	const char *why; /* "is a FIFO", ... */
} bad_entry;
typedef struct dir_scan {
	char *dir;
	bad_entry *bad;
	size_t nbad;
} dir_scan;

struct lode__source_check {
	lode_source_rules r;
	char *folder_real; /* realpath of r.folder */
	char *path;        /* the source as given */
	lode_source_file *f;
	size_t n, cap;
	size_t *slots; /* open-addressing index of f by key (an entry + 1; 0: free) */
	size_t nslots; /* a power of two, at least twice n */
	dir_scan *dirs;
	size_t ndirs;
	size_t names;
};

static const char *const network_prefixes[] = {"/vsicurl/",
					       "/vsicurl_streaming/",
					       "/vsis3/",
					       "/vsis3_streaming/",
					       "/vsigs/",
					       "/vsigs_streaming/",
					       "/vsiaz/",
					       "/vsiaz_streaming/",
					       "/vsiadls/",
					       "/vsioss/",
					       "/vsioss_streaming/",
					       "/vsiswift/",
					       "/vsiswift_streaming/",
					       "/vsihdfs/",
					       "/vsiwebhdfs/",
					       NULL};
static const char *const archive_prefixes[] = {"/vsizip/", "/vsitar/", "/vsigzip/", NULL};

/* ---- small helpers ---- */

static int starts_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static const char *kind_of(mode_t m)
{
	return S_ISFIFO(m)   ? "a FIFO"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISDIR(m)  ? "a directory"
			     : "not a regular file";
}

static int inside(const char *folder_real, const char *real)
{
	size_t n = strlen(folder_real);

	if (strcmp(folder_real, "/") == 0)
		return real[0] == '/';
	return strncmp(real, folder_real, n) == 0 && real[n] == '/';
}

/* real relative to the folder: "a/b.tif", or "../x/b.tif" outside it.  malloc'd. */
static char *relative_to(const char *folder_real, const char *real)
{
	size_t i = 0, last = 0, ups = 0;
	char *out;

	if (inside(folder_real, real))
		return lode__strdup(real + (strcmp(folder_real, "/") == 0 ? 1 : strlen(folder_real) + 1));
	/* The common part ends at a '/' (last); climb from the folder's rest to it. */
	for (; folder_real[i] && folder_real[i] == real[i]; i++)
		if (folder_real[i] == '/')
			last = i;
	for (const char *p = folder_real + last; *p; p++)
		ups += *p == '/';
	if (!(out = malloc(ups * 3 + strlen(real + last + 1) + 1)))
		return NULL;
	out[0] = '\0';
	for (size_t k = 0; k < ups; k++)
		strcat(out, "../");
	strcat(out, real + last + 1);
	return out;
}

/* A path as messages show it: relative to the manifest's folder when it starts with it. */
static const char *shown(const lode__source_check *c, const char *path)
{
	size_t n = c->r.folder ? strlen(c->r.folder) : 0;

	if (n && strncmp(path, c->r.folder, n) == 0 && path[n] == '/' && path[n + 1])
		return path + n + 1;
	return path;
}

/*
 * The subject of a message: "source 'S'" for the source itself, else "source 'S': 'N'
 * (named in 'V')" for a name read in VRT V, or "... (a file GDAL lists for it)".
 */
static const char *who(const lode__source_check *c, const char *name, const char *from, char *buf, size_t n)
{
	if (strcmp(name, c->path) == 0)
		snprintf(buf, n, "source '%s'", shown(c, c->path));
	else if (from)
		snprintf(buf, n, "source '%s': '%s' (named in '%s')", shown(c, c->path), shown(c, name),
			 shown(c, from));
	else
		snprintf(buf, n, "source '%s': '%s' (a file GDAL lists for it)", shown(c, c->path),
			 shown(c, name));
	return buf;
}

/* Read up to max bytes of a regular local file without ever blocking on it. */
static lode_status read_regular(const char *path, size_t max, char **text, size_t *len, lode_error *err)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	lode_status rc = LODE_OK;

	*text = NULL;
	if (fd < 0)
		return lode__err(err, LODE_ESOURCE, "'%s': %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = lode__err(err, LODE_ESOURCE, "'%s' is %s", path, kind_of(st.st_mode));
		goto out;
	}
	if (!(buf = malloc(max + 1))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	while (got < max) {
		ssize_t k = read(fd, buf + got, max - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = lode__err(err, LODE_ESOURCE, "'%s': %s", path, strerror(errno));
			goto out;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	buf[got] = '\0';
	*text = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

/* The same through GDAL for a file inside a local archive (already checked). */
static lode_status read_vsi(const char *name, size_t max, char **text, size_t *len, lode_error *err)
{
	VSILFILE *f = VSIFOpenL(name, "rb");
	char *buf;

	*text = NULL;
	if (!f)
		return lode__err(err, LODE_ESOURCE, "'%s' cannot be read", name);
	if (!(buf = malloc(max + 1))) {
		VSIFCloseL(f);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	*len = VSIFReadL(buf, 1, max, f);
	buf[*len] = '\0';
	VSIFCloseL(f);
	*text = buf;
	return LODE_OK;
}

/* Is this text the start of a VRT, as GDAL's VRT and OGR VRT drivers tell? */
static int looks_like_vrt(const char *head, size_t n)
{
	static const char *const marks[] = {"<VRTDataset", "<OGRVRTDataSource", NULL};

	for (int k = 0; marks[k]; k++) {
		size_t m = strlen(marks[k]);
		for (size_t i = 0; i + m <= n; i++)
			if (strncasecmp(head + i, marks[k], m) == 0)
				return 1;
	}
	return 0;
}

/* ---- the list of files ---- */

/* An entry's key: its real path, or for a network source its name. */
static const char *key_of(const lode_source_file *f)
{
	return f->real ? f->real : f->name;
}

static size_t hash_of(const char *s, int network)
{
	size_t h = network ? 0x9e3779b9u : 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The slot of key (an entry's or the free one where it would go). */
static size_t slot_of(const lode__source_check *c, const char *key, int network)
{
	size_t i = hash_of(key, network) & (c->nslots - 1);

	while (c->slots[i]) {
		const lode_source_file *f = &c->f[c->slots[i] - 1];
		if ((f->real == NULL) == network && strcmp(key_of(f), key) == 0)
			break;
		i = (i + 1) & (c->nslots - 1);
	}
	return i;
}

static int grow_index(lode__source_check *c)
{
	size_t n = c->nslots ? c->nslots * 2 : 64, *old = c->slots, oldn = c->nslots;

	if (!(c->slots = calloc(n, sizeof *c->slots))) {
		c->slots = old;
		return -1;
	}
	c->nslots = n;
	for (size_t i = 0; i < oldn; i++)
		if (old[i])
			c->slots[slot_of(c, key_of(&c->f[old[i] - 1]), !c->f[old[i] - 1].real)] = old[i];
	free(old);
	return 0;
}

/* Add a local file (real) or a network name (real NULL) unless it is there: *added. */
static lode_status add_file(lode__source_check *c, const char *real, const char *name, int *added,
			    lode_error *err)
{
	lode_source_file *nf;
	size_t slot;

	*added = 0;
	if ((c->n + 1) * 2 > c->nslots && grow_index(c))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	slot = slot_of(c, real ? real : name, !real);
	if (c->slots[slot])
		return LODE_OK;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		if (!(nf = realloc(c->f, cap * sizeof *nf)))
			return lode__err(err, LODE_ENOMEM, "out of memory");
		c->f = nf;
		c->cap = cap;
	}
	nf = &c->f[c->n];
	nf->real = real ? lode__strdup(real) : NULL;
	nf->name = real ? relative_to(c->folder_real, real) : lode__strdup(name);
	if ((real && !nf->real) || !nf->name) {
		free(nf->real);
		free(nf->name);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	c->slots[slot] = ++c->n;
	*added = 1;
	return LODE_OK;
}

void lode__source_files_free(lode_source_files *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->f[i].name);
		free(s->f[i].real);
	}
	free(s->f);
	s->f = NULL;
	s->n = 0;
}

/* ---- what lies beside a file ---- */

/* Scan folder dir once: its FIFOs, sockets and devices, and with confine its links out. */
static lode_status scan_dir(lode__source_check *c, const char *dir, const dir_scan **out, lode_error *err)
{
	dir_scan *ds, *nd;
	DIR *d;
	struct dirent *e;

	for (size_t i = 0; i < c->ndirs; i++)
		if (strcmp(c->dirs[i].dir, dir) == 0) {
			*out = &c->dirs[i];
			return LODE_OK;
		}
	if (!(nd = realloc(c->dirs, (c->ndirs + 1) * sizeof *nd)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	c->dirs = nd;
	ds = &c->dirs[c->ndirs];
	memset(ds, 0, sizeof *ds);
	if (!(ds->dir = lode__strdup(dir)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	c->ndirs++;
	*out = ds;
	if (!(d = opendir(dir)))
		return LODE_OK; /* nothing GDAL could list there either */
	while ((e = readdir(d))) {
		const char *why = NULL;
		bad_entry *nb;

		if (e->d_type == DT_REG || e->d_type == DT_DIR)
			continue;
		if (e->d_type == DT_FIFO || e->d_type == DT_SOCK || e->d_type == DT_CHR ||
		    e->d_type == DT_BLK) {
			why = e->d_type == DT_FIFO   ? "is a FIFO"
			      : e->d_type == DT_SOCK ? "is a socket"
						     : "is a device";
		} else {
			char *full = lode__sprintf("%s/%s", dir, e->d_name), *real;
			struct stat st;
			if (!full) {
				closedir(d);
				return lode__err(err, LODE_ENOMEM, "out of memory");
			}
			if (stat(full, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
				why = "leads to a FIFO, socket or device";
			else if (c->r.confine && (real = realpath(full, NULL))) {
				if (!inside(c->folder_real, real))
					why = "leads outside the manifest's folder";
				free(real);
			}
			free(full);
		}
		if (!why)
			continue;
		if (!(nb = realloc(ds->bad, (ds->nbad + 1) * sizeof *nb)) ||
		    !(nb[ds->nbad].name = lode__strdup(e->d_name))) {
			if (nb)
				ds->bad = nb;
			closedir(d);
			return lode__err(err, LODE_ENOMEM, "out of memory");
		}
		nb[ds->nbad].why = why;
		ds->bad = nb;
		ds->nbad++;
	}
	closedir(d);
	return LODE_OK;
}

/* GDAL looks for side files under the file's name up to its first dot, followed by '.'
   or '_' (a.tif.aux.xml, a.ovr, a.IMD, a_rpc.txt): none of those may be a FIFO, socket
   or device (or, with confine, lead out of the folder). */
static lode_status check_beside(lode__source_check *c, const char *path, const char *shown, lode_error *err)
{
	char *dir = lode__dirname(path);
	const char *base = strrchr(path, '/'), *dot;
	const dir_scan *ds = NULL;
	size_t stem;
	lode_status rc;

	if (!dir)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	rc = scan_dir(c, dir, &ds, err);
	free(dir);
	if (rc)
		return rc;
	base = base ? base + 1 : path;
	dot = base[0] ? strchr(base + 1, '.') : NULL;
	stem = dot ? (size_t)(dot - base) : strlen(base);
	for (size_t i = 0; i < ds->nbad; i++) {
		const char *bn = ds->bad[i].name;
		if (strncasecmp(bn, base, stem) != 0 || strcmp(bn, base) == 0 ||
		    (bn[stem] != '.' && bn[stem] != '_' && bn[stem] != '\0'))
			continue;
		return lode__err(err, LODE_ESOURCE,
				 "%s: '%s' beside it %s, and GDAL may open it as a side file; remove it "
				 "or move the source",
				 shown, bn, ds->bad[i].why);
	}
	return LODE_OK;
}

/* ---- names ---- */

static lode_status check_name(lode__source_check *c, const char *name, const char *from, int depth,
			      lode_error *err);

static lode_status network_name(lode__source_check *c, const char *name, const char *from, lode_error *err)
{
	char buf[WHO_BYTES];
	int added;

	if (!c->r.allow_network)
		return lode__err(err, LODE_EMANIFEST,
				 "%s is a network address or connection, which lode does not read unless "
				 "the dataset says allow: [network]",
				 who(c, name, from, buf, sizeof buf));
	return add_file(c, NULL, name, &added, err);
}

static lode_status scan_vrt(lode__source_check *c, const char *vrt, const char *text, int depth,
			    lode_error *err);

/* A VRT's names, if path is a VRT (read only when it is a regular file or an archive member). */
static lode_status maybe_vrt(lode__source_check *c, const char *path, int in_archive, int depth,
			     lode_error *err)
{
	char *text = NULL;
	size_t len = 0;
	lode_status rc;

	if ((rc = in_archive ? read_vsi(path, SNIFF_BYTES, &text, &len, err)
			     : read_regular(path, SNIFF_BYTES, &text, &len, err)))
		return lode__err_ctx(err, "source '%s': ", shown(c, c->path));
	if (!looks_like_vrt(text, len)) {
		free(text);
		return LODE_OK;
	}
	free(text);
	if (depth >= MAX_VRT_DEPTH)
		return lode__err(err, LODE_ESOURCE, "source '%s': VRTs are nested more than %d deep there",
				 shown(c, c->path), MAX_VRT_DEPTH);
	if ((rc = in_archive ? read_vsi(path, MAX_VRT_BYTES + 1, &text, &len, err)
			     : read_regular(path, MAX_VRT_BYTES + 1, &text, &len, err)))
		return lode__err_ctx(err, "source '%s': ", shown(c, c->path));
	if (len > MAX_VRT_BYTES)
		rc = lode__err(err, LODE_ESOURCE, "source '%s': '%s' is a VRT of more than %u MiB",
			       shown(c, c->path), shown(c, path), MAX_VRT_BYTES >> 20);
	else
		rc = scan_vrt(c, path, text, depth + 1, err);
	free(text);
	return rc;
}

/* A local file, named as GDAL will name it. */
static lode_status local_file(lode__source_check *c, const char *name, const char *from, int depth,
			      lode_error *err)
{
	char buf[WHO_BYTES], *real;
	struct stat st;
	int added;
	lode_status rc;

	who(c, name, from, buf, sizeof buf);
	if (stat(name, &st) != 0)
		return lode__err(err, LODE_ESOURCE, "%s: %s", buf, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return lode__err(err, LODE_ESOURCE, "%s is %s: lode reads regular files only", buf,
				 kind_of(st.st_mode));
	if (!(real = realpath(name, NULL)))
		return lode__err(err, LODE_ESOURCE, "%s: %s", buf, strerror(errno));
	if (c->r.confine && !inside(c->folder_real, real)) {
		rc = lode__err(err, LODE_EMANIFEST,
			       "%s lies outside the manifest's folder (after following links), and "
			       "policy.confine_sources is true",
			       buf);
		free(real);
		return rc;
	}
	rc = add_file(c, real, name, &added, err);
	free(real);
	if (!rc)
		rc = check_beside(c, name, buf, err);
	if (!rc && added)
		rc = maybe_vrt(c, name, 0, depth, err);
	return rc;
}

/* A file inside an archive: the archive is the local file; a VRT in it is read too. */
static lode_status archive_member(lode__source_check *c, const char *name, const char *inner,
				  const char *from, int depth, lode_error *err)
{
	char buf[WHO_BYTES], *arch, *slash;
	struct stat st;
	lode_status rc;

	if (inner[0] == '{') { /* /vsizip/{archive}/member */
		const char *close = strchr(inner, '}');
		if (!close)
			return lode__err(err, LODE_ESOURCE, "%s is not a valid archive name",
					 who(c, name, from, buf, sizeof buf));
		if (!(arch = lode__strdup(inner + 1)))
			return lode__err(err, LODE_ENOMEM, "out of memory");
		arch[close - inner - 1] = '\0';
	} else {
		if (!(arch = lode__strdup(inner)))
			return lode__err(err, LODE_ENOMEM, "out of memory");
		/* The archive is the first leading part that is not a folder. */
		for (slash = arch + 1;; slash++) {
			char keep = *slash;
			if (keep != '/' && keep != '\0')
				continue;
			*slash = '\0';
			if (stat(arch, &st) == 0 && !S_ISDIR(st.st_mode))
				break;
			*slash = keep;
			if (keep == '\0')
				break;
		}
	}
	if (starts_ci(arch, "/vsi"))
		rc = check_name(c, arch, from ? from : c->path, depth, err);
	else
		rc = local_file(c, arch, from ? from : c->path, depth, err);
	free(arch);
	/* The member may be a VRT whose names must be checked too. */
	if (!rc) {
		VSIStatBufL vs;
		if (VSIStatL(name, &vs) == 0 && VSI_ISREG(vs.st_mode))
			rc = maybe_vrt(c, name, 1, depth, err);
	}
	return rc;
}

/* A GDAL subdataset name (NETCDF:"f.nc":var, GTIFF_DIR:1:f.tif): its local files, if any;
 *found = how many. */
static lode_status subdataset(lode__source_check *c, const char *name, const char *from, int depth,
			      int *found, lode_error *err)
{
	char *copy = lode__strdup(name), *parts[64];
	size_t np = 0;
	lode_status rc = LODE_OK;

	*found = 0;
	if (!copy)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	/* Split at ':' outside quotes, quotes removed. */
	{
		char *w = copy, *start = copy;
		int quoted = 0;
		for (const char *r = name;; r++) {
			if (*r == '"') {
				quoted = !quoted;
				continue;
			}
			if ((*r == ':' && !quoted) || *r == '\0') {
				*w++ = '\0';
				if (np < 64)
					parts[np++] = start;
				start = w;
				if (*r == '\0')
					break;
				continue;
			}
			*w++ = *r;
		}
	}
	/* Any run of parts after the driver's prefix that names an existing file. */
	for (size_t i = 1; i < np && !rc; i++) {
		char joined[PATH_MAX];
		joined[0] = '\0';
		for (size_t j = i; j < np && !rc; j++) {
			struct stat st;
			if (strlen(joined) + strlen(parts[j]) + 2 > sizeof joined)
				break;
			if (j > i)
				strcat(joined, ":");
			strcat(joined, parts[j]);
			if (joined[0] && stat(joined, &st) == 0) {
				(*found)++;
				rc = local_file(c, joined, from, depth, err);
			}
		}
	}
	free(copy);
	return rc;
}

static lode_status check_name(lode__source_check *c, const char *name, const char *from, int depth,
			      lode_error *err)
{
	char buf[WHO_BYTES];
	struct stat st;
	int found;
	lode_status rc;

	if (++c->names > MAX_NAMES)
		return lode__err(err, LODE_ESOURCE, "source '%s' names more than %d files", shown(c, c->path),
				 MAX_NAMES);
	if (starts_ci(name, "/vsi")) {
		for (int k = 0; archive_prefixes[k]; k++)
			if (starts_ci(name, archive_prefixes[k]))
				return archive_member(c, name, name + strlen(archive_prefixes[k]), from,
						      depth, err);
		for (int k = 0; network_prefixes[k]; k++)
			if (starts_ci(name, network_prefixes[k]))
				return network_name(c, name, from, err);
		return lode__err(err, LODE_EMANIFEST,
				 "%s is a GDAL virtual file (/vsimem/, /vsistdin/, /vsisubfile/, ...), "
				 "which no source may name",
				 who(c, name, from, buf, sizeof buf));
	}
	if (strstr(name, "://"))
		return network_name(c, name, from, err);
	if (stat(name, &st) == 0 || lstat(name, &st) == 0)
		return local_file(c, name, from, depth, err);
	/* DRIVER:...: a subdataset of local files, else a connection (PG:, WMS:, ...). */
	{
		const char *p = name;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (p > name && *p == ':') {
			if ((rc = subdataset(c, name, from, depth, &found, err)) || found)
				return rc;
			return network_name(c, name, from, err);
		}
	}
	return lode__err(err, LODE_ESOURCE, "%s does not exist", who(c, name, from, buf, sizeof buf));
}

/* ---- VRTs ---- */

static const char *xml_attr(const CPLXMLNode *n, const char *key)
{
	for (const CPLXMLNode *a = n->psChild; a; a = a->psNext)
		if (a->eType == CXT_Attribute && strcasecmp(a->pszValue, key) == 0)
			return a->psChild && a->psChild->eType == CXT_Text ? a->psChild->pszValue : "";
	return NULL;
}

static const char *xml_text(const CPLXMLNode *n)
{
	for (const CPLXMLNode *t = n->psChild; t; t = t->psNext)
		if (t->eType == CXT_Text)
			return t->pszValue;
	return NULL;
}

/* Every element under n (at XML depth level) of the VRT vrt. */
static lode_status walk(lode__source_check *c, const char *vrt, const CPLXMLNode *n, int level, int depth,
			lode_error *err)
{
	static const char *const file_elements[] = {"SourceFilename", "SourceDataset", "SrcDataSource", NULL};
	lode_status rc;

	if (level > MAX_XML_DEPTH)
		return lode__err(err, LODE_ESOURCE,
				 "source '%s': '%s': the XML is nested more than %d levels deep",
				 shown(c, c->path), shown(c, vrt), MAX_XML_DEPTH);
	for (; n; n = n->psNext) {
		const char *sub, *text;
		if (n->eType != CXT_Element)
			continue;
		sub = xml_attr(n, "subClass");
		if (sub && strcasecmp(sub, "VRTRawRasterBand") == 0 && !c->r.allow_raw_vrt)
			return lode__err(
			    err, LODE_EMANIFEST,
			    "source '%s'%s%s%s has a raw band (VRTRawRasterBand), which reads the "
			    "bytes of any file as pixels; lode refuses it unless the dataset says "
			    "allow: [raw_vrt]",
			    shown(c, c->path), strcmp(vrt, c->path) ? ": the VRT '" : "",
			    strcmp(vrt, c->path) ? shown(c, vrt) : "", strcmp(vrt, c->path) ? "'" : "");
		for (int k = 0; file_elements[k]; k++) {
			const char *rel;
			char *resolved;
			if (strcasecmp(n->pszValue, file_elements[k]) != 0)
				continue;
			text = xml_text(n);
			if (!text || !text[0])
				continue;
			rel = xml_attr(n, "relativeToVRT");
			if (rel && atoi(rel) != 0 && text[0] != '/') {
				char *dir = lode__dirname(vrt);
				resolved = dir ? lode__path_join(dir, text) : NULL;
				free(dir);
			} else {
				resolved = lode__strdup(text);
			}
			if (!resolved)
				return lode__err(err, LODE_ENOMEM, "out of memory");
			rc = check_name(c, resolved, vrt, depth, err);
			free(resolved);
			if (rc)
				return rc;
		}
		if ((rc = walk(c, vrt, n->psChild, level + 1, depth, err)))
			return rc;
	}
	return LODE_OK;
}

static lode_status scan_vrt(lode__source_check *c, const char *vrt, const char *text, int depth,
			    lode_error *err)
{
	lode__cpl_capture cap;
	CPLXMLNode *root;
	lode_status rc;

	lode__cpl_push(&cap);
	root = CPLParseXMLString(text);
	lode__cpl_pop();
	if (!root) /* GDAL's VRT drivers parse it with the same parser: they refuse it too */
		return LODE_OK;
	rc = walk(c, vrt, root, 0, depth, err);
	CPLDestroyXMLNode(root);
	return rc;
}

/* ---- the checks ---- */

void lode__source_check_free(lode__source_check *c)
{
	lode_source_files s;

	if (!c)
		return;
	s.f = c->f;
	s.n = c->n;
	lode__source_files_free(&s);
	for (size_t i = 0; i < c->ndirs; i++) {
		for (size_t k = 0; k < c->dirs[i].nbad; k++)
			free(c->dirs[i].bad[k].name);
		free(c->dirs[i].bad);
		free(c->dirs[i].dir);
	}
	free(c->dirs);
	free(c->slots);
	free(c->folder_real);
	free(c->path);
	free(c);
}

lode_status lode__source_check_begin(const char *path, const lode_source_rules *r, lode__source_check **out,
				     lode_error *err)
{
	lode__source_check *c = calloc(1, sizeof *c);
	lode_status rc;

	*out = NULL;
	if (!c || !(c->path = lode__strdup(path))) {
		lode__source_check_free(c);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	c->r = *r;
	if (!(c->folder_real = realpath(r->folder && r->folder[0] ? r->folder : ".", NULL))) {
		rc = lode__err(err, LODE_ESOURCE, "the manifest's folder '%s': %s", r->folder,
			       strerror(errno));
		lode__source_check_free(c);
		return rc;
	}
	/* The source itself is a plain path: no /vsi..., URL or subdataset name. */
	if ((rc = local_file(c, path, NULL, 0, err))) {
		lode__source_check_free(c);
		return rc;
	}
	*out = c;
	return LODE_OK;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const lode_source_file *)a)->name, ((const lode_source_file *)b)->name);
}

lode_status lode__source_check_end(lode__source_check *c, char **gdal_files, lode_source_files *files,
				   lode_error *err)
{
	lode_status rc;

	for (size_t i = 0; gdal_files && gdal_files[i]; i++)
		if ((rc = check_name(c, gdal_files[i], NULL, 0, err)))
			return rc;
	if (files) {
		/* The source first, then the rest by name: the same list whatever GDAL's order. */
		if (c->n > 2)
			qsort(c->f + 1, c->n - 1, sizeof *c->f, by_name);
		files->f = c->f;
		files->n = c->n;
		c->f = NULL;
		c->n = c->cap = 0;
		free(c->slots); /* it indexed the entries handed over */
		c->slots = NULL;
		c->nslots = 0;
	}
	return LODE_OK;
}

/* ---- GDAL's own switches ---- */

void lode__source_lockdown(int allow_network)
{
	/* Drivers whose only business is the network (or a database server). */
	static const char *const network_drivers[] = {
	    "HTTP",       "WMS",      "WMTS", "WCS",          "PLMOSAIC",      "PostGISRaster",
	    "EEDAI",      "EEDA",     "DAAS", "OGCAPI",       "STACIT",        "PLSCENES",
	    "NGW",        "ODBC",     "PGeo", "MSSQLSpatial", "PostgreSQL",    "MySQL",
	    "OGR_OGDI",   "GPSBabel", "WFS",  "OAPIF",        "Elasticsearch", "Carto",
	    "AmigoCloud", "CSW",      NULL};

	/* Python in VRT pixel functions would run code named by a file. */
	CPLSetConfigOption("GDAL_VRT_ENABLE_PYTHON", "NO");
	if (allow_network) {
		CPLSetConfigOption("CPL_VSIL_CURL_ALLOWED_FILENAME", NULL);
		CPLSetConfigOption("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", NULL);
		GDALAllRegister(); /* registers again what an earlier lockdown took away */
		return;
	}
	/* /vsicurl/ and every handler built on it (/vsis3/, /vsigs/, ..., the streaming
	   ones) refuse a name that is not this one or does not end so. */
	CPLSetConfigOption("CPL_VSIL_CURL_ALLOWED_FILENAME", "/vsicurl/lode-network-is-off");
	CPLSetConfigOption("CPL_VSIL_CURL_ALLOWED_EXTENSIONS", ".lode-network-is-off");
	for (int k = 0; network_drivers[k]; k++) {
		GDALDriverH d = GDALGetDriverByName(network_drivers[k]);
		if (d) {
			GDALDeregisterDriver(d);
			GDALDestroyDriver(d);
		}
	}
}
