/* Error handling and buffer sizing of the C API: NULL pointers, invalid UTF-8, too-small
 * buffers, unknown ids, free(NULL), repeated calls, per-thread last errors, handles moved
 * between threads, and a client and a server talking to each other in memory. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clawsocket.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define EXPECT(call, code)                                                                   \
    do {                                                                                     \
        clawsocket_result r_ = (call);                                                       \
        checks++;                                                                            \
        if (r_ != (code)) {                                                                  \
            failures++;                                                                      \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__, #call, \
                    clawsocket_result_name(r_), clawsocket_result_name(code));               \
        }                                                                                    \
    } while (0)

static const char NO_AUTH[] = "{\"auth\":{\"enabled\":false}}";
static const char BAD_UTF8[] = {'s', 'e', 'n', 'd', (char)0xC3, (char)0x28, 0};

static void last_error(char *key, char *message) {
    size_t len;
    key[0] = message[0] = 0;
    if (clawsocket_last_error_key(key, 256, &len) != CLAWSOCKET_OK) key[0] = 0;
    if (clawsocket_last_error_message(message, 256, &len) != CLAWSOCKET_OK) message[0] = 0;
}

static void test_result_names(void) {
    CHECK(!strcmp(clawsocket_result_name(CLAWSOCKET_OK), "ok"));
    CHECK(!strcmp(clawsocket_result_name(CLAWSOCKET_BUFFER_TOO_SMALL), "buffer_too_small"));
    CHECK(!strcmp(clawsocket_result_name(CLAWSOCKET_UNKNOWN_TURN), "unknown_turn"));
    CHECK(!strcmp(clawsocket_result_name(CLAWSOCKET_POISONED), "poisoned"));
    CHECK(!strcmp(clawsocket_result_name(-1), "unknown"));
    CHECK(!strcmp(clawsocket_result_name(1000), "unknown"));
    /* Every code up to the last has its own name. */
    for (int a = 0; a <= CLAWSOCKET_POISONED; a++)
        for (int b = a + 1; b <= CLAWSOCKET_POISONED; b++) CHECK(strcmp(clawsocket_result_name(a), clawsocket_result_name(b)));
}

static void test_server_new(void) {
    clawsocket_server *sentinel = (clawsocket_server *)&failures, *srv = sentinel;
    char key[256], message[256];
    EXPECT(clawsocket_server_new(NULL, &srv), CLAWSOCKET_NULL_POINTER);
    CHECK(srv == sentinel);
    EXPECT(clawsocket_server_new("{}", NULL), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_new(BAD_UTF8, &srv), CLAWSOCKET_INVALID_UTF8);
    EXPECT(clawsocket_server_new("{\"channels\":{\"websocket\":{\"auth\":{\"timeout\":0}}}}", &srv), CLAWSOCKET_INVALID_CONFIG);
    CHECK(srv == sentinel);
    last_error(key, message);
    CHECK(!strcmp(key, "channels.websocket.auth.timeout"));
    CHECK(strstr(message, "whole number") != NULL);
    EXPECT(clawsocket_server_new("{\"dmPolicy\":\"closed\"}", &srv), CLAWSOCKET_INVALID_CONFIG);
    last_error(key, message);
    CHECK(!strcmp(key, "dmPolicy"));
    EXPECT(clawsocket_server_new("not json", &srv), CLAWSOCKET_INVALID_CONFIG);
    CHECK(srv == sentinel);
    /* The seed's environment overrides, as values the host read. */
    EXPECT(clawsocket_server_new_with_env("{}", "maybe", NULL, &srv), CLAWSOCKET_INVALID_CONFIG);
    last_error(key, message);
    CHECK(!strcmp(key, "WS_AUTH_ENABLED") && srv == sentinel);
    EXPECT(clawsocket_server_new_with_env("{}", NULL, "ftp://x", &srv), CLAWSOCKET_INVALID_CONFIG);
    last_error(key, message);
    CHECK(!strcmp(key, "WS_AUTH_ENDPOINT") && srv == sentinel);
    EXPECT(clawsocket_server_new_with_env("{}", "0", NULL, &srv), CLAWSOCKET_OK);
    {
        /* Auth disabled by the override: a connection without a token is accepted. */
        uint64_t conn;
        char ready[1024];
        size_t len;
        clawsocket_transmit_kind kind;
        uint16_t code;
        EXPECT(clawsocket_server_handle_connect(srv, 0, "senderId=env", &conn), CLAWSOCKET_OK);
        EXPECT(clawsocket_server_poll_transmit(srv, &conn, &kind, &code, ready, sizeof ready, &len), CLAWSOCKET_OK);
        CHECK(strstr(ready, "\"type\":\"chat.ready\"") != NULL);
    }
    clawsocket_server_free(srv);
    srv = sentinel;
    EXPECT(clawsocket_server_new("{}", &srv), CLAWSOCKET_OK);
    CHECK(srv != sentinel && srv != NULL);
    clawsocket_server_free(srv);
    clawsocket_server_free(NULL);
    clawsocket_client_free(NULL);
}

