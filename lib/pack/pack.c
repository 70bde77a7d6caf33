/* The pack plan: which files a minimal image of some programs needs, where
 * they go, and what its config says.  See include/hoist/pack.h. */
#include "hoist/pack.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pack/internal.h"
#include "util/cleanup.h"

#define DEFAULT_BIN_DIR "/usr/local/bin"
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define CA_PATH "/etc/ssl/certs/ca-certificates.crt"
#define HOME_DIR "/home/nonroot"

/* distroless's users: root, nobody, and nonroot (65532), with no shells. */
static const char passwd_data[] =
	"root:x:0:0:root:/root:/sbin/nologin\n"
	"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
	"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
static const char group_data[] =
	"root:x:0:\n"
	"nobody:x:65534:\n"
	"nonroot:x:65532:\n";
/* Without this file glibc asks DNS before /etc/hosts ("dns [!UNAVAIL=return]
 * files"), so "localhost" could leave the container; files and dns are
 * built into glibc >= 2.34, so no libnss_*.so is needed. */
static const char nsswitch_data[] =
	"passwd: files\n"
	"group: files\n"
	"shadow: files\n"
	"hosts: files dns\n"
	"networks: files\n"
	"protocols: files\n"
	"services: files\n"
	"ethers: files\n"
	"rpc: files\n";

struct hoist_pack_plan {
	hoist_pack_entry *v;
	size_t n, cap;
	hoist_pack_config cfg;
	char *entrypoint[1];
	char *env[3];
	size_t n_env;
	char *bin_dir;
	bool no_parent_dirs;
};

static int nomem(hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
}

void hoist_pack_opts_init(hoist_pack_opts *o)
{
	memset(o, 0, sizeof(*o));
}

static void entry_release(hoist_pack_entry *e)
{
	free((char *)e->path);
	free((char *)e->host_path);
	free((char *)e->name);
	free((char *)e->needed_by);
	/* data points at the static contents above */
}

void hoist_pack_plan_free(hoist_pack_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		entry_release(&p->v[i]);
	free(p->v);
	free(p->entrypoint[0]);
	for (size_t i = 0; i < p->n_env; i++)
		free(p->env[i]);
	hoist_platform_release(&p->cfg.platform);
	free(p->bin_dir);
	free(p);
}
HOIST_DEFINE_CLEANUP(hoist_pack_plan, hoist_pack_plan_free)

size_t hoist_pack_plan_size(const hoist_pack_plan *p)
{
	return p->n;
}

const hoist_pack_entry *hoist_pack_plan_entry(const hoist_pack_plan *p, size_t i)
{
	return i < p->n ? &p->v[i] : NULL;
}

const hoist_pack_config *hoist_pack_plan_config(const hoist_pack_plan *p)
{
	return &p->cfg;
}

static hoist_pack_entry *find(hoist_pack_plan *p, const char *path)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].path, path))
			return &p->v[i];
	return NULL;
}

/* Appends e, taking its strings (released on failure too). */
static int push(hoist_pack_plan *p, hoist_pack_entry e, hoist_error **err)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;
		hoist_pack_entry *v = realloc(p->v, cap * sizeof(*v));
		if (!v) {
			entry_release(&e);
			return nomem(err);
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = e;
	return 0;
}

