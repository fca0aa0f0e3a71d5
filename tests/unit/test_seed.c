/* The original script's format inside the agent: the part-splitting sink at its edges, the
 * merged restore tree (overlays, conflicts, hostile members), and reading the script's fixtures
 * from an in-memory target (passwords, damage, parts, names). test_seed_backup.c has the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/seed.intern.h"
#include "hfsync/log.h"
#include "hfsync/util.h"
#include "support/testutil.h"

#define FIXTURES_DEFAULT "tests/fixtures/seed-format"

#define assert_ok(call, err)                                                                       \
    do {                                                                                           \
        if (!(call))                                                                               \
            fail_msg("%s failed: %s", #call, (err).msg);                                           \
    } while (0)

static char *mem_name(const char *what)
{
    static int counter;
    return str_printf("test-seed-%s-%d-%d", what, (int)getpid(), ++counter);
}

static uint8_t *mem_get(Storage *st, const char *path, size_t *size)
{
    return storage_mem_object(st, path, size);
}

/* --- the splitting sink ------------------------------------------------------------------- */

static void split_run(uint64_t volume_size, size_t total, size_t chunk, const char *const *want,
                      const size_t *want_sizes, size_t want_count)
{
    char *name = mem_name("split");
    Storage *st = storage_mem_open(name);
    char *work = test_tmpdir();
    Error err = {0};
    Sink *s = seed_split_new(st, "backups", "a.tar.gz", volume_size, work, &err);
    assert_non_null(s);
    uint8_t *data = malloc(total + 1);
    test_fill_random(data, total, (uint32_t)total);
    for (size_t off = 0; off < total; off += chunk) {
        size_t n = total - off < chunk ? total - off : chunk;
        assert_ok(sink_write(s, data + off, n, &err), err);
    }
    assert_ok(sink_finish(s, &err), err);
    size_t count = 0;
    char *const *vols = seed_split_volumes(s, &count);
    assert_int_equal(count, want_count);
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        assert_string_equal(vols[i], want[i]);
        char *path = str_printf("backups/%s", vols[i]);
        size_t size = 0;
        uint8_t *obj = mem_get(st, path, &size);
        assert_non_null(obj);
        assert_int_equal(size, want_sizes[i]);
        assert_memory_equal(obj, data + off, size);
        off += size;
        free(path);
    }
    assert_int_equal(off, total);
    /* the spool file is gone with the sink: nothing left in the work dir */
    sink_free(s);
    assert_int_equal(rmdir(work), 0);
    free(work);
    free(data);
    storage_free(st);
    free(name);
}

static void test_split_single(void **state)
{
    (void)state;
    static const char *const one[] = {"a.tar.gz"};
    /* below, at, and far below the volume size; 1-byte and 7-byte writes */
    split_run(100, 99, 1, one, (size_t[]){99}, 1);
    split_run(100, 100, 7, one, (size_t[]){100}, 1);
    split_run(1 << 20, 5000, 4096, one, (size_t[]){5000}, 1);
    split_run(100, 0, 1, one, (size_t[]){0}, 1);
}

static void test_split_parts(void **state)
{
    (void)state;
    static const char *const three[] = {"a.tar.gz.part-aa", "a.tar.gz.part-ab", "a.tar.gz.part-ac"};
    split_run(100, 250, 7, three, (size_t[]){100, 100, 50}, 3);
    split_run(100, 250, 1000, three, (size_t[]){100, 100, 50}, 3);
    /* an exact multiple: no empty last part */
    split_run(100, 200, 1, three, (size_t[]){100, 100}, 2);
    split_run(100, 101, 1, three, (size_t[]){100, 1}, 2);
}