static void test_last_error_sizing(void) {
    clawsocket_server *srv = NULL;
    EXPECT(clawsocket_server_new("{\"port\":\"x\"}", &srv), CLAWSOCKET_INVALID_CONFIG);
    size_t len = 12345;
    EXPECT(clawsocket_last_error_key(NULL, 0, &len), CLAWSOCKET_BUFFER_TOO_SMALL);
    CHECK(len == strlen("port"));
    char small[4];
    EXPECT(clawsocket_last_error_key(small, sizeof small, &len), CLAWSOCKET_BUFFER_TOO_SMALL); /* no room for the NUL */
    char exact[5];
    EXPECT(clawsocket_last_error_key(exact, sizeof exact, &len), CLAWSOCKET_OK);
    CHECK(!strcmp(exact, "port") && len == 4);
    EXPECT(clawsocket_last_error_key(NULL, 5, &len), CLAWSOCKET_NULL_POINTER);
    /* That failure replaced the last error; its message says what was NULL, and names no key. */
    EXPECT(clawsocket_last_error_key(exact, sizeof exact, &len), CLAWSOCKET_EMPTY);
    char message[128];
    EXPECT(clawsocket_last_error_message(message, sizeof message, &len), CLAWSOCKET_OK);
    CHECK(strstr(message, "buf") != NULL);
    EXPECT(clawsocket_last_error_message(message, sizeof message, NULL), CLAWSOCKET_NULL_POINTER);
}

static clawsocket_server *server(const char *config) {
    clawsocket_server *srv = NULL;
    if (clawsocket_server_new(config, &srv) != CLAWSOCKET_OK) abort();
    return srv;
}

static size_t drain(clawsocket_server *srv) {
    char buf[8192];
    size_t n = 0, len;
    uint64_t conn;
    clawsocket_transmit_kind kind;
    uint16_t code;
    while (clawsocket_server_poll_transmit(srv, &conn, &kind, &code, buf, sizeof buf, &len) == CLAWSOCKET_OK) n++;
    clawsocket_event_kind ekind;
    uint64_t id;
    while (clawsocket_server_poll_event(srv, &ekind, &id, buf, sizeof buf, &len) == CLAWSOCKET_OK) n++;
    return n;
}

