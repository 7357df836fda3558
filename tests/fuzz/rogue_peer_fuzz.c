/* rogue_peer_fuzz.c: an in-process psyncd (psyncd_core, its event loop in
 * a thread, async policy, ipc:// endpoints) fed fuzzer-chosen multi-frame
 * messages by two rogue DEALERs (control and bulk). After every input a
 * good peer must get a STATUS answer within 2 s, and every 64 inputs a good
 * client (joined at start) must publish and receive the merge within 5 s;
 * otherwise the harness aborts (a finding). With -DPSYNC_FUZZ=ON this is a
 * libFuzzer harness; otherwise fuzz_replay.c replays tests/fuzz/corpus/rogue_peer.
 *
 * Input: records of [flags][len lo][len hi][bytes]... per frame. flags bit
 * 0: bulk socket; bits 1-2: frames - 1; bit 3: the first frame is a header
 * whose inc (and m, when 1) are replaced by the live daemon's before
 * sending, so mutated but well-formed headers get past the envelope. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "psync_client.h"
#include "testmodel.h"

#define RF_MAX_MSGS 32

typedef struct rf_state {
    psd d;
    pthread_t loop;
    char ctl[128], bulk[128];
    void *rogue_ctl, *rogue_bulk, *probe;
    psync_client *good;
    psync_model *model;
    unsigned inputs;
    uint64_t rogue_member; /* from the last welcome the rogue got */
} rf_state;

static rf_state *rf;

static void *rf_loop(void *arg)
{
    psd_loop_run(arg);
    return NULL;
}

static void rf_die(const char *what)
{
    fprintf(stderr, "rogue_peer_fuzz: %s: %s\n", what, psync_errdetail());
    abort();
}

/* psyncd as main.c starts it, minus signals, on ipc:// endpoints. */
static void rf_daemon(rf_state *s)
{
    char *argv[] = {
        "psyncd", "--bind-control", s->ctl,  "--bind-bulk",     s->bulk,   "--policy",
        "async",  "--chunk-bytes",  "4096",  "--max-staleness", "1000000", "--rate-per-s",
        "20000",  "--rate-burst",   "20000", "--log-level",     "error",   "--member-timeout-ms",
        "600000"};
    psync_config *cfg = NULL;
    if (psd_settings_load(&s->d.set, (int)(sizeof argv / sizeof argv[0]), argv, &cfg))
        rf_die("settings");
    psync_config_destroy(&cfg);
    s->d.inc = 0x5eed0001;
    s->d.members = calloc(s->d.set.max_members, sizeof *s->d.members);
    if (!s->d.members || psd_rate_new(&s->d) || psd_sockets_open(&s->d)) rf_die("daemon start");
    psd_loop_timer(&s->d, 200, psd_members_tick);
    psd_loop_timer(&s->d, 20, psd_merge_tick);
    psd_loop_timer(&s->d, 50, psd_recover_tick); /* the timers of main.c's psd_start */
    if (pthread_create(&s->loop, NULL, rf_loop, &s->d)) rf_die("thread");
}

