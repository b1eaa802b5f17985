/*
 * json-c/json.h - the part of json-c's API the engine calls, for the
 * WebAssembly build only (src/wasm/json_subset.c).
 *
 * Debian ships json-c for the host, not for emscripten, and CI downloads
 * nothing, so the browser build brings this instead: same names, same
 * types, same semantics for what model.c and the graph parser use (parse
 * a model header, walk and compare it, build small objects, print them
 * for error messages).  Differences a caller could see: the parser is
 * strict JSON (no comments, NaN, single quotes or trailing commas, which
 * json-c tolerates and no model file contains), and every printed form is
 * JSON_C_TO_STRING_PLAIN.  tests/test_json_subset.c checks it against the
 * real json-c on the shipped model headers.
 */
#ifndef DIGITS_JSON_SUBSET_H
#define DIGITS_JSON_SUBSET_H

#include <stddef.h>
#include <stdint.h>

enum json_type {
	json_type_null,
	json_type_boolean,
	json_type_double,
	json_type_int,
	json_type_object,
	json_type_array,
	json_type_string,
};

enum json_tokener_error {
	json_tokener_success,
	json_tokener_continue,
	json_tokener_error_depth,
	json_tokener_error_parse_eof,
	json_tokener_error_parse_unexpected,
	json_tokener_error_parse_null,
	json_tokener_error_parse_boolean,
	json_tokener_error_parse_number,
	json_tokener_error_parse_array,
	json_tokener_error_parse_object_key_name,
	json_tokener_error_parse_object_key_sep,
	json_tokener_error_parse_object_value_sep,
	json_tokener_error_parse_string,
	json_tokener_error_parse_comment,
	json_tokener_error_parse_utf8_string,
	json_tokener_error_size,
	json_tokener_error_memory,
};

#define JSON_C_TO_STRING_PLAIN         0
#define JSON_C_TO_STRING_SPACED        (1 << 0)
#define JSON_C_TO_STRING_PRETTY        (1 << 1)
#define JSON_C_TO_STRING_NOSLASHESCAPE (1 << 4)

/* json-c's default nesting limit. */
#define JSON_TOKENER_DEFAULT_DEPTH 32

struct json_object;
struct json_tokener {
	enum json_tokener_error err;
	size_t char_offset; /* where parsing stopped */
};

struct json_object *json_object_new_object(void);
struct json_object *json_object_new_array(void);
struct json_object *json_object_new_string(const char *s);
struct json_object *json_object_new_int(int32_t i);
struct json_object *json_object_new_int64(int64_t i);
struct json_object *json_object_new_double(double d);
struct json_object *json_object_new_double_s(double d, const char *text);
struct json_object *json_object_new_boolean(int b);

struct json_object *json_object_get(struct json_object *o);
int json_object_put(struct json_object *o);

int json_object_is_type(const struct json_object *o, enum json_type type);
enum json_type json_object_get_type(const struct json_object *o);

int json_object_object_add(struct json_object *o, const char *key, struct json_object *val);
int json_object_object_get_ex(const struct json_object *o, const char *key,
                              struct json_object **value);
struct json_object *json_object_object_get(const struct json_object *o, const char *key);
int json_object_object_length(const struct json_object *o);

int json_object_array_add(struct json_object *o, struct json_object *val);
size_t json_object_array_length(const struct json_object *o);
struct json_object *json_object_array_get_idx(const struct json_object *o, size_t idx);

const char *json_object_get_string(struct json_object *o);
int json_object_get_string_len(const struct json_object *o);
int64_t json_object_get_int64(const struct json_object *o);
int32_t json_object_get_int(const struct json_object *o);
double json_object_get_double(const struct json_object *o);
int json_object_get_boolean(const struct json_object *o);

int json_object_equal(struct json_object *a, struct json_object *b);

/* The text is owned by o and valid until o changes or is freed. */
const char *json_object_to_json_string(struct json_object *o);
const char *json_object_to_json_string_ext(struct json_object *o, int flags);

struct json_tokener *json_tokener_new(void);
void json_tokener_free(struct json_tokener *tok);
/* One complete value from str[0, len); leading whitespace skipped, parsing
 * stops after the value (json_tokener_get_parse_end says where). */
struct json_object *json_tokener_parse_ex(struct json_tokener *tok, const char *str, int len);
enum json_tokener_error json_tokener_get_error(struct json_tokener *tok);
size_t json_tokener_get_parse_end(struct json_tokener *tok);
const char *json_tokener_error_desc(enum json_tokener_error err);
struct json_object *json_tokener_parse_verbose(const char *str, enum json_tokener_error *error);
struct json_object *json_tokener_parse(const char *str);

#endif
