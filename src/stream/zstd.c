/* zstd stages: a compressing sink and a decompressing reader, each with one fixed buffer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "hfsync/stream.h"
#include "hfsync/util.h"

#define ZSTD_JOB_SIZE (2 << 20) /* bytes of input per compression job with worker threads */

/*
 * Input that does not compress (compressed or encrypted files: npm tarballs, images, model
 * weights) costs zstd's lazy levels (4 and up) about ten times the CPU of level 3 for nothing:
 * level 3's match finder skips ahead through it (zstd 1.5.4 on the bench tree's npm blobs:
 * 2.6 GB/s at level 3, 0.2 GB/s at 5 and 6). With worker threads the level may change between
 * jobs of one frame (ZSTD_c_compressionLevel is updatable while compressing), so after every
 * ZSTD_ADAPT_WINDOW of input the sink estimates the byte entropy of a sample of it and
 * compresses what follows at ZSTD_FAST_LEVEL while it looks random, at its own level otherwise.
 * A file of random bytes has ~8.00 bits per byte, compressed data ~7.99, text 4-6.
 */
#define ZSTD_FAST_LEVEL 3
#define ZSTD_ADAPT_WINDOW (1u << 20)
#define ZSTD_SAMPLE_STRIDE 16 /* 65536 samples per window */
#define ZSTD_RANDOM_BITS 7.9  /* entropy per byte above which a window is taken as random */

typedef struct ZstdSink {
    Sink base;
    ZSTD_CCtx *cctx;
    uint8_t *out;
    size_t out_cap;
    uint64_t produced;
    int level;        /* the level asked for */
    bool adapt;       /* worker threads and a level above ZSTD_FAST_LEVEL */
    bool fast;        /* the current window goes at ZSTD_FAST_LEVEL */
    size_t skip;      /* bytes until the next sample */
    size_t seen;      /* input of the current window */
    uint64_t fast_in; /* input given at ZSTD_FAST_LEVEL, since zstd_sink_new */
    uint32_t hist[256];
} ZstdSink;

static double zstd_entropy(const uint32_t *hist)
{
    double n = 0, sum = 0;
    for (int i = 0; i < 256; i++)
        n += hist[i];
    for (int i = 0; i < 256 && n > 0; i++)
        if (hist[i] > 0)
            sum += hist[i] * log2(hist[i]);
    return n > 0 ? log2(n) - sum / n : 0;
}

static void zstd_set_fast(ZstdSink *z, bool fast)
{
    if (fast != z->fast)
        ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, fast ? ZSTD_FAST_LEVEL : z->level);
    z->fast = fast;
}

/* Sample `size` bytes of input; at the end of a window, choose the level of the next. */
static void zstd_sink_observe(ZstdSink *z, const uint8_t *data, size_t size)
{
    while (size > 0) {
        size_t n = ZSTD_ADAPT_WINDOW - z->seen < size ? ZSTD_ADAPT_WINDOW - z->seen : size;
        size_t i = z->skip;
        for (; i < n; i += ZSTD_SAMPLE_STRIDE)
            z->hist[data[i]]++;
        z->skip = i - n;
        if (z->fast)
            z->fast_in += n;
        z->seen += n;
        data += n;
        size -= n;
        if (z->seen == ZSTD_ADAPT_WINDOW) {
            zstd_set_fast(z, zstd_entropy(z->hist) >= ZSTD_RANDOM_BITS);
            memset(z->hist, 0, sizeof(z->hist));
            z->seen = 0;
        }
    }
}

/* Push everything zstd has ready into `next`; with `mode` ZSTD_e_end, until the frame is done. */
static bool zstd_sink_pump(ZstdSink *z, ZSTD_inBuffer *in, ZSTD_EndDirective mode, Error *err)
{
    for (;;) {
        ZSTD_outBuffer out = {z->out, z->out_cap, 0};
        size_t left = ZSTD_compressStream2(z->cctx, &out, in, mode);
        if (ZSTD_isError(left))
            return error_set(err, ERR_FAIL, "zstd compression: %s", ZSTD_getErrorName(left));
        if (out.pos > 0 && !sink_write(z->base.next, z->out, out.pos, err))
            return false;
        z->produced += out.pos;
        if (mode == ZSTD_e_continue) {
            if (in->pos == in->size)
                return true;
        } else if (left == 0) {
            return true;
        }
    }
}

static bool zstd_sink_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    ZstdSink *z = (ZstdSink *)sink;
    if (z->adapt)
        zstd_sink_observe(z, data, size);
    ZSTD_inBuffer in = {data, size, 0};
    return zstd_sink_pump(z, &in, ZSTD_e_continue, err);
}

static bool zstd_sink_finish(Sink *sink, Error *err)
{
    ZSTD_inBuffer in = {NULL, 0, 0};
    if (!zstd_sink_pump((ZstdSink *)sink, &in, ZSTD_e_end, err))
        return false;
    return sink_finish(sink->next, err);
}

static void zstd_sink_free(Sink *sink)
{
    ZstdSink *z = (ZstdSink *)sink;
    ZSTD_freeCCtx(z->cctx);
    free(z->out);
    free(z);
}

