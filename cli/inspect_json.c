/* inspect_json.c: `psync inspect --json`: the decoded blob as one JSON
 * document. Output only: a small escaper writes strings (control bytes and
 * non-ASCII bytes as \u00XX), non-finite numbers become null. */
#include <math.h>
#include <string.h>

#include "blob.h"
#include "inspect.h"

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void json_key(FILE *out, const char *key, bool first)
{
    if (!first) fputc(',', out);
    json_str(out, key);
    fputc(':', out);
}

static void json_num(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, "%.17g", v);
    else
        fputs("null", out);
}

static void json_uint(FILE *out, const char *key, uint64_t v, bool first)
{
    json_key(out, key, first);
    fprintf(out, "%llu", (unsigned long long)v);
}

static void json_shape(FILE *out, uint32_t rank, const uint64_t *shape)
{
    fputc('[', out);
    for (uint32_t i = 0; i < rank; i++)
        fprintf(out, "%s%llu", i ? "," : "", (unsigned long long)shape[i]);
    fputc(']', out);
}

static void json_names(FILE *out, uint32_t n, const char (*names)[PSYNC_NAME_MAX])
{
    fputc('[', out);
    for (uint32_t i = 0; i < n; i++) {
        if (i) fputc(',', out);
        json_str(out, names[i]);
    }
    fputc(']', out);
}

static void json_attr(FILE *out, const psync_attr *a, bool first)
{
    json_key(out, a->key, first);
    switch (a->type) {
    case PSYNC_ATTR_INT:
        fprintf(out, "%lld", (long long)a->i);
        break;
    case PSYNC_ATTR_FLOAT:
        json_num(out, a->f);
        break;
    case PSYNC_ATTR_STR:
        json_str(out, a->s);
        break;
    default:
        fputc('[', out);
        for (uint32_t i = 0; i < a->n_ints; i++)
            fprintf(out, "%s%lld", i ? "," : "", (long long)a->ints[i]);
        fputc(']', out);
    }
}

static void json_node(FILE *out, const psync_node *n)
{
    fputs("{\"name\":", out);
    json_str(out, n->name);
    json_key(out, "op", false);
    json_str(out, n->op);
    json_key(out, "inputs", false);
    json_names(out, n->n_inputs, n->inputs);
    json_key(out, "params", false);
    json_names(out, n->n_params, n->params);
    json_key(out, "attrs", false);
    fputc('{', out);
    for (uint32_t k = 0; k < n->n_attrs; k++)
        json_attr(out, &n->attrs[k], k == 0);
    fputs("}}", out);
}

static void json_graph(FILE *out, const psync_graph *g)
{
    fputs("{\"inputs\":[", out);
    for (uint32_t i = 0; i < g->n_inputs; i++) {
        fputs(i ? ",{\"name\":" : "{\"name\":", out);
        json_str(out, g->inputs[i].name);
        json_key(out, "dtype", false);
        json_str(out, psync_dtype_name(g->inputs[i].dtype));
        json_key(out, "shape", false);
        json_shape(out, g->inputs[i].rank, g->inputs[i].shape);
        fputc('}', out);
    }
    fputs("],\"nodes\":[", out);
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        if (i) fputc(',', out);
        json_node(out, &g->nodes[i]);
    }
    fputc(']', out);
    json_key(out, "output", false);
    json_str(out, g->output);
    json_key(out, "loss", false);
    json_str(out, g->loss);
    fputc('}', out);
}

static void json_tensor(FILE *out, const psync_tensor *t)
{
    fputs("{\"name\":", out);
    json_str(out, t->name);
    json_key(out, "role", false);
    json_str(out, psync_role_name(t->role));
    json_key(out, "dtype", false);
    json_str(out, psync_dtype_name(t->dtype));
    json_key(out, "shape", false);
    json_shape(out, t->rank, t->shape);
    json_uint(out, "offset", t->offset, false);
    json_uint(out, "nbytes", t->nbytes, false);
    if (t->role == PSYNC_ROLE_PARAM) {
        inspect_stats s;
        inspect_tensor_stats(t, &s);
        json_key(out, "min", false);
        json_num(out, s.min);
        json_key(out, "max", false);
        json_num(out, s.max);
        json_key(out, "mean", false);
        json_num(out, s.mean);
        json_uint(out, "nonfinite", s.nonfinite, false);
    }
    fputc('}', out);
}

static void json_optimizer(FILE *out, const psync_optimizer *o)
{
    const struct {
        const char *k;
        double v;
    } hp[] = {
        {"lr", o->lr},       {"momentum", o->momentum}, {"beta1", o->beta1},
        {"beta2", o->beta2}, {"eps", o->eps},           {"weight_decay", o->weight_decay},
    };
    fputs("{\"kind\":", out);
    json_str(out, psync_opt_name(o->kind));
    for (unsigned i = 0; i < sizeof hp / sizeof hp[0]; i++) {
        json_key(out, hp[i].k, false);
        json_num(out, hp[i].v);
    }
    json_uint(out, "step", o->step, false);
    fputc('}', out);
}

static void json_state(FILE *out, const psync_train_state *s)
{
    fputc('{', out);
    json_uint(out, "global_step", s->global_step, true);
    json_uint(out, "samples_seen", s->samples_seen, false);
    json_uint(out, "epoch", s->epoch, false);
    json_uint(out, "cursor", s->cursor, false);
    json_uint(out, "merge_version", s->merge_version, false);
    json_key(out, "rng", false);
    json_shape(out, 4, s->rng);
    json_uint(out, "batch_size", s->batch_size, false);
    fputc('}', out);
}

void inspect_print_json(FILE *out, const inspect_doc *d)
{
    const psync_model *m = d->m;
    fputs("{\"source\":", out);
    json_str(out, d->source);
    json_uint(out, "bytes", d->bytes, false);
    json_key(out, "format", false);
    json_str(out, PSYNC_BLOB_FORMAT);
    json_uint(out, "version", PSYNC_BLOB_VERSION, false);
    fprintf(out, ",\"graph_hash\":\"%016llx\",\"layout_hash\":\"%016llx\"",
            (unsigned long long)d->graph_hash, (unsigned long long)d->layout_hash);
    json_key(out, "graph", false);
    json_graph(out, &m->graph);
    json_uint(out, "payload_bytes", m->payload_len, false);
    fputs(",\"tensors\":[", out);
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        if (i) fputc(',', out);
        json_tensor(out, &m->tensors[i]);
    }
    fputc(']', out);
    json_key(out, "optimizer", false);
    json_optimizer(out, &m->opt);
    json_key(out, "state", false);
    json_state(out, &m->state);
    fputs(",\"meta\":{", out);
    for (uint32_t i = 0; i < m->n_meta; i++) {
        json_key(out, m->meta[i].key, i == 0);
        json_str(out, m->meta[i].value);
    }
    fputs("}}\n", out);
}