static void test_server_inputs(void) {
    clawsocket_server *srv = server(NO_AUTH);
    uint64_t conn = 777;
    EXPECT(clawsocket_server_handle_connect(srv, 0, NULL, &conn), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_connect(srv, 0, "senderId=a", NULL), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_connect(srv, 0, BAD_UTF8, &conn), CLAWSOCKET_INVALID_UTF8);
    CHECK(conn == 777);
    size_t count = 99;
    EXPECT(clawsocket_server_connection_count(srv, &count), CLAWSOCKET_OK);
    CHECK(count == 0); /* the refused calls connected nothing */
    EXPECT(clawsocket_server_handle_connect(srv, 0, "senderId=alice", &conn), CLAWSOCKET_OK);
    CHECK(conn == 1);
    CHECK(drain(srv) == 1); /* chat.ready */

    /* Text frames are the peer's bytes: invalid UTF-8 is the core's business (a chat.error). */
    EXPECT(clawsocket_server_handle_text(srv, 1, conn, BAD_UTF8, strlen(BAD_UTF8)), CLAWSOCKET_OK);
    CHECK(drain(srv) == 1);
    EXPECT(clawsocket_server_handle_text(srv, 1, conn, NULL, 5), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_text(srv, 1, conn, NULL, 0), CLAWSOCKET_OK); /* empty frame: a chat.error */
    CHECK(drain(srv) == 1);
    EXPECT(clawsocket_server_handle_text(srv, 1, 42, "{}", 2), CLAWSOCKET_UNKNOWN_CONNECTION);
    EXPECT(clawsocket_server_handle_binary(srv, 1, 42, (const uint8_t *)"x", 1), CLAWSOCKET_UNKNOWN_CONNECTION);
    EXPECT(clawsocket_server_handle_binary(srv, 1, conn, NULL, 3), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_auth_response(srv, 1, conn, 200, NULL, 4), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_auth_response(srv, 1, conn, 200, "{}", 2), CLAWSOCKET_OK); /* not waiting: ignored */
    EXPECT(clawsocket_server_handle_auth_unavailable(srv, 1, 42), CLAWSOCKET_OK);
    CHECK(drain(srv) == 0);

    /* Agent output. */
    EXPECT(clawsocket_server_handle_agent_delta(srv, 2, 1, "x"), CLAWSOCKET_UNKNOWN_TURN);
    EXPECT(clawsocket_server_handle_agent_final(srv, 2, 0, NULL), CLAWSOCKET_UNKNOWN_TURN);
    const char *send = "{\"type\":\"chat.send\",\"content\":\"hi\"}";
    EXPECT(clawsocket_server_handle_text(srv, 3, conn, send, strlen(send)), CLAWSOCKET_OK);
    CHECK(drain(srv) == 2); /* typing + run_turn */
    EXPECT(clawsocket_server_handle_agent_delta(srv, 4, 1, NULL), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_agent_delta(srv, 4, 1, BAD_UTF8), CLAWSOCKET_INVALID_UTF8);
    EXPECT(clawsocket_server_handle_agent_text(srv, 4, 1, BAD_UTF8), CLAWSOCKET_INVALID_UTF8);
    EXPECT(clawsocket_server_handle_agent_error(srv, 4, 1, NULL), CLAWSOCKET_NULL_POINTER);
    CHECK(drain(srv) == 0); /* refused input changed nothing */
    EXPECT(clawsocket_server_handle_agent_final(srv, 5, 1, NULL), CLAWSOCKET_OK); /* NULL: streamed text */
    CHECK(drain(srv) == 2); /* response + turn_finished */
    EXPECT(clawsocket_server_handle_agent_final(srv, 6, 1, "again"), CLAWSOCKET_OK); /* finished: ignored */
    EXPECT(clawsocket_server_handle_agent_error(srv, 6, 1, "late"), CLAWSOCKET_OK);
    CHECK(drain(srv) == 0);

    /* Host answers with ids that do not exist. */
    EXPECT(clawsocket_server_approve_pairing(srv, 7, "ABCDEFGH"), CLAWSOCKET_UNKNOWN_PAIRING_CODE);
    EXPECT(clawsocket_server_approve_pairing(srv, 7, NULL), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_history(srv, 7, 9, "{\"messages\":[]}"), CLAWSOCKET_UNKNOWN_REQUEST);
    EXPECT(clawsocket_server_handle_history_error(srv, 7, 9, "down"), CLAWSOCKET_UNKNOWN_REQUEST);
    EXPECT(clawsocket_server_allow_sender(srv, NULL), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_allow_sender(srv, "bob"), CLAWSOCKET_OK);
    EXPECT(clawsocket_server_restore_dynamic_agent(srv, BAD_UTF8), CLAWSOCKET_INVALID_UTF8);
    EXPECT(clawsocket_server_restore_sessions(srv, 7, "garbage"), CLAWSOCKET_INVALID_STATE);
    EXPECT(clawsocket_server_restore_sessions(srv, 7, "{\"version\":99,\"sessions\":[]}"), CLAWSOCKET_INVALID_STATE);

    /* Disconnect twice: the second is a usage error. */
    EXPECT(clawsocket_server_handle_disconnect(srv, 8, conn), CLAWSOCKET_OK);
    EXPECT(clawsocket_server_handle_disconnect(srv, 8, conn), CLAWSOCKET_UNKNOWN_CONNECTION);
    EXPECT(clawsocket_server_handle_text(srv, 8, conn, send, strlen(send)), CLAWSOCKET_UNKNOWN_CONNECTION);

    uint64_t deadline = 5;
    EXPECT(clawsocket_server_poll_timeout(srv, NULL), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_poll_timeout(srv, &deadline), CLAWSOCKET_EMPTY);
    CHECK(deadline == 5);
    EXPECT(clawsocket_server_handle_timeout(srv, 9), CLAWSOCKET_OK);
    EXPECT(clawsocket_server_handle_shutdown(srv, 10), CLAWSOCKET_OK);
    clawsocket_server_free(srv);
}