/* 0755 root directories for the ancestors of path not yet in the plan. */
static int add_parents(hoist_pack_plan *p, const char *path, hoist_error **err)
{
	for (const char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
		_cleanup_free_ char *dir = strndup(path, (size_t)(s - path));
		if (!dir)
			return nomem(err);
		const hoist_pack_entry *have = find(p, dir);
		if (have && have->kind != HOIST_PACK_DIR)
			return hoist_error_set(err, HOIST_E_EXISTS,
				"'%s' is needed as a file and as the directory of '%s'",
				dir, path);
		if (have || p->no_parent_dirs)
			continue;
		int rc = push(p, (hoist_pack_entry){ .kind = HOIST_PACK_DIR,
			.path = steal_ptr(&dir), .mode = 0755 }, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_file(hoist_pack_plan *p, hoist_pack_kind kind, const char *path,
	const char *host, const char *name, const char *needed_by,
	hoist_error **err)
{
	const hoist_pack_entry *have = find(p, path);
	if (have && have->host_path && !strcmp(have->host_path, host))
		return 0;
	if (have && have->kind == HOIST_PACK_DIR)
		return hoist_error_set(err, HOIST_E_EXISTS,
			"'%s' is needed as a directory and as the file '%s'", path,
			host);
	if (have)
		return hoist_error_set(err, HOIST_E_EXISTS,
			"'%s' in the image would be both '%s' and '%s'", path,
			have->host_path ? have->host_path : "generated content", host);
	int rc = add_parents(p, path, err);
	if (rc < 0)
		return rc;
	hoist_pack_entry e = { .kind = kind, .path = strdup(path),
		.host_path = strdup(host),
		.name = name ? strdup(name) : NULL,
		.needed_by = needed_by ? strdup(needed_by) : NULL };
	if (!e.path || !e.host_path || (name && !e.name) ||
		(needed_by && !e.needed_by)) {
		entry_release(&e);
		return nomem(err);
	}
	return push(p, e, err);
}

static int add_data(hoist_pack_plan *p, const char *path, const char *data,
	size_t len, hoist_error **err)
{
	if (find(p, path))
		return hoist_error_set(err, HOIST_E_EXISTS,
			"'%s' is in the image already", path);
	int rc = add_parents(p, path, err);
	if (rc < 0)
		return rc;
	hoist_pack_entry e = { .kind = HOIST_PACK_DATA, .path = strdup(path),
		.data = data, .len = len, .mode = 0644 };
	return e.path ? push(p, e, err) : nomem(err);
}

static int add_dir(hoist_pack_plan *p, const char *path, mode_t mode,
	uint32_t uid, uint32_t gid, hoist_error **err)
{
	hoist_pack_entry *have = find(p, path);
	if (have && have->kind != HOIST_PACK_DIR)
		return hoist_error_set(err, HOIST_E_EXISTS,
			"'%s' is needed as a directory and as a file", path);
	if (have) {
		/* made earlier as a parent: this entry says what it is */
		have->mode = mode;
		have->uid = uid;
		have->gid = gid;
		return 0;
	}
	int rc = add_parents(p, path, err);
	if (rc < 0)
		return rc;
	hoist_pack_entry e = { .kind = HOIST_PACK_DIR, .path = strdup(path),
		.mode = mode, .uid = uid, .gid = gid };
	return e.path ? push(p, e, err) : nomem(err);
}

/* A library or interpreter found by one of the walks. */
typedef struct found {
	const pack_obj *obj;
	const char *needed_by;
} found;

static int cmp_found(const void *a, const void *b)
{
	const found *x = a, *y = b;
	int c = strcmp(x->obj->image, y->obj->image);
	return c ? c : strcmp(x->obj->real, y->obj->real);
}

typedef struct lddir {
	size_t index;
	const char *dir;
} lddir;

static int cmp_lddir(const void *a, const void *b)
{
	const lddir *x = a, *y = b;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return strcmp(x->dir, y->dir);
}

static bool path_has_dir(const char *list, const char *dir)
{
	size_t n = strlen(dir);
	for (const char *p = list; *p;) {
		const char *e = strchrnul(p, ':');
		if ((size_t)(e - p) == n && !strncmp(p, dir, n))
			return true;
		p = *e ? e + 1 : e;
	}
	return false;
}

/* Checks one program: Linux, an architecture hoist knows, runnable. */
static int check_program(const char *path, const hoist_elf *e,
	hoist_error **err)
{
	if (!hoist_elf_architecture(e))
		return hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"'%s': unsupported machine %u (%d-bit %s-endian)", path,
			e->machine, e->elf_class == ELFCLASS64 ? 64 : 32,
			e->data == ELFDATA2LSB ? "little" : "big");
	if (e->osabi != ELFOSABI_NONE && e->osabi != ELFOSABI_GNU)
		return hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"'%s': not a Linux program (ELF OS ABI %u)", path, e->osabi);
	if (!e->interp && e->n_needed)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': needs shared libraries but has no interpreter "
			"(a shared library, not a program?)", path);
	/* Without PT_INTERP an ET_DYN runs only as a static-pie; linkers
	 * before DF_1_PIE still gave it an entry point, libraries have none. */
	if (!e->interp && e->type == ET_DYN && !e->static_pie && !e->entry)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': a shared library, not a program", path);
	return 0;
}

