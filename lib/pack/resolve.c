/* Library resolution as glibc's ld.so does it, statically: nothing is run,
 * LD_LIBRARY_PATH and /etc/ld.so.preload are ignored (the result must not
 * depend on the caller's environment).
 *
 * For each DT_NEEDED, breadth first, each library once (a name already
 * loaded, or equal to a loaded SONAME, is not searched again):
 *  - a name with '/' is a path ($ORIGIN expanded);
 *  - DT_RPATH of the loading object, then of its loader, and so on up to
 *    the program, unless the loading object has DT_RUNPATH (an object's
 *    DT_RPATH is ignored when it has DT_RUNPATH);
 *  - DT_RUNPATH of the loading object only;
 *  - the /etc/ld.so.conf directories, in the order ld.so.cache finds them;
 *  - the default directories (both skipped under DF_1_NODEFLIB).
 * A candidate of another ELF class, byte order or machine is skipped, as
 * ld.so does; a candidate that is not ELF stops the search with an error,
 * as it stops ld.so. */
#include "pack/internal.h"

#include <ctype.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hoist/buf.h"
#include "hoist/io.h"
#include "util/cleanup.h"

#ifndef EM_RISCV
#define EM_RISCV 243
#endif
#ifndef EM_LOONGARCH
#define EM_LOONGARCH 258
#endif

#define NO_LOADER ((size_t)-1)

static int nomem(hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *pack_path_normalise(const char *p)
{
	if (!p || p[0] != '/')
		return NULL;
	size_t n = strlen(p);
	char *out = malloc(n + 2);
	if (!out)
		return NULL;
	size_t o = 0;
	const char *s = p;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = strchrnul(s, '/');
		size_t len = (size_t)(e - s);
		if (len == 1 && s[0] == '.') {
			/* nothing */
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, s, len);
			o += len;
		}
		s = e;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

char *pack_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	while (la > 0 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	char *s = NULL;
	if (asprintf(&s, "%.*s/%s", (int)la, a, b) < 0)
		return NULL;
	return s;
}

char *pack_path_dirname(const char *p)
{
	const char *slash = strrchr(p, '/');
	if (!slash)
		return strdup(".");
	if (slash == p)
		return strdup("/");
	return strndup(p, (size_t)(slash - p));
}

void pack_dirs_release(pack_dirs *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

/* 1 added, 0 present already, -1 out of memory. */
static int dirs_add(pack_dirs *d, const char *dir, size_t len)
{
	for (size_t i = 0; i < d->n; i++)
		if (strlen(d->v[i]) == len && !memcmp(d->v[i], dir, len))
			return 0;
	char **v = realloc(d->v, (d->n + 1) * sizeof(*v));
	if (!v)
		return -1;
	d->v = v;
	if (!(d->v[d->n] = strndup(dir, len)))
		return -1;
	d->n++;
	return 1;
}

int pack_root_open(pack_root *rt, const char *sysroot, hoist_error **err)
{
	rt->fd = -1;
	rt->is_host = false;
	if (!sysroot || !*sysroot)
		sysroot = "/";
	if (!(rt->path = strdup(sysroot)))
		return nomem(err);
	rt->fd = open(sysroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rt->fd < 0)
		return hoist_error_errno(err, errno, "sysroot '%s'", sysroot);
	struct stat a, b;
	rt->is_host = fstat(rt->fd, &a) == 0 && stat("/", &b) == 0 &&
		a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	return 0;
}

void pack_root_release(pack_root *rt)
{
	if (rt->fd >= 0)
		close(rt->fd);
	rt->fd = -1;
	free(rt->path);
	rt->path = NULL;
}

int pack_root_open_file(const pack_root *rt, const char *path, bool in_root,
	int flags)
{
	/* openat2 refuses O_NOCTTY with O_PATH */
	flags |= O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY);
	if (!in_root) {
		int fd = open(path, flags);
		return fd < 0 ? -errno : fd;
	}
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	/* EAGAIN: a rename raced with the walk; the kernel asks to retry. */
	for (int tries = 0; tries < 8; tries++) {
		long fd = syscall(SYS_openat2, rt->fd, path, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno == EAGAIN)
			continue;
		/* Before Linux 5.6 only the host root can be used safely: a
		 * plain open is the same resolution there. */
		if (errno == ENOSYS && rt->is_host) {
			int hfd = open(path, flags);
			return hfd < 0 ? -errno : hfd;
		}
		return -errno;
	}
	return -EAGAIN;
}

int pack_fd_path(int fd, char **out, hoist_error **err)
{
	char link[64], buf[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, buf, sizeof(buf));
	if (n < 0)
		return hoist_error_errno(err, errno,
			"find the path of an open file ('%s'; is /proc mounted?)", link);
	if ((size_t)n >= sizeof(buf) || buf[0] != '/')
		return hoist_error_set(err, HOIST_E_INVALID,
			"cannot find the path of an open file ('%s')", link);
	buf[n] = '\0';
	if (!(*out = strdup(buf)))
		return nomem(err);
	return 0;
}

/* ld.so.conf */

static int conf_parse(pack_dirs *out, const pack_root *rt, const char *file,
	int depth, hoist_error **err);

/* The files an `include` pattern names, sorted as glob(3) sorts them in the
 * C locale.  Wildcards are supported in the last component only. */
static int conf_include(pack_dirs *out, const pack_root *rt, const char *file,
	const char *pattern, int depth, hoist_error **err)
{
	_cleanup_free_ char *full = NULL;
	if (pattern[0] == '/') {
		full = strdup(pattern);
	} else {
		_cleanup_free_ char *dir = pack_path_dirname(file);
		full = dir ? pack_path_join(dir, pattern) : NULL;
	}
	if (!full)
		return nomem(err);
	char *slash = strrchr(full, '/');
	_cleanup_free_ char *dir = slash == full ? strdup("/")
		: strndup(full, (size_t)(slash - full));
	const char *pat = slash + 1;
	if (!dir)
		return nomem(err);
	if (!*pat)
		return 0;
	int fd = pack_root_open_file(rt, dir, true, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return 0; /* no match, as glob */
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return hoist_error_errno(err, errno, "read directory '%s'", dir);
	}
	char **names = NULL;
	size_t n = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fnmatch(pat, de->d_name, FNM_PERIOD) != 0)
			continue;
		if (n == PACK_MAX_INCLUDES) {
			rc = hoist_error_set(err, HOIST_E_LIMIT,
				"'%s': include '%s' matches more than %d files",
				file, pattern, PACK_MAX_INCLUDES);
			goto done;
		}
		char **nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn || !(nn[n] = strdup(de->d_name))) {
			if (nn)
				names = nn;
			rc = nomem(err);
			goto done;
		}
		names = nn;
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && rc == 0; i++) {
		_cleanup_free_ char *path = pack_path_join(dir, names[i]);
		rc = path ? conf_parse(out, rt, path, depth + 1, err) : nomem(err);
	}
done:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int conf_line(pack_dirs *out, const pack_root *rt, const char *file,
	char *line, int depth, hoist_error **err)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	while (isspace((unsigned char)*line))
		line++;
	size_t len = strlen(line);
	while (len > 0 && isspace((unsigned char)line[len - 1]))
		line[--len] = '\0';
	if (!len)
		return 0;
	if (!strncmp(line, "include", 7) && (line[7] == ' ' || line[7] == '\t')) {
		char *p = line + 8;
		while (*p) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (!*p)
				break;
			char *e = p + strcspn(p, " \t");
			char saved = *e;
			*e = '\0';
			int rc = conf_include(out, rt, file, p, depth, err);
			*e = saved;
			if (rc < 0)
				return rc;
			p = e;
		}
		return 0;
	}
	if (!strncasecmp(line, "hwcap", 5) && (line[5] == ' ' || line[5] == '\t'))
		return 0; /* obsolete, ignored by ldconfig too */
	/* ldconfig ignores relative directories for the cache. */
	if (line[0] != '/')
		return 0;
	while (len > 1 && line[len - 1] == '/')
		len--;
	if (out->n >= PACK_MAX_CONF_DIRS)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'%s': more than %d library directories", file,
			PACK_MAX_CONF_DIRS);
	return dirs_add(out, line, len) < 0 ? nomem(err) : 0;
}

