/* config.h: one settings table per program. Each value comes from, in rising
 * precedence: the table default < a config file (`key = value` lines, '#'
 * comments) < PSYNC_<KEY> environment variables < --key value / --key=value
 * flags. --print-config shows each value and where it came from; --help is
 * generated from the table. Keys use '_' (batch_size); flags use '-'
 * (--batch-size); env vars are upper case (PSYNC_BATCH_SIZE). */
#ifndef PSYNC_CONFIG_H
#define PSYNC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef enum psync_cfg_type {
    PSYNC_CFG_INT = 1,
    PSYNC_CFG_FLOAT,
    PSYNC_CFG_STR,
    PSYNC_CFG_BOOL, /* flag form: --key (true), --no-key (false), --key=0/1 */
} psync_cfg_type;

typedef enum psync_cfg_source {
    PSYNC_SRC_DEFAULT = 0,
    PSYNC_SRC_FILE,
    PSYNC_SRC_ENV,
    PSYNC_SRC_FLAG,
} psync_cfg_source;

/* One row of a settings table. min/max bound INT and FLOAT values (ignored
 * when min > max). dflt is the default as text (NULL: empty string). */
typedef struct psync_cfg_def {
    const char *name;
    psync_cfg_type type;
    const char *dflt;
    double min, max;
    const char *help;
} psync_cfg_def;

typedef struct psync_config psync_config;

/* Creates a config holding the table defaults. The table must outlive it. */
psync_err psync_config_new(psync_config **out, const psync_cfg_def *table, unsigned n);
void psync_config_destroy(psync_config **cfg);

/* Applies, in order: the file named by --config FILE (or PSYNC_CONFIG), the
 * PSYNC_* environment, then the flags in argv[1..argc). Positional arguments
 * (not starting with "--", or after "--") are collected and returned via
 * psync_config_positional. Unknown keys, bad values and out-of-range values
 * fail with PSYNC_ECONFIG and a detail saying which key and what is allowed.
 * --help, --version and --print-config are recognised and reported through
 * psync_config_wants(). */
psync_err psync_config_load(psync_config *cfg, int argc, char **argv);

/* Sets one value as if from the given source (for programmatic use/tests). */
psync_err psync_config_set(psync_config *cfg, const char *name, const char *value,
                           psync_cfg_source src);

int64_t psync_config_int(const psync_config *cfg, const char *name);
double psync_config_float(const psync_config *cfg, const char *name);
const char *psync_config_str(const psync_config *cfg, const char *name);
bool psync_config_bool(const psync_config *cfg, const char *name);
/* Where the current value came from. */
psync_cfg_source psync_config_source(const psync_config *cfg, const char *name);

/* Positional arguments left after parsing (borrowed from argv). */
int psync_config_positional(const psync_config *cfg, char ***args);

typedef enum psync_cfg_want {
    PSYNC_WANT_RUN = 0,
    PSYNC_WANT_HELP,
    PSYNC_WANT_VERSION,
    PSYNC_WANT_PRINT_CONFIG,
} psync_cfg_want;
psync_cfg_want psync_config_wants(const psync_config *cfg);

/* Prints "key = value  # source" for every setting (text or JSON). */
void psync_config_print(const psync_config *cfg, FILE *out, bool json);
/* Prints the options section of --help from the table. */
void psync_config_help(const psync_cfg_def *table, unsigned n, FILE *out);
#endif
