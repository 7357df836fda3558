/* log.h: psync's one logging macro. One line per event on stderr, logfmt
 * (default) or JSON, with level, time, process role, rank and a stable event
 * id. The level is checked before anything is formatted. */
#ifndef PSYNC_LOG_H
#define PSYNC_LOG_H

typedef enum psync_log_level {
    PSYNC_LOG_DEBUG = 0,
    PSYNC_LOG_INFO,
    PSYNC_LOG_WARN,
    PSYNC_LOG_ERROR,
    PSYNC_LOG_OFF
} psync_log_level;

typedef enum psync_log_format { PSYNC_LOGFMT = 0, PSYNC_LOG_JSON } psync_log_format;

extern psync_log_level psync_log_threshold;

/* PSYNC_LOG(PSYNC_LOG_WARN, "snapshot_refused", "peer=%s reason=%s", p, r):
 * id is a stable snake_case event name; the format gives extra key=value
 * pairs in logfmt (they are re-emitted as JSON fields in JSON mode). */
#define PSYNC_LOG(level, id, ...)                                                                  \
    do {                                                                                           \
        if ((level) >= psync_log_threshold) psync_log_emit((level), (id), __VA_ARGS__);            \
    } while (0)
#define PSYNC_DEBUG(id, ...) PSYNC_LOG(PSYNC_LOG_DEBUG, id, __VA_ARGS__)
#define PSYNC_INFO(id, ...) PSYNC_LOG(PSYNC_LOG_INFO, id, __VA_ARGS__)
#define PSYNC_WARN(id, ...) PSYNC_LOG(PSYNC_LOG_WARN, id, __VA_ARGS__)
#define PSYNC_ERROR(id, ...) PSYNC_LOG(PSYNC_LOG_ERROR, id, __VA_ARGS__)

/* Sets the process role ("psyncd", "worker") and rank (-1: none) shown on
 * every line. The role string is copied. */
void psync_log_set_context(const char *role, int rank);
void psync_log_set_level(psync_log_level level);
void psync_log_set_format(psync_log_format fmt);
/* Parses "debug|info|warn|error|off"; returns 0 on success, -1 otherwise. */
int psync_log_level_parse(const char *s, psync_log_level *out);

/* Writes one line; use the macros instead (they check the level first). */
void psync_log_emit(psync_log_level level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
