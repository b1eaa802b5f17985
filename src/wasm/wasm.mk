# The engine for the browser (owned by the wasm module; README "Server or
# browser"): the same C sources as the server's engine and normalisation,
# compiled by emscripten into www/wasm/digits.js + .wasm (SIMD) and
# digits-nosimd.js + .wasm (browsers without WebAssembly SIMD), for
# www/js/local.js.  Generated, never committed; built by `make` (or
# `make wasm`) when configure found a working emcc.  lighttpd.conf serves
# them from the build tree.  Not built: libgd, libpng, libjpeg (the browser
# decodes), json-c and zlib (src/wasm/ has the few calls the engine makes).
WASM_C_FILES = \
	$(srcdir)/src/digits.c \
	$(srcdir)/src/engine/model.c $(srcdir)/src/engine/nn_graph.c $(srcdir)/src/engine/nn_zoo.c \
	$(srcdir)/src/engine/nn_exec.c $(srcdir)/src/engine/nn_explain.c \
	$(srcdir)/src/engine/nn_layers.c $(srcdir)/src/engine/nn_conv.c \
	$(srcdir)/src/engine/nn_dense.c $(srcdir)/src/engine/nn_kernels.c \
	$(srcdir)/src/engine/nn_q8.c $(srcdir)/src/engine/nn_q8_kernels.c \
	$(srcdir)/src/engine/confidence.c $(srcdir)/src/engine/not_a_digit.c \
	$(srcdir)/src/image/image_normalise.c $(srcdir)/src/image/image_ink.c \
	$(srcdir)/src/image/image_lines.c $(srcdir)/src/image/image_select.c \
	$(srcdir)/src/image/image_frame.c $(srcdir)/src/image/image_heatmap.c \
	$(srcdir)/src/image/image_work.c \
	$(srcdir)/src/wasm/json_subset.c $(srcdir)/src/wasm/json_parse.c \
	$(srcdir)/src/wasm/crc32.c $(srcdir)/src/wasm/digits_wasm.c
WASM_H_FILES = \
	src/wasm/json-c/json.h src/wasm/json_priv.h src/wasm/zlib.h src/wasm/config.h \
	src/wasm/digits_wasm.h
EXTRA_DIST += src/wasm/json_subset.c src/wasm/json_parse.c src/wasm/crc32.c src/wasm/digits_wasm.c $(WASM_H_FILES) \
	tests/test_browser_wasm.mjs

# src/wasm first: its json-c/json.h, zlib.h and config.h stand in for the
# host's.  Without OpenMP the engine's thread bookkeeping is unused.
EMCC_FLAGS = -O3 -D_GNU_SOURCE -I$(srcdir)/src/wasm -I$(srcdir)/src $(WARN_CFLAGS) \
	-Wno-unused-variable
EMCC_LINK_FLAGS = -sMODULARIZE=1 -sEXPORT_ES6=1 -sEXPORT_NAME=createDigits \
	-sENVIRONMENT=web -sALLOW_MEMORY_GROWTH=1 -sFILESYSTEM=1 -sDYNAMIC_EXECUTION=0 \
	-sEXPORTED_FUNCTIONS=_malloc,_free,_dw_error,_dw_model_load,_dw_model_free,_dw_model_name,_dw_model_precision,_dw_model_classes,_dw_predict,_dw_judgement,_dw_explain,_dw_explain_method,_dw_bench_forward \
	-sEXPORTED_RUNTIME_METHODS=UTF8ToString,stringToUTF8,lengthBytesUTF8

# www/wasm/engine.json tells the page whether the module is there (so it
# never asks for a file that is not) and the reader how large it is.
if WASM
WASM_OUTPUTS = www/wasm/digits.js www/wasm/digits.wasm \
	www/wasm/digits-nosimd.js www/wasm/digits-nosimd.wasm

www/wasm/digits.js: $(WASM_C_FILES) $(WASM_H_FILES)
	@mkdir -p www/wasm
	$(AM_V_GEN)env $(WASM_ENV) $(EMCC) $(EMCC_FLAGS) -msimd128 $(WASM_C_FILES) -o $@ $(EMCC_LINK_FLAGS)
www/wasm/digits-nosimd.js: $(WASM_C_FILES) $(WASM_H_FILES)
	@mkdir -p www/wasm
	$(AM_V_GEN)env $(WASM_ENV) $(EMCC) $(EMCC_FLAGS) $(WASM_C_FILES) -o $@ $(EMCC_LINK_FLAGS)
# emcc writes the .wasm beside the .js.
www/wasm/digits.wasm: www/wasm/digits.js
www/wasm/digits-nosimd.wasm: www/wasm/digits-nosimd.js
www/wasm/engine.json: www/wasm/digits.js www/wasm/digits-nosimd.js
	$(AM_V_GEN)printf '{"built":true,"simd":{"js":%s,"wasm":%s},"nosimd":{"js":%s,"wasm":%s}}\n' \
		$$(wc -c <www/wasm/digits.js) $$(wc -c <www/wasm/digits.wasm) \
		$$(wc -c <www/wasm/digits-nosimd.js) $$(wc -c <www/wasm/digits-nosimd.wasm) >$@
else
WASM_OUTPUTS =
www/wasm/engine.json: Makefile
	@mkdir -p www/wasm
	$(AM_V_GEN)echo '{"built":false}' >$@
endif
wasm: www/wasm/engine.json
	@grep -q '"built":true' www/wasm/engine.json || \
		{ echo "make wasm: not configured (no working emcc, or --disable-wasm); apt-get install emscripten" >&2; exit 1; }
all-local: www/wasm/engine.json
wwwwasmdir = $(wwwdir)/wasm
nodist_wwwwasm_DATA = www/wasm/engine.json $(WASM_OUTPUTS)
CLEANFILES += www/wasm/engine.json $(WASM_OUTPUTS)
.PHONY: wasm

# The page's "this browser" path in real Chromium against the real server
# (skips with a reason when the module was not built).
TESTS += tests/test_browser_wasm.mjs

# The json-c subset, natively, without json-c: it must read the shipped
# model headers and print them back as json-c wrote them.
check_PROGRAMS += tests/test_json_subset
UNIT_TESTS += tests/test_json_subset
TESTS += tests/test_json_subset
tests_test_json_subset_SOURCES = tests/test_json_subset.c tests/tap.h src/wasm/json_subset.c \
	src/wasm/json_parse.c src/wasm/json_priv.h
tests_test_json_subset_CPPFLAGS = -I$(top_srcdir)/src/wasm -DDIGITS_SRCDIR='"$(abs_top_srcdir)"'
tests_test_json_subset_LDADD = -lm