static int conf_parse(pack_dirs *out, const pack_root *rt, const char *file,
	int depth, hoist_error **err)
{
	if (depth > PACK_MAX_CONF_DEPTH)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'%s': includes nested deeper than %d", file,
			PACK_MAX_CONF_DEPTH);
	int fd = pack_root_open_file(rt, file, true, O_RDONLY | O_NONBLOCK);
	if (fd == -ENOENT || fd == -ENOTDIR)
		return 0;
	if (fd < 0)
		return hoist_error_errno(err, -fd, "open '%s'", file);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	hoist_reader *r = NULL;
	int rc = hoist_reader_new_fd(&r, fd, true, err);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	hoist_buf b = HOIST_BUF_INIT(PACK_MAX_CONF_BYTES);
	rc = hoist_reader_read_all(r, &b, err);
	hoist_reader_free(r);
	if (rc < 0) {
		hoist_buf_release(&b);
		return hoist_error_wrap(err, HOIST_E_IO, "'%s'", file);
	}
	size_t pos = 0;
	while (rc == 0 && pos < b.len) {
		char *nl = memchr(b.data + pos, '\n', b.len - pos);
		size_t end = nl ? (size_t)(nl - b.data) : b.len;
		b.data[end] = '\0';
		rc = conf_line(out, rt, file, b.data + pos, depth, err);
		pos = end + 1;
	}
	hoist_buf_release(&b);
	return rc;
}

int pack_ldconf_read(pack_dirs *out, const pack_root *rt, const char *conf,
	hoist_error **err)
{
	out->v = NULL;
	out->n = 0;
	int rc = conf_parse(out, rt, conf, 0, err);
	if (rc < 0)
		pack_dirs_release(out);
	return rc;
}

/* The search context */

static const char *multiarch(const hoist_elf *e)
{
	const char *arch = hoist_elf_architecture(e);
	if (!arch)
		return NULL;
	static const struct {
		const char *arch, *triplet;
	} t[] = {
		{ "amd64", "x86_64-linux-gnu" },
		{ "arm64", "aarch64-linux-gnu" },
		{ "386", "i386-linux-gnu" },
		{ "riscv64", "riscv64-linux-gnu" },
		{ "ppc64le", "powerpc64le-linux-gnu" },
		{ "ppc64", "powerpc64-linux-gnu" },
		{ "s390x", "s390x-linux-gnu" },
		{ "mips64le", "mips64el-linux-gnuabi64" },
		{ "mipsle", "mipsel-linux-gnu" },
		{ "loong64", "loongarch64-linux-gnu" },
	};
	if (!strcmp(arch, "arm"))
		return (e->flags & EF_ARM_ABI_FLOAT_HARD) ? "arm-linux-gnueabihf"
			: "arm-linux-gnueabi";
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(t); i++)
		if (!strcmp(arch, t[i].arch))
			return t[i].triplet;
	return NULL;
}

/* AT_PLATFORM as the kernel gives it on the common machines; elsewhere an
 * RPATH element with $PLATFORM is dropped, as ld.so drops it when the
 * platform is unknown. */
static const char *platform_name(const hoist_elf *e)
{
	const char *arch = hoist_elf_architecture(e);
	if (!arch)
		return NULL;
	if (!strcmp(arch, "amd64"))
		return "x86_64";
	if (!strcmp(arch, "arm64"))
		return "aarch64";
	if (!strcmp(arch, "386"))
		return "i686";
	if (!strcmp(arch, "riscv64"))
		return "riscv64";
	return NULL;
}