static void test_history_page(void) {
    /* protocol 2 connection asks for history; the page JSON is checked before it is used. */
    clawsocket_server *srv = server(NO_AUTH);
    uint64_t conn;
    EXPECT(clawsocket_server_handle_connect(srv, 0, "senderId=h&protocol=2", &conn), CLAWSOCKET_OK);
    drain(srv);
    const char *ask = "{\"type\":\"chat.history\",\"limit\":5}";
    EXPECT(clawsocket_server_handle_text(srv, 1, conn, ask, strlen(ask)), CLAWSOCKET_OK);
    char buf[1024];
    size_t len;
    clawsocket_event_kind kind;
    uint64_t request = 0;
    EXPECT(clawsocket_server_poll_event(srv, &kind, &request, buf, sizeof buf, &len), CLAWSOCKET_OK);
    CHECK(kind == CLAWSOCKET_EVENT_FETCH_HISTORY && request > 0);
    drain(srv);
    char key[256], message[256];
    EXPECT(clawsocket_server_handle_history(srv, 2, request, "{\"messages\":[{\"role\":\"user\"}]}"), CLAWSOCKET_INVALID_ARGUMENT);
    last_error(key, message);
    CHECK(!strcmp(key, "messages[0].messageId"));
    EXPECT(clawsocket_server_handle_history(srv, 2, request, "{\"mesages\":[]}"), CLAWSOCKET_INVALID_ARGUMENT);
    last_error(key, message);
    CHECK(!strcmp(key, "mesages"));
    CHECK(drain(srv) == 0);
    /* The request is still outstanding after the refused answers. */
    EXPECT(clawsocket_server_handle_history(srv, 2, request,
                                            "{\"messages\":[{\"messageId\":\"m1\",\"role\":\"user\",\"content\":\"hi\",\"at\":1}],\"nextCursor\":\"c1\"}"),
           CLAWSOCKET_OK);
    uint64_t to;
    clawsocket_transmit_kind tkind;
    uint16_t code;
    EXPECT(clawsocket_server_poll_transmit(srv, &to, &tkind, &code, buf, sizeof buf, &len), CLAWSOCKET_OK);
    CHECK(strstr(buf, "\"type\":\"chat.history\"") && strstr(buf, "\"nextCursor\":\"c1\""));
    EXPECT(clawsocket_server_handle_history(srv, 3, request, "{\"messages\":[]}"), CLAWSOCKET_UNKNOWN_REQUEST);
    clawsocket_server_free(srv);
}

