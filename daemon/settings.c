/* settings.c: psyncd's settings table (defaults < config file < PSYNC_*
 * environment < flags, see protocol/config.h) and its reading into the
 * typed psd_settings the rest of the daemon uses. */
#include <string.h>

#include "daemon.h"

static const psync_cfg_def psd_table[] = {
    {"bind_control", PSYNC_CFG_STR, "tcp://127.0.0.1:5555", 1, 0,
     "control endpoint (hello, heartbeat, status): tcp://HOST:PORT or ipc://PATH"},
    {"bind_bulk", PSYNC_CFG_STR, "tcp://127.0.0.1:5556", 1, 0,
     "bulk endpoint (model upload, snapshots, merged versions, bootstrap)"},
    {"policy", PSYNC_CFG_STR, "sync", 1, 0, "merge policy: sync | easgd | async"},
    {"heartbeat_ms", PSYNC_CFG_INT, "1000", 10, 600000, "heartbeat interval asked of workers"},
    {"member_timeout_ms", PSYNC_CFG_INT, "10000", 50, 86400000,
     "drop a member silent for this long"},
    {"round_deadline_ms", PSYNC_CFG_INT, "30000", 1, 86400000,
     "sync: close a round this long after it opened if >= 1 snapshot is in"},
    {"alpha", PSYNC_CFG_FLOAT, "0.5", 0, 1,
     "easgd: elastic coefficient (centre += alpha*(w-centre))"},
    {"easgd_every", PSYNC_CFG_INT, "1", 1, 1000000, "easgd: send MERGED every N applied snapshots"},
    {"max_staleness", PSYNC_CFG_INT, "8", 0, 1000000,
     "async: refuse snapshots more than this many versions old"},
    {"async_members", PSYNC_CFG_INT, "0", 0, 65536,
     "async: N in the weight 1/(N*(1+staleness)); 0: the largest membership seen"},
    {"recovery_window_ms", PSYNC_CFG_INT, "1000", 0, 600000,
     "no model yet: after the first hello, collect hellos this long, then restore the newest"},
    {"quorum", PSYNC_CFG_INT, "0", 0, 65536,
     "merge only while this many workers are attached, and (standby) promote only after this many "
     "distinct workers asked for service: set a majority of the workers against split-brain (0: "
     "off)"},
    {"expected_members", PSYNC_CFG_INT, "0", 0, 65536,
     "close the recovery window early once this many members said hello (0: never)"},
    {"standby_of", PSYNC_CFG_STR, "", 1, 0,
     "run as a hot standby of the psyncd at this control endpoint (docs/recovery.md)"},
    {"standby_bulk", PSYNC_CFG_STR, "", 1, 0,
     "standby: the primary's bulk endpoint (default: tcp control port + 1, ipc://PATH.bulk)"},
    {"standby_server_key", PSYNC_CFG_STR, "", 1, 0,
     "standby: the primary's public key (Z85 or .pub file); with key_file the standby's watch "
     "connection uses CURVE, and the primary must allow-list this daemon's key"},
    {"standby_silence_ms", PSYNC_CFG_INT, "3000", 100, 3600000,
     "standby: promote (epoch + 1) after the primary is silent this long"},
    {"merge_slots", PSYNC_CFG_BOOL, "true", 1, 0, "merge f32 optimizer slots as well as params"},
    {"shm", PSYNC_CFG_BOOL, "true", 1, 0,
     "members of a sync cluster on psyncd's host (over ipc:// or tcp://) exchange chunks "
     "through shared memory (sealed memfds) instead of socket frames; others use frames"},
    {"chunk_bytes", PSYNC_CFG_INT, "1048576", 4096, 268435456,
     "bulk chunk size (multiple of 64); 1 MiB measured fastest over sockets"},
    {"max_message_bytes", PSYNC_CFG_INT, "16777216", 65536, 1073741824,
     "largest frame accepted on the bulk socket (ZMQ_MAXMSGSIZE)"},
    {"max_model_bytes", PSYNC_CFG_INT, "4294967296", 1024, 68719476736.0,
     "largest model blob / payload accepted"},
    {"max_members", PSYNC_CFG_INT, "256", 1, 65536, "members admitted at once"},
    {"key_file", PSYNC_CFG_STR, "", 1, 0,
     "CURVE key pair of psyncd (psync keygen NAME); needed for non-loopback binds"},
    {"allow_list", PSYNC_CFG_STR, "", 1, 0,
     "workers' public keys admitted: a directory of *.pub or a file of keys"},
    {"insecure_plain", PSYNC_CFG_BOOL, "false", 1, 0,
     "no CURVE, no authentication, even on non-loopback endpoints (logged)"},
    {"max_control_bytes", PSYNC_CFG_INT, "16384", 2048, 1048576,
     "largest frame accepted on the control socket (ZMQ_MAXMSGSIZE)"},
    {"rate_per_s", PSYNC_CFG_INT, "200", 0, 1000000,
     "control messages per second per peer (token bucket; 0: no limit)"},
    {"rate_burst", PSYNC_CFG_INT, "400", 1, 10000000, "control messages a peer may burst"},
    {"max_tensors", PSYNC_CFG_INT, "4096", 1, 1048576, "tensors in an uploaded model"},
    {"max_rank", PSYNC_CFG_INT, "8", 1, 8, "dimensions of one tensor in an uploaded model"},
    {"max_dim", PSYNC_CFG_INT, "2147483648", 1, 4294967296.0,
     "largest dimension of a tensor in an uploaded model"},
    {"max_nodes", PSYNC_CFG_INT, "4096", 1, 1048576, "graph nodes in an uploaded model"},
    {"max_depth", PSYNC_CFG_INT, "16", 4, 64, "msgpack nesting depth of an uploaded model"},
    {"max_header_bytes", PSYNC_CFG_INT, "16777216", 4096, 1073741824,
     "msgpack header (graph + tensor table) of an uploaded model"},
    {"grace_ms", PSYNC_CFG_INT, "3000", 0, 600000,
     "on SIGTERM/SIGINT: time to finish sending before exit"},
    {"log_level", PSYNC_CFG_STR, "info", 1, 0, "debug | info | warn | error"},
    {"log_format", PSYNC_CFG_STR, "logfmt", 1, 0, "logfmt | json"},
};
#define PSD_NSETTINGS (sizeof psd_table / sizeof psd_table[0])

