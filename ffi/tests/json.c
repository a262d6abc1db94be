/* See json.h. Recursive descent; strict enough for the vector files, not a validator. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p, *end;
    char *err;
    size_t err_cap;
    int failed;
} parser;

static void fail(parser *ps, const char *what) {
    if (!ps->failed) {
        snprintf(ps->err, ps->err_cap, "%s at byte %ld", what, (long)(ps->end - ps->p));
        ps->failed = 1;
    }
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t')) ps->p++;
}

static void put_utf8(char *out, size_t *n, unsigned cp) {
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xC0 | (cp >> 6));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xE0 | (cp >> 12));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*n)++] = (char)(0xF0 | (cp >> 18));
        out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int hex4(parser *ps, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        if (ps->p >= ps->end) return 0;
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* Decodes a string starting at the opening quote; returns malloc'd text. */
static char *parse_string(parser *ps, size_t *out_len) {
    ps->p++; /* opening quote */
    const char *start = ps->p;
    /* Decoded text is never longer than the escaped text. */
    size_t max = 0;
    while (start + max < ps->end && start[max] != '"') max += (start[max] == '\\') ? 2 : 1;
    char *out = malloc(max + 1);
    size_t n = 0;
    while (ps->p < ps->end && *ps->p != '"') {
        char c = *ps->p++;
        if ((unsigned char)c < 0x20) { fail(ps, "control character in string"); break; }
        if (c != '\\') { out[n++] = c; continue; }
        if (ps->p >= ps->end) break;
        char e = *ps->p++;
        switch (e) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!hex4(ps, &cp)) { fail(ps, "bad \\u escape"); break; }
            if (cp >= 0xD800 && cp < 0xDC00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                unsigned lo;
                ps->p += 2;
                if (!hex4(ps, &lo) || lo < 0xDC00 || lo > 0xDFFF) { fail(ps, "bad surrogate pair"); break; }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(out, &n, cp);
            break;
        }
        default: fail(ps, "bad escape");
        }
    }
    if (ps->p >= ps->end) fail(ps, "unterminated string");
    else ps->p++; /* closing quote */
    out[n] = 0;
    *out_len = n;
    return out;
}

static void parse_value(parser *ps, json_value *v, int depth);

static void push(json_value *v, size_t *cap) {
    if (v->count == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        v->items = realloc(v->items, *cap * sizeof *v->items);
        if (v->type == JSON_OBJECT) v->keys = realloc(v->keys, *cap * sizeof *v->keys);
    }
    memset(&v->items[v->count], 0, sizeof *v->items);
}

static void parse_value(parser *ps, json_value *v, int depth) {
    memset(v, 0, sizeof *v);
    skip_ws(ps);
    if (depth > 64) { fail(ps, "nested too deeply"); return; }
    if (ps->p >= ps->end) { fail(ps, "unexpected end"); return; }
    v->raw = ps->p;
    char c = *ps->p;
    if (c == '{' || c == '[') {
        int object = c == '{';
        v->type = object ? JSON_OBJECT : JSON_ARRAY;
        ps->p++;
        size_t cap = 0;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
            ps->p++;
        } else {
            for (;;) {
                push(v, &cap);
                if (object) {
                    skip_ws(ps);
                    if (ps->p >= ps->end || *ps->p != '"') { fail(ps, "expected a key"); v->keys[v->count] = NULL; v->count++; break; }
                    size_t klen;
                    v->keys[v->count] = parse_string(ps, &klen);
                    skip_ws(ps);
                    if (ps->p >= ps->end || *ps->p != ':') { fail(ps, "expected ':'"); v->count++; break; }
                    ps->p++;
                }
                parse_value(ps, &v->items[v->count], depth + 1);
                v->count++;
                if (ps->failed) break;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
                if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) { ps->p++; break; }
                fail(ps, "expected ',' or end of container");
                break;
            }
        }
    } else if (c == '"') {
        v->type = JSON_STRING;
        v->string = parse_string(ps, &v->string_len);
    } else if (c == 't' && ps->end - ps->p >= 4 && !memcmp(ps->p, "true", 4)) {
        v->type = JSON_BOOL; v->boolean = 1; ps->p += 4;
    } else if (c == 'f' && ps->end - ps->p >= 5 && !memcmp(ps->p, "false", 5)) {
        v->type = JSON_BOOL; ps->p += 5;
    } else if (c == 'n' && ps->end - ps->p >= 4 && !memcmp(ps->p, "null", 4)) {
        v->type = JSON_NULL; ps->p += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        v->type = JSON_NUMBER;
        const char *s = ps->p;
        while (ps->p < ps->end && strchr("+-0123456789.eE", *ps->p)) ps->p++;
        v->is_uint = 1;
        uint64_t u = 0;
        for (const char *q = s; q < ps->p; q++) {
            if (*q < '0' || *q > '9' || u > (UINT64_MAX - 9) / 10) { v->is_uint = 0; break; }
            u = u * 10 + (uint64_t)(*q - '0');
        }
        v->uint = v->is_uint ? u : 0;
    } else {
        fail(ps, "unexpected character");
        return;
    }
    v->raw_len = (size_t)(ps->p - v->raw);
}

static void free_inner(json_value *v) {
    for (size_t i = 0; i < v->count; i++) {
        free_inner(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
}

json_value *json_parse(const char *text, size_t len, char *err, size_t err_cap) {
    parser ps = {text, text + len, err, err_cap, 0};
    json_value *v = malloc(sizeof *v);
    parse_value(&ps, v, 0);
    skip_ws(&ps);
    if (!ps.failed && ps.p != ps.end) fail(&ps, "trailing text");
    if (ps.failed) {
        json_free(v);
        return NULL;
    }
    return v;
}

void json_free(json_value *v) {
    if (!v) return;
    free_inner(v);
    free(v);
}

const json_value *json_get(const json_value *o, const char *key) {
    if (!o || o->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < o->count; i++)
        if (o->keys[i] && !strcmp(o->keys[i], key)) return &o->items[i];
    return NULL;
}

char *json_minify(const char *raw, size_t len) {
    char *out = malloc(len + 1);
    size_t n = 0;
    int in_string = 0, escaped = 0;
    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (in_string) {
            out[n++] = c;
            if (escaped) escaped = 0;
            else if (c == '\\') escaped = 1;
            else if (c == '"') in_string = 0;
        } else if (c == '"') {
            in_string = 1;
            out[n++] = c;
        } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            out[n++] = c;
        }
    }
    out[n] = 0;
    return out;
}

void json_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap) *cap = *cap ? *cap * 2 : 64;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
}

void json_escape(const char *s, size_t n, char **buf, size_t *len, size_t *cap) {
    json_append(buf, len, cap, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        const char *e = NULL;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                e = esc;
            }
        }
        if (e) json_append(buf, len, cap, e, strlen(e));
        else json_append(buf, len, cap, (const char *)&s[i], 1);
    }
    json_append(buf, len, cap, "\"", 1);
}