static void test_split_limits(void **state)
{
    (void)state;
    char *name = mem_name("split-limit");
    Storage *st = storage_mem_open(name);
    char *work = test_tmpdir();
    Error err = {0};
    Sink *s = seed_split_new(st, "", "b.tar.gz", 1, work, &err);
    assert_non_null(s);
    uint8_t byte = 7;
    bool ok = true;
    size_t i;
    for (i = 0; ok && i < SEED_MAX_PARTS + 5; i++)
        ok = sink_write(s, &byte, 1, &err);
    assert_false(ok);
    assert_int_equal(i, SEED_MAX_PARTS + 1);
    assert_non_null(strstr(err.msg, "more than 676 parts"));
    size_t n = 0;
    char *const *written = seed_split_written(s, &n);
    assert_int_equal(n, SEED_MAX_PARTS);
    assert_string_equal(written[0], "b.tar.gz.part-aa");
    assert_string_equal(written[n - 1], "b.tar.gz.part-zz");
    sink_free(s);
    /* an unfinished part is never visible */
    s = seed_split_new(st, "", "c.tar.gz", 10, work, &err);
    uint8_t data[25] = {0};
    assert_ok(sink_write(s, data, sizeof(data), &err), err);
    sink_free(s);
    size_t size;
    assert_non_null(mem_get(st, "c.tar.gz.part-aa", &size));
    assert_non_null(mem_get(st, "c.tar.gz.part-ab", &size));
    assert_null(mem_get(st, "c.tar.gz.part-ac", &size));
    assert_int_equal(rmdir(work), 0);
    free(work);
    storage_free(st);
    free(name);
}

/* --- the merged tree ----------------------------------------------------------------------- */

typedef struct TreeFx {
    char *base;
    char *staging; /* the root "r" */
    bool skip_other;
    Config cfg;
} TreeFx;

static bool tree_root_fn(void *ctx, const char *root, const char **staging, Error *err)
{
    TreeFx *fx = ctx;
    if (strcmp(root, "r") == 0) {
        *staging = fx->staging;
        return true;
    }
    if (fx->skip_other) {
        *staging = NULL;
        return true;
    }
    return error_set(err, ERR_USAGE, "root '%s' is not configured", root);
}

typedef struct Mem {
    const char *name;
    TarType type;
    const char *data; /* files; symlink and hard link targets */
    unsigned mode;
} Mem;

/* A plain tar of `members` in memory (the tree takes members, the compression does not
 * matter here). */
static uint8_t *make_tar(const Mem *members, size_t count, size_t *size)
{
    Error err = {0};
    Sink *buf = buffer_sink_new();
    TarWriter *tw = tar_writer_new(buf, &err);
    assert_non_null(tw);
    for (size_t i = 0; i < count; i++) {
        const Mem *m = &members[i];
        bool file = m->type == TAR_FILE;
        TarMember tm = {.name = m->name,
                        .type = m->type,
                        .mode = m->mode ? m->mode : (m->type == TAR_DIR ? 0755 : 0644),
                        .mtime = 1700000000 + (int64_t)i,
                        .mtime_nsec = 123456789,
                        .size = file ? strlen(m->data) : 0,
                        .target = file ? NULL : m->data};
        assert_ok(tar_writer_header(tw, &tm, &err), err);
        if (file)
            assert_ok(tar_writer_data(tw, m->data, strlen(m->data), &err), err);
    }
    assert_ok(tar_writer_close(tw, &err), err);
    tar_writer_free(tw);
    uint8_t *out = buffer_sink_take(buf, size);
    sink_free(buf);
    return out;
}

/* libarchive's writer has no hard links or devices for us: patch the type flag of the tar
 * header of member `name` (ustar layout: typeflag at 156, linkname at 157, checksum at 148). */
static void patch_type(uint8_t *tar, size_t size, const char *name, char flag, const char *link)
{
    for (size_t off = 0; off + 512 <= size; off += 512) {
        if (strncmp((char *)tar + off, name, 100) != 0)
            continue;
        uint8_t *h = tar + off;
        h[156] = (uint8_t)flag;
        memset(h + 124, '0', 11); /* size 0 */
        if (link != NULL)
            strncpy((char *)h + 157, link, 100);
        memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (int i = 0; i < 512; i++)
            sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
        return;
    }
    fail_msg("member '%s' not found in the tar", name);
}

