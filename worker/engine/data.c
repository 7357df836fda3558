/* data.c: dataset loading (idx, gzipped or plain; CSV), sharding and epoch
 * permutations. Counts read from a file are checked against the limits and
 * against what the (compressed) file size can hold before any allocation. */
#include "data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "rng.h"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define DEFLATE_MAX_RATIO 1032u /* deflate cannot expand input more than this */
#define DATA_CHUNK 65536u

static psync_err data_new(uint64_t n, uint32_t dim, psync_dataset **out)
{
    psync_dataset *d = calloc(1, sizeof *d);
    if (!d) return psync_fail(PSYNC_ENOMEM, "dataset of %llu samples", (unsigned long long)n);
    d->n = n;
    d->dim = dim;
    d->x = malloc((n ? n : 1) * dim * sizeof(float));
    d->y = malloc((n ? n : 1) * sizeof(int32_t));
    if (!d->x || !d->y) {
        psync_data_destroy(&d);
        return psync_fail(PSYNC_ENOMEM, "dataset of %llu x %u floats", (unsigned long long)n, dim);
    }
    *out = d;
    return PSYNC_OK;
}

void psync_data_destroy(psync_dataset **d)
{
    if (!d || !*d) return;
    free((*d)->x);
    free((*d)->y);
    free(*d);
    *d = NULL;
}

/* Opens path for gzread and returns the size of the file on disk. */
static psync_err idx_open(const char *path, gzFile *gz, uint64_t *disk_size)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return psync_fail(errno == ENOENT ? PSYNC_ENOTFOUND : PSYNC_EIO, "%s: %s", path,
                          strerror(errno));
    *gz = gzopen(path, "rb");
    if (!*gz) return psync_fail(PSYNC_EIO, "%s: cannot open: %s", path, strerror(errno));
    *disk_size = (uint64_t)st.st_size;
    return PSYNC_OK;
}

