/*
 * In-memory backend for unit tests. Every Storage opened with the same name sees the same
 * objects (a process-wide registry), so tests can reopen a "target" like a fresh process would.
 */
#include <stdlib.h>
#include <string.h>

#include "hfsync/util.h"
#include "storage.intern.h"

typedef struct MemObject {
    char *path;
    uint8_t *data;
    size_t size;
    struct MemObject *next;
} MemObject;

typedef struct MemBucket {
    char *name;
    MemObject *objects;
    struct MemBucket *next;
} MemBucket;

static MemBucket *mem_buckets;

typedef struct MemStorage {
    Storage base;
    MemBucket *bucket;
} MemStorage;

static MemObject *mem_find(MemBucket *b, const char *path)
{
    for (MemObject *o = b->objects; o != NULL; o = o->next)
        if (strcmp(o->path, path) == 0)
            return o;
    return NULL;
}

typedef struct MemWrite {
    Sink base;
    MemBucket *bucket;
    char *path;
    Sink *buf;
} MemWrite;

static bool mem_write_write(Sink *sink, const uint8_t *data, size_t size, Error *err)
{
    return sink_write(((MemWrite *)sink)->buf, data, size, err);
}

static bool mem_write_finish(Sink *sink, Error *err)
{
    (void)err;
    MemWrite *w = (MemWrite *)sink;
    MemObject *o = mem_find(w->bucket, w->path);
    if (o == NULL) {
        o = x_calloc(1, sizeof(*o));
        o->path = x_strdup(w->path);
        o->next = w->bucket->objects;
        w->bucket->objects = o;
    } else {
        free(o->data);
    }
    o->data = buffer_sink_take(w->buf, &o->size);
    return true;
}

static void mem_write_free(Sink *sink)
{
    MemWrite *w = (MemWrite *)sink;
    sink_free(w->buf);
    free(w->path);
    free(w);
}

static const SinkOps mem_write_ops = {mem_write_write, mem_write_finish, mem_write_free};

static Sink *mem_write_open(Storage *st, const char *path, Error *err)
{
    (void)err;
    MemWrite *w = x_calloc(1, sizeof(*w));
    w->base.ops = &mem_write_ops;
    w->bucket = ((MemStorage *)st)->bucket;
    w->path = x_strdup(path);
    w->buf = buffer_sink_new();
    return &w->base;
}

/* Reads copy the object so a later overwrite cannot pull bytes from under a reader. */
typedef struct MemRead {
    Reader base;
    uint8_t *copy;
    Reader *inner;
} MemRead;

static ssize_t mem_read_read(Reader *reader, uint8_t *buf, size_t cap, Error *err)
{
    return reader_read(((MemRead *)reader)->inner, buf, cap, err);
}

static void mem_read_free(Reader *reader)
{
    MemRead *r = (MemRead *)reader;
    reader_free(r->inner);
    free(r->copy);
    free(r);
}

static const ReaderOps mem_read_ops = {mem_read_read, mem_read_free};

static Reader *mem_read_open(Storage *st, const char *path, uint64_t offset, Error *err)
{
    MemObject *o = mem_find(((MemStorage *)st)->bucket, path);
    if (o == NULL) {
        error_set(err, ERR_NOT_FOUND, "'mem://%s' does not exist", path);
        return NULL;
    }
    if (offset > o->size)
        offset = o->size;
    MemRead *r = x_calloc(1, sizeof(*r));
    r->base.ops = &mem_read_ops;
    size_t n = o->size - (size_t)offset;
    r->copy = x_malloc(n);
    memcpy(r->copy, o->data + offset, n);
    r->inner = buffer_reader_new(r->copy, n, 0);
    return &r->base;
}

static bool mem_info(Storage *st, const char *path, StorageInfo *info, Error *err)
{
    (void)err;
    MemObject *o = mem_find(((MemStorage *)st)->bucket, path);
    info->exists = o != NULL;
    info->size = o ? o->size : 0;
    return true;
}

static bool mem_list(Storage *st, const char *prefix, StorageListFn fn, void *ctx, Error *err)
{
    (void)err;
    for (MemObject *o = ((MemStorage *)st)->bucket->objects; o != NULL; o = o->next)
        if (str_starts_with(o->path, prefix))
            fn(o->path, o->size, ctx);
    return true;
}

static bool mem_remove(Storage *st, const char *path, Error *err)
{
    (void)err;
    MemBucket *b = ((MemStorage *)st)->bucket;
    for (MemObject **p = &b->objects; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->path, path) == 0) {
            MemObject *o = *p;
            *p = o->next;
            free(o->path);
            free(o->data);
            free(o);
            break;
        }
    }
    return true;
}

static char *mem_describe(Storage *st, const char *path)
{
    return str_printf("mem://%s/%s", ((MemStorage *)st)->bucket->name, path);
}

static void mem_free(Storage *st)
{
    free(st);
}

static const StorageDriver mem_driver = {
    .scheme = "mem",
    .write_open = mem_write_open,
    .read_open = mem_read_open,
    .info = mem_info,
    .list = mem_list,
    .remove = mem_remove,
    .describe = mem_describe,
    .free = mem_free,
};

Storage *storage_mem_open(const char *name)
{
    MemBucket *b = mem_buckets;
    while (b != NULL && strcmp(b->name, name) != 0)
        b = b->next;
    if (b == NULL) {
        b = x_calloc(1, sizeof(*b));
        b->name = x_strdup(name);
        b->next = mem_buckets;
        mem_buckets = b;
    }
    MemStorage *ms = x_calloc(1, sizeof(*ms));
    ms->base.driver = &mem_driver;
    ms->bucket = b;
    return &ms->base;
}

uint8_t *storage_mem_object(Storage *st, const char *path, size_t *size)
{
    MemObject *o = mem_find(((MemStorage *)st)->bucket, path);
    if (o == NULL)
        return NULL;
    *size = o->size;
    return o->data;
}