static int add_libraries(hoist_pack_plan *p, pack_walk *walks, size_t n,
	hoist_error **err)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += walks[i].n;
	_cleanup_free_ found *interps = calloc(n ? n : 1, sizeof(*interps));
	_cleanup_free_ found *libs = calloc(total ? total : 1, sizeof(*libs));
	if (!interps || !libs)
		return nomem(err);
	size_t ni = 0, nl = 0;
	for (size_t i = 0; i < n; i++) {
		if (walks[i].interp.elf)
			interps[ni++] = (found){ &walks[i].interp,
				walks[i].objs[0].display };
		for (size_t k = 1; k < walks[i].n; k++)
			libs[nl++] = (found){ &walks[i].objs[k],
				walks[i].objs[walks[i].objs[k].loader].display };
	}
	qsort(interps, ni, sizeof(*interps), cmp_found);
	qsort(libs, nl, sizeof(*libs), cmp_found);
	int rc;
	for (size_t i = 0; i < ni; i++)
		if ((rc = add_file(p, HOIST_PACK_INTERP, interps[i].obj->image,
			interps[i].obj->real, interps[i].obj->name,
			interps[i].needed_by, err)) < 0)
			return rc;
	for (size_t i = 0; i < nl; i++)
		if ((rc = add_file(p, HOIST_PACK_LIBRARY, libs[i].obj->image,
			libs[i].obj->real, libs[i].obj->name, libs[i].needed_by,
			err)) < 0)
			return rc;
	return 0;
}

/* LD_LIBRARY_PATH for the libraries only ld.so.cache found on the host:
 * the image has no cache, and its loader searches its built-in
 * directories only.  In the host's search order. */
static int library_path(hoist_pack_plan *p, const pack_search *s,
	pack_walk *walks, size_t n, hoist_error **err)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += walks[i].n;
	_cleanup_free_ lddir *dirs = calloc(total ? total : 1, sizeof(*dirs));
	if (!dirs)
		return nomem(err);
	size_t nd = 0;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 1; k < walks[i].n; k++) {
			const pack_obj *o = &walks[i].objs[k];
			if (o->via != PACK_VIA_CONF && o->via != PACK_VIA_DEFAULT)
				continue;
			if (pack_search_trusted(s, &walks[i].interp, o->image_origin))
				continue;
			dirs[nd++] = (lddir){ o->dir_index, o->image_origin };
		}
	}
	if (!nd)
		return 0;
	qsort(dirs, nd, sizeof(*dirs), cmp_lddir);
	hoist_buf b = HOIST_BUF_INIT(64 * 1024);
	int rc = hoist_buf_appends(&b, "LD_LIBRARY_PATH=", err);
	for (size_t i = 0; i < nd && rc == 0; i++) {
		if (path_has_dir(b.data + strlen("LD_LIBRARY_PATH="), dirs[i].dir))
			continue;
		rc = hoist_buf_appendf(&b, err, "%s%s",
			b.len > strlen("LD_LIBRARY_PATH=") ? ":" : "", dirs[i].dir);
	}
	if (rc < 0) {
		hoist_buf_release(&b);
		return rc;
	}
	p->env[p->n_env++] = hoist_buf_steal(&b, NULL);
	return 0;
}

