/* cluster_kit.c: see cluster_kit.h. */
#include "cluster_kit.h"
#include "keys.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>
#include <zmq.h>

#include "secopts.h"

/* true if 127.0.0.1:port can be bound (nobody holds it right now). */
static bool kit_port_free(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    bool ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0) close(s);
    return ok;
}

/* A port p such that p and p + 1 were free a moment ago, drawn at random
 * below Linux's ephemeral range (32768-60999), so no outgoing connection of
 * a test running alongside can take it in the meantime. */
static int kit_free_port(void)
{
    static unsigned seed;
    if (!seed) seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    for (int tries = 0; tries < 200; tries++) {
        int p = 20000 + 2 * (int)(rand_r(&seed) % 6380);
        if (kit_port_free(p) && kit_port_free(p + 1)) return p;
    }
    return -1;
}

static pid_t kit_live_pid; /* the daemon to kill if a test fails midway */

void kit_cleanup(void)
{
    if (kit_live_pid > 0) {
        kill(kit_live_pid, SIGKILL);
        waitpid(kit_live_pid, NULL, 0);
    }
    kit_live_pid = 0;
}

/* Waits until d's daemon listens on its control port (true) or exited
 * (false: it could not bind, e.g. a port taken since it was chosen); gives
 * up waiting after 5 s and reports it running. */
static bool kit_daemon_bound(const kit_daemon *d)
{
    if (!d->port) { /* ipc: the control socket file appears once bound */
        for (int waited = 0; waited < 5000; waited += 5) {
            int st;
            if (waitpid(d->pid, &st, WNOHANG) == d->pid) return false;
            if (access(d->control + 6, F_OK) == 0) return true;
            usleep(5000);
        }
        return true;
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)d->port)};
    for (int waited = 0; waited < 5000; waited += 5) {
        int st, s = socket(AF_INET, SOCK_STREAM, 0);
        bool up = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        if (s >= 0) close(s);
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) return false;
        if (up) return true;
        usleep(5000);
    }
    return true;
}

int kit_daemon_start(kit_daemon *d, const char *const *flags)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if ((d->port = kit_free_port()) < 0) return -1;
        snprintf(d->control, sizeof d->control, "tcp://127.0.0.1:%d", d->port);
        snprintf(d->bulk, sizeof d->bulk, "tcp://127.0.0.1:%d", d->port + 1);
        if (kit_daemon_restart(d, flags)) return -1;
        if (kit_daemon_bound(d)) return 0;
        kit_live_pid = 0; /* exited (reaped): try other ports */
    }
    return -1;
}

int kit_daemon_start_ipc(kit_daemon *d, const char *dir, const char *const *flags)
{
    d->port = 0;
    if (snprintf(d->control, sizeof d->control, "ipc://%s/c.sock", dir) >= (int)sizeof d->control ||
        snprintf(d->bulk, sizeof d->bulk, "ipc://%s/b.sock", dir) >= (int)sizeof d->bulk)
        return -1;
    if (kit_daemon_restart(d, flags)) return -1;
    return kit_daemon_bound(d) ? 0 : -1;
}

