/* Compression of layer blobs (internal to lib/layer).
 *
 * A hoist_compressor is a push-side stream: what is written into it comes
 * out compressed, in order, through `sink`.  gzip output is a series of
 * complete gzip members, one per HOIST_GZIP_BLOCK bytes of input, each
 * compressed with libdeflate on a pool of worker threads and emitted in
 * input order; the bytes depend only on the input and the level, never on
 * the number of threads.  zstd uses the library's streaming API with
 * nbWorkers >= 1, whose output does not depend on the number of workers
 * either.  NONE passes the bytes through.
 *
 * Memory is bounded: at most 2 * threads + 2 blocks (input and output) are
 * alive for gzip; zstd holds its own fixed windows. */
#ifndef HOIST_LAYER_COMPRESS_H
#define HOIST_LAYER_COMPRESS_H

#include <stddef.h>

#include "hoist/error.h"
#include "hoist/io.h"
#include "hoist/media.h"

#define HOIST_GZIP_BLOCK (1024 * 1024)

/* Chosen by measurement on 1.1 GB of /usr/share + /usr/lib (2 cores,
 * release build): the best ratio that is still clearly at least twice as
 * fast as `tar | gzip -6` (34 s) and faster than `tar | pigz` (14.7 s).
 * Level 6: 6.2 s, 372.3 MB; level 7: 8.9 s, 370.8 MB; level 8: 14.3 s,
 * 369.4 MB (as fast as pigz only at best, and often not 2x gzip -6). */
#define HOIST_GZIP_LEVEL_DEFAULT 7
#define HOIST_ZSTD_LEVEL_DEFAULT 3

typedef struct hoist_compressor hoist_compressor;

/* level -1: the default of the algorithm; threads 0: number of cores.
 * sink is borrowed and only written from the calling thread. */
int hoist_compressor_new(hoist_compressor **out, hoist_compression c,
	int level, int threads, hoist_writer *sink, hoist_error **err);
/* Consumes all n bytes or fails; after a failure every call fails. */
int hoist_compressor_write(hoist_compressor *z, const void *p, size_t n,
	hoist_error **err);
/* Compresses what is left, ends the stream and flushes it to the sink. */
int hoist_compressor_finish(hoist_compressor *z, hoist_error **err);
/* Stops the workers; safe at any point, with or without finish. */
void hoist_compressor_free(hoist_compressor *z);

/* Number of online CPUs (at least 1). */
int hoist_compress_ncpus(void);

#endif
