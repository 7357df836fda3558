/* status.c: `psync status [--json] [--timeout-ms N] [ENDPOINT]`: asks a
 * psyncd for its STATUS document (docs/protocol.md) and prints the cluster
 * as a table, or as JSON. The document is read with the bounded msgpack
 * reader: a daemon is a peer, and nothing a peer sends may crash us. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <zmq.h>

#include "commands.h"
#include "mpread.h"
#include "psync_client.h"
#include "secopts.h"
#include "wire.h"

#define ST_DEPTH 6

/* Writes one msgpack value as JSON (recursion bounded by the reader). */
static psync_err st_json(psync_mp *mp, FILE *out)
{
    psync_mp_kind k;
    psync_err e = psync_mp_peek(mp, &k);
    uint32_t n;
    const char *s;
    if (e) return e;
    switch (k) {
    case PSYNC_MP_MAP:
    case PSYNC_MP_ARRAY: {
        bool map = k == PSYNC_MP_MAP;
        if ((e = map ? psync_mp_read_map(mp, &n, 1u << 16) : psync_mp_read_array(mp, &n, 1u << 16)))
            return e;
        fputc(map ? '{' : '[', out);
        for (uint32_t i = 0; i < n && !e; i++) {
            fputs(i ? "," : "", out);
            if (map && !(e = st_json(mp, out))) fputc(':', out);
            if (!e) e = st_json(mp, out);
        }
        psync_mp_end(mp);
        fputc(map ? '}' : ']', out);
        return e;
    }
    case PSYNC_MP_STR:
        if ((e = psync_mp_read_str(mp, &s, &n))) return e;
        fputc('"', out);
        for (uint32_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (ch == '"' || ch == '\\')
                fprintf(out, "\\%c", ch);
            else if (ch < 0x20)
                fprintf(out, "\\u%04x", ch);
            else
                fputc(ch, out);
        }
        fputc('"', out);
        return PSYNC_OK;
    case PSYNC_MP_UINT: {
        uint64_t u;
        if (!(e = psync_mp_read_uint(mp, &u))) fprintf(out, "%llu", (unsigned long long)u);
        return e;
    }
    case PSYNC_MP_INT: {
        int64_t i;
        if (!(e = psync_mp_read_int(mp, &i))) fprintf(out, "%lld", (long long)i);
        return e;
    }
    case PSYNC_MP_FLOAT: {
        double d;
        if (!(e = psync_mp_read_double(mp, &d))) fprintf(out, "%.17g", d);
        return e;
    }
    case PSYNC_MP_BOOL: {
        bool b;
        if (!(e = psync_mp_read_bool(mp, &b))) fputs(b ? "true" : "false", out);
        return e;
    }
    default:
        fputs("null", out);
        return psync_mp_skip(mp);
    }
}

/* One member row: the columns we show, read from its map. */
typedef struct st_member {
    uint64_t id, held, lag, samples, snapshots, last_seen_ms, bytes_in, bytes_out;
    int64_t rank;
    char name[64];
    char via[8]; /* transport: shm or frames */
} st_member;

/* An int that may be encoded as a msgpack uint (non-negative). */
static psync_err st_read_int(psync_mp *mp, int64_t *out)
{
    psync_mp_kind k;
    uint64_t u;
    psync_err e = psync_mp_peek(mp, &k);
    if (e || k != PSYNC_MP_UINT) return e ? e : psync_mp_read_int(mp, out);
    if (!(e = psync_mp_read_uint(mp, &u))) *out = u > INT64_MAX ? INT64_MAX : (int64_t)u;
    return e;
}

