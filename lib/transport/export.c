#include "hoist/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/fs.h"
#include "hoist/strset.h"
#include "util/cleanup.h"

static int open_layer(hoist_source *src, const hoist_descriptor *d,
	hoist_reader **out, hoist_error **err)
{
	hoist_reader *blob = NULL;
	int rc = src->ops->open_blob(src, d, &blob, err);
	if (rc < 0)
		return rc;
	return hoist_layer_decompress(out, blob, err);
}

int hoist_image_export_dir(hoist_source *src, const hoist_image *img,
	const char *dir, const hoist_apply_opts *o, hoist_error **err)
{
	int rc = hoist_fs_mkdir_p(AT_FDCWD, dir, 0755, err);
	if (rc < 0)
		return rc;
	_cleanup_close_ int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return hoist_error_errno(err, errno, "open '%s'", dir);
	const hoist_manifest *m = img->manifest;
	for (size_t i = 0; i < m->n_layers; i++) {
		hoist_reader *r = NULL;
		hoist_apply_opts lo = *o;
		if (!lo.max_bytes)
			lo.max_bytes = hoist_layer_max_bytes(m->layers[i].size);
		rc = open_layer(src, &m->layers[i], &r, err);
		if (rc == 0)
			rc = hoist_layer_apply(root, r, &lo, NULL, NULL, err);
		hoist_reader_free(r);
		if (rc < 0)
			return hoist_error_wrap(err, HOIST_E_IO, "layer %zu (%s)", i + 1,
				m->layers[i].digest.str);
	}
	return 0;
}

/* libarchive over hoist readers and writers */
typedef struct arch_in {
	hoist_reader *r;
	hoist_error **err;
	char buf[HOIST_IO_CHUNK];
} arch_in;

static la_ssize_t arch_read(struct archive *a, void *ud, const void **buf)
{
	arch_in *in = ud;
	ssize_t k = hoist_reader_read(in->r, in->buf, sizeof(in->buf), in->err);
	if (k < 0) {
		archive_set_error(a, EIO, "%s", *in->err ? (*in->err)->msg : "read failed");
		return -1;
	}
	*buf = in->buf;
	return k;
}

typedef struct arch_out {
	hoist_writer *w;
	hoist_error *err;
} arch_out;

static la_ssize_t arch_write(struct archive *a, void *ud, const void *buf,
	size_t n)
{
	arch_out *out = ud;
	if (hoist_writer_write(out->w, buf, n, &out->err) < 0) {
		archive_set_error(a, EIO, "%s", out->err ? out->err->msg : "write failed");
		return -1;
	}
	return (la_ssize_t)n;
}

/* "./a/b/" -> "a/b"; NULL for the root itself. */
static char *clean_name(const char *name)
{
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	while (*name == '/')
		name++;
	size_t n = strlen(name);
	while (n && name[n - 1] == '/')
		n--;
	if (!n || (n == 1 && name[0] == '.'))
		return NULL;
	return strndup(name, n);
}

static bool under_dead(const hoist_strset *dead, const char *path)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p)
		return false;
	for (char *s = strrchr(p, '/'); s; s = strrchr(p, '/')) {
		*s = '\0';
		if (hoist_strset_has(dead, p))
			return true;
	}
	return false;
}