const char *psd_policy_name(psd_policy p)
{
    switch (p) {
    case PSD_SYNC:
        return "sync";
    case PSD_EASGD:
        return "easgd";
    case PSD_ASYNC:
        return "async";
    }
    return "?";
}

void psd_settings_help(FILE *out)
{
    fprintf(out, "usage: psyncd [OPTIONS]\n\n"
                 "psync's daemon: merges the weights workers publish and serves the model\n"
                 "to joining workers. Options (also PSYNC_<NAME> env and --config FILE):\n\n");
    psync_config_help(psd_table, PSD_NSETTINGS, out);
}

static psync_err psd_settings_logging(const psync_config *c)
{
    psync_log_level lv;
    const char *fmt = psync_config_str(c, "log_format");
    if (psync_log_level_parse(psync_config_str(c, "log_level"), &lv))
        return psync_fail(PSYNC_ECONFIG, "log_level: '%s' is not debug|info|warn|error",
                          psync_config_str(c, "log_level"));
    if (strcmp(fmt, "logfmt") && strcmp(fmt, "json"))
        return psync_fail(PSYNC_ECONFIG, "log_format: '%s' is not logfmt|json", fmt);
    psync_log_set_level(lv);
    psync_log_set_format(strcmp(fmt, "json") ? PSYNC_LOGFMT : PSYNC_LOG_JSON);
    return PSYNC_OK;
}

/* Keys, plain mode, rate and decode limits. */
static void psd_settings_security(psd_settings *s, const psync_config *c)
{
    snprintf(s->key_file, sizeof s->key_file, "%s", psync_config_str(c, "key_file"));
    snprintf(s->allow_list, sizeof s->allow_list, "%s", psync_config_str(c, "allow_list"));
    s->insecure_plain = psync_config_bool(c, "insecure_plain");
    s->max_control_bytes = (uint64_t)psync_config_int(c, "max_control_bytes");
    s->rate_per_s = (uint32_t)psync_config_int(c, "rate_per_s");
    s->rate_burst = (uint32_t)psync_config_int(c, "rate_burst");
    s->blob_limits = psync_default_limits;
    s->blob_limits.max_blob_bytes = s->max_model_bytes;
    s->blob_limits.max_tensors = (uint32_t)psync_config_int(c, "max_tensors");
    s->blob_limits.max_rank = (uint32_t)psync_config_int(c, "max_rank");
    s->blob_limits.max_dim = (uint64_t)psync_config_int(c, "max_dim");
    s->blob_limits.max_nodes = (uint32_t)psync_config_int(c, "max_nodes");
    s->blob_limits.max_depth = (uint32_t)psync_config_int(c, "max_depth");
    s->blob_limits.max_header_bytes = (uint64_t)psync_config_int(c, "max_header_bytes");
}