/* Apply one archive to the tree; returns the result of the first failing member. */
static bool apply_tar(SeedTree *t, unsigned archive, const uint8_t *tar, size_t size, Error *err)
{
    Reader *in = buffer_reader_new(tar, size, 0);
    TarReader *tr = tar_reader_new(in, err);
    assert_non_null(tr);
    bool ok = true;
    for (;;) {
        TarMember m;
        int rc = tar_reader_next(tr, &m, err);
        if (rc <= 0) {
            ok = rc == 0;
            break;
        }
        if (!seed_tree_member(t, archive, tr, &m, err)) {
            ok = false;
            break;
        }
    }
    tar_reader_free(tr);
    reader_free(in);
    return ok;
}

static int tree_setup(void **state)
{
    TreeFx *fx = x_calloc(1, sizeof(*fx));
    fx->base = test_tmpdir();
    fx->staging = path_join(fx->base, "stage-r");
    *state = fx;
    return 0;
}

static int tree_teardown(void **state)
{
    TreeFx *fx = *state;
    test_rmtree(fx->base);
    free(fx->base);
    free(fx->staging);
    free(fx);
    return 0;
}

static char *slurp(const char *dir, const char *rel)
{
    char *p = path_join(dir, rel);
    char *data = NULL;
    size_t size;
    Error err = {0};
    if (!fs_read_file(p, 1 << 20, &data, &size, &err))
        data = NULL;
    free(p);
    return data;
}

static mode_t lmode(const char *dir, const char *rel)
{
    char *p = path_join(dir, rel);
    struct stat sb;
    mode_t m = lstat(p, &sb) == 0 ? sb.st_mode : 0;
    free(p);
    return m;
}