int kit_daemon_restart(kit_daemon *d, const char *const *flags)
{
    const char *argv[40];
    int n = 0;
    argv[n++] = PSYNCD_PATH;
    argv[n++] = "--bind-control";
    argv[n++] = d->control;
    argv[n++] = "--bind-bulk";
    argv[n++] = d->bulk;
    argv[n++] = "--log-level";
    argv[n++] = getenv("KIT_DAEMON_LOG") ? getenv("KIT_DAEMON_LOG") : "warn";
    for (int i = 0; flags && flags[i] && n < 38; i++)
        argv[n++] = flags[i];
    argv[n] = NULL;
    d->pid = fork();
    if (d->pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    kit_live_pid = d->pid;
    return d->pid > 0 ? 0 : -1;
}

int kit_daemon_stop(kit_daemon *d)
{
    int st = 0;
    kill(d->pid, SIGTERM);
    kit_live_pid = 0;
    if (waitpid(d->pid, &st, 0) != d->pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int kit_teardown(void **state)
{
    (void)state;
    kit_cleanup();
    return 0;
}

void kit_finish(kit_daemon *d, psync_client **cs, int nc, psync_model **ms, int nm)
{
    for (int i = 0; i < nc; i++)
        psync_client_destroy(&cs[i]);
    for (int i = 0; i < nm; i++)
        psync_model_destroy(&ms[i]);
    assert_int_equal(kit_daemon_stop(d), 0);
}

void kit_finish_two(kit_daemon *d, psync_client *a, psync_model *ma, psync_client *b,
                    psync_model *mb)
{
    kit_finish(d, (psync_client *[]){a, b}, 2, (psync_model *[]){ma, mb}, 2);
}

psync_model *kit_model(uint64_t n, float wv, float mv)
{
    psync_model *m = NULL;
    uint64_t in[1] = {4}, shp[1] = {n}, bs[1] = {3}, cs[1] = {2};
    int32_t count[2] = {7, 9};
    psync_node node;
    if (psync_model_new(&m) || psync_graph_add_input(&m->graph, "x", PSYNC_DTYPE_F32, 1, in) ||
        psync_model_add_tensor(m, "w", PSYNC_ROLE_PARAM, PSYNC_DTYPE_F32, 1, shp, NULL, NULL) ||
        psync_model_add_tensor(m, "w/momentum", PSYNC_ROLE_SLOT, PSYNC_DTYPE_F32, 1, shp, NULL,
                               NULL) ||
        psync_model_add_tensor(m, "b", PSYNC_ROLE_PARAM, PSYNC_DTYPE_F32, 1, bs, NULL, NULL) ||
        psync_model_add_tensor(m, "count", PSYNC_ROLE_BUFFER, PSYNC_DTYPE_I32, 1, cs, count, NULL))
        abort();
    psync_node_init(&node, "fc", "dense");
    psync_node_add_input(&node, "x");
    psync_node_add_param(&node, "w");
    psync_node_add_param(&node, "b");
    snprintf(m->graph.output, sizeof m->graph.output, "fc");
    if (psync_graph_add_node(&m->graph, &node, 4, NULL)) abort();
    m->opt.kind = PSYNC_OPT_MOMENTUM;
    kit_fill(m, "w", wv);
    kit_fill(m, "b", wv);
    kit_fill(m, "w/momentum", mv);
    return m;
}

void kit_fill(psync_model *m, const char *name, float v)
{
    psync_tensor *t = psync_model_find(m, name);
    for (uint64_t i = 0; i < psync_tensor_elems(t); i++)
        ((float *)t->data)[i] = v;
}

double kit_maxdiff(const psync_model *m, const char *name, float v)
{
    const psync_tensor *t = psync_model_find(m, name);
    double worst = 0;
    if (!t) return 1e30;
    for (uint64_t i = 0; i < psync_tensor_elems(t); i++) {
        double dlt = ((const float *)t->data)[i] - (double)v;
        dlt = dlt < 0 ? -dlt : dlt;
        worst = dlt > worst ? dlt : worst;
    }
    return worst;
}

psync_client *kit_client(const kit_daemon *d, const char *name)
{
    psync_client *c = NULL;
    psync_client_opts o = {.control = d->control, .bulk = d->bulk, .name = name, .rank = -1};
    if (psync_client_new(&c, &o)) abort();
    return c;
}

bool kit_poll_all(psync_client **cs, psync_model **ms, int n, int timeout_ms)
{
    bool done[16] = {0};
    int left = n;
    for (int waited = 0; waited < timeout_ms && left; waited += 10) {
        for (int i = 0; i < n; i++) {
            bool applied = false;
            if (!done[i] && !psync_client_poll(cs[i], ms[i], 5, &applied) && applied) {
                done[i] = true;
                left--;
            }
        }
    }
    return left == 0;
}

bool kit_poll_version(psync_client *c, psync_model *m, uint64_t v, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms && psync_client_held_version(c) < v; waited += 10)
        if (psync_client_poll(c, m, 10, NULL)) return false;
    return psync_client_held_version(c) == v;
}

bool kit_round_two(psync_client *a, psync_model *ma, psync_client *b, psync_model *mb, float va,
                   float vb, int timeout_ms)
{
    kit_fill(ma, "w", va);
    kit_fill(mb, "w", vb);
    if (psync_client_publish(a, ma, 1) || psync_client_publish(b, mb, 1)) return false;
    psync_client *cs[2] = {a, b};
    psync_model *ms[2] = {ma, mb};
    return kit_poll_all(cs, ms, 2, timeout_ms) && kit_maxdiff(ma, "w", (va + vb) / 2) < 1e-6 &&
           kit_maxdiff(mb, "w", (va + vb) / 2) < 1e-6;
}

uint64_t kit_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void *kit_raw(void *ctx, const char *ep, const char *rid)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_ROUTING_ID, rid, strlen(rid));
    psync_security *sec = NULL; /* CURVE when the test set PSYNC_KEY_FILE */
    if (getenv("PSYNC_KEY_FILE") && !psync_secopts_client(&sec, NULL, NULL, false, ep, NULL))
        psync_security_apply(sec, s, ep);
    psync_security_destroy(&sec);
    zmq_connect(s, ep);
    return s;
}

