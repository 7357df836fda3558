/* refuse.c: the one way psyncd turns a bad message down: count it by
 * reason, log it (rate-limited, with the peer), and reply ERROR to the
 * sender (rate-limited per member). Merged state is never touched here. */
#include <string.h>

#include "daemon.h"

#define PSD_LOG_PER_SEC 20
#define PSD_ERRORS_PER_SEC 20

static const char *const psd_reason_names[PSD_R_COUNT_] = {
    [PSD_R_MALFORMED] = "malformed",
    [PSD_R_VERSION] = "protocol_version",
    [PSD_R_TYPE] = "bad_type",
    [PSD_R_FRAMES] = "bad_frames",
    [PSD_R_INCARNATION] = "stale_incarnation",
    [PSD_R_MEMBER] = "unknown_member",
    [PSD_R_LAYOUT] = "layout_mismatch",
    [PSD_R_CHUNK] = "bad_chunk",
    [PSD_R_NONFINITE] = "nonfinite",
    [PSD_R_STALE] = "stale_version",
    [PSD_R_STATE] = "unexpected",
    [PSD_R_FULL] = "full",
    [PSD_R_MODEL] = "bad_model",
    [PSD_R_RATE] = "rate_limited",
};

const char *psd_reason_name(psd_reason r)
{
    return r < PSD_R_COUNT_ ? psd_reason_names[r] : "?";
}

/* true if one more event fits in this second's budget. */
static bool psd_budget(uint64_t *window_ms, uint32_t *count, uint32_t per_sec)
{
    uint64_t now = psd_now_ms();
    if (now - *window_ms >= 1000) {
        *window_ms = now;
        *count = 0;
    }
    return (*count)++ < per_sec;
}

bool psd_log_budget(psd *d)
{
    return psd_budget(&d->log_window_ms, &d->log_count, PSD_LOG_PER_SEC);
}

static void psd_hex(char *out, const uint8_t *rid, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    n = n > 16 ? 16 : n;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[rid[i] >> 4];
        out[2 * i + 1] = hx[rid[i] & 15];
    }
    out[2 * n] = 0;
}

void psd_refuse(psd *d, void *sock, const uint8_t *rid, size_t rid_len, psd_reason r, psync_err err,
                const char *ref)
{
    static uint64_t peer_window;
    static uint32_t peer_count;
    char detail[512], peer[40];
    snprintf(detail, sizeof detail, "%s", psync_errdetail());
    d->refused[r]++;
    psd_member *m = psd_member_by_rid(d, rid, rid_len);
    psd_hex(peer, rid, rid_len);
    if (psd_log_budget(d))
        PSYNC_WARN("refused", "reason=%s peer=%s member=%llu name=%s ref=%s error=%s detail=\"%s\"",
                   psd_reason_name(r), peer, m ? (unsigned long long)m->id : 0ULL, m ? m->name : "",
                   ref ? ref : "", psync_wire_err_name(err), detail);
    uint64_t *win = m ? &m->err_window_ms : &peer_window;
    uint32_t *cnt = m ? &m->err_count : &peer_count;
    if (!psd_budget(win, cnt, PSD_ERRORS_PER_SEC)) return;
    if (m) m->errors_sent++;
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_ERROR, d->inc);
    snprintf(h.code, sizeof h.code, "%s", psync_wire_err_name(err));
    snprintf(h.ref, sizeof h.ref, "%s", ref ? ref : "");
    snprintf(h.detail, sizeof h.detail, "%s", detail);
    psync_wire_send(sock, rid, rid_len, &h, NULL, ZMQ_DONTWAIT);
}
