#include "layer/compress.h"

#include <errno.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#ifdef HOIST_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "hoist/layer.h"
#include "util/cleanup.h"

#define MAX_THREADS 64

int hoist_compress_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/* gzip: blocks compressed in parallel, emitted in order.
 *
 * The jobs form a ring of `depth` slots indexed by ever-growing sequence
 * numbers: [head, tail) are submitted (queued, being compressed or done),
 * slot `tail` is the one the caller fills, and `next` is the first
 * submitted job no worker has taken yet.  Only the calling thread touches
 * the sink, so it needs no locking. */
typedef struct gz_job {
	unsigned char *in;
	size_t in_len;
	unsigned char *out;
	size_t out_cap, out_len;
	bool done;
} gz_job;

typedef struct gz_worker {
	struct hoist_compressor *z;
	struct libdeflate_compressor *c;
	pthread_t th;
} gz_worker;

typedef struct gz_state {
	pthread_mutex_t mu;
	pthread_cond_t work_cv, done_cv;
	gz_job *jobs;
	size_t depth;
	uint64_t head, tail, next;
	size_t fill; /* bytes in jobs[tail % depth].in */
	bool stop;
	gz_worker *workers;
	int nworkers;   /* wanted */
	int nstarted;   /* running */
	struct libdeflate_compressor *inline_c;
} gz_state;

struct hoist_compressor {
	hoist_compression kind;
	int level;
	hoist_writer *sink;
	bool failed, finished;
	gz_state gz;
	ZSTD_CCtx *zc;
	unsigned char *zout;
	size_t zout_cap;
};

static int fail(hoist_compressor *z, int r)
{
	z->failed = true;
	return r;
}

static size_t gz_bound(void)
{
	return libdeflate_gzip_compress_bound(NULL, HOIST_GZIP_BLOCK);
}

static void gz_compress_job(struct libdeflate_compressor *c, gz_job *j)
{
	/* Cannot fail: out_cap is the bound for a full block. */
	j->out_len = libdeflate_gzip_compress(c, j->in, j->in_len, j->out,
		j->out_cap);
}

static void *gz_worker_main(void *arg)
{
	gz_worker *wk = arg;
	gz_state *g = &wk->z->gz;
	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!g->stop && g->next == g->tail)
			pthread_cond_wait(&g->work_cv, &g->mu);
		if (g->stop)
			break;
		gz_job *j = &g->jobs[g->next % g->depth];
		g->next++;
		pthread_mutex_unlock(&g->mu);
		gz_compress_job(wk->c, j);
		pthread_mutex_lock(&g->mu);
		j->done = true;
		pthread_cond_broadcast(&g->done_cv);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

static int gz_init(hoist_compressor *z, int threads, hoist_error **err)
{
	gz_state *g = &z->gz;
	g->nworkers = threads;
	g->depth = (size_t)threads * 2 + 2;
	g->jobs = calloc(g->depth, sizeof(*g->jobs));
	g->workers = calloc((size_t)threads, sizeof(*g->workers));
	if (!g->jobs || !g->workers)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->work_cv, NULL);
	pthread_cond_init(&g->done_cv, NULL);
	return 0;
}

static int gz_start_workers(hoist_compressor *z, hoist_error **err)
{
	gz_state *g = &z->gz;
	for (int i = 0; i < g->nworkers; i++) {
		gz_worker *wk = &g->workers[i];
		wk->z = z;
		wk->c = libdeflate_alloc_compressor(z->level);
		if (!wk->c)
			break;
		int rc = pthread_create(&wk->th, NULL, gz_worker_main, wk);
		if (rc != 0) {
			libdeflate_free_compressor(wk->c);
			wk->c = NULL;
			if (g->nstarted == 0)
				return hoist_error_errno(err, rc,
					"start gzip compression thread");
			break;
		}
		g->nstarted++;
	}
	if (g->nstarted == 0)
		return hoist_error_set(err, HOIST_E_NOMEM,
			"cannot allocate a gzip compressor at level %d", z->level);
	return 0;
}

