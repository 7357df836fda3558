/* inspect.c: `psync inspect [--json] [--verify] [FILE|-]`: reads one model
 * blob (file or stdin, into one bounded buffer), decodes it and prints its
 * graph, tensor table, optimizer, training state, metadata and hashes, or
 * checks it (--verify: decodes, graph valid, every float finite). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "blob.h"
#include "commands.h"
#include "inspect.h"

static void inspect_usage(FILE *out)
{
    fprintf(out, "usage: psync inspect [--json] [--verify] [FILE|-]\n\n"
                 "Reads a psync model blob from FILE (or stdin for - or no FILE) and prints its\n"
                 "graph, tensor table (with min/max/mean of every param), optimizer, training\n"
                 "state, metadata, graph hash and layout hash.\n\n"
                 "  --json    print one JSON document instead of text\n"
                 "  --verify  only check it: decodes, graph is valid, all floats are finite;\n"
                 "            exit 0 if so, else print the problem and exit non-zero\n"
                 "  --help    show this help\n");
}

/* Reads all of fd into a buffer of at most max bytes (64-byte aligned). */
static psync_err inspect_read_fd(int fd, uint64_t max, uint8_t **out, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    struct stat st;
    if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0)
        cap = (size_t)st.st_size + 1; /* +1 to see EOF in one pass */
    if (cap > max + 1)
        return psync_fail(PSYNC_ELIMIT, "input of %zu bytes exceeds the %llu-byte blob limit",
                          cap - 1, (unsigned long long)max);
    uint8_t *buf = NULL;
    for (;;) {
        if (!buf || n == cap) {
            size_t ncap = buf ? cap * 2 : cap;
            if (buf && n > max) break;
            void *p = NULL;
            if (posix_memalign(&p, PSYNC_ALIGN, ncap)) {
                free(buf);
                return psync_fail(PSYNC_ENOMEM, "input buffer of %zu bytes", ncap);
            }
            if (n) memcpy(p, buf, n);
            free(buf);
            buf = p;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            free(buf);
            return psync_fail(PSYNC_EIO, "read: %s", strerror(errno));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if (n > max) {
        free(buf);
        return psync_fail(PSYNC_ELIMIT, "input exceeds the %llu-byte blob limit",
                          (unsigned long long)max);
    }
    *out = buf;
    *len = n;
    return PSYNC_OK;
}

static psync_err inspect_load(const char *path, uint8_t **buf, size_t *len)
{
    uint64_t max = psync_default_limits.max_blob_bytes;
    if (!strcmp(path, "-")) return inspect_read_fd(STDIN_FILENO, max, buf, len);
    FILE *f = fopen(path, "rb");
    if (!f)
        return psync_fail(errno == ENOENT ? PSYNC_ENOTFOUND : PSYNC_EIO, "cannot open: %s",
                          strerror(errno));
    psync_err err = inspect_read_fd(fileno(f), max, buf, len);
    fclose(f);
    return err;
}

static double inspect_value(const psync_tensor *t, uint64_t i)
{
    switch (t->dtype) {
    case PSYNC_DTYPE_F32:
        return ((const float *)t->data)[i];
    case PSYNC_DTYPE_F64:
        return ((const double *)t->data)[i];
    case PSYNC_DTYPE_I32:
        return ((const int32_t *)t->data)[i];
    case PSYNC_DTYPE_I64:
        return (double)((const int64_t *)t->data)[i];
    default:
        return ((const uint8_t *)t->data)[i];
    }
}

void inspect_tensor_stats(const psync_tensor *t, inspect_stats *s)
{
    uint64_t n = psync_tensor_elems(t), finite = 0;
    double sum = 0;
    *s = (inspect_stats){INFINITY, -INFINITY, NAN, 0};
    for (uint64_t i = 0; i < n; i++) {
        double v = inspect_value(t, i);
        if (!isfinite(v)) {
            s->nonfinite++;
            continue;
        }
        s->min = v < s->min ? v : s->min;
        s->max = v > s->max ? v : s->max;
        sum += v;
        finite++;
    }
    if (finite)
        s->mean = sum / (double)finite;
    else
        s->min = s->max = NAN;
}

static void inspect_print_attr(FILE *out, const psync_attr *a)
{
    switch (a->type) {
    case PSYNC_ATTR_INT:
        fprintf(out, "%s=%lld", a->key, (long long)a->i);
        break;
    case PSYNC_ATTR_FLOAT:
        fprintf(out, "%s=%g", a->key, a->f);
        break;
    case PSYNC_ATTR_STR:
        fprintf(out, "%s=\"%s\"", a->key, a->s);
        break;
    default:
        fprintf(out, "%s=[", a->key);
        for (uint32_t i = 0; i < a->n_ints; i++)
            fprintf(out, "%s%lld", i ? "," : "", (long long)a->ints[i]);
        fprintf(out, "]");
    }
}

static void inspect_print_names(FILE *out, const char *what, uint32_t n,
                                const char (*names)[PSYNC_NAME_MAX])
{
    fprintf(out, " %s=[", what);
    for (uint32_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? "," : "", names[i]);
    fprintf(out, "]");
}

static void inspect_print_graph(FILE *out, const psync_graph *g)
{
    char shape[160];
    fprintf(out, "graph: %u inputs, %u nodes, output %s, loss %s\n", g->n_inputs, g->n_nodes,
            g->output, g->loss[0] ? g->loss : "(none)");
    for (uint32_t i = 0; i < g->n_inputs; i++)
        fprintf(out, "  input %-16s %-4s %s\n", g->inputs[i].name,
                psync_dtype_name(g->inputs[i].dtype),
                psync_shape_str(shape, sizeof shape, g->inputs[i].rank, g->inputs[i].shape));
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const psync_node *n = &g->nodes[i];
        fprintf(out, "  node  %-16s %-12s", n->name, n->op);
        inspect_print_names(out, "inputs", n->n_inputs, n->inputs);
        inspect_print_names(out, "params", n->n_params, n->params);
        fprintf(out, " attrs={");
        for (uint32_t k = 0; k < n->n_attrs; k++) {
            fprintf(out, k ? ", " : "");
            inspect_print_attr(out, &n->attrs[k]);
        }
        fprintf(out, "}\n");
    }
}