void kit_raw_send(void *s, const void *hdr, size_t hlen, const void *payload, size_t plen)
{
    zmq_send(s, hdr, hlen, payload ? ZMQ_SNDMORE : 0);
    if (payload) zmq_send(s, payload, plen, 0);
}

void kit_raw_send_hdr(void *s, const psync_wire_hdr *h, const void *payload, size_t plen)
{
    unsigned char buf[PSYNC_WIRE_MAX_HEADER];
    size_t len = 0;
    if (psync_wire_encode(h, buf, sizeof buf, &len)) abort();
    kit_raw_send(s, buf, len, payload, plen);
}

int kit_raw_recv_any(void *s, psync_wire_hdr *h, int timeout_ms)
{
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0) return -1;
    zmq_msg_t fr[PSYNC_WIRE_MAX_FRAMES];
    int n = 0;
    bool extra;
    if (psync_wire_recv(s, fr, &n, &extra)) return -1;
    int rc = psync_wire_decode(zmq_msg_data(&fr[0]), zmq_msg_size(&fr[0]), h) ? -1 : 0;
    for (int i = 0; i < n; i++)
        zmq_msg_close(&fr[i]);
    return rc;
}

int kit_raw_recv(void *s, psync_wire_hdr *h, int timeout_ms)
{
    uint64_t end = kit_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    int rc;
    do {
        uint64_t now = kit_now_ms();
        rc = kit_raw_recv_any(s, h, now < end ? (int)(end - now) : 0);
    } while (rc == 0 && h->t == PSYNC_MSG_SHM_OFFER);
    return rc;
}

void kit_expect_error(void *s, const char *code, const char *alt)
{
    psync_wire_hdr r;
    assert_int_equal(kit_raw_recv(s, &r, 3000), 0);
    assert_int_equal(r.t, PSYNC_MSG_ERROR);
    if (strcmp(r.code, code) && (!alt || strcmp(r.code, alt)))
        fail_msg("expected %s, got %s (%s)", code, r.code, r.detail);
}

void kit_peer_open(kit_peer *p, const kit_daemon *d, const char *ctl_rid, const char *bulk_rid)
{
    p->ctx = zmq_ctx_new();
    p->ctl = kit_raw(p->ctx, d->control, ctl_rid);
    p->bulk = bulk_rid ? kit_raw(p->ctx, d->bulk, bulk_rid) : NULL;
}

void kit_peer_close(kit_peer *p)
{
    zmq_close(p->ctl);
    if (p->bulk) zmq_close(p->bulk);
    zmq_ctx_term(p->ctx);
    *p = (kit_peer){0};
}

