/* A small JSON reader for the C tests: a tree that keeps every value's raw text span, so an
 * expectation can be compared exactly as written in the vector file (see minify). */
#ifndef CLAWSOCKET_TEST_JSON_H
#define CLAWSOCKET_TEST_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
    json_type type;
    const char *raw; /* the value's text in the source (not NUL-terminated) */
    size_t raw_len;
    int boolean;
    int is_uint;     /* a number that is a whole number fitting uint64_t */
    uint64_t uint;
    char *string;    /* decoded UTF-8, NUL-terminated (strings) */
    size_t string_len;
    size_t count;    /* items of an array or members of an object */
    struct json_value *items;
    char **keys;     /* member names of an object, decoded, in file order */
} json_value;

/* Parses `len` bytes; returns NULL and writes a message into err on failure. */
json_value *json_parse(const char *text, size_t len, char *err, size_t err_cap);
void json_free(json_value *value);
/* The member named `key` of an object (first match), or NULL. */
const json_value *json_get(const json_value *object, const char *key);
/* The raw span without whitespace outside strings, malloc'd and NUL-terminated. */
char *json_minify(const char *raw, size_t len);
/* Appends n bytes to a growing NUL-terminated buffer. */
void json_append(char **buf, size_t *len_io, size_t *cap_io, const char *s, size_t n);
/* Appends `s` as a JSON string with the core's escapes (as serde_json writes them). */
void json_escape(const char *s, size_t len, char **buf, size_t *len_io, size_t *cap_io);

#endif
