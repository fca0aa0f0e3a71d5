/* Shared helpers for unit tests: temporary directories and small files. */
#ifndef HFSYNC_TESTUTIL_H
#define HFSYNC_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* mkdtemp under $TMPDIR; caller frees the path and removes the tree with test_rmtree. */
char *test_tmpdir(void);
void test_rmtree(const char *path);
void test_write_file(const char *dir, const char *rel, const char *content);
/* Deterministic pseudo-random bytes. */
void test_fill_random(uint8_t *buf, size_t size, uint32_t seed);

#endif