void kit_hello_init(psync_wire_hdr *h, const psync_model *m, uint64_t held)
{
    psync_wire_init(h, PSYNC_MSG_HELLO, 0);
    h->layout = psync_model_layout_hash(m);
    h->held = held;
}

int kit_peer_hello(kit_peer *p, const psync_wire_hdr *hello, psync_wire_hdr *welcome)
{
    kit_raw_send_hdr(p->ctl, hello, NULL, 0);
    if (kit_raw_recv(p->ctl, welcome, 3000)) return -1;
    return welcome->t == PSYNC_MSG_WELCOME ? 0 : -1;
}

/* Finds key in a msgpack map object. */
static const msgpack_object *kit_get(const msgpack_object *map, const char *key)
{
    if (map->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
            !memcmp(kv->key.via.str.ptr, key, strlen(key)))
            return &kv->val;
    }
    return NULL;
}

/* Says on stderr why a status probe got no document: nothing within the
 * wait (or the poll failed), or a reply that is not STATUS's two frames. */
static void kit_status_miss(int polled, int err, zmq_msg_t *hdr)
{
    psync_wire_hdr h;
    if (polled != 1)
        fprintf(stderr, "kit_status: no reply in 3000 ms (zmq_poll %d: %s)\n", polled,
                zmq_strerror(err));
    else if (!psync_wire_decode(zmq_msg_data(hdr), zmq_msg_size(hdr), &h))
        fprintf(stderr, "kit_status: status_req answered by '%s' %s: %s\n",
                psync_wire_type_name(h.t), h.code, h.detail);
    else
        fprintf(stderr, "kit_status: undecodable reply of %zu bytes\n", zmq_msg_size(hdr));
}

/* One probe: a STATUS_REQ from a new peer; hands the document's root to
 * fn. 0 on success. */
static int kit_status_probe(const kit_daemon *d, void (*fn)(const msgpack_object *root, void *arg),
                            void *arg)
{
    /* A routing id of its own per probe, so back-to-back probes never
     * depend on psyncd handing an id over from the previous probe's
     * connection (ROUTER_HANDOVER, docs/protocol.md). */
    static unsigned probes;
    char rid[32];
    snprintf(rid, sizeof rid, "status-probe-%u", ++probes);
    kit_peer p;
    kit_peer_open(&p, d, rid, NULL);
    void *s = p.ctl;
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_STATUS_REQ, 0);
    kit_raw_send_hdr(s, &h, NULL, 0);
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    int rc = -1;
    zmq_msg_t hdr, doc;
    zmq_msg_init(&hdr);
    zmq_msg_init(&doc);
    int polled = zmq_poll(&it, 1, 3000), err = zmq_errno();
    if (polled == 1 && zmq_msg_recv(&hdr, s, 0) >= 0 && zmq_msg_more(&hdr) &&
        zmq_msg_recv(&doc, s, 0) >= 0) {
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        if (msgpack_unpack_next(&up, zmq_msg_data(&doc), zmq_msg_size(&doc), NULL) ==
            MSGPACK_UNPACK_SUCCESS) {
            fn(&up.data, arg);
            rc = 0;
        } else {
            fprintf(stderr, "kit_status: a STATUS document of %zu bytes that does not decode\n",
                    zmq_msg_size(&doc));
        }
        msgpack_unpacked_destroy(&up);
    } else {
        kit_status_miss(polled, err, &hdr);
    }
    zmq_msg_close(&hdr);
    zmq_msg_close(&doc);
    kit_peer_close(&p);
    return rc;
}

/* Fetches the STATUS document and hands its root to fn; 0 on success. A
 * probe that gets no document says why on stderr and is tried once more
 * (one failed this way, once, under TSan in CI); the document's contents
 * are still checked by the caller, exactly. */
static int kit_status_doc(const kit_daemon *d, void (*fn)(const msgpack_object *root, void *arg),
                          void *arg)
{
    return kit_status_probe(d, fn, arg) && kit_status_probe(d, fn, arg) ? -1 : 0;
}