static void test_tree_overlay(void **state)
{
    TreeFx *fx = *state;
    Error err = {0};
    SeedTree *t = seed_tree_new(&fx->cfg, tree_root_fn, fx);
    static const Mem full[] = {
        {"r", TAR_DIR, NULL, 0750},    {"r/a", TAR_FILE, "A1", 0600},
        {"r/l", TAR_SYMLINK, "a", 0},  {"r/d", TAR_DIR, NULL, 0700},
        {"r/d/x", TAR_FILE, "X", 0},   {"r/f", TAR_FILE, "F", 0},
        {"r/ro", TAR_DIR, NULL, 0500}, {"r/ro/inside", TAR_FILE, "I1", 0444},
    };
    static const Mem inc1[] = {
        {"r/a", TAR_FILE, "A2", 0640},         /* changed */
        {"r/d", TAR_FILE, "now a file", 0},    /* a directory replaced by a file */
        {"r/l/y", TAR_FILE, "below", 0},       /* the symlink became a directory */
        {"r/f", TAR_SYMLINK, "a", 0},          /* a file became a symlink */
        {"r/new/deep/n", TAR_FILE, "N", 0},    /* new directories, implied */
        {"r/ro/inside", TAR_FILE, "I2", 0444}, /* into a read-only directory */
    };
    size_t n0, n1;
    uint8_t *t0 = make_tar(full, sizeof(full) / sizeof(full[0]), &n0);
    uint8_t *t1 = make_tar(inc1, sizeof(inc1) / sizeof(inc1[0]), &n1);
    assert_ok(apply_tar(t, 0, t0, n0, &err), err);
    assert_ok(apply_tar(t, 1, t1, n1, &err), err);
    assert_ok(seed_tree_finish(t, &err), err);
    uint64_t files, bytes;
    seed_tree_counts(t, &files, &bytes);
    assert_int_equal(files, 5); /* a, d, l/y, new/deep/n, ro/inside (d/x and f went) */

    const char *r = fx->staging;
    char *a = slurp(r, "a"), *d = slurp(r, "d"), *y = slurp(r, "l/y"), *n = slurp(r, "new/deep/n"),
         *ro = slurp(r, "ro/inside");
    assert_string_equal(a, "A2");
    assert_string_equal(d, "now a file");
    assert_string_equal(y, "below");
    assert_string_equal(n, "N");
    assert_string_equal(ro, "I2");
    free(a), free(d), free(y), free(n), free(ro);
    assert_int_equal(lmode(r, "a") & 07777, 0640);
    assert_true(S_ISDIR(lmode(r, "l")));
    assert_true(S_ISLNK(lmode(r, "f")));
    assert_int_equal(lmode(r, "ro") & 07777, 0500);
    assert_int_equal(lmode(r, "new") & 07777, 0755);
    struct stat sb;
    assert_int_equal(stat(r, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0750);
    assert_int_equal(sb.st_mtim.tv_sec, 1700000000); /* (a plain tar here: no nanoseconds) */
    chmod(r, 0755);
    char *ro_dir = path_join(r, "ro");
    chmod(ro_dir, 0755); /* so the teardown can remove it when not root */
    free(ro_dir);
    free(t0);
    free(t1);
    seed_tree_free(t);
}

static void expect_refused(TreeFx *fx, const Mem *members, size_t count, const char *needle)
{
    Error err = {0};
    test_rmtree(fx->staging);
    SeedTree *t = seed_tree_new(&fx->cfg, tree_root_fn, fx);
    size_t n;
    uint8_t *tar = make_tar(members, count, &n);
    assert_false(apply_tar(t, 0, tar, n, &err));
    assert_int_equal(err.code, ERR_UNSAFE);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("expected '%s' in: %s", needle, err.msg);
    free(tar);
    seed_tree_free(t);
}

static void test_tree_hostile(void **state)
{
    TreeFx *fx = *state;
    static const Mem dotdot[] = {{"r", TAR_DIR, NULL, 0}, {"r/../escape", TAR_FILE, "x", 0}};
    expect_refused(fx, dotdot, 2, "'..'");
    static const Mem dot[] = {{"r/./x", TAR_FILE, "x", 0}};
    expect_refused(fx, dot, 1, "refused");
    static const Mem abs_[] = {{"/tmp/escape", TAR_FILE, "x", 0}};
    expect_refused(fx, abs_, 1, "absolute");
    static const Mem through[] = {{"r/l", TAR_SYMLINK, "/tmp", 0},
                                  {"r/l/escape", TAR_FILE, "x", 0}};
    expect_refused(fx, through, 2, "a symlink of the same archive");
    static const Mem twice[] = {{"r/f", TAR_FILE, "1", 0}, {"r/f", TAR_FILE, "2", 0}};
    expect_refused(fx, twice, 2, "appears twice");
    static const Mem under_file[] = {{"r/f", TAR_FILE, "1", 0}, {"r/f/g", TAR_FILE, "2", 0}};
    expect_refused(fx, under_file, 2, "a file of the same archive");
}

static void test_tree_links_and_specials(void **state)
{
    TreeFx *fx = *state;
    Error err = {0};
    static const Mem m[] = {
        {"r", TAR_DIR, NULL, 0},       {"r/a", TAR_FILE, "content", 04755},
        {"r/h", TAR_FILE, "", 0},      {"r/fifo", TAR_FILE, "", 0},
        {"other/x", TAR_FILE, "x", 0}, {"r/bad", TAR_FILE, "", 0},
    };
    size_t n;
    uint8_t *tar = make_tar(m, sizeof(m) / sizeof(m[0]), &n);
    patch_type(tar, n, "r/h", '1', "r/a");      /* hard link to r/a */
    patch_type(tar, n, "r/fifo", '6', NULL);    /* a fifo */
    patch_type(tar, n, "r/bad", '1', "r/nope"); /* hard link to nothing */

    fx->skip_other = true;
    SeedTree *t = seed_tree_new(&fx->cfg, tree_root_fn, fx);
    assert_false(apply_tar(t, 0, tar, n, &err));
    assert_int_equal(err.code, ERR_UNSAFE);
    assert_non_null(strstr(err.msg, "'r/nope' is not a file restored before it"));
    seed_tree_free(t);
    char *h = slurp(fx->staging, "h");
    assert_string_equal(h, "content"); /* a copy, not a link */
    free(h);
    assert_int_equal(lmode(fx->staging, "a") & 07777, 0755); /* setuid dropped by default */
    assert_int_equal(lmode(fx->staging, "fifo"), 0);         /* never created */
    char *other = path_join(fx->base, "other");
    assert_false(fs_exists(other)); /* a skipped root */
    free(other);

    /* HFSYNC_RESTORE_SETID keeps the bit */
    test_rmtree(fx->staging);
    fx->cfg.restore_setid = true;
    t = seed_tree_new(&fx->cfg, tree_root_fn, fx);
    assert_false(apply_tar(t, 0, tar, n, &err));
    assert_int_equal(lmode(fx->staging, "a") & 07777, 04755);
    seed_tree_free(t);

    /* a root that is not configured stops the restore */
    fx->skip_other = false;
    test_rmtree(fx->staging);
    t = seed_tree_new(&fx->cfg, tree_root_fn, fx);
    assert_false(apply_tar(t, 0, tar, n, &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_non_null(strstr(err.msg, "'other'"));
    seed_tree_free(t);
    free(tar);
}

/* --- reading the script's fixtures ---------------------------------------------------------- */

/* Copy fixture `fx`'s remote/ into a fresh in-memory target; returns its name. */
static char *load_fixture(const char *fx)
{
    const char *base = getenv("HFSYNC_SEED_FIXTURES");
    char *dir = str_printf("%s/%s/remote", base && *base ? base : FIXTURES_DEFAULT, fx);
    char *name = mem_name(fx);
    Storage *st = storage_mem_open(name);
    char *cmd = str_printf("cd '%s' && find . -type f", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    while (fgets(line, sizeof(line), p) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *path = path_join(dir, line + 2);
        char *data;
        size_t size;
        Error err = {0};
        assert_ok(fs_read_file(path, 64 << 20, &data, &size, &err), err);
        assert_ok(storage_put(st, line + 2, data, size, &err), err);
        free(data);
        free(path);
    }
    pclose(p);
    free(cmd);
    free(dir);
    storage_free(st);
    return name;
}

/* Read backup `meta_path` of the target through: members counted, or false with err. */
static bool read_backup(const Config *cfg, Storage *st, const char *meta_path, size_t *members,
                        Error *err)
{
    BackupMeta *m = meta_load(st, meta_path, err);
    assert_non_null(m);
    bool ok = seed_verify(cfg, st, m, true, err);
    *members = 0;
    if (ok) {
        SeedArchive *a = seed_archive_open(cfg, st, m, err);
        assert_non_null(a);
        TarMember tm;
        while (tar_reader_next(seed_archive_tar(a), &tm, err) == 1)
            (*members)++;
        ok = seed_archive_finish(a, err);
        seed_archive_free(a);
    }
    meta_free(m);
    return ok;
}

#define SPLIT_META "backups/openclaw-backup-20261121-192501.tar.gz.enc.meta.json"
#define SPLIT_PART(x) "backups/openclaw-backup-20261121-192501.tar.gz.enc.part-" x

static void test_fixture_passwords(void **state)
{
    (void)state;
    char *name = load_fixture("encrypted-split");
    Storage *st = storage_mem_open(name);
    Config cfg = {.seed_iterations = 10000};
    Error err = {0};
    size_t members;

    assert_false(read_backup(&cfg, st, SPLIT_META, &members, &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_non_null(strstr(err.msg, "encrypted and no password is set"));

    cfg.password = "fixture-pass";
    assert_ok(read_backup(&cfg, st, SPLIT_META, &members, &err), err);
    assert_true(members > 13);

    cfg.password = "wrong";
    assert_false(read_backup(&cfg, st, SPLIT_META, &members, &err));
    assert_int_equal(err.code, ERR_USAGE);
    assert_non_null(strstr(err.msg, "wrong password"));

    char *old[] = {"also-wrong", "fixture-pass"};
    cfg.old_passwords = old;
    cfg.old_password_count = 2;
    assert_ok(read_backup(&cfg, st, SPLIT_META, &members, &err), err);
    /* HFSYNC_SEED_PBKDF2_ITER set otherwise: openssl's default is still tried */
    cfg.seed_iterations = 20000;
    assert_ok(read_backup(&cfg, st, SPLIT_META, &members, &err), err);
    storage_free(st);
    free(name);
}

static void test_fixture_damage(void **state)
{
    (void)state;
    char *name = load_fixture("encrypted-split");
    Storage *st = storage_mem_open(name);
    Config cfg = {.seed_iterations = 10000, .password = "fixture-pass"};
    Error err = {0};
    size_t members, size;

    /* the first cipher block: looks like a wrong password, is damage */
    uint8_t *aa = mem_get(st, SPLIT_PART("aa"), &size);
    aa[20] ^= 0x5a;
    assert_false(read_backup(&cfg, st, SPLIT_META, &members, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "checksum mismatch"));
    aa[20] ^= 0x5a;

    /* the last part, past the tar's end marker: only the checksum can tell */
    uint8_t *ad = mem_get(st, SPLIT_PART("ad"), &size);
    ad[size - 1] ^= 0x01;
    assert_false(read_backup(&cfg, st, SPLIT_META, &members, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    ad[size - 1] ^= 0x01;
    assert_ok(read_backup(&cfg, st, SPLIT_META, &members, &err), err);

    /* a missing part */
    const char *gone = SPLIT_PART("ac");
    assert_ok(storage_delete(st, &gone, 1, &err), err);
    assert_false(read_backup(&cfg, st, SPLIT_META, &members, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "part-ac"));
    storage_free(st);
    free(name);
}

static void test_fixture_meta_variants(void **state)
{
    (void)state;
    char *name = load_fixture("encrypted-split");
    Storage *st = storage_mem_open(name);
    Config cfg = {.seed_iterations = 10000, .password = "fixture-pass", .prefix = "backups"};
    Error err = {0};
    size_t members, size;
    char *orig = (char *)mem_get(st, SPLIT_META, &size);
    char *json = x_strndup(orig, size);

    /* volumes listed out of order: joined in name order all the same */
    cJSON *o = cJSON_Parse(json);
    cJSON *vols = cJSON_GetObjectItem(o, "volumes");
    cJSON *first = cJSON_DetachItemFromArray(vols, 0);
    cJSON_AddItemToArray(vols, first);
    char *text = cJSON_Print(o);
    assert_ok(storage_put(st, SPLIT_META, text, strlen(text), &err), err);
    cJSON_free(text);
    assert_ok(read_backup(&cfg, st, SPLIT_META, &members, &err), err);

    /* a volume of another archive */
    cJSON_ReplaceItemInArray(vols, 0, cJSON_CreateString("openclaw-backup-20261121-192502.tar.gz"));
    text = cJSON_Print(o);
    BackupMeta *bad = meta_parse(text, SPLIT_META, &err);
    assert_non_null(bad);
    cJSON_free(text);
    assert_null(seed_archive_open(&cfg, st, bad, &err));
    assert_int_equal(err.code, ERR_CORRUPT);
    if (strstr(err.msg, "is not a piece of archive") == NULL)
        fail_msg("%s", err.msg);
    meta_free(bad);
    cJSON_Delete(o);

    /* names the script's way: without .tar.gz.enc, with a part suffix, with .meta.json */
    assert_ok(storage_put(st, SPLIT_META, json, strlen(json), &err), err);
    const char *asks[] = {"openclaw-backup-20261121-192501",
                          "openclaw-backup-20261121-192501.tar.gz.enc",
                          "openclaw-backup-20261121-192501.tar.gz.enc.part-ab",
                          "openclaw-backup-20261121-192501.tar.gz.enc.meta.json"};
    for (size_t i = 0; i < 4; i++) {
        char *path = NULL;
        assert_ok(agent_backup_find(&cfg, st, asks[i], &path, &err), err);
        assert_string_equal(path, SPLIT_META);
        free(path);
    }
    char *path = NULL;
    assert_false(agent_backup_find(&cfg, st, "openclaw-backup-20991231-000000", &path, &err));
    assert_int_equal(err.code, ERR_NOT_FOUND);
    free(json);
    storage_free(st);
    free(name);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_single),
        cmocka_unit_test(test_split_parts),
        cmocka_unit_test(test_split_limits),
        cmocka_unit_test_setup_teardown(test_tree_overlay, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_tree_hostile, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_tree_links_and_specials, tree_setup, tree_teardown),
        cmocka_unit_test(test_fixture_passwords),
        cmocka_unit_test(test_fixture_damage),
        cmocka_unit_test(test_fixture_meta_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
