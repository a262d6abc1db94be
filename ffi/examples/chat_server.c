/* A complete small chat server in C on the clawsocket C API: a minimal WebSocket server
 * (RFC 6455 handshake and framing, poll() loop, 127.0.0.1) that hands every frame to the
 * protocol core and writes back what the core asks for. The "agent" is a toy that echoes the
 * message in two streamed parts, and token verification is answered in-process (token
 * "demo-token" is user "demo-user"); a real host would call its LLM and its auth service.
 *
 * Limits of this demo WebSocket layer (not of the core): no TLS, no fragmented messages
 * (closed with 1003), at most 32 connections, frames up to 1 MiB.
 *
 *   build: cc chat_server.c $(pkg-config --cflags --libs clawsocket) -o chat_server
 *   run:   ./chat_server [port]        prints "listening on 127.0.0.1:<port>"; SIGTERM stops it
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clawsocket.h"

#define MAX_CONNS 32
#define MAX_FRAME (1u << 20)

static const char CONFIG[] = "{\"channels\":{\"websocket\":{\"auth\":{\"enabled\":true,\"required\":true}}}}";

/* ----- SHA-1 and base64, for Sec-WebSocket-Accept ------------------------------------------ */

static uint32_t rol(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

static void sha1(const uint8_t *data, size_t len, uint8_t out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    uint8_t *msg = calloc(total, 1);
    memcpy(msg, data, len);
    msg[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) msg[total - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t off = 0; off < total; off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)msg[off + 4 * i] << 24 | (uint32_t)msg[off + 4 * i + 1] << 16 |
                   (uint32_t)msg[off + 4 * i + 2] << 8 | msg[off + 4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
            else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
            else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
            else f = b ^ c ^ d, k = 0xCA62C1D6;
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d, d = c, c = rol(b, 30), b = a, a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    free(msg);
    for (int i = 0; i < 20; i++) out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const uint8_t *in, size_t len, char *out) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? abc[v & 63] : '=';
    }
    out[o] = 0;
}

/* ----- connections ------------------------------------------------------------------------ */

typedef struct {
    int fd;
    int upgraded;      /* handshake done */
    uint64_t id;       /* the core's connection id once upgraded */
    uint8_t *in;       /* bytes read and not yet parsed */
    size_t in_len, in_cap;
} conn;

static conn conns[MAX_CONNS];
static clawsocket_server *server;
static volatile sig_atomic_t stopping = 0;
static char *buf;      /* output buffer, grown on CLAWSOCKET_BUFFER_TOO_SMALL */
static size_t buf_cap = 256;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void check(clawsocket_result r, const char *what) {
    if (r != CLAWSOCKET_OK) {
        char message[256] = "";
        size_t len;
        clawsocket_last_error_message(message, sizeof message, &len);
        fprintf(stderr, "chat_server: %s: %s (%s)\n", what, clawsocket_result_name(r), message);
        exit(1);
    }
}

static conn *by_id(uint64_t id) {
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0 && conns[i].upgraded && conns[i].id == id) return &conns[i];
    return NULL;
}

static void write_all(int fd, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; /* the read side notices the dead socket */
        p += n, len -= (size_t)n;
    }
}

