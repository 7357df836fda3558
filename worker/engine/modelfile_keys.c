/* modelfile_keys.c: key=value options on model-file lines: checking that
 * only known keys appear and reading typed, range-checked values. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "modelfile_internal.h"

/* Returns the value of key=VALUE among tok, or NULL. */
const char *mf_key_str(char **tok, int ntok, const char *key)
{
    size_t kl = strlen(key);
    for (int i = 0; i < ntok; i++)
        if (!strncmp(tok[i], key, kl) && tok[i][kl] == '=') return tok[i] + kl + 1;
    return NULL;
}

static int mf_key_known(const char *tok, const char *const *keys)
{
    const char *eq = strchr(tok, '=');
    for (int k = 0; eq && keys[k]; k++)
        if (strlen(keys[k]) == (size_t)(eq - tok) && !strncmp(tok, keys[k], (size_t)(eq - tok)))
            return 1;
    return 0;
}

psync_err mf_check_keys(mf_parser *p, char **tok, int ntok, const char *const *keys)
{
    char allowed[160] = "";
    for (int k = 0; keys[k]; k++) {
        strncat(allowed, k ? ", " : "", sizeof allowed - strlen(allowed) - 1);
        strncat(allowed, keys[k], sizeof allowed - strlen(allowed) - 1);
    }
    for (int i = 0; i < ntok; i++) {
        if (!strchr(tok[i], '='))
            return mf_fail(p, PSYNC_EFORMAT, "'%.40s' after options; expected key=value", tok[i]);
        if (!mf_key_known(tok[i], keys))
            return mf_fail(p, PSYNC_EFORMAT, "unknown option '%.40s'; expected %s", tok[i],
                           keys[0] ? allowed : "no options");
    }
    return PSYNC_OK;
}

psync_err mf_key_int(mf_parser *p, char **tok, int ntok, const char *key, int64_t *v, int64_t min,
                     int64_t max)
{
    const char *s = mf_key_str(tok, ntok, key);
    if (!s) return PSYNC_OK;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno || x < min || x > max)
        return mf_fail(p, PSYNC_EFORMAT, "%s=%.32s; expected an integer in %lld..%lld", key, s,
                       (long long)min, (long long)max);
    *v = x;
    return PSYNC_OK;
}

psync_err mf_key_float(mf_parser *p, char **tok, int ntok, const char *key, double *v, double min,
                       double max)
{
    const char *s = mf_key_str(tok, ntok, key);
    if (!s) return PSYNC_OK;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (!*s || *end || errno || !(x >= min && x <= max))
        return mf_fail(p, PSYNC_EFORMAT, "%s=%.32s; expected a number in [%g, %g]", key, s, min,
                       max);
    *v = x;
    return PSYNC_OK;
}