static void inspect_print_tensors(FILE *out, const psync_model *m)
{
    char shape[160];
    fprintf(out, "tensors: %u, payload %llu bytes\n", m->n_tensors,
            (unsigned long long)m->payload_len);
    fprintf(out, "  %-24s %-6s %-5s %-14s %10s %10s  %s\n", "name", "role", "dtype", "shape",
            "offset", "bytes", "min / max / mean");
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const psync_tensor *t = &m->tensors[i];
        fprintf(out, "  %-24s %-6s %-5s %-14s %10llu %10llu", t->name, psync_role_name(t->role),
                psync_dtype_name(t->dtype), psync_shape_str(shape, sizeof shape, t->rank, t->shape),
                (unsigned long long)t->offset, (unsigned long long)t->nbytes);
        if (t->role == PSYNC_ROLE_PARAM) {
            inspect_stats s;
            inspect_tensor_stats(t, &s);
            fprintf(out, "  %.6g / %.6g / %.6g", s.min, s.max, s.mean);
            if (s.nonfinite) fprintf(out, "  (%llu non-finite!)", (unsigned long long)s.nonfinite);
        }
        fprintf(out, "\n");
    }
}

static void inspect_print_text(FILE *out, const inspect_doc *d)
{
    const psync_model *m = d->m;
    const psync_optimizer *o = &m->opt;
    const psync_train_state *s = &m->state;
    fprintf(out, "blob: %s, %zu bytes, %s version %d\n", d->source, d->bytes, PSYNC_BLOB_FORMAT,
            PSYNC_BLOB_VERSION);
    fprintf(out, "graph hash:  %016llx\nlayout hash: %016llx\n", (unsigned long long)d->graph_hash,
            (unsigned long long)d->layout_hash);
    inspect_print_graph(out, &m->graph);
    inspect_print_tensors(out, m);
    fprintf(out,
            "optimizer: %s lr=%g momentum=%g beta1=%g beta2=%g eps=%g weight_decay=%g "
            "step=%llu\n",
            psync_opt_name(o->kind), o->lr, o->momentum, o->beta1, o->beta2, o->eps,
            o->weight_decay, (unsigned long long)o->step);
    fprintf(out,
            "state: global_step=%llu samples_seen=%llu epoch=%llu cursor=%llu "
            "merge_version=%llu batch_size=%u rng=[%llx,%llx,%llx,%llx]\n",
            (unsigned long long)s->global_step, (unsigned long long)s->samples_seen,
            (unsigned long long)s->epoch, (unsigned long long)s->cursor,
            (unsigned long long)s->merge_version, s->batch_size, (unsigned long long)s->rng[0],
            (unsigned long long)s->rng[1], (unsigned long long)s->rng[2],
            (unsigned long long)s->rng[3]);
    fprintf(out, "meta: %u entries\n", m->n_meta);
    for (uint32_t i = 0; i < m->n_meta; i++)
        fprintf(out, "  %s = %s\n", m->meta[i].key, m->meta[i].value);
}

