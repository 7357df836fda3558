/* predict.c: `psync predict`: thaws a model blob and prints one predicted
 * class (or the class scores) per input sample, from idx files, a CSV file
 * or a data directory's t10k set; with labels, the accuracy on stderr. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "commands.h"
#include "config.h"
#include "data.h"
#include "endpoint.h"
#include "engine.h"

#define PREDICT_BATCH 256

static const psync_cfg_def predict_settings[] = {
    {"model", PSYNC_CFG_STR, "", 1, 0, "model blob: a file, -, fd:N or unix:PATH"},
    {"data_dir", PSYNC_CFG_STR, "", 1, 0, "predict the t10k set of this idx.gz directory"},
    {"csv", PSYNC_CFG_STR, "", 1, 0, "predict the rows of a CSV file (optional label first)"},
    {"idx", PSYNC_CFG_STR, "", 1, 0, "predict an idx images file (gzipped or plain)"},
    {"labels", PSYNC_CFG_STR, "", 1, 0, "idx labels for --idx, to report accuracy"},
    {"scores", PSYNC_CFG_BOOL, "false", 1, 0, "print every class's probability, not the class"},
    {"json", PSYNC_CFG_BOOL, "false", 1, 0, "one JSON object per line"},
    {"threads", PSYNC_CFG_INT, "1", 1, 256, "OpenBLAS threads"},
};
#define PREDICT_NSETTINGS (sizeof predict_settings / sizeof predict_settings[0])

typedef struct predict_job {
    psync_config *cfg;
    psync_model *m;
    psync_engine *e;
    psync_dataset *d;
    int32_t *classes;
    float *scores;
} predict_job;

static psync_err predict_load_data(predict_job *j)
{
    const char *dir = psync_config_str(j->cfg, "data_dir"), *csv = psync_config_str(j->cfg, "csv");
    const char *idx = psync_config_str(j->cfg, "idx"), *lab = psync_config_str(j->cfg, "labels");
    if ((*dir != 0) + (*csv != 0) + (*idx != 0) != 1)
        return psync_fail(PSYNC_ECONFIG, "give exactly one of --data-dir, --csv or --idx");
    psync_err err = *dir   ? psync_data_load_dir(dir, false, &j->d)
                    : *csv ? psync_data_load_csv(csv, psync_engine_input_size(j->e), &j->d)
                           : psync_data_load_idx(idx, *lab ? lab : NULL, &j->d);
    if (!err && j->d->dim != psync_engine_input_size(j->e))
        err = psync_fail(PSYNC_ESHAPE, "inputs have %u features; the model takes %u", j->d->dim,
                         psync_engine_input_size(j->e));
    return err;
}

static void predict_print_row(const predict_job *j, uint64_t i, bool scores, bool json)
{
    uint32_t k = psync_engine_classes(j->e);
    const float *s = j->scores + i * k;
    if (!scores) {
        printf(json ? "{\"class\":%d}\n" : "%d\n", j->classes[i]);
        return;
    }
    if (json) printf("{\"class\":%d,\"scores\":[", j->classes[i]);
    for (uint32_t c = 0; c < k; c++)
        printf("%s%.6g", c ? "," : "", (double)s[c]);
    printf(json ? "]}\n" : "\n");
}

static void predict_report(const predict_job *j, bool json)
{
    uint64_t correct = 0;
    for (uint64_t i = 0; i < j->d->n; i++)
        correct += j->classes[i] == j->d->y[i];
    double acc = (double)correct / (double)j->d->n;
    fprintf(stderr,
            json ? "{\"accuracy\":%.6f,\"correct\":%llu,\"n\":%llu}\n"
                 : "accuracy=%.6f correct=%llu n=%llu\n",
            acc, (unsigned long long)correct, (unsigned long long)j->d->n);
}

static psync_err predict_run(predict_job *j)
{
    bool scores = psync_config_bool(j->cfg, "scores"), json = psync_config_bool(j->cfg, "json");
    psync_err err = psync_model_thaw(psync_config_str(j->cfg, "model"), &j->m);
    openblas_set_num_threads((int)psync_config_int(j->cfg, "threads"));
    if (err || (err = psync_engine_new(j->m, PREDICT_BATCH, &j->e)) || (err = predict_load_data(j)))
        return err;
    uint32_t k = psync_engine_classes(j->e);
    j->classes = malloc(j->d->n * sizeof *j->classes);
    j->scores = malloc(j->d->n * k * sizeof *j->scores);
    if (!j->classes || !j->scores)
        return psync_fail(PSYNC_ENOMEM, "predictions for %llu samples",
                          (unsigned long long)j->d->n);
    if ((err = psync_engine_predict(j->e, j->d->x, j->d->n, j->classes, j->scores))) return err;
    for (uint64_t i = 0; i < j->d->n; i++)
        predict_print_row(j, i, scores, json);
    if (j->d->labeled) predict_report(j, json);
    return PSYNC_OK;
}

static void predict_usage(void)
{
    printf("usage: psync predict --model BLOB|- (--data-dir DIR | --csv FILE | --idx IMAGES "
           "[--labels LABELS]) [--scores] [--json]\n\nPrints one class (or the class scores) "
           "per input, and the accuracy on stderr when labels are known.\n\n");
    psync_config_help(predict_settings, PREDICT_NSETTINGS, stdout);
}

int psync_cmd_predict(int argc, char **argv)
{
    predict_job j = {0};
    psync_err err = psync_config_new(&j.cfg, predict_settings, PREDICT_NSETTINGS);
    if (!err) err = psync_config_load(j.cfg, argc, argv);
    if (!err && psync_config_wants(j.cfg) == PSYNC_WANT_HELP)
        predict_usage();
    else if (!err && !*psync_config_str(j.cfg, "model"))
        err = psync_fail(PSYNC_ECONFIG, "--model BLOB is required; see psync predict --help");
    else if (!err)
        err = predict_run(&j);
    if (err) fprintf(stderr, "psync predict: %s: %s\n", psync_strerror(err), psync_errdetail());
    fflush(stdout);
    free(j.classes);
    free(j.scores);
    psync_data_destroy(&j.d);
    psync_engine_destroy(&j.e);
    psync_model_destroy(&j.m);
    psync_config_destroy(&j.cfg);
    return err ? psync_exit_code(err) : 0;
}
