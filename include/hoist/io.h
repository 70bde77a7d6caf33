/* Streams.  Blobs flow through readers (pull) and writers (push) built on
 * fixed-size buffers; nothing here holds a whole blob in memory.
 *
 * A reader returns >0 bytes read, 0 at the end, or a negative HOIST_E_*
 * code with *err set.  Implementations embed hoist_reader as their first
 * member.  hoist_reader_free(NULL) is a no-op. */
#ifndef HOIST_IO_H
#define HOIST_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hoist/buf.h"
#include "hoist/digest.h"
#include "hoist/error.h"

/* The size of the buffers that blobs are copied through. */
#define HOIST_IO_CHUNK (128 * 1024)

typedef struct hoist_reader hoist_reader;
typedef struct hoist_reader_ops {
	ssize_t (*read)(hoist_reader *r, void *buf, size_t n, hoist_error **err);
	void (*free)(hoist_reader *r);
} hoist_reader_ops;
struct hoist_reader {
	const hoist_reader_ops *ops;
};

static inline ssize_t hoist_reader_read(hoist_reader *r, void *buf, size_t n,
	hoist_error **err)
{
	return r->ops->read(r, buf, n, err);
}
void hoist_reader_free(hoist_reader *r);

/* Reads from fd; closes it on free when owns_fd. */
int hoist_reader_new_fd(hoist_reader **out, int fd, bool owns_fd,
	hoist_error **err);
/* Reads from memory; copies the bytes. */
int hoist_reader_new_mem(hoist_reader **out, const void *p, size_t n,
	hoist_error **err);
/* Wraps inner (taking ownership): hashes everything read and, at the end,
 * fails with HOIST_E_DIGEST unless exactly `size` bytes (when size >= 0)
 * with digest `want` went through.  More bytes than `size` fail at once.
 * `what` names the blob in messages (copied). */
int hoist_reader_new_verify(hoist_reader **out, hoist_reader *inner,
	const hoist_digest *want, int64_t size, const char *what,
	hoist_error **err);
/* At most `limit` bytes of inner (taking ownership), then end. */
int hoist_reader_new_limit(hoist_reader **out, hoist_reader *inner,
	uint64_t limit, hoist_error **err);

/* Reads everything (at most b->max bytes) into b. */
int hoist_reader_read_all(hoist_reader *r, hoist_buf *b, hoist_error **err);
/* Fills buf completely unless the stream ends first; returns bytes read. */
ssize_t hoist_reader_read_full(hoist_reader *r, void *buf, size_t n,
	hoist_error **err);

/* A push-side sink. write() consumes all n bytes or fails. */
typedef struct hoist_writer hoist_writer;
typedef struct hoist_writer_ops {
	int (*write)(hoist_writer *w, const void *buf, size_t n, hoist_error **err);
	void (*free)(hoist_writer *w);
} hoist_writer_ops;
struct hoist_writer {
	const hoist_writer_ops *ops;
};
static inline int hoist_writer_write(hoist_writer *w, const void *buf,
	size_t n, hoist_error **err)
{
	return w->ops->write(w, buf, n, err);
}
void hoist_writer_free(hoist_writer *w);
int hoist_writer_new_fd(hoist_writer **out, int fd, bool owns_fd,
	hoist_error **err);

/* Copies r to w through one HOIST_IO_CHUNK buffer; *copied gets the count. */
int hoist_copy(hoist_reader *r, hoist_writer *w, uint64_t *copied,
	hoist_error **err);

/* write(2) all of buf, retrying on EINTR and short writes. */
int hoist_write_all(int fd, const void *buf, size_t n, hoist_error **err);

#endif
