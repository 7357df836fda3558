/* config.c: the settings table engine. Holds one text value and its source
 * per table row; values are validated against the row's type and bounds when
 * set, so readers (psync_config_int, ...) never fail. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_VALUE_MAX 1024
#define CONFIG_LINE_MAX 2048

struct psync_config {
    const psync_cfg_def *table;
    unsigned n;
    char (*values)[CONFIG_VALUE_MAX];
    psync_cfg_source *sources;
    char **positional;
    int n_positional;
    psync_cfg_want want;
};

static const char *const config_source_names[] = {"default", "file", "env", "flag"};

psync_err psync_config_new(psync_config **out, const psync_cfg_def *table, unsigned n)
{
    psync_config *c = calloc(1, sizeof *c);
    if (!c) return psync_fail(PSYNC_ENOMEM, "config: out of memory");
    c->table = table;
    c->n = n;
    c->values = calloc(n ? n : 1, sizeof *c->values);
    c->sources = calloc(n ? n : 1, sizeof *c->sources);
    if (!c->values || !c->sources) {
        psync_config_destroy(&c);
        return psync_fail(PSYNC_ENOMEM, "config: out of memory");
    }
    for (unsigned i = 0; i < n; i++)
        snprintf(c->values[i], CONFIG_VALUE_MAX, "%s", table[i].dflt ? table[i].dflt : "");
    *out = c;
    return PSYNC_OK;
}

void psync_config_destroy(psync_config **cfg)
{
    if (!cfg || !*cfg) return;
    free((*cfg)->values);
    free((*cfg)->sources);
    free((*cfg)->positional);
    free(*cfg);
    *cfg = NULL;
}

/* Index of the row whose name equals key, with '-' read as '_'; -1 if none. */
static int config_find(const psync_config *c, const char *key, size_t len)
{
    for (unsigned i = 0; i < c->n; i++) {
        const char *name = c->table[i].name;
        size_t j = 0;
        for (; j < len && name[j]; j++) {
            char k = key[j] == '-' ? '_' : key[j];
            if (k != name[j]) break;
        }
        if (j == len && name[j] == '\0') return (int)i;
    }
    return -1;
}

static int config_parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) return *out = true, 0;
        if (!strcasecmp(v, no[i])) return *out = false, 0;
    }
    return -1;
}

/* Checks value against row d's type and bounds; PSYNC_ECONFIG with detail. */
static psync_err config_check(const psync_cfg_def *d, const char *value, psync_cfg_source src)
{
    const char *from = config_source_names[src];
    char *end = NULL;
    double num = 0;
    errno = 0;
    if (d->type == PSYNC_CFG_INT) {
        num = (double)strtoll(value, &end, 0);
    } else if (d->type == PSYNC_CFG_FLOAT) {
        num = strtod(value, &end);
    } else if (d->type == PSYNC_CFG_BOOL) {
        bool b;
        if (config_parse_bool(value, &b))
            return psync_fail(PSYNC_ECONFIG,
                              "%s (from %s): '%s' is not a boolean; use true or false", d->name,
                              from, value);
        return PSYNC_OK;
    } else {
        if (strlen(value) >= CONFIG_VALUE_MAX)
            return psync_fail(PSYNC_ECONFIG, "%s (from %s): value longer than %d bytes", d->name,
                              from, CONFIG_VALUE_MAX - 1);
        return PSYNC_OK;
    }
    if (!*value || *end || errno || !isfinite(num))
        return psync_fail(PSYNC_ECONFIG, "%s (from %s): '%s' is not a valid %s", d->name, from,
                          value, d->type == PSYNC_CFG_INT ? "integer" : "number");
    if (d->min <= d->max && (num < d->min || num > d->max))
        return psync_fail(PSYNC_ECONFIG, "%s (from %s): %s is outside the allowed range [%g, %g]",
                          d->name, from, value, d->min, d->max);
    return PSYNC_OK;
}

static psync_err config_set_index(psync_config *c, int i, const char *value, psync_cfg_source src)
{
    psync_err err = config_check(&c->table[i], value, src);
    if (err) return err;
    snprintf(c->values[i], CONFIG_VALUE_MAX, "%s", value);
    c->sources[i] = src;
    return PSYNC_OK;
}

psync_err psync_config_set(psync_config *cfg, const char *name, const char *value,
                           psync_cfg_source src)
{
    int i = config_find(cfg, name, strlen(name));
    if (i < 0) return psync_fail(PSYNC_ECONFIG, "unknown setting '%s'; see --help", name);
    return config_set_index(cfg, i, value, src);
}