static void test_poll_sizing(void) {
    clawsocket_server *srv = server(NO_AUTH);
    uint64_t conn;
    EXPECT(clawsocket_server_handle_connect(srv, 0, "senderId=sizing", &conn), CLAWSOCKET_OK);
    uint64_t to = 555;
    clawsocket_transmit_kind kind = (clawsocket_transmit_kind)99;
    uint16_t code = 555;
    size_t len = 0, needed;
    /* Size query: nothing consumed, nothing but len written. */
    EXPECT(clawsocket_server_poll_transmit(srv, &to, &kind, &code, NULL, 0, &needed), CLAWSOCKET_BUFFER_TOO_SMALL);
    CHECK(needed > 100 && to == 555 && code == 555 && (int)kind == 99);
    char *buf = malloc(needed + 1);
    memset(buf, 'x', needed + 1);
    EXPECT(clawsocket_server_poll_transmit(srv, &to, &kind, &code, buf, needed, &len), CLAWSOCKET_BUFFER_TOO_SMALL);
    CHECK(len == needed && buf[0] == 'x'); /* no room for the NUL: nothing copied */
    EXPECT(clawsocket_server_poll_transmit(srv, &to, &kind, &code, buf, 8, NULL), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_poll_transmit(srv, NULL, &kind, &code, buf, needed + 1, &len), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_poll_transmit(srv, &to, &kind, &code, NULL, 8, &len), CLAWSOCKET_NULL_POINTER);
    /* Still there after every refusal. */
    EXPECT(clawsocket_server_poll_transmit(srv, &to, &kind, &code, buf, needed + 1, &len), CLAWSOCKET_OK);
    CHECK(len == needed && buf[len] == 0 && strlen(buf) == len && to == conn && kind == CLAWSOCKET_TRANSMIT_TEXT && code == 0);
    CHECK(!strncmp(buf, "{\"type\":\"chat.ready\"", 20));
    to = 555;
    EXPECT(clawsocket_server_poll_transmit(srv, &to, &kind, &code, buf, needed + 1, &len), CLAWSOCKET_EMPTY);
    EXPECT(clawsocket_server_poll_transmit(srv, &to, &kind, &code, buf, needed + 1, &len), CLAWSOCKET_EMPTY);
    CHECK(to == 555);

    /* A close: the reason is the text. */
    EXPECT(clawsocket_server_handle_shutdown(srv, 1), CLAWSOCKET_OK);
    EXPECT(clawsocket_server_poll_transmit(srv, &to, &kind, &code, buf, needed + 1, &len), CLAWSOCKET_OK);
    CHECK(kind == CLAWSOCKET_TRANSMIT_CLOSE && code == 1001 && to == conn && strlen(buf) == len && len > 0);

    /* Events follow the same rules. */
    clawsocket_server *auth = server("{\"auth\":{\"enabled\":true,\"required\":true}}");
    EXPECT(clawsocket_server_handle_connect(auth, 0, "token=secret-token&senderId=x", &conn), CLAWSOCKET_OK);
    clawsocket_event_kind ekind = (clawsocket_event_kind)99;
    uint64_t id = 555;
    EXPECT(clawsocket_server_poll_event(auth, &ekind, &id, buf, 4, &len), CLAWSOCKET_BUFFER_TOO_SMALL);
    CHECK((int)ekind == 99 && id == 555);
    needed = len;
    char *big = malloc(needed + 1);
    EXPECT(clawsocket_server_poll_event(auth, NULL, &id, big, needed + 1, &len), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_poll_event(auth, &ekind, &id, big, needed + 1, &len), CLAWSOCKET_OK);
    CHECK(ekind == CLAWSOCKET_EVENT_VERIFY_TOKEN && id == conn && len == needed && strstr(big, "secret-token"));
    EXPECT(clawsocket_server_poll_event(auth, &ekind, &id, big, needed + 1, &len), CLAWSOCKET_EMPTY);
    uint64_t deadline = 0;
    EXPECT(clawsocket_server_poll_timeout(auth, &deadline), CLAWSOCKET_OK);
    CHECK(deadline == 5000); /* the seed's default auth timeout */
    /* Verified: the identity comes from the auth service. */
    const char *body = "{\"success\":true,\"data\":{\"userId\":\"u-1\",\"username\":\"Ann\"}}";
    EXPECT(clawsocket_server_handle_auth_response(auth, 10, conn, 200, body, strlen(body)), CLAWSOCKET_OK);
    EXPECT(clawsocket_server_poll_transmit(auth, &to, &kind, &code, big, needed + 1, &len), CLAWSOCKET_BUFFER_TOO_SMALL);
    big = realloc(big, len + 1);
    EXPECT(clawsocket_server_poll_transmit(auth, &to, &kind, &code, big, len + 1, &len), CLAWSOCKET_OK);
    CHECK(strstr(big, "\"senderId\":\"u-1\"") && strstr(big, "\"authenticated\":true"));

    /* Export sizing: repeatable, nothing consumed. */
    size_t export_len;
    EXPECT(clawsocket_server_export_sessions(auth, NULL, 0, &export_len), CLAWSOCKET_BUFFER_TOO_SMALL);
    char *exported = malloc(export_len + 1);
    EXPECT(clawsocket_server_export_sessions(auth, exported, export_len + 1, &len), CLAWSOCKET_OK);
    CHECK(len == export_len);
    clawsocket_server *restored = server(NO_AUTH);
    EXPECT(clawsocket_server_restore_sessions(restored, 20, exported), CLAWSOCKET_OK);
    clawsocket_server_free(restored);
    free(exported);
    free(big);
    free(buf);
    clawsocket_server_free(auth);
    clawsocket_server_free(srv);
}

