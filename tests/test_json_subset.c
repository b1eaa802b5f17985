/*
 * test_json_subset.c - the WebAssembly build's json-c subset
 * (src/wasm/json_subset.c), built natively and linked without json-c.
 *
 * The strongest check is the shipped model files: their headers were
 * written by the real json-c (JSON_C_TO_STRING_PLAIN | NOSLASHESCAPE), so
 * the subset must parse each one, walk it, and print it back byte for
 * byte.  Then the semantics model.c and the graph parser rely on: lookups
 * of missing keys, type tests on NULL, equality, replacement of a key,
 * scalar conversions, strings with escapes, and refusals (truncated,
 * trailing text, nesting beyond json-c's limit of 32).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-c/json.h"
#include "tap.h"

static char *read_header(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char pre[16];
	char *text = NULL;

	if (!f)
		return NULL;
	if (fread(pre, 1, 16, f) == 16 && memcmp(pre, "DIGITSNN", 8) == 0) {
		*len = (size_t)pre[12] | (size_t)pre[13] << 8 | (size_t)pre[14] << 16 |
		       (size_t)pre[15] << 24;
		text = malloc(*len + 1);
		if (text && fread(text, 1, *len, f) != *len) {
			free(text);
			text = NULL;
		} else if (text) {
			text[*len] = '\0';
		}
	}
	fclose(f);
	return text;
}

static void model_headers(void)
{
	static const char *const names[] = {"cnn",      "lenet5",      "mlp",
	                                    "cnn-int8", "lenet5-int8", "mlp-int8"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[512];
		size_t len = 0;
		char *text;
		struct json_tokener *tok = json_tokener_new();
		struct json_object *o, *graph, *nodes;

		snprintf(path, sizeof(path), "%s/models/%s.model", DIGITS_SRCDIR, names[i]);
		text = read_header(path, &len);
		if (!text || !tok) {
			ok(0, "%s: header read", path);
			free(text);
			json_tokener_free(tok);
			continue;
		}
		o = json_tokener_parse_ex(tok, text, (int)len);
		ok(o && json_tokener_get_error(tok) == json_tokener_success &&
		       json_tokener_get_parse_end(tok) == len,
		   "%s: header parses to its end", names[i]);
		ok(json_object_object_get_ex(o, "graph", &graph) &&
		       json_object_object_get_ex(graph, "nodes", &nodes) &&
		       json_object_array_length(nodes) > 2 &&
		       strcmp(json_object_get_string(json_object_object_get(graph, "name")),
		              names[i]) == 0,
		   "%s: graph.name and graph.nodes found", names[i]);
		const char *again = json_object_to_json_string_ext(
		    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		ok(again && strlen(again) == len && memcmp(again, text, len) == 0,
		   "%s: printed back byte for byte as json-c wrote it (%zu bytes)", names[i], len);
		if (again && strcmp(again, text) != 0) {
			size_t k = 0;

			while (again[k] && again[k] == text[k])
				k++;
			diag("  first difference at %zu: \"%.40s\" vs \"%.40s\"", k, again + k,
			     text + k);
		}
		json_object_put(o);
		json_tokener_free(tok);
		free(text);
	}
}

static void semantics(void)
{
	struct json_object *o = json_object_new_object(), *v = (struct json_object *)1;
	struct json_object *a = json_object_new_array(), *b;
	enum json_tokener_error e;

	ok(!json_object_object_get_ex(o, "missing", &v) && v == NULL,
	   "a missing key: false, and the value set to NULL");
	ok(json_object_object_get(NULL, "x") == NULL && !json_object_object_get_ex(NULL, "x", NULL),
	   "lookups in NULL find nothing");
	ok(json_object_is_type(NULL, json_type_null) && !json_object_is_type(NULL, json_type_int),
	   "NULL is json null and nothing else");
	json_object_object_add(o, "k", json_object_new_int(1));
	json_object_object_add(o, "k", json_object_new_int(2));
	is_int(json_object_object_length(o), 1, "adding a key again replaces its value");
	is_int(json_object_get_int64(json_object_object_get(o, "k")), 2, "... with the new one");
	json_object_array_add(a, json_object_new_int(5));
	json_object_array_add(a, json_object_new_string("x/\"y\"\n"));
	json_object_object_add(o, "a", a);
	is_str(json_object_to_json_string(o), "{\"k\":2,\"a\":[5,\"x\\/\\\"y\\\"\\n\"]}",
	       "printed plain, with json-c's escapes");
	ok(json_object_array_get_idx(a, 2) == NULL, "an index past the end is NULL");

	b = json_tokener_parse_verbose("{\"a\":[5,\"x/\\\"y\\\"\\n\"],\"k\":2}", &e);
	ok(b && e == json_tokener_success && json_object_equal(o, b),
	   "equal objects whatever the key order");
	json_object_object_add(b, "k", json_object_new_double(2.0));
	ok(!json_object_equal(o, b), "an int and a double are not equal (as in json-c)");
	json_object_put(b);

	b = json_tokener_parse_verbose("[1.5, -2, 1e3, true, null, \"\\u00e9\\ud83d\\ude00\"]", &e);
	ok(b && e == json_tokener_success, "numbers, literals, null and \\u escapes parse");
	is_int(json_object_get_type(json_object_array_get_idx(b, 0)), json_type_double,
	       "1.5 is a double");
	is_int(json_object_get_type(json_object_array_get_idx(b, 1)), json_type_int,
	       "-2 is an int");
	is_int(json_object_get_int64(json_object_array_get_idx(b, 2)), 1000,
	       "1e3 as int64 is 1000");
	ok(json_object_get_boolean(json_object_array_get_idx(b, 3)), "true is true");
	ok(json_object_array_get_idx(b, 4) == NULL && json_object_array_length(b) == 6,
	   "null is kept as a NULL element");
	is_str(json_object_get_string(json_object_array_get_idx(b, 5)), "\xc3\xa9\xf0\x9f\x98\x80",
	       "\\u escapes and a surrogate pair become UTF-8");
	json_object_put(b);
	b = json_object_new_double(0.25);
	is_str(json_object_to_json_string(b), "0.25", "0.25 prints so");
	json_object_put(b);

	static const char *const bad[] = {"{\"a\":1",     "[1,]",    "{\"a\" 1}", "01x", "\"\\x\"",
	                                  "[1] trailing", "{'a':1}", "nul",       "-",   ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = json_tokener_parse_verbose(bad[i], &e);
		ok(!b && e != json_tokener_success, "refused: '%s' (%s)", bad[i],
		   json_tokener_error_desc(e));
		json_object_put(b);
	}

	char deep[80];
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	b = json_tokener_parse_verbose(deep, &e);
	ok(!b && e == json_tokener_error_depth, "79 nested arrays refused for depth");
	json_object_put(o);
}

int main(void)
{
	model_headers();
	semantics();
	return tap_done();
}