static bool is_dir_in_root(const pack_root *rt, const char *path)
{
	int fd = pack_root_open_file(rt, path, true, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int pack_search_init(pack_search *s, const pack_root *rt, const hoist_elf *prog,
	hoist_error **err)
{
	memset(s, 0, sizeof(*s));
	s->rt = rt;
	s->elf_class = prog->elf_class;
	s->data = prog->data;
	s->machine = prog->machine;
	if (prog->machine == EM_ARM)
		s->float_abi = prog->flags &
			(EF_ARM_ABI_FLOAT_HARD | EF_ARM_ABI_FLOAT_SOFT);
	s->platform = platform_name(prog);
	int rc = pack_ldconf_read(&s->conf, rt, "/etc/ld.so.conf", err);
	if (rc < 0)
		return hoist_error_wrap(err, HOIST_E_IO, "read ld.so.conf");

	const char *ma = multiarch(prog);
	char buf[128];
	if (ma) {
		snprintf(buf, sizeof(buf), "/lib/%s", ma);
		if (dirs_add(&s->defaults, buf, strlen(buf)) < 0)
			return nomem(err);
		snprintf(buf, sizeof(buf), "/usr/lib/%s", ma);
		if (dirs_add(&s->defaults, buf, strlen(buf)) < 0)
			return nomem(err);
	}
	static const char *const plain[] = { "/lib", "/usr/lib", "/lib64", "/usr/lib64" };
	for (size_t i = 0; i < HOIST_ARRAY_SIZE(plain); i++)
		if (dirs_add(&s->defaults, plain[i], strlen(plain[i])) < 0)
			return nomem(err);

	/* $LIB is what glibc was built with: "lib/<triplet>" on a multiarch
	 * (Debian-style) root, else lib64 for 64-bit and lib for 32-bit. */
	if (ma) {
		char usr[128], lib[128];
		snprintf(usr, sizeof(usr), "/usr/lib/%s", ma);
		snprintf(lib, sizeof(lib), "/lib/%s", ma);
		if (is_dir_in_root(rt, usr) || is_dir_in_root(rt, lib)) {
			snprintf(buf, sizeof(buf), "lib/%s", ma);
			s->lib = strdup(buf);
		}
	}
	if (!s->lib)
		s->lib = strdup(prog->elf_class == ELFCLASS64 ? "lib64" : "lib");
	return s->lib ? 0 : nomem(err);
}

void pack_search_release(pack_search *s)
{
	pack_dirs_release(&s->conf);
	pack_dirs_release(&s->defaults);
	free(s->lib);
	s->lib = NULL;
}

bool pack_search_trusted(const pack_search *s, const pack_obj *interp,
	const char *dir)
{
	if (interp && interp->elf && interp->name) {
		const char *base = strrchr(interp->name, '/');
		base = base ? base + 1 : interp->name;
		if (!strncmp(base, "ld-musl-", 8))
			return !strcmp(dir, "/lib") || !strcmp(dir, "/usr/local/lib") ||
				!strcmp(dir, "/usr/lib");
	}
	char a[160], b[160];
	snprintf(a, sizeof(a), "/%s", s->lib);
	snprintf(b, sizeof(b), "/usr/%s", s->lib);
	if (!strcmp(dir, a) || !strcmp(dir, b))
		return true;
	/* Debian's multiarch glibc also searches /lib and /usr/lib. */
	return strchr(s->lib, '/') &&
		(!strcmp(dir, "/lib") || !strcmp(dir, "/usr/lib"));
}

/* The walk */

static void obj_release(pack_obj *o)
{
	hoist_elf_free(o->elf);
	free(o->lookup);
	free(o->display);
	free(o->real);
	free(o->image);
	free(o->origin);
	free(o->image_origin);
	free(o->name);
	memset(o, 0, sizeof(*o));
}

void pack_walk_release(pack_walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		obj_release(&w->objs[i]);
	free(w->objs);
	obj_release(&w->interp);
	w->objs = NULL;
	w->n = w->cap = 0;
}

static char *display_path(const pack_search *s, const char *lookup, bool in_root)
{
	if (!in_root || s->rt->is_host)
		return strdup(lookup);
	return pack_path_join(s->rt->path, lookup);
}

static bool same_target(const pack_search *s, const hoist_elf *e)
{
	if (e->elf_class != s->elf_class || e->data != s->data ||
		e->machine != s->machine)
		return false;
	/* ld.so refuses an ARM object of the other float ABI. */
	uint32_t fa = e->machine == EM_ARM ? e->flags &
		(EF_ARM_ABI_FLOAT_HARD | EF_ARM_ABI_FLOAT_SOFT) : 0;
	return !fa || !s->float_abi || fa == s->float_abi;
}

/* Opens a candidate.  1: usable, *o filled (elf, lookup, display, real);
 * 0: absent or of another class/machine (*skipped says which, once);
 * <0: error. */
static int probe(const pack_search *s, const char *lookup, bool in_root,
	pack_obj *o, char **skipped, hoist_error **err)
{
	int fd = pack_root_open_file(s->rt, lookup, in_root, O_RDONLY | O_NONBLOCK);
	if (fd == -ENOMEM || fd == -EMFILE || fd == -ENFILE || fd == -EIO ||
		fd == -ENOSYS)
		return hoist_error_errno(err, -fd, "open '%s'", lookup);
	if (fd < 0)
		return 0;
	_cleanup_close_ int cfd = fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return hoist_error_errno(err, errno, "stat '%s'", lookup);
	if (!S_ISREG(st.st_mode))
		return 0;
	_cleanup_free_ char *display = display_path(s, lookup, in_root);
	if (!display)
		return nomem(err);
	hoist_elf *e = NULL;
	int rc = hoist_elf_read_fd(&e, fd, display, err);
	if (rc < 0)
		return rc;
	if (!same_target(s, e)) {
		if (skipped && !*skipped &&
			asprintf(skipped, "skipped '%s': %s, %s, machine %u", display,
				e->elf_class == ELFCLASS64 ? "64-bit" : "32-bit",
				e->data == ELFDATA2LSB ? "little-endian" : "big-endian",
				e->machine) < 0)
			*skipped = NULL;
		hoist_elf_free(e);
		return 0;
	}
	if (e->type != ET_DYN) {
		hoist_elf_free(e);
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': an executable, not a shared library", display);
	}
	o->elf = e;
	if ((rc = pack_fd_path(fd, &o->real, err)) < 0)
		return rc;
	if (!(o->lookup = strdup(lookup)))
		return nomem(err);
	o->display = steal_ptr(&display);
	o->in_root = in_root;
	return 1;
}

/* Tries one path for library `name` needed by objs[loader]. */
static int try_path(pack_walk *w, const pack_search *s, const char *lookup,
	bool in_root, const char *image, const char *name, size_t loader,
	pack_via via, size_t dir_index, char **skipped, hoist_error **err)
{
	pack_obj o = { 0 };
	int rc = probe(s, lookup, in_root, &o, skipped, err);
	if (rc <= 0) {
		obj_release(&o);
		return rc;
	}
	o.image = pack_path_normalise(image);
	o.origin = pack_path_dirname(lookup);
	o.image_origin = o.image ? pack_path_dirname(o.image) : NULL;
	o.name = strdup(name);
	if (!o.image || !o.origin || !o.image_origin || !o.name) {
		obj_release(&o);
		return nomem(err);
	}
	o.loader = loader;
	o.via = via;
	o.dir_index = dir_index;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		pack_obj *v = realloc(w->objs, cap * sizeof(*v));
		if (!v) {
			obj_release(&o);
			return nomem(err);
		}
		w->objs = v;
		w->cap = cap;
	}
	w->objs[w->n++] = o;
	return 1;
}

static int try_dir(pack_walk *w, const pack_search *s, const char *dir,
	bool in_root, const char *image_dir, const char *name, size_t loader,
	pack_via via, size_t dir_index, char **skipped, hoist_error **err)
{
	_cleanup_free_ char *lookup = pack_path_join(dir, name);
	_cleanup_free_ char *image = pack_path_join(image_dir, name);
	if (!lookup || !image)
		return nomem(err);
	return try_path(w, s, lookup, in_root, image, name, loader, via,
		dir_index, skipped, err);
}

static bool dst_is(const char *p, const char *name, size_t *consumed)
{
	size_t n = strlen(name);
	if (p[0] == '{') {
		if (!strncmp(p + 1, name, n) && p[n + 1] == '}') {
			*consumed = n + 2;
			return true;
		}
		return false;
	}
	if (strncmp(p, name, n) != 0)
		return false;
	if (isalnum((unsigned char)p[n]) || p[n] == '_')
		return false;
	*consumed = n;
	return true;
}

/* Expands $ORIGIN, $LIB and $PLATFORM (also as ${...}) in in[0..len).
 * 1: *out set; 0: the element is to be dropped ($PLATFORM unknown); <0
 * error. */
static int expand(const pack_search *s, const char *in, size_t len,
	const char *origin, char **out, bool *used_origin, hoist_error **err)
{
	hoist_buf b = HOIST_BUF_INIT(PACK_MAX_PATH);
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0;) {
		size_t k = 0;
		if (in[i] != '$') {
			size_t j = i;
			while (j < len && in[j] != '$')
				j++;
			rc = hoist_buf_append(&b, in + i, j - i, err);
			i = j;
			continue;
		}
		_cleanup_free_ char *rest = strndup(in + i + 1, len - i - 1);
		if (!rest) {
			rc = nomem(err);
			break;
		}
		if (dst_is(rest, "ORIGIN", &k)) {
			*used_origin = true;
			rc = hoist_buf_appends(&b, origin, err);
		} else if (dst_is(rest, "LIB", &k)) {
			rc = hoist_buf_appends(&b, s->lib, err);
		} else if (dst_is(rest, "PLATFORM", &k)) {
			if (!s->platform) {
				hoist_buf_release(&b);
				return 0;
			}
			rc = hoist_buf_appends(&b, s->platform, err);
		} else {
			rc = hoist_buf_append(&b, "$", 1, err);
		}
		i += 1 + k;
	}
	if (rc < 0) {
		hoist_buf_release(&b);
		return rc;
	}
	*out = hoist_buf_steal(&b, NULL);
	if (!*out && !(*out = strdup("")))
		return nomem(err);
	return 1;
}