typedef struct kit_query {
    const char *key, *reason;
    uint64_t *value, *count;
} kit_query;

static void kit_status_read(const msgpack_object *root, void *arg)
{
    kit_query *q = arg;
    const msgpack_object *v = kit_get(root, q->key);
    const msgpack_object *ref = kit_get(root, "refused");
    const msgpack_object *c = q->reason && ref ? kit_get(ref, q->reason) : NULL;
    *q->value = v ? v->via.u64 : UINT64_MAX;
    if (q->count) *q->count = c ? c->via.u64 : UINT64_MAX;
}

int kit_status(const kit_daemon *d, uint64_t *version, const char *reason, uint64_t *count)
{
    kit_query q = {"version", reason, version, count};
    return kit_status_doc(d, kit_status_read, &q);
}

int kit_status_u64(const kit_daemon *d, const char *key, uint64_t *value)
{
    kit_query q = {key, NULL, value, NULL};
    return kit_status_doc(d, kit_status_read, &q);
}

typedef struct kit_transport_query {
    const char *transport;
    uint32_t count;
} kit_transport_query;

static void kit_status_transports(const msgpack_object *root, void *arg)
{
    kit_transport_query *q = arg;
    const msgpack_object *ms = kit_get(root, "members");
    for (uint32_t i = 0; ms && ms->type == MSGPACK_OBJECT_ARRAY && i < ms->via.array.size; i++) {
        const msgpack_object *t = kit_get(&ms->via.array.ptr[i], "transport");
        q->count += t && t->type == MSGPACK_OBJECT_STR && t->via.str.size == strlen(q->transport) &&
                    !memcmp(t->via.str.ptr, q->transport, t->via.str.size);
    }
}

int kit_status_transport(const kit_daemon *d, const char *transport, uint32_t *count)
{
    kit_transport_query q = {transport, 0};
    int rc = kit_status_doc(d, kit_status_transports, &q);
    *count = q.count;
    return rc;
}

static void kit_status_attach_count(const msgpack_object *root, void *arg)
{
    uint32_t *count = arg;
    const msgpack_object *ms = kit_get(root, "members");
    for (uint32_t i = 0; ms && ms->type == MSGPACK_OBJECT_ARRAY && i < ms->via.array.size; i++) {
        const msgpack_object *a = kit_get(&ms->via.array.ptr[i], "attached");
        *count += a && a->type == MSGPACK_OBJECT_BOOLEAN && a->via.boolean;
    }
}

int kit_status_attached(const kit_daemon *d, uint32_t *count)
{
    *count = 0;
    return kit_status_doc(d, kit_status_attach_count, count);
}

/* Writes one pair as base.key / base.pub (and base.pub again under allow/). */
static int kit_key_write(const char *dir, const char *name, int allowed)
{
    char p[512];
    psync_keypair kp;
    if (psync_keypair_generate(&kp)) return -1;
    snprintf(p, sizeof p, "%s/%s.key", dir, name);
    if (psync_keypair_save(&kp, p, 0)) return -1;
    snprintf(p, sizeof p, "%s/%s.pub", dir, name);
    if (psync_pubkey_save(kp.public_key, p, 0)) return -1;
    snprintf(p, sizeof p, "%s/allow/%s.pub", dir, name);
    return allowed && psync_pubkey_save(kp.public_key, p, 0) ? -1 : 0;
}

int kit_keys_make(char *dir, const char *const *names, int n, unsigned allow_mask)
{
    char p[512];
    if (!mkdtemp(dir)) return -1;
    snprintf(p, sizeof p, "%s/allow", dir);
    if (mkdir(p, 0700)) return -1;
    for (int i = 0; i < n; i++)
        if (kit_key_write(dir, names[i], (allow_mask >> i) & 1u)) return -1;
    return 0;
}

int kit_keys_remove(const char *dir)
{
    char cmd[600];
    if (strstr(dir, "XXXXXX")) /* never made */
        return 0;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}