static char *config_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Applies one `key = value` line of a config file. */
static psync_err config_file_line(psync_config *c, char *line, const char *path, int lineno)
{
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *s = config_trim(line);
    if (!*s) return PSYNC_OK;
    char *eq = strchr(s, '=');
    if (!eq) return psync_fail(PSYNC_ECONFIG, "%s:%d: expected 'key = value'", path, lineno);
    *eq = '\0';
    char *key = config_trim(s), *value = config_trim(eq + 1);
    size_t vn = strlen(value);
    if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
        value[vn - 1] = '\0';
        value++;
    }
    int i = config_find(c, key, strlen(key));
    if (i < 0)
        return psync_fail(PSYNC_ECONFIG, "%s:%d: unknown setting '%s'; see --help", path, lineno,
                          key);
    psync_err err = config_set_index(c, i, value, PSYNC_SRC_FILE);
    if (err) return psync_fail(err, "%s:%d: %s", path, lineno, psync_errdetail());
    return PSYNC_OK;
}

static psync_err config_load_file(psync_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return psync_fail(PSYNC_ECONFIG, "cannot open config file %s: %s", path, strerror(errno));
    char line[CONFIG_LINE_MAX];
    int lineno = 0;
    psync_err err = PSYNC_OK;
    while (!err && fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f))
            err = psync_fail(PSYNC_ECONFIG, "%s:%d: line longer than %d bytes", path, lineno,
                             CONFIG_LINE_MAX - 2);
        else
            err = config_file_line(c, line, path, lineno);
    }
    fclose(f);
    return err;
}

static psync_err config_load_env(psync_config *c)
{
    char var[96];
    for (unsigned i = 0; i < c->n; i++) {
        size_t j = 0;
        j += (size_t)snprintf(var, sizeof var, "PSYNC_");
        for (const char *p = c->table[i].name; *p && j + 1 < sizeof var; p++)
            var[j++] = (char)toupper((unsigned char)*p);
        var[j] = '\0';
        const char *v = getenv(var);
        if (!v) continue;
        psync_err err = config_set_index(c, (int)i, v, PSYNC_SRC_ENV);
        if (err) return psync_fail(err, "environment %s: %s", var, psync_errdetail());
    }
    return PSYNC_OK;
}

/* Finds --config FILE / --config=FILE and the special flags before the rest. */
static const char *config_prescan(psync_config *c, int argc, char **argv)
{
    const char *file = getenv("PSYNC_CONFIG");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) break;
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            c->want = PSYNC_WANT_HELP;
        else if (!strcmp(a, "--version") && c->want != PSYNC_WANT_HELP)
            c->want = PSYNC_WANT_VERSION;
        else if (!strcmp(a, "--print-config") && c->want == PSYNC_WANT_RUN)
            c->want = PSYNC_WANT_PRINT_CONFIG;
        else if (!strcmp(a, "--config") && i + 1 < argc)
            file = argv[++i];
        else if (!strncmp(a, "--config=", 9))
            file = a + 9;
    }
    return file;
}

static bool config_is_special(const char *a)
{
    return !strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "--version") ||
           !strcmp(a, "--print-config");
}

/* Applies argv[*i] (and maybe argv[*i+1]) as a flag. */
static psync_err config_flag(psync_config *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i] + 2;
    const char *eq = strchr(a, '=');
    size_t klen = eq ? (size_t)(eq - a) : strlen(a);
    int idx = config_find(c, a, klen);
    if (idx < 0 && !eq && !strncmp(a, "no-", 3)) {
        idx = config_find(c, a + 3, klen - 3);
        if (idx >= 0 && c->table[idx].type == PSYNC_CFG_BOOL)
            return config_set_index(c, idx, "false", PSYNC_SRC_FLAG);
        idx = -1;
    }
    if (idx < 0)
        return psync_fail(PSYNC_ECONFIG, "unknown option '--%.*s'; run with --help", (int)klen, a);
    if (eq) return config_set_index(c, idx, eq + 1, PSYNC_SRC_FLAG);
    if (c->table[idx].type == PSYNC_CFG_BOOL)
        return config_set_index(c, idx, "true", PSYNC_SRC_FLAG);
    if (*i + 1 >= argc) return psync_fail(PSYNC_ECONFIG, "option '--%s' needs a value", a);
    return config_set_index(c, idx, argv[++*i], PSYNC_SRC_FLAG);
}

