/* Runs every shared vector in tests/vectors/ through the C API and compares each output byte
 * for byte with the expectation written in the file (format: tests/vectors/README.md; the Rust
 * reference runner is core/tests/vectors.rs). Output buffers start tiny and grow on
 * CLAWSOCKET_BUFFER_TOO_SMALL, so every poll also exercises the "not consumed" rule.
 *
 * usage: vectors <dir> [substring]   exit status 0 when every vector matches */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clawsocket.h"
#include "json.h"

typedef struct {
    char *data;
    size_t cap;
} buffer;

typedef struct {
    char **items;
    size_t count, cap;
} list;

static void list_push(list *l, char *s) {
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->items = realloc(l->items, l->cap * sizeof *l->items);
    }
    l->items[l->count++] = s;
}

static void list_clear(list *l) {
    for (size_t i = 0; i < l->count; i++) free(l->items[i]);
    l->count = 0;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    size_t got = fread(text, 1, (size_t)n, f);
    fclose(f);
    text[got] = 0;
    *len = got;
    return text;
}

static char *dup_span(const char *s, size_t n) {
    char *out = malloc(n + 1);
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

static uint8_t *from_hex(const char *hex, size_t *n) {
    size_t len = strlen(hex) / 2;
    uint8_t *out = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    *n = len;
    return out;
}

static uint64_t num(const json_value *obj, const char *key) {
    const json_value *v = json_get(obj, key);
    if (!v || !v->is_uint) {
        fprintf(stderr, "vector: missing number %s\n", key);
        exit(2);
    }
    return v->uint;
}

static const char *str(const json_value *obj, const char *key) {
    const json_value *v = json_get(obj, key);
    if (!v || v->type != JSON_STRING) {
        fprintf(stderr, "vector: missing string %s\n", key);
        exit(2);
    }
    return v->string;
}

/* Drains every transmit as the README renders it. */
static void drain_transmits(clawsocket_server *srv, buffer *buf, list *out) {
    for (;;) {
        uint64_t conn = 0;
        clawsocket_transmit_kind kind;
        uint16_t code = 0;
        size_t len = 0;
        clawsocket_result r = clawsocket_server_poll_transmit(srv, &conn, &kind, &code, buf->data, buf->cap, &len);
        if (r == CLAWSOCKET_EMPTY) return;
        if (r == CLAWSOCKET_BUFFER_TOO_SMALL) {
            buf->cap = len + 1;
            buf->data = realloc(buf->data, buf->cap);
            continue;
        }
        if (r != CLAWSOCKET_OK) {
            fprintf(stderr, "poll_transmit: %s\n", clawsocket_result_name(r));
            exit(2);
        }
        char *line = NULL;
        size_t n = 0, cap = 0;
        char head[96];
        if (kind == CLAWSOCKET_TRANSMIT_TEXT) {
            snprintf(head, sizeof head, "{\"to\":%" PRIu64 ",\"frame\":", conn);
            json_append(&line, &n, &cap, head, strlen(head));
            json_append(&line, &n, &cap, buf->data, len);
            json_append(&line, &n, &cap, "}", 1);
        } else {
            snprintf(head, sizeof head, "{\"to\":%" PRIu64 ",\"close\":{\"code\":%u,\"reason\":", conn, (unsigned)code);
            json_append(&line, &n, &cap, head, strlen(head));
            json_escape(buf->data, len, &line, &n, &cap);
            json_append(&line, &n, &cap, "}}", 2);
        }
        list_push(out, line);
    }
}

/* Drains every event's JSON; remembers the sender of a pairing_approved event. */
static void drain_events(clawsocket_server *srv, buffer *buf, list *out, char **approved) {
    for (;;) {
        clawsocket_event_kind kind;
        uint64_t id;
        size_t len = 0;
        clawsocket_result r = clawsocket_server_poll_event(srv, &kind, &id, buf->data, buf->cap, &len);
        if (r == CLAWSOCKET_EMPTY) return;
        if (r == CLAWSOCKET_BUFFER_TOO_SMALL) {
            buf->cap = len + 1;
            buf->data = realloc(buf->data, buf->cap);
            continue;
        }
        if (r != CLAWSOCKET_OK) {
            fprintf(stderr, "poll_event: %s\n", clawsocket_result_name(r));
            exit(2);
        }
        if (strlen(buf->data) != len) {
            fprintf(stderr, "poll_event: length %zu does not match the NUL-terminated text\n", len);
            exit(2);
        }
        if (kind == CLAWSOCKET_EVENT_PAIRING_APPROVED && approved) {
            char err[128];
            json_value *e = json_parse(buf->data, len, err, sizeof err);
            const json_value *s = json_get(e, "senderId");
            free(*approved);
            *approved = s && s->type == JSON_STRING ? dup_span(s->string, s->string_len) : NULL;
            json_free(e);
        }
        list_push(out, dup_span(buf->data, len));
    }
}

static int compare(const char *what, const json_value *expected, list *actual, char *report, size_t cap) {
    size_t n_exp = expected ? expected->count : 0;
    size_t n = n_exp > actual->count ? n_exp : actual->count;
    int ok = 1;
    size_t used = strlen(report);
    for (size_t i = 0; i < n; i++) {
        char *e = i < n_exp ? json_minify(expected->items[i].raw, expected->items[i].raw_len) : NULL;
        const char *a = i < actual->count ? actual->items[i] : NULL;
        if (!e || !a || strcmp(e, a) != 0) {
            if (ok) used += (size_t)snprintf(report + used, used < cap ? cap - used : 0, "  %s differ:\n", what);
            ok = 0;
            if (used < cap) used += (size_t)snprintf(report + used, cap - used, "    [%zu] expected %s\n    [%zu]   actual %s\n", i, e ? e : "(nothing)", i, a ? a : "(nothing)");
        }
        free(e);
    }
    return ok;
}

/* Runs one vector file; returns 1 when every step matches. */
static int run_file(const char *path) {
    size_t text_len;
    char *text = read_file(path, &text_len);
    if (!text) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 0;
    }
    char err[256];
    json_value *file = json_parse(text, text_len, err, sizeof err);
    if (!file) {
        fprintf(stderr, "%s: %s\n", path, err);
        free(text);
        return 0;
    }
    const json_value *config = json_get(file, "config");
    char *config_text = config ? dup_span(config->raw, config->raw_len) : dup_span("{}", 2);
    clawsocket_server *srv = NULL;
    clawsocket_result r = clawsocket_server_new(config_text, &srv);
    free(config_text);
    if (r != CLAWSOCKET_OK) {
        fprintf(stderr, "%s: config refused: %s\n", path, clawsocket_result_name(r));
        json_free(file);
        free(text);
        return 0;
    }
    const json_value *steps = json_get(file, "steps");
    buffer buf = {malloc(8), 8};
    list frames = {0}, events = {0};
    int ok = 1;
    for (size_t s = 0; steps && s < steps->count && ok; s++) {
        const json_value *step = &steps->items[s];
        const json_value *at_v = json_get(step, "at");
        uint64_t at = at_v ? at_v->uint : 0;
        const char *input = NULL;
        const json_value *arg = NULL;
        for (size_t k = 0; k < step->count; k++) {
            const char *key = step->keys[k];
            if (strcmp(key, "at") && strcmp(key, "frames") && strcmp(key, "events") && strcmp(key, "nextTimeout") &&
                strcmp(key, "result") && strcmp(key, "note")) {
                input = key;
                arg = &step->items[k];
                break;
            }
        }
        if (!input) {
            fprintf(stderr, "%s: step %zu has no input\n", path, s);
            ok = 0;
            break;
        }
        char result[256] = "";
        int approving = 0;
        if (!strcmp(input, "connect")) {
            uint64_t conn = 0;
            r = clawsocket_server_handle_connect(srv, at, arg->string, &conn);
            if (r == CLAWSOCKET_OK) snprintf(result, sizeof result, "%" PRIu64, conn);
        } else if (!strcmp(input, "send")) {
            const json_value *frame = json_get(arg, "frame");
            r = clawsocket_server_handle_text(srv, at, num(arg, "conn"), frame->raw, frame->raw_len);
        } else if (!strcmp(input, "text")) {
            const json_value *data = json_get(arg, "data");
            r = clawsocket_server_handle_text(srv, at, num(arg, "conn"), data->string, data->string_len);
        } else if (!strcmp(input, "textHex") || !strcmp(input, "binary")) {
            size_t n;
            uint8_t *bytes = from_hex(str(arg, "hex"), &n);
            if (input[0] == 't') r = clawsocket_server_handle_text(srv, at, num(arg, "conn"), (const char *)bytes, n);
            else r = clawsocket_server_handle_binary(srv, at, num(arg, "conn"), bytes, n);
            free(bytes);
        } else if (!strcmp(input, "authResponse")) {
            const json_value *body = json_get(arg, "body");
            r = clawsocket_server_handle_auth_response(srv, at, num(arg, "conn"), (uint16_t)num(arg, "status"), body->string, body->string_len);
        } else if (!strcmp(input, "authUnavailable")) {
            r = clawsocket_server_handle_auth_unavailable(srv, at, num(arg, "conn"));
        } else if (!strcmp(input, "agentDelta")) {
            r = clawsocket_server_handle_agent_delta(srv, at, num(arg, "turn"), str(arg, "text"));
        } else if (!strcmp(input, "agentText")) {
            r = clawsocket_server_handle_agent_text(srv, at, num(arg, "turn"), str(arg, "text"));
        } else if (!strcmp(input, "agentFinal")) {
            const json_value *t = json_get(arg, "text");
            r = clawsocket_server_handle_agent_final(srv, at, num(arg, "turn"), t && t->type == JSON_STRING ? t->string : NULL);
        } else if (!strcmp(input, "agentError")) {
            r = clawsocket_server_handle_agent_error(srv, at, num(arg, "turn"), str(arg, "error"));
        } else if (!strcmp(input, "disconnect")) {
            r = clawsocket_server_handle_disconnect(srv, at, num(arg, "conn"));
        } else if (!strcmp(input, "timeout")) {
            r = clawsocket_server_handle_timeout(srv, at);
        } else if (!strcmp(input, "shutdown")) {
            r = clawsocket_server_handle_shutdown(srv, at);
        } else if (!strcmp(input, "approvePairing")) {
            r = clawsocket_server_approve_pairing(srv, at, str(arg, "code"));
            approving = r == CLAWSOCKET_OK;
        } else if (!strcmp(input, "allowSender")) {
            r = clawsocket_server_allow_sender(srv, arg->string);
        } else if (!strcmp(input, "restoreDynamicAgent")) {
            r = clawsocket_server_restore_dynamic_agent(srv, arg->string);
        } else if (!strcmp(input, "history")) {
            const json_value *reason = json_get(arg, "error");
            if (reason) {
                r = clawsocket_server_handle_history_error(srv, at, num(arg, "request"), reason->string);
            } else {
                const json_value *page = json_get(arg, "page");
                char *page_text = dup_span(page->raw, page->raw_len);
                r = clawsocket_server_handle_history(srv, at, num(arg, "request"), page_text);
                free(page_text);
            }
        } else {
            fprintf(stderr, "%s: step %zu: unknown input %s\n", path, s, input);
            ok = 0;
            break;
        }
        if (r != CLAWSOCKET_OK) snprintf(result, sizeof result, "error:%s", clawsocket_result_name(r));

        list_clear(&frames);
        list_clear(&events);
        char *approved = NULL;
        drain_transmits(srv, &buf, &frames);
        drain_events(srv, &buf, &events, &approved);
        /* approve_pairing reports the admitted sender through its pairing_approved event. */
        if (approving && approved) snprintf(result, sizeof result, "%s", approved);
        free(approved);

        char report[16384] = "";
        compare("frames", json_get(step, "frames"), &frames, report, sizeof report);
        compare("events", json_get(step, "events"), &events, report, sizeof report);
        const json_value *want_timeout = json_get(step, "nextTimeout");
        if (want_timeout) {
            uint64_t deadline = 0;
            clawsocket_result tr = clawsocket_server_poll_timeout(srv, &deadline);
            int match = want_timeout->type == JSON_NULL ? tr == CLAWSOCKET_EMPTY
                                                       : tr == CLAWSOCKET_OK && deadline == want_timeout->uint;
            if (!match) {
                size_t used = strlen(report);
                snprintf(report + used, sizeof report - used, "  poll_timeout: expected %.*s, got %s %" PRIu64 "\n",
                         (int)want_timeout->raw_len, want_timeout->raw, clawsocket_result_name(tr), deadline);
            }
        }
        const json_value *want_result = json_get(step, "result");
        size_t used = strlen(report);
        if (want_result) {
            char *want = want_result->type == JSON_STRING ? dup_span(want_result->string, want_result->string_len)
                                                          : json_minify(want_result->raw, want_result->raw_len);
            if (strcmp(want, result)) snprintf(report + used, sizeof report - used, "  result: expected %s, got %s\n", want, result);
            free(want);
        } else if (!strncmp(result, "error:", 6)) {
            snprintf(report + used, sizeof report - used, "  unexpected %s\n", result);
        }
        if (report[0]) {
            fprintf(stderr, "%s step %zu (%s at %" PRIu64 "):\n%s", path, s, input, at, report);
            ok = 0;
        }
    }
    list_clear(&frames);
    list_clear(&events);
    free(frames.items);
    free(events.items);
    free(buf.data);
    clawsocket_server_free(srv);
    json_free(file);
    free(text);
    return ok;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <vector dir> [substring]\n", argv[0]);
        return 2;
    }
    DIR *dir = opendir(argv[1]);
    if (!dir) {
        perror(argv[1]);
        return 2;
    }
    list files = {0};
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        size_t n = strlen(entry->d_name);
        if (n > 5 && !strcmp(entry->d_name + n - 5, ".json") && (argc < 3 || strstr(entry->d_name, argv[2]))) {
            char *path = malloc(strlen(argv[1]) + n + 2);
            sprintf(path, "%s/%s", argv[1], entry->d_name);
            list_push(&files, path);
        }
    }
    closedir(dir);
    qsort(files.items, files.count, sizeof *files.items, by_name);
    size_t failed = 0;
    for (size_t i = 0; i < files.count; i++)
        if (!run_file(files.items[i])) failed++;
    printf("vectors (C API): %zu files, %zu passed, %zu failed\n", files.count, files.count - failed, failed);
    size_t count = files.count;
    list_clear(&files);
    free(files.items);
    return failed == 0 && count > 0 ? 0 : 1;
}
