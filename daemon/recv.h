/* recv.h: one received message with its checked envelope (recv.c). */
#ifndef PSYNCD_RECV_H
#define PSYNCD_RECV_H

#include "daemon.h"

typedef struct psd_msg {
    zmq_msg_t frames[PSYNC_WIRE_MAX_FRAMES];
    int n;
    bool extra;
    const uint8_t *rid; /* routing id (frame 0) */
    size_t rid_len;
    psync_wire_hdr h;
    zmq_msg_t *payload; /* frame 2 or NULL */
} psd_msg;

/* Receives one message from sock (the ch socket) without waiting. Returns
 * true with a valid envelope (caller must psd_msg_close); false if nothing
 * was waiting or the message was refused (already answered and closed). */
bool psd_recv(psd *d, void *sock, psync_wire_channel ch, psd_msg *msg);
void psd_msg_close(psd_msg *msg);
/* The member that sent msg (routing id and "m" must agree), its last-seen
 * time refreshed; NULL after refusing with ENOTFOUND ("send hello"). */
psd_member *psd_msg_member(psd *d, void *sock, psd_msg *msg);

#endif