static psync_err st_read_member(psync_mp *mp, st_member *m)
{
    uint32_t n;
    char key[32];
    psync_err e = psync_mp_read_map(mp, &n, 64);
    memset(m, 0, sizeof *m);
    for (uint32_t i = 0; i < n && !e; i++) {
        if ((e = psync_mp_read_key(mp, key, sizeof key))) break;
        uint64_t *u = !strcmp(key, "id")             ? &m->id
                      : !strcmp(key, "held")         ? &m->held
                      : !strcmp(key, "lag")          ? &m->lag
                      : !strcmp(key, "samples")      ? &m->samples
                      : !strcmp(key, "snapshots")    ? &m->snapshots
                      : !strcmp(key, "last_seen_ms") ? &m->last_seen_ms
                      : !strcmp(key, "bytes_in")     ? &m->bytes_in
                      : !strcmp(key, "bytes_out")    ? &m->bytes_out
                                                     : NULL;
        if (u)
            e = psync_mp_read_uint(mp, u);
        else if (!strcmp(key, "rank"))
            e = st_read_int(mp, &m->rank);
        else if (!strcmp(key, "name"))
            e = psync_mp_read_str_copy(mp, m->name, sizeof m->name);
        else if (!strcmp(key, "transport"))
            e = psync_mp_read_str_copy(mp, m->via, sizeof m->via);
        else
            e = psync_mp_skip(mp);
    }
    if (!e) psync_mp_end(mp);
    return e;
}

static psync_err st_members(psync_mp *mp, FILE *out)
{
    uint32_t n;
    st_member m;
    psync_err e = psync_mp_read_array(mp, &n, 1u << 16);
    fprintf(out, "\n%-6s %-24s %5s %8s %5s %10s %6s %8s %12s %12s %6s\n", "ID", "NAME", "RANK",
            "HELD", "LAG", "SAMPLES", "SNAPS", "SEEN_MS", "BYTES_IN", "BYTES_OUT", "VIA");
    for (uint32_t i = 0; i < n && !e; i++)
        if (!(e = st_read_member(mp, &m)))
            fprintf(out, "%-6llu %-24s %5lld %8llu %5llu %10llu %6llu %8llu %12llu %12llu %6s\n",
                    (unsigned long long)m.id, m.name, (long long)m.rank, (unsigned long long)m.held,
                    (unsigned long long)m.lag, (unsigned long long)m.samples,
                    (unsigned long long)m.snapshots, (unsigned long long)m.last_seen_ms,
                    (unsigned long long)m.bytes_in, (unsigned long long)m.bytes_out,
                    m.via[0] ? m.via : "-");
    if (!e) psync_mp_end(mp);
    return e;
}

/* Prints the document as "key: value" lines, refusals and a member table. */
static psync_err st_table(psync_mp *mp, FILE *out)
{
    uint32_t n;
    char key[32];
    psync_err e = psync_mp_read_map(mp, &n, 64);
    for (uint32_t i = 0; i < n && !e; i++) {
        if ((e = psync_mp_read_key(mp, key, sizeof key))) break;
        if (!strcmp(key, "members")) {
            e = st_members(mp, out);
            continue;
        }
        fprintf(out, "%-14s ", key);
        e = st_json(mp, out);
        fputc('\n', out);
    }
    return e;
}

/* Security settings of `psync status` (also PSYNC_KEY_FILE, PSYNC_SERVER_KEY). */
typedef struct st_keys {
    const char *key_file, *server_key;
    bool insecure_plain;
} st_keys;

/* Connects s to ep with the security of k, watching the handshake so a
 * refused key is reported at once (not as a timeout). */
static psync_err st_connect(void *ctx, void *s, const char *ep, const st_keys *k, int timeout_ms,
                            psync_security **sec)
{
    psync_err e =
        psync_secopts_client(sec, k->key_file, k->server_key, k->insecure_plain, ep, NULL);
    if (e || (e = psync_security_apply(*sec, s, ep))) return e;
    e = psync_security_watch_handshake(ctx, s, ep, timeout_ms);
    return e == PSYNC_ETIMEOUT ? PSYNC_OK : e; /* the poll below times out */
}