/* Expands one RPATH/RUNPATH element or DT_NEEDED path of object l: the
 * lookup path, whether it is inside the root, and the image path. 1 ok, 0
 * drop, <0 error. */
static int expand_both(const pack_search *s, const pack_obj *l, const char *in,
	size_t len, char **lookup, bool *in_root, char **image, hoist_error **err)
{
	bool used = false;
	int rc = expand(s, in, len, l->origin, lookup, &used, err);
	if (rc <= 0)
		return rc;
	if (!used) {
		*in_root = true;
		*image = strdup(*lookup);
		return *image ? 1 : nomem(err);
	}
	*in_root = l->in_root;
	return expand(s, in, len, l->image_origin, image, &used, err);
}

/* Searches the elements of list, the RPATH or RUNPATH of objs[owner], for
 * `name` needed by objs[loader]. */
static int search_list(pack_walk *w, const pack_search *s, const char *list,
	size_t owner, size_t loader, pack_via via, const char *name,
	char **skipped, hoist_error **err)
{
	const char *p = list;
	while (*p) {
		const char *e = strchrnul(p, ':');
		_cleanup_free_ char *lookup = NULL, *image = NULL;
		bool in_root = true;
		int rc = 1;
		/* Empty and relative elements mean the process's working
		 * directory: nothing to find statically. */
		if (e > p)
			rc = expand_both(s, &w->objs[owner], p, (size_t)(e - p), &lookup,
				&in_root, &image, err);
		if (rc < 0)
			return rc;
		if (e > p && rc > 0 && lookup[0] == '/' && image[0] == '/') {
			rc = try_dir(w, s, lookup, in_root, image, name, loader, via,
				0, skipped, err);
			if (rc != 0)
				return rc;
		}
		p = *e ? e + 1 : e;
	}
	return 0;
}