static int flatten_layer(struct archive *out, hoist_reader *tar, hoist_strset *seen,
	hoist_strset *dead, hoist_error **err)
{
	/* Data is copied through buf, not in->buf: libarchive hands out
	 * data that lives in in->buf. */
	_cleanup_free_ char *buf = malloc(HOIST_IO_CHUNK);
	arch_in *in = malloc(sizeof(*in));
	if (!in)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	in->r = tar;
	in->err = err;
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	int rc = 0;
	hoist_strset opaque = HOIST_STRSET_INIT;
	if (archive_read_open(a, in, NULL, arch_read, NULL) != ARCHIVE_OK) {
		rc = hoist_error_set(err, HOIST_E_INVALID, "layer is not a tar: %s",
			archive_error_string(a));
		goto done;
	}
	struct archive_entry *e;
	int ar;
	if (!buf) {
		rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		goto done;
	}
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		_cleanup_free_ char *name = clean_name(archive_entry_pathname(e));
		if (!name)
			continue;
		char *slash = strrchr(name, '/');
		const char *base = slash ? slash + 1 : name;
		if (!strcmp(base, ".wh..wh..opq")) {
			_cleanup_free_ char *dir = slash ? strndup(name, (size_t)(slash - name)) : strdup("");
			if (dir && *dir && hoist_strset_add(&opaque, dir) < 0)
				rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			if (rc < 0)
				break;
			continue;
		}
		bool tomb = !strncmp(base, ".wh.", 4);
		_cleanup_free_ char *target = NULL;
		if (tomb && asprintf(&target, "%.*s%s", slash ? (int)(slash - name + 1) : 0,
				    name, base + 4) < 0) {
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			break;
		}
		const char *path = tomb ? target : name;
		if (hoist_strset_has(seen, path) || hoist_strset_has(dead, path) ||
			under_dead(dead, path))
			continue;
		if ((tomb ? hoist_strset_add(dead, path) : hoist_strset_add(seen, path)) < 0) {
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
			break;
		}
		if (tomb)
			continue;
		archive_entry_set_pathname(e, name);
		if (archive_write_header(out, e) != ARCHIVE_OK) {
			rc = hoist_error_set(err, HOIST_E_IO, "write '%s': %s", name,
				archive_error_string(out));
			break;
		}
		for (;;) {
			la_ssize_t k = archive_read_data(a, buf, HOIST_IO_CHUNK);
			if (k < 0) {
				rc = hoist_error_set(err, HOIST_E_INVALID, "read '%s': %s",
					name, archive_error_string(a));
				break;
			}
			if (k == 0)
				break;
			if (archive_write_data(out, buf, (size_t)k) != k) {
				rc = hoist_error_set(err, HOIST_E_IO, "write '%s': %s", name,
					archive_error_string(out));
				break;
			}
		}
		if (rc < 0)
			break;
	}
	if (rc == 0 && ar != ARCHIVE_EOF)
		rc = hoist_error_set(err, HOIST_E_INVALID, "layer tar: %s",
			archive_error_string(a));
	/* Opaque directories hide what lower layers have under them (this
	 * layer's own entries in them were written above).  The directory
	 * entry itself then comes from this layer; lower ones are skipped. */
	for (size_t i = 0; rc == 0 && i < opaque.cap; i++)
		if (opaque.slots[i] && hoist_strset_add(dead, opaque.slots[i]) < 0)
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
done:
	hoist_strset_release(&opaque);
	archive_read_free(a);
	free(in);
	return rc;
}

int hoist_image_export_tar(hoist_source *src, const hoist_image *img,
	hoist_writer *w, hoist_error **err)
{
	arch_out out = { w, NULL };
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open2(a, &out, NULL, arch_write, NULL, NULL) != ARCHIVE_OK) {
		int rc = hoist_error_set(err, HOIST_E_IO, "tar: %s", archive_error_string(a));
		archive_write_free(a);
		return rc;
	}
	hoist_strset seen = HOIST_STRSET_INIT, dead = HOIST_STRSET_INIT;
	int rc = 0;
	const hoist_manifest *m = img->manifest;
	for (size_t i = m->n_layers; rc == 0 && i-- > 0;) {
		hoist_reader *r = NULL;
		rc = open_layer(src, &m->layers[i], &r, err);
		if (rc == 0)
			rc = flatten_layer(a, r, &seen, &dead, err);
		hoist_reader_free(r);
		if (rc < 0)
			hoist_error_wrap(err, HOIST_E_IO, "layer %zu (%s)", i + 1,
				m->layers[i].digest.str);
	}
	if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
		rc = hoist_error_set(err, HOIST_E_IO, "tar: %s", archive_error_string(a));
	archive_write_free(a);
	hoist_strset_release(&seen);
	hoist_strset_release(&dead);
	if (out.err) {
		if (err && !*err)
			*err = out.err;
		else
			hoist_error_free(out.err);
	}
	return rc;
}

typedef struct list_ctx {
	hoist_strset *seen;
	hoist_file_fn fn;
	void *ud;
	size_t layer;
	bool oom;
} list_ctx;

static void on_entry(void *ud, hoist_change_kind kind, const char *path, int64_t size)
{
	list_ctx *l = ud;
	if (kind == HOIST_CHANGE_ADD || kind == HOIST_CHANGE_MODIFY) {
		int added = hoist_strset_add(l->seen, path);
		if (added < 0)
			l->oom = true;
		kind = added == 0 ? HOIST_CHANGE_MODIFY : HOIST_CHANGE_ADD;
	}
	l->fn(l->ud, l->layer, kind, path, size);
}

int hoist_image_list_files(hoist_source *src, const hoist_image *img,
	hoist_file_fn fn, void *ud, hoist_error **err)
{
	hoist_strset seen = HOIST_STRSET_INIT;
	list_ctx l = { &seen, fn, ud, 0, false };
	int rc = 0;
	const hoist_manifest *m = img->manifest;
	for (size_t i = 0; rc == 0 && i < m->n_layers; i++) {
		hoist_reader *r = NULL;
		l.layer = i;
		rc = open_layer(src, &m->layers[i], &r, err);
		if (rc == 0)
			rc = hoist_layer_list(r, on_entry, &l, err);
		hoist_reader_free(r);
		if (rc == 0 && l.oom)
			rc = hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		if (rc < 0)
			hoist_error_wrap(err, HOIST_E_IO, "layer %zu (%s)", i + 1,
				m->layers[i].digest.str);
	}
	hoist_strset_release(&seen);
	return rc;
}