static int add_ca(hoist_pack_plan *p, const pack_root *rt,
	const hoist_pack_opts *o, hoist_error **err)
{
	const char *src = o->ca_file ? o->ca_file : CA_PATH;
	int fd = pack_root_open_file(rt, src, !o->ca_file, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return hoist_error_errno(err, -fd, "ca certificates '%s'%s%s%s", src,
			o->ca_file || rt->is_host ? "" : " in sysroot '",
			o->ca_file || rt->is_host ? "" : rt->path,
			o->ca_file || rt->is_host ? "" : "'");
	_cleanup_close_ int cfd = fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return hoist_error_errno(err, errno, "stat '%s'", src);
	if (!S_ISREG(st.st_mode))
		return hoist_error_set(err, HOIST_E_INVALID,
			"ca certificates '%s': not a regular file", src);
	_cleanup_free_ char *real = NULL;
	int rc = pack_fd_path(fd, &real, err);
	if (rc < 0)
		return rc;
	if ((rc = add_file(p, HOIST_PACK_FILE, CA_PATH, real, NULL, NULL, err)) < 0)
		return rc;
	p->env[p->n_env] = strdup("SSL_CERT_FILE=" CA_PATH);
	if (!p->env[p->n_env])
		return nomem(err);
	p->n_env++;
	return 0;
}

static int add_user_files(hoist_pack_plan *p, hoist_error **err)
{
	int rc;
	if ((rc = add_data(p, "/etc/passwd", passwd_data, sizeof(passwd_data) - 1,
		err)) < 0 ||
		(rc = add_data(p, "/etc/group", group_data, sizeof(group_data) - 1,
			err)) < 0 ||
		(rc = add_data(p, "/etc/nsswitch.conf", nsswitch_data,
			sizeof(nsswitch_data) - 1, err)) < 0 ||
		(rc = add_dir(p, HOME_DIR, 0700, HOIST_PACK_UID, HOIST_PACK_GID,
			err)) < 0 ||
		(rc = add_dir(p, "/tmp", 01777, 0, 0, err)) < 0)
		return rc;
	return 0;
}

static int binary_image_path(const char *bin_dir, const char *binary,
	char **out, hoist_error **err)
{
	const char *base = strrchr(binary, '/');
	base = base ? base + 1 : binary;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': not a file name", binary);
	*out = pack_path_join(bin_dir, base);
	return *out ? 0 : nomem(err);
}

static int make_config(hoist_pack_plan *p, const char *arch,
	const char *entry, hoist_error **err)
{
	p->cfg.platform.os = strdup("linux");
	p->cfg.platform.architecture = strdup(arch);
	p->entrypoint[0] = strdup(entry);
	if (!p->cfg.platform.os || !p->cfg.platform.architecture ||
		!p->entrypoint[0])
		return nomem(err);
	p->cfg.user = "65532:65532";
	p->cfg.entrypoint = (const char *const *)p->entrypoint;
	p->cfg.n_entrypoint = 1;
	p->cfg.env = (const char *const *)p->env;
	p->cfg.n_env = p->n_env;
	return 0;
}

static int plan_build(hoist_pack_plan *p, const char *const *binaries,
	size_t n, const hoist_pack_opts *o, hoist_elf **elfs, char **images,
	pack_walk *walks, size_t *n_walks, pack_search *s, const pack_root *rt,
	hoist_error **err)
{
	int rc;
	const char *arch0 = NULL;
	for (size_t i = 0; i < n; i++) {
		if ((rc = hoist_elf_read(&elfs[i], binaries[i], err)) < 0)
			return rc;
		if ((rc = check_program(binaries[i], elfs[i], err)) < 0)
			return rc;
		const char *arch = hoist_elf_architecture(elfs[i]);
		if (i == 0)
			arch0 = arch;
		else if (strcmp(arch, arch0) != 0 ||
			elfs[i]->machine != elfs[0]->machine)
			return hoist_error_set(err, HOIST_E_INVALID,
				"'%s': architecture '%s' differs from '%s' of '%s'",
				binaries[i], arch, arch0, binaries[0]);
		if ((rc = binary_image_path(p->bin_dir, binaries[i], &images[i],
			err)) < 0)
			return rc;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(images[k], images[i]))
				return hoist_error_set(err, HOIST_E_EXISTS,
					"'%s' and '%s' would both be '%s' in the image",
					binaries[k], binaries[i], images[i]);
	}
	if ((rc = pack_search_init(s, rt, elfs[0], err)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		/* the walk owns the ELF from here */
		hoist_elf *e = steal_ptr(&elfs[i]);
		rc = pack_walk_run(&walks[i], s, binaries[i], e, images[i], err);
		(*n_walks)++;
		if (rc < 0)
			return rc;
	}

	for (size_t i = 0; i < n; i++)
		if ((rc = add_file(p, HOIST_PACK_BINARY, images[i],
			walks[i].objs[0].real, NULL, NULL, err)) < 0)
			return rc;
	if ((rc = add_libraries(p, walks, n, err)) < 0)
		return rc;

	const char *path_base = DEFAULT_PATH;
	_cleanup_free_ char *path = NULL;
	if (path_has_dir(path_base, p->bin_dir))
		rc = asprintf(&path, "PATH=%s", path_base);
	else
		rc = asprintf(&path, "PATH=%s:%s", p->bin_dir, path_base);
	if (rc < 0)
		return nomem(err);
	p->env[p->n_env++] = steal_ptr(&path);
	if ((rc = library_path(p, s, walks, n, err)) < 0)
		return rc;
	if (o->ca_certs && (rc = add_ca(p, rt, o, err)) < 0)
		return rc;
	if (!o->no_user_files && (rc = add_user_files(p, err)) < 0)
		return rc;
	return make_config(p, arch0, images[0], err);
}

int hoist_pack_plan_new(hoist_pack_plan **out, const char *const *binaries,
	size_t n, const hoist_pack_opts *opts, hoist_error **err)
{
	hoist_pack_opts defaults;
	if (!opts) {
		hoist_pack_opts_init(&defaults);
		opts = &defaults;
	}
	if (n == 0)
		return hoist_error_set(err, HOIST_E_INVALID, "no programs to pack");
	const char *bin_dir = opts->bin_dir ? opts->bin_dir : DEFAULT_BIN_DIR;
	if (bin_dir[0] != '/')
		return hoist_error_set(err, HOIST_E_INVALID,
			"binary directory '%s' is not an absolute path", bin_dir);

	_cleanup_(hoist_pack_plan_freep) hoist_pack_plan *p = calloc(1, sizeof(*p));
	if (!p || !(p->bin_dir = pack_path_normalise(bin_dir)))
		return nomem(err);
	p->no_parent_dirs = opts->no_parent_dirs;

	pack_root rt;
	int rc = pack_root_open(&rt, opts->sysroot, err);
	if (rc < 0) {
		pack_root_release(&rt);
		return rc;
	}
	hoist_elf **elfs = calloc(n, sizeof(*elfs));
	char **images = calloc(n, sizeof(*images));
	pack_walk *walks = calloc(n, sizeof(*walks));
	pack_search s = { 0 };
	size_t n_walks = 0;
	if (!elfs || !images || !walks)
		rc = nomem(err);
	else
		rc = plan_build(p, binaries, n, opts, elfs, images, walks, &n_walks,
			&s, &rt, err);
	for (size_t i = 0; i < n_walks; i++)
		pack_walk_release(&walks[i]);
	for (size_t i = 0; elfs && i < n; i++)
		hoist_elf_free(elfs[i]);
	for (size_t i = 0; images && i < n; i++)
		free(images[i]);
	free(walks);
	free(images);
	free(elfs);
	pack_search_release(&s);
	pack_root_release(&rt);
	if (rc < 0)
		return rc;
	*out = steal_ptr(&p);
	return 0;
}

/* KEY=ours, or, when c has KEY already (a base image), ours prepended to
 * its value unless it is in there. */
static int merge_env(hoist_config *c, const char *kv, hoist_error **err)
{
	size_t k = strcspn(kv, "=");
	_cleanup_free_ char *key = strndup(kv, k);
	if (!key)
		return nomem(err);
	const char *have = hoist_config_get_env(c, key);
	const char *ours = kv + k + 1;
	if (!have || !*have || strcmp(key, "SSL_CERT_FILE") == 0)
		return hoist_config_set_env(c, kv, err);
	hoist_buf b = HOIST_BUF_INIT(256 * 1024);
	int rc = hoist_buf_appendf(&b, err, "%s=", key);
	bool first = true;
	for (const char *p = ours; *p && rc == 0;) {
		const char *e = strchrnul(p, ':');
		_cleanup_free_ char *dir = strndup(p, (size_t)(e - p));
		if (!dir) {
			rc = nomem(err);
			break;
		}
		if (!path_has_dir(have, dir)) {
			rc = hoist_buf_appendf(&b, err, "%s%s", first ? "" : ":", dir);
			first = false;
		}
		p = *e ? e + 1 : e;
	}
	if (rc == 0)
		rc = hoist_buf_appendf(&b, err, "%s%s", first ? "" : ":", have);
	if (rc == 0)
		rc = hoist_config_set_env(c, b.data, err);
	hoist_buf_release(&b);
	return rc;
}

int hoist_pack_plan_apply_config(const hoist_pack_plan *p, hoist_config *c,
	hoist_error **err)
{
	const hoist_pack_config *cfg = &p->cfg;
	json_t *ep = json_array();
	if (!ep)
		return nomem(err);
	for (size_t i = 0; i < cfg->n_entrypoint; i++)
		if (json_array_append_new(ep, json_string(cfg->entrypoint[i])) < 0) {
			json_decref(ep);
			return nomem(err);
		}
	int rc;
	/* A new entrypoint drops an inherited Cmd, as Dockerfile's ENTRYPOINT
	 * does: the base's arguments were meant for its own program. */
	if ((rc = hoist_config_set_platform(c, &cfg->platform, err)) < 0 ||
		(rc = hoist_config_set_entrypoint(c, ep, err)) < 0 ||
		(rc = hoist_config_set_cmd(c, NULL, err)) < 0 ||
		(rc = hoist_config_set_user(c, cfg->user, err)) < 0) {
		json_decref(ep);
		return hoist_error_wrap(err, HOIST_E_INVALID, "set image config");
	}
	json_decref(ep);
	for (size_t i = 0; i < cfg->n_env; i++)
		if ((rc = merge_env(c, cfg->env[i], err)) < 0)
			return hoist_error_wrap(err, HOIST_E_INVALID,
				"set image config");
	return 0;
}
