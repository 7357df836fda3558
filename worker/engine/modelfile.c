/* modelfile.c: parser and compiler of the line-based model file. Each line is
 * split into whitespace-separated tokens (positional, then key=value), handled
 * by one function per keyword; layer lines propagate shapes so parameter
 * shapes and shape errors are known with their line number. */
#include "modelfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "decode_limits.h"
#include "modelfile_internal.h"

#define MF_MAX_TOKENS 16

psync_err mf_fail(mf_parser *p, psync_err code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return psync_fail(code, "%s:%u: %s", p->name, p->line, msg);
}

/* Splits s in place into tokens; PSYNC_ELIMIT past MF_MAX_TOKENS. */
static psync_err mf_split(mf_parser *p, char *s, char **tok, int *ntok)
{
    *ntok = 0;
    for (char *t = strtok(s, " \t\r"); t; t = strtok(NULL, " \t\r")) {
        if (*ntok == MF_MAX_TOKENS)
            return mf_fail(p, PSYNC_ELIMIT,
                           "more than %d words; expected one declaration "
                           "per line",
                           MF_MAX_TOKENS);
        tok[(*ntok)++] = t;
    }
    return PSYNC_OK;
}

/* The "optimizer KIND key=value..." line. */
static psync_err mf_optimizer(mf_parser *p, char **tok, int ntok)
{
    static const char *const keys[] = {"lr",  "momentum",     "beta1", "beta2",
                                       "eps", "weight_decay", NULL};
    psync_optimizer *o = &p->m->opt;
    if (ntok < 2 || psync_opt_parse(tok[1], &o->kind))
        return mf_fail(p, PSYNC_EFORMAT,
                       "optimizer kind '%s'; expected sgd, momentum, "
                       "nesterov or adam",
                       ntok < 2 ? "" : tok[1]);
    o->lr = o->kind == PSYNC_OPT_ADAM ? 0.001 : 0.01;
    psync_err err = mf_check_keys(p, tok + 2, ntok - 2, keys);
    double *dst[] = {&o->lr, &o->momentum, &o->beta1, &o->beta2, &o->eps, &o->weight_decay};
    for (int i = 0; !err && keys[i]; i++)
        err = mf_key_float(p, tok + 2, ntok - 2, keys[i], dst[i], 0.0, 1e6);
    if (!err && !(o->lr > 0))
        err = mf_fail(p, PSYNC_EFORMAT, "lr=%g; expected a positive learning rate", o->lr);
    return err;
}

/* The "train batch_size=N epochs=N seed=N" line. */
static psync_err mf_train(mf_parser *p, char **tok, int ntok)
{
    static const char *const keys[] = {"batch_size", "epochs", "seed", NULL};
    int64_t bs = p->m->state.batch_size, epochs = (int64_t)p->epochs;
    int64_t seed = (int64_t)p->seed;
    psync_err err = mf_check_keys(p, tok + 1, ntok - 1, keys);
    if (!err) err = mf_key_int(p, tok + 1, ntok - 1, "batch_size", &bs, 1, 1 << 20);
    if (!err) err = mf_key_int(p, tok + 1, ntok - 1, "epochs", &epochs, 0, 1 << 30);
    if (!err) err = mf_key_int(p, tok + 1, ntok - 1, "seed", &seed, 0, INT64_MAX);
    p->m->state.batch_size = (uint32_t)bs;
    p->epochs = (uint64_t)epochs;
    p->seed = (uint64_t)seed;
    return err;
}

/* The "output NODE" line. */
static psync_err mf_output(mf_parser *p, char **tok, int ntok)
{
    if (ntok != 2) return mf_fail(p, PSYNC_EFORMAT, "expected 'output NODE'");
    if (psync_graph_find_node(&p->m->graph, tok[1]) < 0)
        return mf_fail(p, PSYNC_EGRAPH, "output '%s' is not a layer declared above", tok[1]);
    snprintf(p->m->graph.output, PSYNC_NAME_MAX, "%s", tok[1]);
    return PSYNC_OK;
}

typedef struct mf_keyword {
    const char *word;
    psync_err (*fn)(mf_parser *p, char **tok, int ntok);
} mf_keyword;

static const mf_keyword mf_keywords[] = {
    {"input", mf_input},
    {"output", mf_output},
    {"optimizer", mf_optimizer},
    {"train", mf_train},
};

static psync_err mf_dispatch(mf_parser *p, char **tok, int ntok)
{
    for (size_t i = 0; i < sizeof mf_keywords / sizeof mf_keywords[0]; i++)
        if (!strcmp(tok[0], mf_keywords[i].word)) return mf_keywords[i].fn(p, tok, ntok);
    if (mf_find_op(tok[0])) return mf_layer(p, tok, ntok);
    return mf_fail(p, PSYNC_EFORMAT,
                   "unknown keyword '%.40s'; expected input, a layer (%s), "
                   "output, optimizer or train",
                   tok[0], mf_op_list());
}

/* Handles one line (without its newline): comments and blanks are skipped. */
static psync_err mf_line(mf_parser *p, char *s)
{
    char *hash = strchr(s, '#');
    if (hash) *hash = '\0';
    char *tok[MF_MAX_TOKENS];
    int ntok;
    psync_err err = mf_split(p, s, tok, &ntok);
    if (err || ntok == 0) return err;
    return mf_dispatch(p, tok, ntok);
}