static void *rf_dealer(rf_state *s, const char *ep, const char *rid)
{
    void *z = zmq_socket(s->d.ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(z, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(z, ZMQ_ROUTING_ID, rid, strlen(rid));
    if (zmq_connect(z, ep)) rf_die("connect");
    return z;
}

/* One publish by the good client and the merge back, within 5 s. */
static void rf_good_round(rf_state *s)
{
    bool applied = false;
    if (psync_client_publish(s->good, s->model, 1)) rf_die("good client publish");
    for (int i = 0; i < 100 && !applied; i++)
        if (psync_client_poll(s->good, s->model, 50, &applied)) rf_die("good client poll");
    if (!applied) rf_die("good client got no merge within 5 s");
}

static rf_state *rf_init(void)
{
    rf_state *s = calloc(1, sizeof *s);
    psync_client_opts o = {.rank = -1, .name = "good"};
    snprintf(s->ctl, sizeof s->ctl, "ipc:///tmp/psync-rogue-%d.ctl", (int)getpid());
    snprintf(s->bulk, sizeof s->bulk, "ipc:///tmp/psync-rogue-%d.bulk", (int)getpid());
    psync_log_set_level(PSYNC_LOG_ERROR);
    /* wire_crc.c picks its crc kernel lazily in an unsynchronised static:
     * pick it before the daemon thread exists (TSan reports the race). */
    static const uint8_t warm[1 << 16];
    (void)psync_wire_crc(warm, sizeof warm);
    rf_daemon(s);
    s->rogue_ctl = rf_dealer(s, s->ctl, "rogue");
    s->rogue_bulk = rf_dealer(s, s->bulk, "rogue"); /* one peer: same routing id */
    s->probe = rf_dealer(s, s->ctl, "probe");
    o.control = s->ctl;
    o.bulk = s->bulk;
    if (testmodel_build(&s->model) || psync_client_new(&s->good, &o) ||
        psync_client_join(s->good, &s->model, 10000))
        rf_die("good client join");
    rf_good_round(s);
    return s;
}

/* The first frame as a header with the live values in place of the
 * placeholders (inc always; m 1 -> the good client's id, m 2 -> the
 * rogue's own member id once welcomed; layout 1 and
 * total 1 -> the model's; crc 1 -> the crc of the payload frame) into out;
 * false if it does not decode. */
static bool rf_fix_header(const uint8_t *p, size_t n, const uint8_t *pl, size_t pn, uint8_t *out,
                          size_t *len)
{
    psync_wire_hdr h;
    if (psync_wire_decode(p, n, &h)) return false;
    h.inc = rf->d.inc;
    if (h.m == 1)
        h.m = psync_client_member_id(rf->good);
    else if (h.m == 2 && rf->rogue_member)
        h.m = rf->rogue_member;
    if (h.layout == 1) h.layout = psync_model_layout_hash(rf->model);
    if (h.total == 1) h.total = rf->model->payload_len;
    if (h.crc == 1 && pl) h.crc = psync_wire_crc(pl, pn);
    return !psync_wire_encode(&h, out, PSYNC_WIRE_MAX_HEADER, len);
}

/* Sends one record's frames; returns bytes consumed (0: input ends). */
static size_t rf_send_one(const uint8_t *p, size_t n)
{
    const uint8_t *fr[4];
    size_t len[4], at = 1;
    uint8_t fixed[PSYNC_WIRE_MAX_HEADER];
    if (n < 1) return 0;
    int frames = 1 + ((p[0] >> 1) & 3);
    void *sock = p[0] & 1 ? rf->rogue_bulk : rf->rogue_ctl;
    for (int f = 0; f < frames; f++) {
        len[f] = at + 2 <= n ? (size_t)p[at] | (size_t)p[at + 1] << 8 : 0;
        at = at + 2 <= n ? at + 2 : n;
        len[f] = len[f] > n - at ? n - at : len[f];
        fr[f] = p + at;
        at += len[f];
    }
    if ((p[0] & 8) && rf_fix_header(fr[0], len[0], frames > 1 ? fr[1] : NULL,
                                    frames > 1 ? len[1] : 0, fixed, &len[0]))
        fr[0] = fixed;
    for (int f = 0; f < frames; f++)
        zmq_send(sock, fr[f], len[f], ZMQ_DONTWAIT | (f + 1 < frames ? ZMQ_SNDMORE : 0));
    return at;
}

/* Discards whatever the daemon sent (keeps the queues short), noting the
 * member id of a welcome. */
static void rf_drain(void *sock)
{
    zmq_msg_t m;
    psync_wire_hdr h;
    zmq_msg_init(&m);
    for (int i = 0; i < 4096 && zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) >= 0; i++)
        if (!psync_wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), &h) && h.t == PSYNC_MSG_WELCOME)
            rf->rogue_member = h.m;
    zmq_msg_close(&m);
}

/* A good peer's status request must be answered within 2 s. */
static void rf_probe(void)
{
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_STATUS_REQ, 0);
    if (psync_wire_send(rf->probe, NULL, 0, &h, NULL, 0)) rf_die("probe send");
    zmq_pollitem_t it = {rf->probe, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 2000) != 1) rf_die("daemon did not answer a status request within 2 s");
    rf_drain(rf->probe);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rf) rf = rf_init();
    size_t at = 0, used;
    for (int i = 0; i < RF_MAX_MSGS && (used = rf_send_one(data + at, size - at)); i++)
        at += used;
    rf_probe();
    rf_drain(rf->rogue_ctl);
    rf_drain(rf->rogue_bulk);
    psync_client_poll(rf->good, rf->model, 0, NULL); /* heartbeats */
    if (++rf->inputs % 64 == 0) rf_good_round(rf);
    return 0;
}

/* Replay mode: a last good round. The daemon thread is left running and
 * ends with the process (stopping it would write d->stopping, which only
 * a signal handler may do: a race for TSan). */
void psync_fuzz_replay_done(void);
void psync_fuzz_replay_done(void)
{
    if (rf) rf_good_round(rf);
}
