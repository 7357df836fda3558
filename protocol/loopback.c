/* loopback.c: psync_security_required(), the rule that decides which
 * ZeroMQ endpoints must use CURVE: everything that can leave this host.
 * Only ipc://, inproc:// and tcp:// to a loopback address are exempt. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "security.h"

/* True if host (no brackets, no port) is a loopback name or address. */
static bool loopback_host(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (!strcasecmp(host, "localhost")) return true;
    if (inet_pton(AF_INET, host, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) != 1) return false;
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

/* Extracts the host of "HOST:PORT" or "[HOST]:PORT" into out; -1 if the
 * address has no port or does not fit. */
static int loopback_split(const char *addr, char *out, size_t cap)
{
    const char *end;
    if (addr[0] == '[') {
        end = strchr(addr, ']');
        if (!end || end[1] != ':') return -1;
        addr++;
    } else {
        end = strrchr(addr, ':');
        if (!end) return -1;
    }
    size_t n = (size_t)(end - addr);
    if (n == 0 || n >= cap) return -1;
    memcpy(out, addr, n);
    out[n] = '\0';
    return 0;
}

bool psync_security_required(const char *endpoint)
{
    if (!endpoint) return true;
    if (!strncmp(endpoint, "ipc://", 6) || !strncmp(endpoint, "inproc://", 9)) return false;
    if (strncmp(endpoint, "tcp://", 6)) return true;
    const char *addr = endpoint + 6;
    if (strchr(addr, ';')) /* "source;destination": be strict */
        return true;
    char host[256];
    if (loopback_split(addr, host, sizeof host)) return true;
    return !loopback_host(host);
}