psync_err psync_config_load(psync_config *cfg, int argc, char **argv)
{
    const char *file = config_prescan(cfg, argc, argv);
    psync_err err = file ? config_load_file(cfg, file) : PSYNC_OK;
    if (!err) err = config_load_env(cfg);
    free(cfg->positional);
    cfg->positional = calloc((size_t)(argc > 0 ? argc : 1), sizeof(char *));
    cfg->n_positional = 0;
    if (!cfg->positional) return psync_fail(PSYNC_ENOMEM, "config: out of memory");
    bool rest = false;
    for (int i = 1; !err && i < argc; i++) {
        const char *a = argv[i];
        if (rest || strncmp(a, "--", 2) || !strcmp(a, "-")) {
            if (!rest && !strcmp(a, "-h")) continue;
            cfg->positional[cfg->n_positional++] = argv[i];
        } else if (!strcmp(a, "--")) {
            rest = true;
        } else if (!strcmp(a, "--config")) {
            i++;
        } else if (!strncmp(a, "--config=", 9) || config_is_special(a)) {
            continue;
        } else {
            err = config_flag(cfg, argc, argv, &i);
        }
    }
    return err;
}

static int config_index(const psync_config *c, const char *name)
{
    int i = config_find(c, name, strlen(name));
    if (i < 0) {
        /* Asking for a name not in the table is a programming error. */
        fprintf(stderr, "psync: internal error: setting '%s' is not in the table\n", name);
        abort();
    }
    return i;
}

int64_t psync_config_int(const psync_config *cfg, const char *name)
{
    return strtoll(cfg->values[config_index(cfg, name)], NULL, 0);
}

double psync_config_float(const psync_config *cfg, const char *name)
{
    return strtod(cfg->values[config_index(cfg, name)], NULL);
}

const char *psync_config_str(const psync_config *cfg, const char *name)
{
    return cfg->values[config_index(cfg, name)];
}

bool psync_config_bool(const psync_config *cfg, const char *name)
{
    bool b = false;
    config_parse_bool(cfg->values[config_index(cfg, name)], &b);
    return b;
}

psync_cfg_source psync_config_source(const psync_config *cfg, const char *name)
{
    return cfg->sources[config_index(cfg, name)];
}

int psync_config_positional(const psync_config *cfg, char ***args)
{
    *args = cfg->positional;
    return cfg->n_positional;
}

psync_cfg_want psync_config_wants(const psync_config *cfg)
{
    return cfg->want;
}

static void config_json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

void psync_config_print(const psync_config *cfg, FILE *out, bool json)
{
    if (json) fputs("{", out);
    for (unsigned i = 0; i < cfg->n; i++) {
        const char *src = config_source_names[cfg->sources[i]];
        if (!json) {
            fprintf(out, "%-24s = %-28s # %s\n", cfg->table[i].name, cfg->values[i], src);
            continue;
        }
        fprintf(out, "%s\n  ", i ? "," : "");
        config_json_str(out, cfg->table[i].name);
        fputs(": {\"value\": ", out);
        config_json_str(out, cfg->values[i]);
        fprintf(out, ", \"source\": \"%s\"}", src);
    }
    if (json) fputs("\n}\n", out);
}

void psync_config_help(const psync_cfg_def *table, unsigned n, FILE *out)
{
    static const char *const types[] = {"", "INT", "NUM", "TEXT", ""};
    char flag[64];
    fprintf(out, "options (also PSYNC_<NAME> in the environment or `name = value` in --config):\n");
    for (unsigned i = 0; i < n; i++) {
        int k = snprintf(flag, sizeof flag, "--");
        for (const char *p = table[i].name; *p && k < (int)sizeof flag - 1; p++)
            flag[k++] = *p == '_' ? '-' : *p;
        flag[k] = '\0';
        fprintf(out, "  %s %s\n      %s", flag, types[table[i].type], table[i].help);
        if (table[i].dflt && *table[i].dflt) fprintf(out, " (default: %s)", table[i].dflt);
        fputc('\n', out);
    }
    fprintf(out, "  --config FILE\n      read settings from FILE (also PSYNC_CONFIG)\n"
                 "  --print-config\n      print every setting and where it came from, then exit\n"
                 "  --help, --version\n      print this help or the version, then exit\n");
}