static void test_null_handles(void) {
    char buf[8];
    size_t len;
    uint64_t u;
    uint16_t code;
    clawsocket_transmit_kind tk;
    clawsocket_event_kind ek;
    clawsocket_client_event_kind ck;
    EXPECT(clawsocket_server_handle_connect(NULL, 0, "", &u), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_text(NULL, 0, 1, "x", 1), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_binary(NULL, 0, 1, NULL, 0), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_disconnect(NULL, 0, 1), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_auth_response(NULL, 0, 1, 200, NULL, 0), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_auth_unavailable(NULL, 0, 1), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_agent_delta(NULL, 0, 1, "x"), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_agent_text(NULL, 0, 1, "x"), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_agent_final(NULL, 0, 1, NULL), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_agent_error(NULL, 0, 1, "x"), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_timeout(NULL, 0), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_shutdown(NULL, 0), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_approve_pairing(NULL, 0, "x"), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_allow_sender(NULL, "x"), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_restore_dynamic_agent(NULL, "x"), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_history(NULL, 0, 1, "{}"), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_handle_history_error(NULL, 0, 1, "x"), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_export_sessions(NULL, buf, sizeof buf, &len), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_restore_sessions(NULL, 0, "{}"), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_poll_transmit(NULL, &u, &tk, &code, buf, sizeof buf, &len), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_poll_event(NULL, &ek, &u, buf, sizeof buf, &len), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_poll_timeout(NULL, &u), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_server_connection_count(NULL, &len), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_connect_query(NULL, buf, sizeof buf, &len), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_send(NULL, 0, "{}"), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_last_message_id(NULL, buf, sizeof buf, &len), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_cancel(NULL, NULL), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_request_history(NULL, NULL, 5, NULL), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_handle_open(NULL, 0), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_handle_close(NULL, 0, 1000), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_stop(NULL), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_handle_frame(NULL, 0, "{}", 2), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_handle_timeout(NULL, 0), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_set_last_seq(NULL, "k", 1), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_last_seqs(NULL, buf, sizeof buf, &len), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_poll_transmit(NULL, buf, sizeof buf, &len), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_poll_event(NULL, &ck, buf, sizeof buf, &len), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_poll_timeout(NULL, &u), CLAWSOCKET_NULL_POINTER);
}

/* Moves frames between a client and a server, both through the C API. */
static void pump(clawsocket_client *cli, clawsocket_server *srv, uint64_t conn, uint64_t now) {
    char buf[4096];
    size_t len;
    for (int moved = 1; moved;) {
        moved = 0;
        while (clawsocket_client_poll_transmit(cli, buf, sizeof buf, &len) == CLAWSOCKET_OK) {
            EXPECT(clawsocket_server_handle_text(srv, now, conn, buf, len), CLAWSOCKET_OK);
            moved = 1;
        }
        uint64_t to;
        clawsocket_transmit_kind kind;
        uint16_t code;
        while (clawsocket_server_poll_transmit(srv, &to, &kind, &code, buf, sizeof buf, &len) == CLAWSOCKET_OK) {
            CHECK(kind == CLAWSOCKET_TRANSMIT_TEXT && to == conn);
            EXPECT(clawsocket_client_handle_frame(cli, now, buf, len), CLAWSOCKET_OK);
            moved = 1;
        }
    }
}

static int next_client_event(clawsocket_client *cli, clawsocket_client_event_kind want, char *buf, size_t cap) {
    clawsocket_client_event_kind kind;
    size_t len;
    while (clawsocket_client_poll_event(cli, &kind, buf, cap, &len) == CLAWSOCKET_OK)
        if (kind == want) return 1;
    return 0;
}