static psync_err psd_settings_read(psd_settings *s, const psync_config *c)
{
    const char *pol = psync_config_str(c, "policy");
    snprintf(s->bind_control, sizeof s->bind_control, "%s", psync_config_str(c, "bind_control"));
    snprintf(s->bind_bulk, sizeof s->bind_bulk, "%s", psync_config_str(c, "bind_bulk"));
    if (!strcmp(pol, "sync"))
        s->policy = PSD_SYNC;
    else if (!strcmp(pol, "easgd"))
        s->policy = PSD_EASGD;
    else if (!strcmp(pol, "async"))
        s->policy = PSD_ASYNC;
    else
        return psync_fail(PSYNC_ECONFIG, "policy: '%s' is not sync|easgd|async", pol);
    s->heartbeat_ms = psync_config_int(c, "heartbeat_ms");
    s->member_timeout_ms = psync_config_int(c, "member_timeout_ms");
    s->round_deadline_ms = psync_config_int(c, "round_deadline_ms");
    s->grace_ms = psync_config_int(c, "grace_ms");
    s->alpha = psync_config_float(c, "alpha");
    s->easgd_every = (uint32_t)psync_config_int(c, "easgd_every");
    s->max_staleness = (uint64_t)psync_config_int(c, "max_staleness");
    s->merge_slots = psync_config_bool(c, "merge_slots");
    s->shm = psync_config_bool(c, "shm");
    s->async_members = (uint32_t)psync_config_int(c, "async_members");
    s->recovery_window_ms = psync_config_int(c, "recovery_window_ms");
    s->expected_members = (uint32_t)psync_config_int(c, "expected_members");
    s->quorum = (uint32_t)psync_config_int(c, "quorum");
    snprintf(s->standby_of, sizeof s->standby_of, "%s", psync_config_str(c, "standby_of"));
    snprintf(s->standby_bulk, sizeof s->standby_bulk, "%s", psync_config_str(c, "standby_bulk"));
    snprintf(s->standby_server_key, sizeof s->standby_server_key, "%s",
             psync_config_str(c, "standby_server_key"));
    s->standby_silence_ms = psync_config_int(c, "standby_silence_ms");
    s->chunk_bytes = (uint64_t)psync_config_int(c, "chunk_bytes");
    s->max_message_bytes = (uint64_t)psync_config_int(c, "max_message_bytes");
    s->max_model_bytes = (uint64_t)psync_config_int(c, "max_model_bytes");
    s->max_members = (uint32_t)psync_config_int(c, "max_members");
    psd_settings_security(s, c);
    if (s->chunk_bytes % 64)
        return psync_fail(PSYNC_ECONFIG, "chunk_bytes: %llu is not a multiple of 64",
                          (unsigned long long)s->chunk_bytes);
    if (s->chunk_bytes + PSYNC_WIRE_MAX_HEADER > s->max_message_bytes)
        return psync_fail(PSYNC_ECONFIG, "chunk_bytes %llu must be below max_message_bytes %llu",
                          (unsigned long long)s->chunk_bytes,
                          (unsigned long long)s->max_message_bytes);
    if (s->member_timeout_ms <= s->heartbeat_ms)
        return psync_fail(PSYNC_ECONFIG, "member_timeout_ms (%lld) must exceed heartbeat_ms (%lld)",
                          (long long)s->member_timeout_ms, (long long)s->heartbeat_ms);
    return psd_settings_logging(c);
}

psync_err psd_settings_load(psd_settings *s, int argc, char **argv, psync_config **cfg)
{
    psync_err e = psync_config_new(cfg, psd_table, PSD_NSETTINGS);
    if (e) return e;
    memset(s, 0, sizeof *s);
    if ((e = psync_config_load(*cfg, argc, argv))) return e;
    char **extra = NULL;
    if (psync_config_positional(*cfg, &extra) > 0) /* e.g. "--shm false" for --no-shm */
        return psync_fail(PSYNC_ECONFIG,
                          "unexpected argument '%s': psyncd takes only options (a boolean "
                          "option is turned off with --no-NAME or --NAME=false); run with --help",
                          extra[0]);
    if (psync_config_wants(*cfg) != PSYNC_WANT_RUN) return PSYNC_OK;
    return psd_settings_read(s, *cfg);
}