typedef struct inspect_args {
    bool json, verify;
    const char *path;
} inspect_args;

/* Returns -1 to run, or an exit code (help printed, or a usage error). */
static int inspect_parse(int argc, char **argv, inspect_args *a)
{
    *a = (inspect_args){false, false, "-"};
    int files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            inspect_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            a->json = true;
        } else if (!strcmp(argv[i], "--verify")) {
            a->verify = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "psync inspect: unknown option '%s'; see `psync inspect --help`\n",
                    argv[i]);
            return EX_USAGE;
        } else if (files++) {
            fprintf(stderr, "psync inspect: give one FILE (or - for stdin)\n");
            return EX_USAGE;
        } else {
            a->path = argv[i];
        }
    }
    return -1;
}

static int inspect_report(const char *path, psync_err err)
{
    fprintf(stderr, "psync inspect: %s: %s: %s\n", path, psync_strerror(err), psync_errdetail());
    if (err != PSYNC_ENOTFOUND && err != PSYNC_EIO && err != PSYNC_ENONFINITE)
        fprintf(stderr,
                "psync inspect: is %s a psync model blob written by this version? "
                "`psync inspect --help` describes the input\n",
                path);
    return psync_exit_code(err);
}

static psync_err inspect_run(const inspect_args *a, const psync_model *m, size_t len)
{
    inspect_doc d = {a->path, len, m, psync_graph_hash(&m->graph), psync_model_layout_hash(m)};
    if (a->verify) {
        psync_err err = psync_model_check_finite(m, ~0u);
        if (err) return err;
        if (a->json)
            fprintf(stdout, "{\"ok\":true,\"tensors\":%u,\"layout_hash\":\"%016llx\"}\n",
                    m->n_tensors, (unsigned long long)d.layout_hash);
        else
            fprintf(stdout, "%s: ok (%u tensors, layout hash %016llx)\n", a->path, m->n_tensors,
                    (unsigned long long)d.layout_hash);
        return PSYNC_OK;
    }
    if (a->json)
        inspect_print_json(stdout, &d);
    else
        inspect_print_text(stdout, &d);
    return PSYNC_OK;
}

int psync_cmd_inspect(int argc, char **argv)
{
    inspect_args a;
    int rc = inspect_parse(argc, argv, &a);
    if (rc >= 0) return rc;
    uint8_t *buf = NULL;
    size_t len = 0;
    psync_model *m = NULL;
    psync_err err = inspect_load(a.path, &buf, &len);
    if (!err) err = psync_blob_decode(buf, len, NULL, PSYNC_DECODE_TAKE, &m);
    if (err) free(buf); /* TAKE only takes it on success */
    if (!err) err = inspect_run(&a, m, len);
    psync_model_destroy(&m);
    return err ? inspect_report(a.path, err) : 0;
}