static void test_client(void) {
    clawsocket_client *cli = (clawsocket_client *)&checks, *sentinel = cli;
    char key[256], message[256];
    EXPECT(clawsocket_client_new(NULL, &cli), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_new("{\"protocol\":3}", &cli), CLAWSOCKET_INVALID_ARGUMENT);
    last_error(key, message);
    CHECK(!strcmp(key, "protocol"));
    EXPECT(clawsocket_client_new("{\"senderID\":\"x\"}", &cli), CLAWSOCKET_INVALID_ARGUMENT);
    last_error(key, message);
    CHECK(!strcmp(key, "senderID") && !strcmp(message, "unknown option"));
    CHECK(cli == sentinel);
    EXPECT(clawsocket_client_new("{\"senderId\":\"ann lee\",\"senderName\":\"Ann\",\"messageIdPrefix\":\"t\"}", &cli), CLAWSOCKET_OK);

    char query[8];
    size_t len;
    EXPECT(clawsocket_client_connect_query(cli, query, sizeof query, &len), CLAWSOCKET_BUFFER_TOO_SMALL);
    char *q = malloc(len + 1);
    EXPECT(clawsocket_client_connect_query(cli, q, len + 1, &len), CLAWSOCKET_OK);
    CHECK(!strcmp(q, "senderId=ann%20lee&senderName=Ann&protocol=2&stream=delta"));

    char buf[4096];
    CHECK(next_client_event(cli, CLAWSOCKET_CLIENT_RECONNECT, buf, sizeof buf));
    CHECK(!strcmp(buf, "{\"event\":\"reconnect\",\"attempt\":0}"));
    EXPECT(clawsocket_client_last_message_id(cli, buf, sizeof buf, &len), CLAWSOCKET_EMPTY);
    EXPECT(clawsocket_client_send(cli, 0, "{\"content\":\"   \"}"), CLAWSOCKET_EMPTY_CONTENT);
    EXPECT(clawsocket_client_send(cli, 0, "{\"content\":\"hi\",\"media\":[{\"url\":\"x\"}]}"), CLAWSOCKET_INVALID_ARGUMENT);
    last_error(key, message);
    CHECK(!strcmp(key, "media[0].path"));
    EXPECT(clawsocket_client_send(cli, 0, BAD_UTF8), CLAWSOCKET_INVALID_UTF8);
    EXPECT(clawsocket_client_last_message_id(cli, buf, sizeof buf, &len), CLAWSOCKET_EMPTY);
    /* Queued while down, written after open. */
    EXPECT(clawsocket_client_send(cli, 0, "{\"content\":\"Hello!\",\"customData\":{\"k\":1}}"), CLAWSOCKET_OK);
    EXPECT(clawsocket_client_last_message_id(cli, buf, sizeof buf, &len), CLAWSOCKET_OK);
    CHECK(!strcmp(buf, "t-1"));
    EXPECT(clawsocket_client_poll_transmit(cli, buf, sizeof buf, &len), CLAWSOCKET_EMPTY);

    clawsocket_server *srv = server(NO_AUTH);
    uint64_t conn;
    EXPECT(clawsocket_server_handle_connect(srv, 0, q, &conn), CLAWSOCKET_OK);
    EXPECT(clawsocket_client_handle_open(cli, 0), CLAWSOCKET_OK);
    /* The queued chat.send: size query first, then the copy. */
    EXPECT(clawsocket_client_poll_transmit(cli, NULL, 0, &len), CLAWSOCKET_BUFFER_TOO_SMALL);
    CHECK(len > 20);
    pump(cli, srv, conn, 1);
    CHECK(next_client_event(cli, CLAWSOCKET_CLIENT_READY, buf, sizeof buf));
    CHECK(strstr(buf, "\"senderId\":\"ann lee\"") != NULL);

    clawsocket_event_kind ekind;
    uint64_t turn = 0;
    CHECK(clawsocket_server_poll_event(srv, &ekind, &turn, buf, sizeof buf, &len) == CLAWSOCKET_OK);
    CHECK(ekind == CLAWSOCKET_EVENT_RUN_TURN && turn == 1 && strstr(buf, "\"body\":\"Ann: Hello!\""));
    EXPECT(clawsocket_server_handle_agent_delta(srv, 2, turn, "Hi "), CLAWSOCKET_OK);
    pump(cli, srv, conn, 2);
    CHECK(next_client_event(cli, CLAWSOCKET_CLIENT_PARTIAL, buf, sizeof buf));
    CHECK(!strcmp(buf, "{\"event\":\"partial\",\"messageId\":\"t-1\",\"sessionKey\":\"agent:main:websocket:direct:ann%20lee\",\"text\":\"Hi \"}"));
    EXPECT(clawsocket_server_handle_agent_final(srv, 3, turn, "Hi Ann!"), CLAWSOCKET_OK);
    pump(cli, srv, conn, 3);
    CHECK(next_client_event(cli, CLAWSOCKET_CLIENT_REPLY, buf, sizeof buf));
    CHECK(!strcmp(buf, "{\"event\":\"reply\",\"messageId\":\"t-1\",\"sessionKey\":\"agent:main:websocket:direct:ann%20lee\",\"text\":\"Hi Ann!\",\"cancelled\":false}"));

    /* Bad server frames are refused without changing anything. */
    EXPECT(clawsocket_client_handle_frame(cli, 4, "nope", 4), CLAWSOCKET_INVALID_FRAME);
    EXPECT(clawsocket_client_handle_frame(cli, 4, BAD_UTF8, strlen(BAD_UTF8)), CLAWSOCKET_INVALID_UTF8);
    EXPECT(clawsocket_client_handle_frame(cli, 4, NULL, 3), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_cancel(cli, BAD_UTF8), CLAWSOCKET_INVALID_UTF8);
    EXPECT(clawsocket_client_request_history(cli, NULL, 10, NULL), CLAWSOCKET_OK);
    EXPECT(clawsocket_client_poll_transmit(cli, buf, sizeof buf, &len), CLAWSOCKET_OK);
    CHECK(!strcmp(buf, "{\"type\":\"chat.history\",\"limit\":10}"));
    EXPECT(clawsocket_client_set_last_seq(cli, NULL, 1), CLAWSOCKET_NULL_POINTER);
    EXPECT(clawsocket_client_set_last_seq(cli, "restored-session", 3), CLAWSOCKET_OK);
    /* Sorted by key: the session this client followed (its seq counted by the core), then ours. */
    EXPECT(clawsocket_client_last_seqs(cli, buf, sizeof buf, &len), CLAWSOCKET_OK);
    CHECK(!strncmp(buf, "{\"agent:main:websocket:direct:ann%20lee\":", 41) && strstr(buf, ",\"restored-session\":3}"));
    CHECK(strlen(buf) == len);
    size_t seqs_len = len;
    EXPECT(clawsocket_client_last_seqs(cli, buf, 5, &len), CLAWSOCKET_BUFFER_TOO_SMALL);
    CHECK(len == seqs_len);

    /* A dropped socket schedules a reconnect. */
    EXPECT(clawsocket_client_handle_close(cli, 10, 1006), CLAWSOCKET_OK);
    CHECK(next_client_event(cli, CLAWSOCKET_CLIENT_CLOSED, buf, sizeof buf));
    CHECK(!strcmp(buf, "{\"event\":\"closed\",\"code\":1006,\"reconnecting\":true}"));
    uint64_t deadline = 0;
    EXPECT(clawsocket_client_poll_timeout(cli, &deadline), CLAWSOCKET_OK);
    CHECK(deadline == 510);
    EXPECT(clawsocket_client_handle_timeout(cli, deadline), CLAWSOCKET_OK);
    CHECK(next_client_event(cli, CLAWSOCKET_CLIENT_RECONNECT, buf, sizeof buf));
    EXPECT(clawsocket_client_stop(cli), CLAWSOCKET_OK);
    EXPECT(clawsocket_client_poll_event(cli, NULL, buf, sizeof buf, &len), CLAWSOCKET_NULL_POINTER);

    free(q);
    clawsocket_server_free(srv);
    clawsocket_client_free(cli);
}

