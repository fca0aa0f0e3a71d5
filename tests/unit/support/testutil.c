#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfsync/util.h"

char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *p = str_printf("%s/hfsync-unit.XXXXXX", base);
    if (mkdtemp(p) == NULL)
        abort();
    return p;
}

void test_rmtree(const char *path)
{
    Error err = {0};
    fs_remove_tree(path, &err);
}

void test_write_file(const char *dir, const char *rel, const char *content)
{
    char *p = path_join(dir, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    Error err = {0};
    fs_mkdir_p(p, 0755, &err);
    *slash = '/';
    FILE *f = fopen(p, "w");
    if (f == NULL)
        abort();
    fputs(content, f);
    fclose(f);
    free(p);
}

void test_fill_random(uint8_t *buf, size_t size, uint32_t seed)
{
    uint32_t x = seed ? seed : 1;
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
}