static void write_frame(int fd, int opcode, const void *payload, size_t len) {
    uint8_t head[10];
    size_t h = 0;
    head[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        head[h++] = (uint8_t)len;
    } else if (len < 65536) {
        head[h++] = 126, head[h++] = (uint8_t)(len >> 8), head[h++] = (uint8_t)len;
    } else {
        head[h++] = 127;
        for (int i = 7; i >= 0; i--) head[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    write_all(fd, head, h);
    write_all(fd, payload, len);
}

static void drop(conn *c) {
    if (c->upgraded) check(clawsocket_server_handle_disconnect(server, now_ms(), c->id), "disconnect");
    close(c->fd);
    free(c->in);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* Reads the string value of "key" from canonical JSON written by the core. */
static char *json_field(const char *json, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = strstr(json, pattern);
    if (!p) return NULL;
    p += strlen(pattern);
    char *out = malloc(strlen(p) + 1);
    size_t n = 0;
    for (; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            out[n++] = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p; /* enough for this demo */
        } else {
            out[n++] = *p;
        }
    }
    out[n] = 0;
    return out;
}

/* ----- the run loop: after every input, drain transmits and events ------------------------ */

static void drain(void) {
    for (int again = 1; again;) {
        again = 0;
        uint64_t id;
        clawsocket_transmit_kind kind;
        uint16_t code;
        size_t len;
        clawsocket_result r;
        while ((r = clawsocket_server_poll_transmit(server, &id, &kind, &code, buf, buf_cap, &len)) != CLAWSOCKET_EMPTY) {
            if (r == CLAWSOCKET_BUFFER_TOO_SMALL) {
                buf_cap = len + 1;
                buf = realloc(buf, buf_cap);
                continue;
            }
            check(r, "poll_transmit");
            conn *c = by_id(id);
            if (!c) continue;
            if (kind == CLAWSOCKET_TRANSMIT_TEXT) {
                write_frame(c->fd, 1, buf, len);
            } else {
                uint8_t *payload = malloc(len + 2);
                payload[0] = (uint8_t)(code >> 8), payload[1] = (uint8_t)code;
                memcpy(payload + 2, buf, len);
                write_frame(c->fd, 8, payload, len + 2);
                free(payload);
                drop(c);
            }
        }
        clawsocket_event_kind event;
        while ((r = clawsocket_server_poll_event(server, &event, &id, buf, buf_cap, &len)) != CLAWSOCKET_EMPTY) {
            if (r == CLAWSOCKET_BUFFER_TOO_SMALL) {
                buf_cap = len + 1;
                buf = realloc(buf, buf_cap);
                continue;
            }
            check(r, "poll_event");
            uint64_t t = now_ms();
            if (event == CLAWSOCKET_EVENT_VERIFY_TOKEN) {
                /* Stand-in for the HTTP POST to auth.endpoint (never log the request: it has the token). */
                char *token = json_field(buf, "token");
                int valid = token && !strcmp(token, "demo-token");
                free(token);
                const char *body = valid ? "{\"success\":true,\"data\":{\"userId\":\"demo-user\",\"username\":\"Demo\"}}"
                                         : "{\"success\":false,\"error\":\"auth_failed\"}";
                check(clawsocket_server_handle_auth_response(server, t, id, valid ? 200 : 401, body, strlen(body)), "auth");
            } else if (event == CLAWSOCKET_EVENT_RUN_TURN) {
                /* The toy agent: two streamed parts, then the final text. */
                char *content = json_field(buf, "content");
                check(clawsocket_server_handle_agent_delta(server, t, id, "You said: "), "delta");
                check(clawsocket_server_handle_agent_delta(server, t, id, content ? content : ""), "delta");
                check(clawsocket_server_handle_agent_final(server, t, id, NULL), "final");
                free(content);
            }
            again = 1; /* agent and auth answers queue more transmits */
        }
    }
}

static int handshake(conn *c) {
    c->in[c->in_len] = 0;
    char *end = strstr((char *)c->in, "\r\n\r\n");
    if (!end) return c->in_len < 8192 ? 0 : -1;
    char *req = (char *)c->in;
    char *target = strchr(req, ' ');
    if (strncmp(req, "GET ", 4) || !target) return -1;
    target++;
    char *target_end = strchr(target, ' ');
    char *key = strstr(req, "Sec-WebSocket-Key:");
    if (!key) key = strstr(req, "sec-websocket-key:");
    if (!target_end || !key) return -1;
    *target_end = 0;
    char *query = strchr(target, '?');
    query = query ? query + 1 : target + strlen(target);
    key += strlen("Sec-WebSocket-Key:");
    while (*key == ' ') key++;
    char accept_src[128];
    size_t klen = strcspn(key, "\r\n");
    if (klen > 64) return -1;
    snprintf(accept_src, sizeof accept_src, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)klen, key);
    uint8_t digest[20];
    char accept[32];
    sha1((const uint8_t *)accept_src, strlen(accept_src), digest);
    base64(digest, 20, accept);
    char response[256];
    int n = snprintf(response, sizeof response,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    write_all(c->fd, response, (size_t)n);
    check(clawsocket_server_handle_connect(server, now_ms(), query, &c->id), "connect");
    c->upgraded = 1;
    size_t used = (size_t)(end + 4 - (char *)c->in);
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    return 1;
}

/* Parses complete frames from c->in; returns -1 when the connection must go. */
static int read_frames(conn *c) {
    for (;;) {
        if (c->in_len < 2) return 0;
        uint8_t *p = c->in;
        int fin = p[0] & 0x80, opcode = p[0] & 0x0F, masked = p[1] & 0x80;
        uint64_t len = p[1] & 0x7F;
        size_t h = 2;
        if (len == 126) {
            if (c->in_len < 4) return 0;
            len = (uint64_t)p[2] << 8 | p[3], h = 4;
        } else if (len == 127) {
            if (c->in_len < 10) return 0;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
            h = 10;
        }
        if (!masked || len > MAX_FRAME) return -1; /* clients must mask (RFC 6455 5.1) */
        if (c->in_len < h + 4 + len) return 0;
        uint8_t *mask = p + h, *payload = p + h + 4;
        for (uint64_t i = 0; i < len; i++) payload[i] ^= mask[i % 4];
        uint64_t t = now_ms();
        if (!fin || opcode == 0) {
            uint8_t unsupported[2] = {1003 >> 8, 1003 & 0xFF};
            write_frame(c->fd, 8, unsupported, 2);
            return -1;
        } else if (opcode == 1) {
            check(clawsocket_server_handle_text(server, t, c->id, (const char *)payload, (size_t)len), "text");
        } else if (opcode == 2) {
            check(clawsocket_server_handle_binary(server, t, c->id, payload, (size_t)len), "binary");
        } else if (opcode == 8) {
            write_frame(c->fd, 8, payload, len >= 2 ? 2 : 0); /* echo the code, then go */
            return -1;
        } else if (opcode == 9) {
            write_frame(c->fd, 10, payload, (size_t)len);
        }
        size_t used = h + 4 + (size_t)len;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        drain();
        if (c->fd < 0) return 0; /* the core closed it while draining */
    }
}

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    for (int i = 0; i < MAX_CONNS; i++) conns[i].fd = -1;
    buf = malloc(buf_cap);
    check(clawsocket_server_new(CONFIG, &server), "server_new");

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 16) || getsockname(lfd, (struct sockaddr *)&addr, &alen)) {
        perror("chat_server: listen");
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    while (!stopping) {
        struct pollfd fds[MAX_CONNS + 1];
        int map[MAX_CONNS + 1];
        int n = 0;
        fds[n].fd = lfd, fds[n].events = POLLIN, map[n++] = -1;
        for (int i = 0; i < MAX_CONNS; i++)
            if (conns[i].fd >= 0) fds[n].fd = conns[i].fd, fds[n].events = POLLIN, map[n++] = i;
        /* Sleep until a socket is readable or the core's next deadline. */
        int wait = -1;
        uint64_t deadline;
        if (clawsocket_server_poll_timeout(server, &deadline) == CLAWSOCKET_OK) {
            uint64_t t = now_ms();
            wait = deadline <= t ? 0 : (int)(deadline - t > 60000 ? 60000 : deadline - t);
        }
        if (poll(fds, (nfds_t)n, wait) < 0) {
            if (errno == EINTR) continue;
            perror("poll");
            break;
        }
        check(clawsocket_server_handle_timeout(server, now_ms()), "timeout");
        drain();
        if (fds[0].revents & POLLIN) {
            int fd = accept(lfd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < MAX_CONNS && slot < 0; i++)
                if (conns[i].fd < 0) slot = i;
            if (fd >= 0 && slot < 0) close(fd);
            if (fd >= 0 && slot >= 0) {
                conns[slot].fd = fd;
                conns[slot].in_cap = 4096;
                conns[slot].in = malloc(conns[slot].in_cap + 1);
            }
        }
        for (int k = 1; k < n; k++) {
            conn *c = &conns[map[k]];
            if (c->fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            if (c->in_len == c->in_cap) {
                if (c->in_cap >= MAX_FRAME + 16) { drop(c); continue; }
                c->in_cap *= 2;
                c->in = realloc(c->in, c->in_cap + 1);
            }
            ssize_t got = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
            if (got <= 0) { drop(c); drain(); continue; }
            c->in_len += (size_t)got;
            int state = c->upgraded ? 1 : handshake(c);
            if (state > 0) {
                drain();
                if (c->fd >= 0 && read_frames(c) < 0) drop(c);
            } else if (state < 0) {
                drop(c);
            }
            drain();
        }
    }

    /* Shutdown: the core closes every connection with 1001 and cancels running replies. */
    check(clawsocket_server_handle_shutdown(server, now_ms()), "shutdown");
    drain();
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0) drop(&conns[i]);
    close(lfd);
    clawsocket_server_free(server);
    free(buf);
    printf("stopped\n");
    return 0;
}