static const SinkOps zstd_sink_ops = {zstd_sink_write, zstd_sink_finish, zstd_sink_free};

Sink *zstd_sink_new(Sink *next, int level, int threads, Error *err)
{
    ZstdSink *z = x_calloc(1, sizeof(*z));
    z->base.ops = &zstd_sink_ops;
    z->base.next = next;
    z->cctx = ZSTD_createCCtx();
    z->out_cap = ZSTD_CStreamOutSize();
    z->out = x_malloc(z->out_cap);
    if (z->cctx == NULL) {
        zstd_sink_free(&z->base);
        error_set(err, ERR_NO_MEMORY, "cannot create a zstd context");
        return NULL;
    }
    ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
    if (threads > 1) {
        /* Fails harmlessly (single-threaded) when libzstd was built without threads. */
        size_t mt = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_nbWorkers, threads);
        z->adapt = !ZSTD_isError(mt) && level > ZSTD_FAST_LEVEL;
        /* zstd's default job (4 windows, 8 MiB at level 3) holds ~16 MiB per job in flight;
         * 2 MiB jobs halve the backup's peak RSS for +0.3 % output and no loss of speed
         * (measured on the bench tree, bench/README.md). */
        ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_jobSize, ZSTD_JOB_SIZE);
    }
    z->level = level;
    return &z->base;
}

void zstd_sink_restart(Sink *sink, Sink *next)
{
    ZstdSink *z = (ZstdSink *)sink;
    ZSTD_CCtx_reset(z->cctx, ZSTD_reset_session_only);
    zstd_set_fast(z, false); /* every stream starts at its own level */
    memset(z->hist, 0, sizeof(z->hist));
    z->seen = z->skip = 0;
    z->produced = 0;
    sink->next = next;
}

uint64_t zstd_sink_produced(Sink *sink)
{
    return ((ZstdSink *)sink)->produced;
}

uint64_t zstd_sink_fast_input(Sink *sink)
{
    return ((ZstdSink *)sink)->fast_in;
}

/* --- reader --------------------------------------------------------------------------------- */

typedef struct ZstdReader {
    Reader base;
    ZSTD_DCtx *dctx;
    uint8_t *in;
    size_t in_cap;
    ZSTD_inBuffer inb;
    bool eof;     /* the source is exhausted */
    size_t last;  /* last ZSTD_decompressStream hint: 0 means a frame just ended */
    bool started; /* at least one byte of input was seen */
} ZstdReader;

static ssize_t zstd_reader_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    ZstdReader *z = (ZstdReader *)reader;
    ZSTD_outBuffer out = {buf, cap, 0};
    while (out.pos == 0) {
        if (z->inb.pos == z->inb.size && !z->eof) {
            ssize_t n = reader_read(reader->next, z->in, z->in_cap, err);
            if (n < 0)
                return -1;
            if (n == 0)
                z->eof = true;
            z->inb.src = z->in;
            z->inb.size = (size_t)n;
            z->inb.pos = 0;
            if (n > 0)
                z->started = true;
        }
        if (z->inb.pos == z->inb.size && z->eof) {
            if (!z->started)
                return 0; /* an empty stream decodes to nothing */
            if (z->last == 0)
                return 0; /* every frame is complete */
            /* zstd may still hold decoded bytes that did not fit last time: flush them. */
            size_t rc = ZSTD_decompressStream(z->dctx, &out, &z->inb);
            if (ZSTD_isError(rc)) {
                error_set(err, ERR_CORRUPT, "zstd data is corrupt: %s", ZSTD_getErrorName(rc));
                return -1;
            }
            z->last = rc;
            if (out.pos > 0)
                break;
            if (rc != 0) {
                error_set(err, ERR_CORRUPT, "zstd stream is truncated");
                return -1;
            }
            return 0;
        }
        size_t rc = ZSTD_decompressStream(z->dctx, &out, &z->inb);
        if (ZSTD_isError(rc)) {
            error_set(err, ERR_CORRUPT, "zstd data is corrupt: %s", ZSTD_getErrorName(rc));
            return -1;
        }
        z->last = rc;
    }
    return (ssize_t)out.pos;
}

static void zstd_reader_free(Reader *reader)
{
    ZstdReader *z = (ZstdReader *)reader;
    ZSTD_freeDCtx(z->dctx);
    free(z->in);
    free(z);
}

static const ReaderOps zstd_reader_ops = {zstd_reader_read, zstd_reader_free};

Reader *zstd_reader_new(Reader *next, Error *err)
{
    ZstdReader *z = x_calloc(1, sizeof(*z));
    z->base.ops = &zstd_reader_ops;
    z->base.next = next;
    z->dctx = ZSTD_createDCtx();
    z->in_cap = ZSTD_DStreamInSize();
    z->in = x_malloc(z->in_cap);
    if (z->dctx == NULL) {
        zstd_reader_free(&z->base);
        error_set(err, ERR_NO_MEMORY, "cannot create a zstd context");
        return NULL;
    }
    return &z->base;
}