/* A handle may move between threads (one at a time); the last error is per thread. */
typedef struct {
    clawsocket_server *srv;
    uint64_t conn;
    int ok;
} thread_job;

static void *worker(void *arg) {
    thread_job *job = arg;
    char key[256], message[256];
    /* This thread has seen no error yet. */
    size_t len;
    job->ok = clawsocket_last_error_message(message, sizeof message, &len) == CLAWSOCKET_EMPTY;
    job->ok &= clawsocket_server_handle_connect(job->srv, 1, "senderId=thread", &job->conn) == CLAWSOCKET_OK;
    job->ok &= clawsocket_server_handle_disconnect(job->srv, 1, 999) == CLAWSOCKET_UNKNOWN_CONNECTION;
    last_error(key, message);
    job->ok &= strstr(message, "unknown connection") != NULL;
    return NULL;
}

static void test_threads(void) {
    thread_job job = {server(NO_AUTH), 0, 0};
    EXPECT(clawsocket_server_new("{\"port\":-1}", &(clawsocket_server *){NULL}), CLAWSOCKET_INVALID_CONFIG);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, &job) == 0);
    pthread_join(t, NULL);
    CHECK(job.ok);
    /* Back on this thread: its own last error is unchanged. */
    char key[256], message[256];
    last_error(key, message);
    CHECK(!strcmp(key, "port"));
    size_t count = 0;
    EXPECT(clawsocket_server_connection_count(job.srv, &count), CLAWSOCKET_OK);
    CHECK(count == 1 && job.conn == 1);
    clawsocket_server_free(job.srv);
}

int main(void) {
    test_result_names();
    test_server_new();
    test_last_error_sizing();
    test_server_inputs();
    test_history_page();
    test_poll_sizing();
    test_null_handles();
    test_client();
    test_threads();
    printf("errors (C API): %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
