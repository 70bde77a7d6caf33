#include "hoist/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

void hoist_reader_free(hoist_reader *r)
{
	if (r && r->ops->free)
		r->ops->free(r);
}

void hoist_writer_free(hoist_writer *w)
{
	if (w && w->ops->free)
		w->ops->free(w);
}

/* fd reader */
typedef struct {
	hoist_reader base;
	int fd;
	bool owns;
} fd_reader;

static ssize_t fd_read(hoist_reader *r, void *buf, size_t n, hoist_error **err)
{
	fd_reader *f = (fd_reader *)r;
	for (;;) {
		ssize_t k = read(f->fd, buf, n);
		if (k >= 0)
			return k;
		if (errno == EINTR)
			continue;
		return hoist_error_errno(err, errno, "read");
	}
}

static void fd_free(hoist_reader *r)
{
	fd_reader *f = (fd_reader *)r;
	if (f->owns && f->fd >= 0)
		close(f->fd);
	free(f);
}

static const hoist_reader_ops fd_reader_ops = { fd_read, fd_free };

int hoist_reader_new_fd(hoist_reader **out, int fd, bool owns_fd,
	hoist_error **err)
{
	fd_reader *f = calloc(1, sizeof(*f));
	if (!f) {
		if (owns_fd)
			close(fd);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	f->base.ops = &fd_reader_ops;
	f->fd = fd;
	f->owns = owns_fd;
	*out = &f->base;
	return 0;
}

/* memory reader */
typedef struct {
	hoist_reader base;
	size_t len, off;
	char data[];
} mem_reader;

static ssize_t mem_read(hoist_reader *r, void *buf, size_t n, hoist_error **err)
{
	(void)err;
	mem_reader *m = (mem_reader *)r;
	size_t left = m->len - m->off;
	if (n > left)
		n = left;
	memcpy(buf, m->data + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

static void mem_free(hoist_reader *r)
{
	free(r);
}

static const hoist_reader_ops mem_reader_ops = { mem_read, mem_free };

int hoist_reader_new_mem(hoist_reader **out, const void *p, size_t n,
	hoist_error **err)
{
	mem_reader *m = malloc(sizeof(*m) + n);
	if (!m)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	m->base.ops = &mem_reader_ops;
	m->len = n;
	m->off = 0;
	if (n)
		memcpy(m->data, p, n);
	*out = &m->base;
	return 0;
}

/* verifying reader */
typedef struct {
	hoist_reader base;
	hoist_reader *inner;
	hoist_hasher *h;
	hoist_digest want;
	int64_t size;
	uint64_t seen;
	bool done;
	char *what;
} verify_reader;

static ssize_t verify_read(hoist_reader *r, void *buf, size_t n,
	hoist_error **err)
{
	verify_reader *v = (verify_reader *)r;
	if (v->done)
		return 0;
	ssize_t k = hoist_reader_read(v->inner, buf, n, err);
	if (k < 0)
		return k;
	if (k > 0) {
		v->seen += (uint64_t)k;
		if (v->size >= 0 && v->seen > (uint64_t)v->size)
			return hoist_error_set(err, HOIST_E_DIGEST,
				"%s: more data than its declared size %lld",
				v->what, (long long)v->size);
		hoist_hasher_update(v->h, buf, (size_t)k);
		return k;
	}
	v->done = true;
	if (v->size >= 0 && v->seen != (uint64_t)v->size)
		return hoist_error_set(err, HOIST_E_DIGEST,
			"%s: size %llu does not match the declared %lld",
			v->what, (unsigned long long)v->seen, (long long)v->size);
	hoist_digest got;
	hoist_hasher_final(v->h, &got);
	if (!hoist_digest_equal(&got, &v->want))
		return hoist_error_set(err, HOIST_E_DIGEST,
			"%s: content has digest %s, expected %s", v->what, got.str,
			v->want.str);
	return 0;
}

static void verify_free(hoist_reader *r)
{
	verify_reader *v = (verify_reader *)r;
	hoist_reader_free(v->inner);
	hoist_hasher_free(v->h);
	free(v->what);
	free(v);
}

static const hoist_reader_ops verify_reader_ops = { verify_read, verify_free };

int hoist_reader_new_verify(hoist_reader **out, hoist_reader *inner,
	const hoist_digest *want, int64_t size, const char *what,
	hoist_error **err)
{
	verify_reader *v = calloc(1, sizeof(*v));
	if (!v) {
		hoist_reader_free(inner);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	v->base.ops = &verify_reader_ops;
	v->inner = inner;
	v->want = *want;
	v->size = size;
	v->what = strdup(what ? what : want->str);
	int r = hoist_hasher_new(&v->h, want->algo, err);
	if (r < 0 || !v->what) {
		verify_free(&v->base);
		return r < 0 ? r : hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	*out = &v->base;
	return 0;
}

/* limit reader */
typedef struct {
	hoist_reader base;
	hoist_reader *inner;
	uint64_t left;
} limit_reader;

static ssize_t limit_read(hoist_reader *r, void *buf, size_t n,
	hoist_error **err)
{
	limit_reader *l = (limit_reader *)r;
	if (l->left == 0)
		return 0;
	if (n > l->left)
		n = (size_t)l->left;
	ssize_t k = hoist_reader_read(l->inner, buf, n, err);
	if (k > 0)
		l->left -= (uint64_t)k;
	return k;
}

static void limit_free(hoist_reader *r)
{
	limit_reader *l = (limit_reader *)r;
	hoist_reader_free(l->inner);
	free(l);
}

static const hoist_reader_ops limit_reader_ops = { limit_read, limit_free };

int hoist_reader_new_limit(hoist_reader **out, hoist_reader *inner,
	uint64_t limit, hoist_error **err)
{
	limit_reader *l = calloc(1, sizeof(*l));
	if (!l) {
		hoist_reader_free(inner);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	l->base.ops = &limit_reader_ops;
	l->inner = inner;
	l->left = limit;
	*out = &l->base;
	return 0;
}

int hoist_reader_read_all(hoist_reader *r, hoist_buf *b, hoist_error **err)
{
	char tmp[16384];
	for (;;) {
		ssize_t k = hoist_reader_read(r, tmp, sizeof(tmp), err);
		if (k < 0)
			return (int)k;
		if (k == 0)
			return 0;
		int e = hoist_buf_append(b, tmp, (size_t)k, err);
		if (e < 0)
			return e;
	}
}

ssize_t hoist_reader_read_full(hoist_reader *r, void *buf, size_t n,
	hoist_error **err)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = hoist_reader_read(r, (char *)buf + got, n - got, err);
		if (k < 0)
			return k;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

int hoist_write_all(int fd, const void *buf, size_t n, hoist_error **err)
{
	const char *p = buf;
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return hoist_error_errno(err, errno, "write");
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

typedef struct {
	hoist_writer base;
	int fd;
	bool owns;
} fd_writer;

static int fdw_write(hoist_writer *w, const void *buf, size_t n,
	hoist_error **err)
{
	return hoist_write_all(((fd_writer *)w)->fd, buf, n, err);
}

static void fdw_free(hoist_writer *w)
{
	fd_writer *f = (fd_writer *)w;
	if (f->owns && f->fd >= 0)
		close(f->fd);
	free(f);
}

static const hoist_writer_ops fd_writer_ops = { fdw_write, fdw_free };

int hoist_writer_new_fd(hoist_writer **out, int fd, bool owns_fd,
	hoist_error **err)
{
	fd_writer *f = calloc(1, sizeof(*f));
	if (!f)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	f->base.ops = &fd_writer_ops;
	f->fd = fd;
	f->owns = owns_fd;
	*out = &f->base;
	return 0;
}

int hoist_copy(hoist_reader *r, hoist_writer *w, uint64_t *copied,
	hoist_error **err)
{
	_cleanup_free_ char *buf = malloc(HOIST_IO_CHUNK);
	if (!buf)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	uint64_t total = 0;
	for (;;) {
		ssize_t k = hoist_reader_read(r, buf, HOIST_IO_CHUNK, err);
		if (k < 0)
			return (int)k;
		if (k == 0)
			break;
		int e = hoist_writer_write(w, buf, (size_t)k, err);
		if (e < 0)
			return e;
		total += (uint64_t)k;
	}
	if (copied)
		*copied = total;
	return 0;
}