/* Reads exactly len bytes; a short read or a zlib error is a clean error. */
static psync_err idx_read(gzFile gz, const char *path, void *buf, unsigned len, const char *what)
{
    int got = gzread(gz, buf, len);
    int zerr = Z_OK;
    const char *msg = gzerror(gz, &zerr);
    if (got < 0 || (zerr != Z_OK && zerr != Z_BUF_ERROR))
        return psync_fail(PSYNC_EFORMAT, "%s: corrupt compressed data while reading %s: %s", path,
                          what, msg);
    if ((unsigned)got != len)
        return psync_fail(PSYNC_ETRUNC, "%s: truncated: %s needs %u more bytes, file has %d", path,
                          what, len, got);
    return PSYNC_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the file ends right after the data (no trailing garbage). */
static psync_err idx_expect_end(gzFile gz, const char *path)
{
    unsigned char extra;
    int got = gzread(gz, &extra, 1);
    if (got < 0) return psync_fail(PSYNC_EFORMAT, "%s: corrupt compressed data at the end", path);
    if (got > 0)
        return psync_fail(PSYNC_EFORMAT, "%s: unexpected bytes after the declared data", path);
    return PSYNC_OK;
}

/* Validates an idx header's counts against limits and the disk size. */
static psync_err idx_check_counts(const char *path, uint64_t n, uint64_t dim, uint64_t disk)
{
    if (n == 0 || n > PSYNC_DATA_MAX_SAMPLES)
        return psync_fail(PSYNC_ELIMIT, "%s: %llu samples; expected 1..%u", path,
                          (unsigned long long)n, PSYNC_DATA_MAX_SAMPLES);
    if (dim == 0 || dim > PSYNC_DATA_MAX_DIM)
        return psync_fail(PSYNC_ELIMIT, "%s: %llu values per sample; expected 1..%u", path,
                          (unsigned long long)dim, PSYNC_DATA_MAX_DIM);
    if (n * dim > disk * DEFLATE_MAX_RATIO + 64)
        return psync_fail(PSYNC_ETRUNC,
                          "%s: header declares %llu bytes but a %llu-byte file "
                          "cannot hold them",
                          path, (unsigned long long)(n * dim), (unsigned long long)disk);
    return PSYNC_OK;
}

/* Reads n*dim u8 pixels in chunks into x, scaled to [0,1]. */
static psync_err idx_read_pixels(gzFile gz, const char *path, float *x, uint64_t count)
{
    unsigned char buf[DATA_CHUNK];
    for (uint64_t done = 0; done < count;) {
        unsigned len = count - done < DATA_CHUNK ? (unsigned)(count - done) : DATA_CHUNK;
        psync_err err = idx_read(gz, path, buf, len, "pixels");
        if (err) return err;
        for (unsigned i = 0; i < len; i++)
            x[done + i] = (float)buf[i] * (1.0f / 255.0f);
        done += len;
    }
    return PSYNC_OK;
}

static psync_err idx_load_images(const char *path, psync_dataset **out)
{
    gzFile gz;
    uint64_t disk;
    unsigned char h[16];
    psync_err err = idx_open(path, &gz, &disk);
    if (err) return err;
    if ((err = idx_read(gz, path, h, sizeof h, "the idx3 header"))) goto close_file;
    if (be32(h) != IDX_MAGIC_IMAGES) {
        err = psync_fail(PSYNC_EFORMAT, "%s: magic 0x%08x; expected 0x%08x (idx3 u8 images)", path,
                         be32(h), IDX_MAGIC_IMAGES);
        goto close_file;
    }
    uint64_t n = be32(h + 4), dim = (uint64_t)be32(h + 8) * be32(h + 12);
    if ((err = idx_check_counts(path, n, dim, disk)) || (err = data_new(n, (uint32_t)dim, out)))
        goto close_file;
    if ((err = idx_read_pixels(gz, path, (*out)->x, n * dim)) || (err = idx_expect_end(gz, path)))
        psync_data_destroy(out);
close_file:
    gzclose(gz);
    return err;
}

static psync_err idx_load_labels(const char *path, psync_dataset *d)
{
    gzFile gz;
    uint64_t disk;
    unsigned char h[8], buf[DATA_CHUNK];
    psync_err err = idx_open(path, &gz, &disk);
    if (err) return err;
    if ((err = idx_read(gz, path, h, sizeof h, "the idx1 header"))) goto close_file;
    if (be32(h) != IDX_MAGIC_LABELS || be32(h + 4) != d->n) {
        err = psync_fail(PSYNC_EFORMAT,
                         "%s: magic 0x%08x with %u labels; expected 0x%08x "
                         "with %llu labels (one per image)",
                         path, be32(h), be32(h + 4), IDX_MAGIC_LABELS, (unsigned long long)d->n);
        goto close_file;
    }
    for (uint64_t done = 0; done < d->n;) {
        unsigned len = d->n - done < DATA_CHUNK ? (unsigned)(d->n - done) : DATA_CHUNK;
        if ((err = idx_read(gz, path, buf, len, "labels"))) goto close_file;
        for (unsigned i = 0; i < len; i++) {
            d->y[done + i] = buf[i];
            if (buf[i] + 1u > d->classes) d->classes = buf[i] + 1u;
        }
        done += len;
    }
    d->labeled = true;
    err = idx_expect_end(gz, path);
close_file:
    gzclose(gz);
    return err;
}

psync_err psync_data_load_idx(const char *images, const char *labels, psync_dataset **out)
{
    psync_dataset *d = NULL;
    psync_err err = idx_load_images(images, &d);
    if (err) return err;
    if (!labels) {
        for (uint64_t i = 0; i < d->n; i++)
            d->y[i] = -1;
    } else if ((err = idx_load_labels(labels, d))) {
        psync_data_destroy(&d);
        return err;
    }
    *out = d;
    return PSYNC_OK;
}

psync_err psync_data_load_dir(const char *dir, bool train, psync_dataset **out)
{
    char img[4096], lab[4096];
    const char *pre = train ? "train" : "t10k";
    int a = snprintf(img, sizeof img, "%s/%s-images-idx3-ubyte.gz", dir, pre);
    int b = snprintf(lab, sizeof lab, "%s/%s-labels-idx1-ubyte.gz", dir, pre);
    if (a < 0 || b < 0 || (size_t)a >= sizeof img || (size_t)b >= sizeof lab)
        return psync_fail(PSYNC_EINVAL, "data directory name too long: %.64s...", dir);
    return psync_data_load_idx(img, lab, out);
}

psync_err psync_data_shard(psync_dataset *d, uint32_t rank, uint32_t size)
{
    if (size == 0 || rank >= size)
        return psync_fail(PSYNC_EINVAL, "rank %u is not within a world of %u", rank, size);
    if (d->n <= rank)
        return psync_fail(PSYNC_EINVAL, "rank %u of %u gets no samples out of %llu", rank, size,
                          (unsigned long long)d->n);
    uint64_t k = 0;
    for (uint64_t i = rank; i < d->n; i += size, k++) {
        memmove(d->x + k * d->dim, d->x + i * d->dim, d->dim * sizeof(float));
        d->y[k] = d->y[i];
    }
    d->n = k;
    return PSYNC_OK;
}

void psync_data_permutation(uint64_t seed, uint32_t *perm, uint64_t n)
{
    uint64_t s[4];
    psync_rng_seed(s, seed);
    for (uint64_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = psync_rng_below(s, i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

/* CSV reading state: growing arrays plus the fixed row width. */
typedef struct csv_state {
    const char *path;
    unsigned line;
    uint32_t fields; /* per line, fixed by the first data line */
    bool labeled;
    uint64_t cap;
    psync_dataset *d;
    float lo, hi; /* feature range seen */
} csv_state;

static psync_err csv_grow(csv_state *c)
{
    psync_dataset *d = c->d;
    if (d->n < c->cap) return PSYNC_OK;
    if (d->n >= PSYNC_DATA_MAX_SAMPLES)
        return psync_fail(PSYNC_ELIMIT, "%s:%u: more than %u samples", c->path, c->line,
                          PSYNC_DATA_MAX_SAMPLES);
    uint64_t cap = c->cap ? c->cap * 2 : 1024;
    float *x = realloc(d->x, cap * d->dim * sizeof(float));
    if (x) d->x = x;
    int32_t *y = x ? realloc(d->y, cap * sizeof(int32_t)) : NULL;
    if (!y)
        return psync_fail(PSYNC_ENOMEM, "%s:%u: growing to %llu samples", c->path, c->line,
                          (unsigned long long)cap);
    d->y = y;
    c->cap = cap;
    return PSYNC_OK;
}

/* Parses one number ending at ',' or end of line; advances *p past it. */
static int csv_number(char **p, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(*p, &end);
    if (end == *p || errno == ERANGE || *v != *v) return -1;
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
        end++;
    if (*end != ',' && *end != '\0') return -1;
    *p = *end == ',' ? end + 1 : end;
    return 0;
}

static uint32_t csv_count_fields(const char *s)
{
    uint32_t n = 1;
    for (; *s; s++)
        n += *s == ',';
    return n;
}

/* Decides the row layout from the first data line. */
static psync_err csv_layout(csv_state *c, const char *s, uint32_t expect_dim)
{
    uint32_t f = csv_count_fields(s);
    if (f > PSYNC_DATA_MAX_DIM + 1u)
        return psync_fail(PSYNC_ELIMIT, "%s:%u: %u fields; at most %u allowed", c->path, c->line, f,
                          PSYNC_DATA_MAX_DIM + 1u);
    c->labeled = expect_dim == 0 || f == expect_dim + 1;
    if (expect_dim && f != expect_dim && f != expect_dim + 1)
        return psync_fail(PSYNC_EFORMAT,
                          "%s:%u: %u fields; expected %u features, optionally "
                          "preceded by a label",
                          c->path, c->line, f, expect_dim);
    if (c->labeled && f < 2)
        return psync_fail(PSYNC_EFORMAT, "%s:%u: expected a label then features", c->path, c->line);
    c->fields = f;
    c->d->dim = c->labeled ? f - 1 : f;
    c->d->labeled = c->labeled;
    return PSYNC_OK;
}

static psync_err csv_label(csv_state *c, char **p)
{
    double v;
    if (csv_number(p, &v) || v < 0 || v >= PSYNC_DATA_MAX_CLASSES || v != (double)(int32_t)v)
        return psync_fail(PSYNC_EFORMAT, "%s:%u: label must be an integer in 0..%u", c->path,
                          c->line, PSYNC_DATA_MAX_CLASSES - 1);
    int32_t y = (int32_t)v;
    c->d->y[c->d->n] = y;
    if ((uint32_t)y + 1 > c->d->classes) c->d->classes = (uint32_t)y + 1;
    return PSYNC_OK;
}

static psync_err csv_row(csv_state *c, char *s)
{
    psync_err err;
    uint32_t f = csv_count_fields(s);
    if (f != c->fields)
        return psync_fail(PSYNC_EFORMAT, "%s:%u: %u fields; expected %u like the first line",
                          c->path, c->line, f, c->fields);
    if ((err = csv_grow(c))) return err;
    psync_dataset *d = c->d;
    d->y[d->n] = -1;
    if (c->labeled && (err = csv_label(c, &s))) return err;
    float *x = d->x + d->n * d->dim;
    for (uint32_t j = 0; j < d->dim; j++) {
        double v;
        if (csv_number(&s, &v) || v < -1e30 || v > 1e30)
            return psync_fail(PSYNC_EFORMAT, "%s:%u: field %u is not a finite number", c->path,
                              c->line, j + 1 + c->labeled);
        x[j] = (float)v;
        c->lo = x[j] < c->lo ? x[j] : c->lo;
        c->hi = x[j] > c->hi ? x[j] : c->hi;
    }
    d->n++;
    return PSYNC_OK;
}

/* Handles one line: blank lines are skipped, a non-numeric first line is a
 * header, the first data line fixes the layout. */
static psync_err csv_line(csv_state *c, char *s, uint32_t expect_dim)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0' || *s == '\n' || *s == '\r') return PSYNC_OK;
    if (c->fields == 0) {
        char *end;
        strtod(s, &end);
        if (end == s && c->line == 1) return PSYNC_OK; /* header */
        psync_err err = csv_layout(c, s, expect_dim);
        if (err) return err;
    }
    return csv_row(c, s);
}

/* Scales features to [0,1] (see data.h); fails if they are outside [0,255]. */
static psync_err csv_scale(csv_state *c)
{
    psync_dataset *d = c->d;
    if (d->n == 0) return psync_fail(PSYNC_EFORMAT, "%s: no samples", c->path);
    if (c->lo >= 0.0f && c->hi <= 1.0f) return PSYNC_OK;
    if (c->lo < 0.0f || c->hi > 255.0f)
        return psync_fail(PSYNC_EFORMAT,
                          "%s: features range over [%g, %g]; expected [0,1] or "
                          "[0,255]",
                          c->path, (double)c->lo, (double)c->hi);
    for (uint64_t i = 0; i < d->n * d->dim; i++)
        d->x[i] *= 1.0f / 255.0f;
    return PSYNC_OK;
}

static psync_err csv_read_lines(csv_state *c, FILE *f, char *buf, uint32_t expect_dim)
{
    psync_err err = PSYNC_OK;
    while (!err && fgets(buf, PSYNC_CSV_LINE_MAX + 2, f)) {
        c->line++;
        size_t len = strlen(buf);
        if (len > PSYNC_CSV_LINE_MAX || (len > 0 && buf[len - 1] != '\n' && !feof(f)))
            return psync_fail(PSYNC_ELIMIT, "%s:%u: line longer than %u bytes", c->path, c->line,
                              PSYNC_CSV_LINE_MAX);
        err = csv_line(c, buf, expect_dim);
    }
    if (!err && ferror(f))
        err = psync_fail(PSYNC_EIO, "%s: read error after line %u", c->path, c->line);
    return err;
}

psync_err psync_data_load_csv(const char *path, uint32_t expect_dim, psync_dataset **out)
{
    psync_err err;
    csv_state c = {.path = path, .lo = 0.0f, .hi = 0.0f};
    FILE *f = fopen(path, "r");
    if (!f)
        return psync_fail(errno == ENOENT ? PSYNC_ENOTFOUND : PSYNC_EIO, "%s: %s", path,
                          strerror(errno));
    char *buf = malloc(PSYNC_CSV_LINE_MAX + 2);
    c.d = calloc(1, sizeof *c.d);
    if (!buf || !c.d) {
        err = psync_fail(PSYNC_ENOMEM, "%s: line buffer", path);
        goto free_state;
    }
    if ((err = csv_read_lines(&c, f, buf, expect_dim)) || (err = csv_scale(&c))) goto free_state;
    *out = c.d;
    c.d = NULL;
free_state:
    psync_data_destroy(&c.d);
    free(buf);
    fclose(f);
    return err;
}