static int search(pack_walk *w, const pack_search *s, size_t li,
	const char *name, char **skipped, hoist_error **err)
{
	int rc;
	if (strchr(name, '/')) {
		_cleanup_free_ char *lookup = NULL, *image = NULL;
		bool in_root = true;
		rc = expand_both(s, &w->objs[li], name, strlen(name), &lookup,
			&in_root, &image, err);
		if (rc <= 0)
			return rc;
		if (lookup[0] != '/' || image[0] != '/')
			return hoist_error_set(err, HOIST_E_UNSUPPORTED,
				"library '%s' needed by '%s': a relative path "
				"depends on the working directory", name,
				w->objs[li].display);
		return try_path(w, s, lookup, in_root, image, name, li,
			PACK_VIA_PATH, 0, skipped, err);
	}
	/* An object's DT_RPATH counts only when it has no DT_RUNPATH (glibc
	 * drops DT_RPATH then), and the chain is searched only when the
	 * loading object has none. */
	if (!w->objs[li].elf->runpath) {
		for (size_t i = li; i != NO_LOADER; i = w->objs[i].loader) {
			const hoist_elf *e = w->objs[i].elf;
			if (e->rpath && !e->runpath &&
				(rc = search_list(w, s, e->rpath, i, li,
					PACK_VIA_RPATH, name, skipped, err)) != 0)
				return rc;
		}
	} else if ((rc = search_list(w, s, w->objs[li].elf->runpath, li, li,
			PACK_VIA_RUNPATH, name, skipped, err)) != 0) {
		return rc;
	}
	if (w->objs[li].elf->flags_1 & DF_1_NODEFLIB)
		return 0;
	for (size_t i = 0; i < s->conf.n; i++)
		if ((rc = try_dir(w, s, s->conf.v[i], true, s->conf.v[i], name, li,
			PACK_VIA_CONF, i, skipped, err)) != 0)
			return rc;
	for (size_t i = 0; i < s->defaults.n; i++)
		if ((rc = try_dir(w, s, s->defaults.v[i], true, s->defaults.v[i],
			name, li, PACK_VIA_DEFAULT, s->conf.n + i, skipped, err)) != 0)
			return rc;
	return 0;
}