/* Sends status_req and receives the document into *doc (caller closes). */
static psync_err st_fetch(const char *ep, const st_keys *k, int timeout_ms, zmq_msg_t *doc)
{
    psync_err e = PSYNC_OK;
    psync_security *sec = NULL;
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_msg_t fr[PSYNC_WIRE_MAX_FRAMES];
    int nf = 0;
    bool extra;
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_STATUS_REQ, 0);
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if ((e = st_connect(ctx, s, ep, k, timeout_ms, &sec)))
        ;
    else if (!(e = psync_wire_send(s, NULL, 0, &h, NULL, 0)) && zmq_poll(&it, 1, timeout_ms) != 1)
        e = psync_fail(PSYNC_ETIMEOUT, "no answer from psyncd at %s within %d ms", ep, timeout_ms);
    else if (!e && !(e = psync_wire_recv(s, fr, &nf, &extra))) {
        if (nf != 2 || psync_wire_decode(zmq_msg_data(&fr[0]), zmq_msg_size(&fr[0]), &h) ||
            h.t != PSYNC_MSG_STATUS)
            e = psync_fail(PSYNC_EPROTO, "%s did not answer with a status document", ep);
        else
            zmq_msg_move(doc, &fr[1]);
        for (int i = 0; i < nf; i++)
            zmq_msg_close(&fr[i]);
    }
    zmq_close(s);
    psync_security_destroy(&sec);
    zmq_ctx_term(ctx);
    return e;
}

static int st_usage(FILE *out, int rc)
{
    fprintf(out, "usage: psync status [--json] [--timeout-ms N] [--key-file F --server-key K]\n"
                 "                    [--insecure-plain] [ENDPOINT]\n\n"
                 "Shows a psyncd's version, policy, refusal counters and members. ENDPOINT\n"
                 "is the control endpoint (default: PSYNC_ADDR, else MASTER_ADDR:MASTER_PORT,\n"
                 "else tcp://127.0.0.1:5555). A psyncd with CURVE needs our key pair file\n"
                 "(--key-file, PSYNC_KEY_FILE; its .pub on psyncd's allow-list) and psyncd's\n"
                 "public key (--server-key FILE|Z85, PSYNC_SERVER_KEY).\n");
    return rc;
}

int psync_cmd_status(int argc, char **argv)
{
    bool json = false;
    int timeout = 3000;
    char control[256], bulk[256];
    psync_client_opts o = {.rank = -1};
    st_keys k = {NULL, NULL, false};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--key-file") && i + 1 < argc)
            k.key_file = argv[++i];
        else if (!strcmp(argv[i], "--server-key") && i + 1 < argc)
            k.server_key = argv[++i];
        else if (!strcmp(argv[i], "--insecure-plain"))
            k.insecure_plain = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return st_usage(stdout, 0);
        else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
            timeout = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !o.control)
            o.control = argv[i];
        else
            return st_usage(stderr, EX_USAGE);
    }
    if (psync_client_endpoints(&o, control, bulk, sizeof control)) {
        fprintf(stderr, "psync status: %s\n", psync_errdetail());
        return EX_USAGE;
    }
    zmq_msg_t doc;
    zmq_msg_init(&doc);
    psync_err e = st_fetch(control, &k, timeout, &doc);
    if (!e) {
        psync_mp mp;
        psync_mp_init(&mp, zmq_msg_data(&doc), zmq_msg_size(&doc), ST_DEPTH);
        e = json ? st_json(&mp, stdout) : st_table(&mp, stdout);
        if (json) fputc('\n', stdout);
    }
    zmq_msg_close(&doc);
    if (e) {
        fprintf(stderr, "psync status: %s\n", psync_errdetail());
        return e == PSYNC_ETIMEOUT  ? EX_UNAVAILABLE
               : e == PSYNC_ECONFIG ? EX_USAGE
               : e == PSYNC_EAUTH   ? EX_NOPERM
                                    : EX_PROTOCOL;
    }
    return 0;
}