static void gz_stop_workers(gz_state *g)
{
	pthread_mutex_lock(&g->mu);
	g->stop = true;
	pthread_cond_broadcast(&g->work_cv);
	pthread_mutex_unlock(&g->mu);
	for (int i = 0; i < g->nstarted; i++)
		pthread_join(g->workers[i].th, NULL);
	g->nstarted = 0;
}

static int gz_job_buffers(gz_job *j, hoist_error **err)
{
	if (!j->in) {
		j->in = malloc(HOIST_GZIP_BLOCK);
		if (!j->in)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	if (!j->out) {
		j->out_cap = gz_bound();
		j->out = malloc(j->out_cap);
		if (!j->out)
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	return 0;
}

/* Writes the oldest submitted job to the sink, waiting for it if `wait`;
 * *emitted tells whether it was ready. */
static int gz_emit_head(hoist_compressor *z, bool wait, bool *emitted,
	hoist_error **err)
{
	gz_state *g = &z->gz;
	*emitted = false;
	if (g->head == g->tail)
		return 0;
	gz_job *j = &g->jobs[g->head % g->depth];
	pthread_mutex_lock(&g->mu);
	while (wait && !j->done)
		pthread_cond_wait(&g->done_cv, &g->mu);
	bool ready = j->done;
	pthread_mutex_unlock(&g->mu);
	if (!ready)
		return 0;
	int r = hoist_writer_write(z->sink, j->out, j->out_len, err);
	if (r < 0)
		return r;
	j->done = false;
	g->head++;
	*emitted = true;
	return 0;
}

static int gz_submit(hoist_compressor *z, hoist_error **err)
{
	gz_state *g = &z->gz;
	gz_job *j = &g->jobs[g->tail % g->depth];
	int r = gz_job_buffers(j, err);
	if (r < 0)
		return r;
	if (g->nstarted == 0 && (r = gz_start_workers(z, err)) < 0)
		return r;
	pthread_mutex_lock(&g->mu);
	j->in_len = g->fill;
	j->done = false;
	g->tail++;
	pthread_cond_signal(&g->work_cv);
	pthread_mutex_unlock(&g->mu);
	g->fill = 0;
	bool emitted = true;
	while (emitted)
		if ((r = gz_emit_head(z, false, &emitted, err)) < 0)
			return r;
	/* The slot for the next block must be free. */
	while (g->tail - g->head >= g->depth)
		if ((r = gz_emit_head(z, true, &emitted, err)) < 0)
			return r;
	return 0;
}

static int gz_write(hoist_compressor *z, const unsigned char *p, size_t n,
	hoist_error **err)
{
	gz_state *g = &z->gz;
	while (n) {
		gz_job *j = &g->jobs[g->tail % g->depth];
		if (!j->in && !(j->in = malloc(HOIST_GZIP_BLOCK)))
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		size_t k = HOIST_GZIP_BLOCK - g->fill;
		if (k > n)
			k = n;
		memcpy(j->in + g->fill, p, k);
		g->fill += k;
		p += k;
		n -= k;
		if (g->fill == HOIST_GZIP_BLOCK) {
			int r = gz_submit(z, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int gz_finish(hoist_compressor *z, hoist_error **err)
{
	gz_state *g = &z->gz;
	int r;
	if (g->tail == 0 && g->nstarted == 0) {
		/* Everything fits one block (the common small layer): no
		 * thread is worth starting.  An empty stream still gets one
		 * (empty) member so that it is valid gzip. */
		gz_job *j = &g->jobs[0];
		if ((r = gz_job_buffers(j, err)) < 0)
			return r;
		g->inline_c = libdeflate_alloc_compressor(z->level);
		if (!g->inline_c)
			return hoist_error_set(err, HOIST_E_NOMEM,
				"cannot allocate a gzip compressor at level %d",
				z->level);
		j->in_len = g->fill;
		gz_compress_job(g->inline_c, j);
		g->fill = 0;
		return hoist_writer_write(z->sink, j->out, j->out_len, err);
	}
	if (g->fill > 0 && (r = gz_submit(z, err)) < 0)
		return r;
	bool emitted;
	while (g->head != g->tail)
		if ((r = gz_emit_head(z, true, &emitted, err)) < 0)
			return r;
	gz_stop_workers(g);
	return 0;
}

static void gz_release(gz_state *g)
{
	if (!g->jobs)
		return;
	gz_stop_workers(g);
	for (int i = 0; i < g->nworkers; i++)
		if (g->workers[i].c)
			libdeflate_free_compressor(g->workers[i].c);
	if (g->inline_c)
		libdeflate_free_compressor(g->inline_c);
	for (size_t i = 0; i < g->depth; i++) {
		free(g->jobs[i].in);
		free(g->jobs[i].out);
	}
	free(g->jobs);
	free(g->workers);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->work_cv);
	pthread_cond_destroy(&g->done_cv);
}

/* zstd */

static int zstd_check(size_t rc, const char *what, hoist_error **err)
{
	if (ZSTD_isError(rc))
		return hoist_error_set(err, HOIST_E_IO, "zstd %s: %s", what,
			ZSTD_getErrorName(rc));
	return 0;
}

static int zstd_init(hoist_compressor *z, int threads, hoist_error **err)
{
	z->zc = ZSTD_createCCtx();
	z->zout_cap = ZSTD_CStreamOutSize();
	z->zout = malloc(z->zout_cap);
	if (!z->zc || !z->zout)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int r = zstd_check(ZSTD_CCtx_setParameter(z->zc,
		ZSTD_c_compressionLevel, z->level), "set level", err);
	if (r == 0)
		r = zstd_check(ZSTD_CCtx_setParameter(z->zc,
			ZSTD_c_checksumFlag, 1), "set checksum", err);
	/* nbWorkers >= 1 even for one thread: the multi-threaded format is
	 * the same for every number of workers, but differs from the
	 * single-threaded one. */
	if (r == 0)
		r = zstd_check(ZSTD_CCtx_setParameter(z->zc, ZSTD_c_nbWorkers,
			threads), "set workers", err);
	return r;
}

static int zstd_run(hoist_compressor *z, const void *p, size_t n,
	ZSTD_EndDirective mode, hoist_error **err)
{
	ZSTD_inBuffer in = { p, n, 0 };
	for (;;) {
		ZSTD_outBuffer out = { z->zout, z->zout_cap, 0 };
		size_t left = ZSTD_compressStream2(z->zc, &out, &in, mode);
		int r = zstd_check(left, "compress", err);
		if (r < 0)
			return r;
		if (out.pos && (r = hoist_writer_write(z->sink, z->zout, out.pos,
				err)) < 0)
			return r;
		if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
			return 0;
	}
}

int hoist_compressor_new(hoist_compressor **out, hoist_compression c,
	int level, int threads, hoist_writer *sink, hoist_error **err)
{
	if (threads <= 0)
		threads = hoist_compress_ncpus();
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	if (c == HOIST_COMPRESSION_GZIP) {
		if (level < 0)
			level = HOIST_GZIP_LEVEL_DEFAULT;
		if (level > 12)
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid gzip level %d: expected 0 to 12", level);
	} else if (c == HOIST_COMPRESSION_ZSTD) {
		if (level < 0)
			level = HOIST_ZSTD_LEVEL_DEFAULT;
		if (level < 1 || level > ZSTD_maxCLevel())
			return hoist_error_set(err, HOIST_E_INVALID,
				"invalid zstd level %d: expected 1 to %d", level,
				ZSTD_maxCLevel());
	} else if (c != HOIST_COMPRESSION_NONE) {
		return hoist_error_set(err, HOIST_E_UNSUPPORTED,
			"unsupported layer compression %d", (int)c);
	}
	hoist_compressor *z = calloc(1, sizeof(*z));
	if (!z)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	z->kind = c;
	z->level = level;
	z->sink = sink;
	int r = 0;
	if (c == HOIST_COMPRESSION_GZIP)
		r = gz_init(z, threads, err);
	else if (c == HOIST_COMPRESSION_ZSTD)
		r = zstd_init(z, threads, err);
	if (r < 0) {
		hoist_compressor_free(z);
		return r;
	}
	*out = z;
	return 0;
}

int hoist_compressor_write(hoist_compressor *z, const void *p, size_t n,
	hoist_error **err)
{
	if (z->failed || z->finished)
		return hoist_error_set(err, HOIST_E_INVALID,
			"compressor used after %s", z->failed ? "an error" : "finish");
	if (n == 0)
		return 0;
	int r;
	switch (z->kind) {
	case HOIST_COMPRESSION_GZIP:
		r = gz_write(z, p, n, err);
		break;
	case HOIST_COMPRESSION_ZSTD:
		r = zstd_run(z, p, n, ZSTD_e_continue, err);
		break;
	default:
		r = hoist_writer_write(z->sink, p, n, err);
		break;
	}
	return r < 0 ? fail(z, r) : 0;
}

int hoist_compressor_finish(hoist_compressor *z, hoist_error **err)
{
	if (z->failed || z->finished)
		return hoist_error_set(err, HOIST_E_INVALID,
			"compressor used after %s", z->failed ? "an error" : "finish");
	int r = 0;
	if (z->kind == HOIST_COMPRESSION_GZIP)
		r = gz_finish(z, err);
	else if (z->kind == HOIST_COMPRESSION_ZSTD)
		r = zstd_run(z, NULL, 0, ZSTD_e_end, err);
	if (r < 0)
		return fail(z, r);
	z->finished = true;
	return 0;
}

void hoist_compressor_free(hoist_compressor *z)
{
	if (!z)
		return;
	gz_release(&z->gz);
	ZSTD_freeCCtx(z->zc);
	free(z->zout);
	free(z);
}

/* Decompression: a pull reader detecting the format from its first bytes. */

enum dkind { D_PLAIN, D_GZIP, D_ZSTD };

typedef struct decomp_reader {
	hoist_reader base;
	hoist_reader *inner;
	bool detected, eof, done;
	enum dkind kind;
	unsigned char *in;
	size_t in_len, in_off;
	uint64_t consumed; /* compressed bytes fed to the decoder */
	/* gzip: isa-l's inflate where built with it, else zlib's */
#ifdef HOIST_HAVE_ISAL
	struct inflate_state *is;
#endif
	z_stream zs;
	bool zs_init, member_done;
	uint64_t members;
	/* zstd */
	ZSTD_DCtx *zd;
	size_t zret;
} decomp_reader;

static int d_refill(decomp_reader *d, hoist_error **err)
{
	if (d->in_off < d->in_len || d->eof)
		return 0;
	ssize_t k = hoist_reader_read(d->inner, d->in, HOIST_IO_CHUNK, err);
	if (k < 0)
		return (int)k;
	d->in_off = 0;
	d->in_len = (size_t)k;
	if (k == 0)
		d->eof = true;
	return 0;
}

static int d_detect(decomp_reader *d, hoist_error **err)
{
	/* Gather the 4 magic bytes even from a reader giving 1 at a time. */
	while (d->in_len < 4 && !d->eof) {
		ssize_t k = hoist_reader_read(d->inner, d->in + d->in_len,
			HOIST_IO_CHUNK - d->in_len, err);
		if (k < 0)
			return (int)k;
		if (k == 0)
			d->eof = true;
		d->in_len += (size_t)k;
	}
	const unsigned char *m = d->in;
	if (d->in_len >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
		d->kind = D_GZIP;
#ifdef HOIST_HAVE_ISAL
		d->is = malloc(sizeof(*d->is));
		if (!d->is)
			return hoist_error_set(err, HOIST_E_NOMEM,
				"cannot initialise gzip decoder");
		isal_inflate_init(d->is);
		d->is->crc_flag = ISAL_GZIP;
		d->detected = true;
		return 0;
#endif
		if (inflateInit2(&d->zs, 16 + MAX_WBITS) != Z_OK)
			return hoist_error_set(err, HOIST_E_NOMEM,
				"cannot initialise gzip decoder");
		d->zs_init = true;
	} else if (d->in_len >= 4 && m[0] == 0x28 && m[1] == 0xb5 &&
		m[2] == 0x2f && m[3] == 0xfd) {
		d->kind = D_ZSTD;
		/* The default window limit (2^27) bounds memory. */
		d->zd = ZSTD_createDCtx();
		if (!d->zd)
			return hoist_error_set(err, HOIST_E_NOMEM,
				"cannot initialise zstd decoder");
	} else {
		d->kind = D_PLAIN;
	}
	d->detected = true;
	return 0;
}

static ssize_t d_plain(decomp_reader *d, void *buf, size_t n, hoist_error **err)
{
	if (d->in_off < d->in_len) {
		size_t k = d->in_len - d->in_off;
		if (k > n)
			k = n;
		memcpy(buf, d->in + d->in_off, k);
		d->in_off += k;
		return (ssize_t)k;
	}
	if (d->eof)
		return 0;
	return hoist_reader_read(d->inner, buf, n, err);
}

static int gz_truncated(const decomp_reader *d, hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_INVALID,
		"truncated gzip stream: input ends after %llu bytes, inside member %llu",
		(unsigned long long)d->consumed, (unsigned long long)d->members + 1);
}

static int gz_corrupt(const decomp_reader *d, const char *why, hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_INVALID,
		"corrupt gzip stream near byte %llu (member %llu): %s",
		(unsigned long long)d->consumed, (unsigned long long)d->members + 1, why);
}

static ssize_t d_gzip(decomp_reader *d, void *buf, size_t n, hoist_error **err)
{
	z_stream *zs = &d->zs;
	zs->next_out = buf;
	zs->avail_out = n > UINT_MAX ? UINT_MAX : (uInt)n;
	uInt want = zs->avail_out;
	while (zs->avail_out == want) {
		int r = d_refill(d, err);
		if (r < 0)
			return r;
		if (d->in_off == d->in_len) {
			if (d->member_done) {
				d->done = true;
				break;
			}
			return gz_truncated(d, err);
		}
		if (d->member_done) {
			/* Another member follows (multi-member stream). */
			inflateReset(zs);
			d->member_done = false;
		}
		zs->next_in = d->in + d->in_off;
		zs->avail_in = (uInt)(d->in_len - d->in_off);
		int zr = inflate(zs, Z_NO_FLUSH);
		size_t used = (d->in_len - d->in_off) - zs->avail_in;
		d->in_off += used;
		d->consumed += used;
		if (zr == Z_STREAM_END) {
			d->member_done = true;
			d->members++;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			return gz_corrupt(d, zs->msg ? zs->msg : "invalid data", err);
		}
	}
	return (ssize_t)(want - zs->avail_out);
}

#ifdef HOIST_HAVE_ISAL
static const char *isal_msg(int r)
{
	switch (r) {
	case ISAL_INVALID_BLOCK: return "invalid deflate block";
	case ISAL_INVALID_SYMBOL: return "invalid code";
	case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
	case ISAL_INVALID_WRAPPER: return "incorrect header";
	case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
	case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
	case ISAL_NEED_DICT: return "needs a preset dictionary";
	default: return "invalid data";
	}
}

/* As d_gzip, with isa-l (members one after the other, each checked
 * against its CRC-32 and length). */
static ssize_t d_isal(decomp_reader *d, void *buf, size_t n, hoist_error **err)
{
	struct inflate_state *st = d->is;
	st->next_out = buf;
	st->avail_out = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	uint32_t want = st->avail_out;
	while (st->avail_out == want) {
		int r = d_refill(d, err);
		if (r < 0)
			return r;
		if (d->in_off == d->in_len) {
			if (d->member_done) {
				d->done = true;
				break;
			}
			/* isa-l may hold the last bytes it was given; let it
			 * finish with them before calling the stream short */
			if (st->block_state != ISAL_BLOCK_FINISH && d->eof) {
				st->next_in = d->in + d->in_off;
				st->avail_in = 0;
				int zr = isal_inflate(st);
				if (zr < 0)
					return gz_corrupt(d, isal_msg(zr), err);
				if (st->block_state == ISAL_BLOCK_FINISH) {
					d->member_done = true;
					d->members++;
					continue;
				}
				if (st->avail_out != want)
					break;
			}
			return gz_truncated(d, err);
		}
		if (d->member_done) {
			/* Another member follows (multi-member stream). */
			isal_inflate_reset(st);
			st->crc_flag = ISAL_GZIP;
			d->member_done = false;
		}
		size_t avail = d->in_len - d->in_off;
		st->next_in = d->in + d->in_off;
		st->avail_in = avail > UINT32_MAX ? UINT32_MAX : (uint32_t)avail;
		uint32_t given = st->avail_in;
		int zr = isal_inflate(st);
		size_t used = given - st->avail_in;
		d->in_off += used;
		d->consumed += used;
		if (zr < 0)
			return gz_corrupt(d, isal_msg(zr), err);
		if (st->block_state == ISAL_BLOCK_FINISH) {
			d->member_done = true;
			d->members++;
		}
	}
	return (ssize_t)(want - st->avail_out);
}
#endif

static ssize_t d_zstd(decomp_reader *d, void *buf, size_t n, hoist_error **err)
{
	ZSTD_outBuffer out = { buf, n, 0 };
	while (out.pos == 0) {
		int r = d_refill(d, err);
		if (r < 0)
			return r;
		bool no_input = d->in_off == d->in_len;
		if (no_input && d->eof && d->zret == 0) {
			d->done = true;
			break;
		}
		ZSTD_inBuffer in = { d->in, d->in_len, d->in_off };
		d->zret = ZSTD_decompressStream(d->zd, &out, &in);
		if (ZSTD_isError(d->zret))
			return hoist_error_set(err, HOIST_E_INVALID,
				"corrupt zstd stream near byte %llu: %s",
				(unsigned long long)d->consumed,
				ZSTD_getErrorName(d->zret));
		d->consumed += in.pos - d->in_off;
		d->in_off = in.pos;
		if (no_input && d->eof && out.pos == 0)
			return hoist_error_set(err, HOIST_E_INVALID,
				"truncated zstd stream: input ends after %llu bytes "
				"inside a frame", (unsigned long long)d->consumed);
	}
	return (ssize_t)out.pos;
}

static ssize_t d_read(hoist_reader *r, void *buf, size_t n, hoist_error **err)
{
	decomp_reader *d = (decomp_reader *)r;
	if (d->done || n == 0)
		return 0;
	if (!d->detected) {
		int e = d_detect(d, err);
		if (e < 0)
			return e;
	}
	switch (d->kind) {
	case D_GZIP:
#ifdef HOIST_HAVE_ISAL
		if (d->is)
			return d_isal(d, buf, n, err);
#endif
		return d_gzip(d, buf, n, err);
	case D_ZSTD:
		return d_zstd(d, buf, n, err);
	default:
		return d_plain(d, buf, n, err);
	}
}

static void d_free(hoist_reader *r)
{
	decomp_reader *d = (decomp_reader *)r;
	if (d->zs_init)
		inflateEnd(&d->zs);
#ifdef HOIST_HAVE_ISAL
	free(d->is);
#endif
	ZSTD_freeDCtx(d->zd);
	hoist_reader_free(d->inner);
	free(d->in);
	free(d);
}

static const hoist_reader_ops decomp_reader_ops = { d_read, d_free };

int hoist_layer_decompress(hoist_reader **out, hoist_reader *inner,
	hoist_error **err)
{
	decomp_reader *d = calloc(1, sizeof(*d));
	unsigned char *in = malloc(HOIST_IO_CHUNK);
	if (!d || !in) {
		free(d);
		free(in);
		hoist_reader_free(inner);
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	}
	d->base.ops = &decomp_reader_ops;
	d->inner = inner;
	d->in = in;
	*out = &d->base;
	return 0;
}