static bool obj_matches(const pack_obj *o, const char *name)
{
	return o->elf && ((o->name && !strcmp(o->name, name)) ||
		(o->elf->soname && !strcmp(o->elf->soname, name)) ||
		(o->image && !strcmp(o->image, name)));
}

static bool loaded(const pack_walk *w, const char *name)
{
	for (size_t i = 0; i < w->n; i++)
		if (obj_matches(&w->objs[i], name))
			return true;
	return obj_matches(&w->interp, name);
}

static int walk_interp(pack_walk *w, const pack_search *s, hoist_error **err)
{
	const pack_obj *prog = &w->objs[0];
	_cleanup_free_ char *skipped = NULL;
	int rc = probe(s, prog->elf->interp, true, &w->interp, &skipped, err);
	if (rc < 0)
		return hoist_error_wrap(err, HOIST_E_INVALID, "'%s': interpreter",
			prog->display);
	if (rc == 0)
		return hoist_error_set(err, HOIST_E_NOTFOUND,
			"'%s': interpreter '%s' not found%s%s%s%s%s", prog->display,
			prog->elf->interp, s->rt->is_host ? "" : " in sysroot '",
			s->rt->is_host ? "" : s->rt->path,
			s->rt->is_host ? "" : "'", skipped ? "; " : "",
			skipped ? skipped : "");
	pack_obj *o = &w->interp;
	o->image = pack_path_normalise(prog->elf->interp);
	o->origin = pack_path_dirname(o->lookup);
	o->image_origin = o->image ? pack_path_dirname(o->image) : NULL;
	o->name = strdup(prog->elf->interp);
	if (!o->image || !o->origin || !o->image_origin || !o->name)
		return nomem(err);
	o->loader = 0;
	o->via = PACK_VIA_INTERP;
	return 0;
}

int pack_walk_run(pack_walk *w, const pack_search *s, const char *binary,
	hoist_elf *prog, const char *image, hoist_error **err)
{
	memset(w, 0, sizeof(*w));
	w->objs = calloc(16, sizeof(*w->objs));
	if (!w->objs) {
		hoist_elf_free(prog);
		return nomem(err);
	}
	w->cap = 16;
	w->n = 1;
	pack_obj *p = &w->objs[0];
	p->elf = prog;
	p->loader = NO_LOADER;
	p->via = PACK_VIA_PROGRAM;
	p->lookup = strdup(binary);
	p->display = strdup(binary);
	p->real = realpath(binary, NULL);
	if (!p->real)
		return hoist_error_errno(err, errno, "resolve '%s'", binary);
	/* ld.so takes the program's $ORIGIN from the kernel's path of the
	 * executable, symlinks resolved. */
	p->origin = pack_path_dirname(p->real);
	p->image = strdup(image);
	p->image_origin = pack_path_dirname(image);
	if (!p->lookup || !p->display || !p->origin || !p->image ||
		!p->image_origin)
		return nomem(err);

	int rc;
	if (prog->interp && (rc = walk_interp(w, s, err)) < 0)
		return rc;
	for (size_t q = 0; q < w->n; q++) {
		const hoist_elf *e = w->objs[q].elf;
		for (size_t k = 0; k < e->n_needed; k++) {
			const char *name = e->needed[k];
			if (loaded(w, name))
				continue;
			if (w->n >= PACK_MAX_OBJECTS)
				return hoist_error_set(err, HOIST_E_LIMIT,
					"'%s': loads more than %d libraries", binary,
					PACK_MAX_OBJECTS);
			_cleanup_free_ char *skipped = NULL;
			rc = search(w, s, q, name, &skipped, err);
			if (rc < 0)
				return rc;
			if (rc == 0)
				return hoist_error_set(err, HOIST_E_NOTFOUND,
					"library '%s' needed by '%s': not found%s%s%s%s%s",
					name, w->objs[q].display,
					s->rt->is_host ? "" : " in sysroot '",
					s->rt->is_host ? "" : s->rt->path,
					s->rt->is_host ? "" : "'", skipped ? "; " : "",
					skipped ? skipped : "");
		}
	}
	return 0;
}