static psync_err mf_lines(mf_parser *p, const char *text, size_t len)
{
    char buf[PSYNC_MODELFILE_LINE_MAX + 1];
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        p->line++;
        if (ll > PSYNC_MODELFILE_LINE_MAX)
            return mf_fail(p, PSYNC_ELIMIT, "line of %zu bytes; at most %d allowed", ll,
                           PSYNC_MODELFILE_LINE_MAX);
        memcpy(buf, text + pos, ll);
        buf[ll] = '\0';
        if (memchr(buf, '\0', ll)) return mf_fail(p, PSYNC_EFORMAT, "NUL byte; expected text");
        psync_err err = mf_line(p, buf);
        if (err) return err;
        pos += ll + 1;
    }
    return PSYNC_OK;
}

/* Whole-file checks once every line is read. */
static psync_err mf_finish(mf_parser *p)
{
    psync_graph *g = &p->m->graph;
    if (g->n_nodes == 0)
        return mf_fail(p, PSYNC_EGRAPH, "no layers; expected at least one layer line");
    if (!g->output[0])
        return mf_fail(p, PSYNC_EGRAPH,
                       "no 'output NODE' line; expected one naming the "
                       "layer that gives the predictions");
    if (!g->loss[0])
        return mf_fail(p, PSYNC_EGRAPH,
                       "no loss layer; expected e.g. 'softmax_xent loss "
                       "logits y'");
    psync_err err = psync_graph_validate(g);
    if (err) return mf_fail(p, err, "%s", psync_errdetail());
    return PSYNC_OK;
}

static psync_err mf_apply_overrides(mf_parser *p, const psync_model_overrides *ov)
{
    psync_model *m = p->m;
    if (!ov) return PSYNC_OK;
    if (ov->optimizer) {
        if (psync_opt_parse(ov->optimizer, &m->opt.kind))
            return psync_fail(PSYNC_ECONFIG,
                              "optimizer '%s'; expected sgd, momentum, "
                              "nesterov or adam",
                              ov->optimizer);
        if (m->opt.kind == PSYNC_OPT_ADAM && m->opt.lr == 0.01) m->opt.lr = 0.001;
    }
    if (ov->lr > 0) m->opt.lr = ov->lr;
    if (ov->batch_size) m->state.batch_size = ov->batch_size;
    if (ov->seed) p->seed = ov->seed;
    if (ov->epochs) p->epochs = ov->epochs;
    return PSYNC_OK;
}

/* Sets the defaults a file may change. */
static void mf_defaults(mf_parser *p)
{
    psync_optimizer *o = &p->m->opt;
    o->kind = PSYNC_OPT_SGD;
    o->lr = 0.01;
    o->momentum = 0.9;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = 0.0;
    p->m->state.batch_size = 64;
    p->epochs = 10;
    p->seed = 1;
}

static psync_err mf_compile(mf_parser *p, const char *text, size_t len,
                            const psync_model_overrides *ov)
{
    char epochs[32];
    psync_err err;
    mf_defaults(p);
    if ((err = mf_lines(p, text, len)) || (err = mf_finish(p))) return err;
    if ((err = mf_apply_overrides(p, ov))) return err;
    if ((err = psync_optim_init_slots(p->m)) || (err = psync_model_init_params(p->m, p->seed)))
        return err;
    snprintf(epochs, sizeof epochs, "%llu", (unsigned long long)p->epochs);
    if ((err = psync_model_set_meta(p->m, "epochs", epochs))) return err;
    return psync_model_set_meta(p->m, "model_file", p->name);
}

psync_err psync_modelfile_parse(const char *text, size_t len, const char *name,
                                const psync_model_overrides *ov, psync_model **out)
{
    if (len > PSYNC_MODELFILE_MAX_BYTES)
        return psync_fail(PSYNC_ELIMIT, "%s: %zu bytes; a model file holds at most %u", name, len,
                          PSYNC_MODELFILE_MAX_BYTES);
    mf_parser *p = calloc(1, sizeof *p);
    if (!p) return psync_fail(PSYNC_ENOMEM, "%s: parser", name);
    p->name = name;
    psync_err err = psync_model_new(&p->m);
    if (!err) err = mf_compile(p, text, len, ov);
    if (err) psync_model_destroy(&p->m);
    *out = p->m;
    free(p);
    return err;
}

psync_err psync_modelfile_load(const char *path, const psync_model_overrides *ov, psync_model **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return psync_fail(errno == ENOENT ? PSYNC_ENOTFOUND : PSYNC_EIO, "%s: %s", path,
                          strerror(errno));
    char *text = malloc(PSYNC_MODELFILE_MAX_BYTES + 1);
    if (!text) {
        fclose(f);
        return psync_fail(PSYNC_ENOMEM, "%s: read buffer", path);
    }
    size_t len = fread(text, 1, PSYNC_MODELFILE_MAX_BYTES + 1, f);
    psync_err err = ferror(f) ? psync_fail(PSYNC_EIO, "%s: read error", path)
                              : psync_modelfile_parse(text, len, path, ov, out);
    free(text);
    fclose(f);
    return err;
}
