/* log.c: the log sink. Formats one event per line on stderr as logfmt or
 * JSON with time, level, role, rank and event id; writes it with a single
 * write(2) so lines from several threads/processes do not interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

psync_log_level psync_log_threshold = PSYNC_LOG_INFO;
static psync_log_format log_format = PSYNC_LOGFMT;
static char log_role[32] = "psync";
static int log_rank = -1;

static const char *const log_level_names[] = {"debug", "info", "warn", "error", "off"};

void psync_log_set_context(const char *role, int rank)
{
    snprintf(log_role, sizeof log_role, "%s", role ? role : "psync");
    log_rank = rank;
}

void psync_log_set_level(psync_log_level level)
{
    psync_log_threshold = level;
}

void psync_log_set_format(psync_log_format fmt)
{
    log_format = fmt;
}

int psync_log_level_parse(const char *s, psync_log_level *out)
{
    for (int i = 0; i <= PSYNC_LOG_OFF; i++) {
        if (!strcasecmp(s, log_level_names[i])) {
            *out = (psync_log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Appends fmt output at *pos in buf, clamping at cap. */
static void log_append(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
{
    if (*pos >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, cap - *pos, fmt, ap);
    va_end(ap);
    if (n > 0) *pos = (*pos + (size_t)n < cap) ? *pos + (size_t)n : cap - 1;
}

/* Appends s as a JSON string body (without quotes). */
static void log_append_json_str(char *buf, size_t cap, size_t *pos, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *pos + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            log_append(buf, cap, pos, "\\%c", c);
        else if (c < 0x20)
            log_append(buf, cap, pos, "\\u%04x", c);
        else
            buf[(*pos)++] = (char)c;
    }
    buf[*pos] = '\0';
}

/* Re-emits logfmt pairs (k=v k="v w") as JSON members. */
static void log_append_json_pairs(char *buf, size_t cap, size_t *pos, const char *kv)
{
    const char *p = kv;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *eq = strchr(p, '=');
        if (!*p || !eq) break;
        const char *v = eq + 1, *end;
        int quoted = (*v == '"');
        if (quoted) {
            v++;
            end = strchr(v, '"');
            if (!end) end = v + strlen(v);
        } else {
            end = strchr(v, ' ');
            if (!end) end = v + strlen(v);
        }
        log_append(buf, cap, pos, ",\"");
        log_append_json_str(buf, cap, pos, p, (size_t)(eq - p));
        log_append(buf, cap, pos, "\":\"");
        log_append_json_str(buf, cap, pos, v, (size_t)(end - v));
        log_append(buf, cap, pos, "\"");
        p = (quoted && *end) ? end + 1 : end;
    }
}

static void log_timestamp(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void psync_log_emit(psync_log_level level, const char *id, const char *fmt, ...)
{
    char kv[1536], ts[40], line[2048];
    size_t pos = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kv, sizeof kv, fmt, ap);
    va_end(ap);
    log_timestamp(ts, sizeof ts);
    const char *lvl = log_level_names[level < PSYNC_LOG_OFF ? level : PSYNC_LOG_ERROR];
    if (log_format == PSYNC_LOG_JSON) {
        log_append(line, sizeof line, &pos, "{\"time\":\"%s\",\"level\":\"%s\",\"role\":\"%s\"", ts,
                   lvl, log_role);
        if (log_rank >= 0) log_append(line, sizeof line, &pos, ",\"rank\":%d", log_rank);
        log_append(line, sizeof line, &pos, ",\"event\":\"%s\"", id);
        log_append_json_pairs(line, sizeof line, &pos, kv);
        log_append(line, sizeof line, &pos, "}\n");
    } else {
        log_append(line, sizeof line, &pos, "time=%s level=%s role=%s", ts, lvl, log_role);
        if (log_rank >= 0) log_append(line, sizeof line, &pos, " rank=%d", log_rank);
        log_append(line, sizeof line, &pos, " event=%s%s%s\n", id, kv[0] ? " " : "", kv);
    }
    if (pos > 0 && line[pos - 1] != '\n') line[pos - 1] = '\n';
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}
