/*
 * checkpoint.c - saving and resuming a training run (see train.h).
 *
 * File layout (host byte order, recorded in the header; a checkpoint is a
 * scratch file for the machine that wrote it, not an exchange format):
 *   0   magic "DIGITSCK"
 *   8   u32 version (CKPT_VERSION)
 *   12  u32 header length H
 *   16  H bytes of JSON: {"format", "byte_order", "config", "n_params",
 *       "state", "history"}
 *   then params, best params, Adam m, Adam v: n_params floats each
 *   end u32 CRC-32 (zlib) of every byte before it
 *
 * Doubles go through json-c, which prints them with 17 significant digits,
 * so they come back exactly and a resumed run's numbers match.
 */
#include "train.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define CKPT_MAGIC      "DIGITSCK"
#define CKPT_VERSION    1
#define CKPT_PREAMBLE   16 /* magic, version, header length */
#define CKPT_MAX_HEADER (16u << 20)
_Static_assert(CKPT_MAX_HEADER <= UINT32_MAX, "the header length is stored as a u32");

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BYTE_ORDER_NAME "big"
#else
#define BYTE_ORDER_NAME "little"
#endif

int train_write_atomic(const char *path, const void *data, size_t len, struct dg_error *err)
{
	size_t n = strlen(path) + 32;
	char *tmp = malloc(n);
	const char *p = data;
	int fd, saved;

	if (!tmp)
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
	snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail_fd;
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail_fd;
	if (close(fd) < 0) {
		fd = -1;
		goto fail_fd;
	}
	if (rename(tmp, path) < 0) {
		fd = -1;
		goto fail_fd;
	}
	free(tmp);
	return 0;
fail_fd:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
fail:
	saved = errno;
	free(tmp);
	return dg_fail(err, DG_ERR_IO, "%s: cannot write: %s", path, strerror(saved));
}

char *train_checkpoint_path(const char *out)
{
	size_t len = strlen(out) + sizeof(".ckpt");
	char *p = malloc(len);

	if (p)
		snprintf(p, len, "%s.ckpt", out);
	return p;
}

/* --- the header's fields ------------------------------------------------
 *
 * One table per JSON object, in the order the fields are written; the
 * same table reads them back, so the two cannot disagree.  A number that
 * is absent reads as 0 (the range checks after reading catch what
 * matters); a string, the schedule and a nested object must be present. */

enum ckpt_type {
	CK_INT,      /* int */
	CK_LONG,     /* long */
	CK_U64,      /* uint64_t */
	CK_DOUBLE,   /* double */
	CK_FLOAT,    /* float, written as a double */
	CK_BOOL,     /* bool */
	CK_STRING,   /* char[size] */
	CK_SCHEDULE, /* enum optim_schedule, by name */
	CK_OBJECT,   /* a nested object: the fields of sub, at offset */
};

struct ckpt_field {
	const char *key;
	enum ckpt_type type;
	size_t offset, size;
	const struct ckpt_field *sub; /* CK_OBJECT; tables end with a NULL key */
};

#define FIELD(s, key, type, member)                                                                \
	{                                                                                          \
#key, type, offsetof(s, member), sizeof(((s *)0)->member), NULL                    \
	}

static const struct ckpt_field aug_fields[] = {
    FIELD(struct augment_params, rotate, CK_FLOAT, rotate),
    FIELD(struct augment_params, scale, CK_FLOAT, scale),
    FIELD(struct augment_params, shear, CK_FLOAT, shear),
    FIELD(struct augment_params, shift, CK_FLOAT, shift),
    FIELD(struct augment_params, thickness, CK_FLOAT, thickness),
    FIELD(struct augment_params, artefacts, CK_FLOAT, artefacts),
    {NULL, 0, 0, 0, NULL},
};

/* Everything of struct train_config but quiet and stop_after. */
static const struct ckpt_field config_fields[] = {
    FIELD(struct train_config, model, CK_STRING, model),
    FIELD(struct train_config, epochs, CK_INT, epochs),
    FIELD(struct train_config, batch, CK_INT, batch),
    FIELD(struct train_config, threads, CK_INT, threads),
    FIELD(struct train_config, lr, CK_DOUBLE, lr),
    FIELD(struct train_config, weight_decay, CK_DOUBLE, weight_decay),
    FIELD(struct train_config, schedule, CK_SCHEDULE, schedule),
    FIELD(struct train_config, warmup_steps, CK_LONG, warmup_steps),
    FIELD(struct train_config, seed, CK_U64, seed),
    FIELD(struct train_config, val, CK_INT, val),
    FIELD(struct train_config, limit, CK_INT, limit),
    FIELD(struct train_config, augment, CK_BOOL, augment),
    {"augmentation", CK_OBJECT, offsetof(struct train_config, aug), sizeof(struct augment_params),
     aug_fields},
    FIELD(struct train_config, out, CK_STRING, out),
    {NULL, 0, 0, 0, NULL},
};

/* "state" is these fields of struct train_state, then adam_fields of its
 * struct adam. */
static const struct ckpt_field state_fields[] = {
    FIELD(struct train_state, epoch, CK_INT, epoch),
    FIELD(struct train_state, step, CK_LONG, step),
    FIELD(struct train_state, loss_sum, CK_DOUBLE, loss_sum),
    FIELD(struct train_state, correct, CK_LONG, correct),
    FIELD(struct train_state, seen, CK_LONG, seen),
    FIELD(struct train_state, seconds, CK_DOUBLE, seconds),
    FIELD(struct train_state, best_epoch, CK_INT, best_epoch),
    FIELD(struct train_state, best_val_acc, CK_DOUBLE, best_val_acc),
    FIELD(struct train_state, best_val_loss, CK_DOUBLE, best_val_loss),
    {NULL, 0, 0, 0, NULL},
};

static const struct ckpt_field adam_fields[] = {
    FIELD(struct adam, adam_t, CK_LONG, t),
    {NULL, 0, 0, 0, NULL},
};

/* One element of "history" per completed epoch. */
static const struct ckpt_field epoch_fields[] = {
    FIELD(struct train_epoch, train_loss, CK_DOUBLE, train_loss),
    FIELD(struct train_epoch, train_acc, CK_DOUBLE, train_acc),
    FIELD(struct train_epoch, val_loss, CK_DOUBLE, val_loss),
    FIELD(struct train_epoch, val_acc, CK_DOUBLE, val_acc),
    FIELD(struct train_epoch, lr, CK_DOUBLE, lr),
    FIELD(struct train_epoch, seconds, CK_DOUBLE, seconds),
    {NULL, 0, 0, 0, NULL},
};

/* Add the fields of the struct at base to o. */
static void fields_to_json(struct json_object *o, const struct ckpt_field *f, const void *base)
{
	for (; f->key; f++) {
		const void *p = (const char *)base + f->offset;
		struct json_object *v = NULL;

		switch (f->type) {
		case CK_INT:
			v = json_object_new_int(*(const int *)p);
			break;
		case CK_LONG:
			v = json_object_new_int64(*(const long *)p);
			break;
		case CK_U64:
			v = json_object_new_uint64(*(const uint64_t *)p);
			break;
		case CK_DOUBLE:
			v = json_object_new_double(*(const double *)p);
			break;
		case CK_FLOAT:
			v = json_object_new_double(*(const float *)p);
			break;
		case CK_BOOL:
			v = json_object_new_boolean(*(const bool *)p);
			break;
		case CK_STRING:
			v = json_object_new_string(p);
			break;
		case CK_SCHEDULE:
			v = json_object_new_string(
			    optim_schedule_name(*(const enum optim_schedule *)p));
			break;
		case CK_OBJECT:
			v = json_object_new_object();
			fields_to_json(v, f->sub, p);
			break;
		}
		json_object_object_add(o, f->key, v);
	}
}

static struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* The fields of o into the struct at base; -1 when a string, the
 * schedule or a nested object is missing or invalid. */
static int fields_from_json(struct json_object *o, const struct ckpt_field *f, void *base)
{
	for (; f->key; f++) {
		struct json_object *v = member(o, f->key);
		void *p = (char *)base + f->offset;

		switch (f->type) {
		case CK_INT:
			*(int *)p = (int)json_object_get_int64(v);
			break;
		case CK_LONG:
			*(long *)p = json_object_get_int64(v);
			break;
		case CK_U64:
			*(uint64_t *)p = json_object_get_uint64(v);
			break;
		case CK_DOUBLE:
			*(double *)p = json_object_get_double(v);
			break;
		case CK_FLOAT:
			*(float *)p = (float)json_object_get_double(v);
			break;
		case CK_BOOL:
			*(bool *)p = json_object_get_boolean(v);
			break;
		case CK_STRING:
			if (!json_object_is_type(v, json_type_string))
				return -1;
			snprintf(p, f->size, "%s", json_object_get_string(v));
			break;
		case CK_SCHEDULE:
			if (optim_schedule_parse(json_object_get_string(v) ?: "", p) < 0)
				return -1;
			break;
		case CK_OBJECT:
			if (!v || fields_from_json(v, f->sub, p) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

static struct json_object *header_json(const struct train_config *cfg, const struct nn_graph *g,
                                       const struct train_state *st)
{
	struct json_object *h = json_object_new_object(), *c = json_object_new_object();
	struct json_object *s = json_object_new_object(), *hist = json_object_new_array();

	json_object_object_add(h, "format", json_object_new_string("digits-checkpoint"));
	json_object_object_add(h, "byte_order", json_object_new_string(BYTE_ORDER_NAME));
	fields_to_json(c, config_fields, cfg);
	json_object_object_add(h, "config", c);
	json_object_object_add(h, "n_params", json_object_new_int64((int64_t)g->n_params));
	fields_to_json(s, state_fields, st);
	fields_to_json(s, adam_fields, st->adam);
	json_object_object_add(h, "state", s);
	for (int i = 0; i < st->epoch; i++) {
		struct json_object *o = json_object_new_object();
		fields_to_json(o, epoch_fields, &st->history[i]);
		json_object_array_add(hist, o);
	}
	json_object_object_add(h, "history", hist);
	return h;
}

int train_checkpoint_save(const char *path, const struct train_config *cfg,
                          const struct nn_graph *g, const struct train_state *st,
                          struct dg_error *err)
{
	struct json_object *h = header_json(cfg, g, st);
	const char *text = json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN);
	size_t text_len = text ? strlen(text) : 0, arr = g->n_params * sizeof(float), len;
	uint32_t hlen, version = CKPT_VERSION, crc;
	char *buf = NULL, *p;
	int rc = -1;

	if (!text) {
		dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	if (text_len > CKPT_MAX_HEADER) {
		dg_fail(err, DG_ERR_TOO_LARGE, "%s: header of %zu bytes, at most %u", path,
		        text_len, CKPT_MAX_HEADER);
		goto out;
	}
	hlen = (uint32_t)text_len; /* <= CKPT_MAX_HEADER */
	len = CKPT_PREAMBLE + hlen + 4 * arr + 4;
	if (!(buf = p = malloc(len))) {
		dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	memcpy(p, CKPT_MAGIC, 8);
	memcpy(p + 8, &version, 4);
	memcpy(p + 12, &hlen, 4);
	memcpy(p + CKPT_PREAMBLE, text, hlen);
	p += CKPT_PREAMBLE + hlen;
	memcpy(p, st->params, arr);
	memcpy(p + arr, st->best, arr);
	memcpy(p + 2 * arr, st->adam->m, arr);
	memcpy(p + 3 * arr, st->adam->v, arr);
	p += 4 * arr;
	crc = (uint32_t)crc32_z(0, (const Bytef *)buf, (size_t)(p - buf));
	memcpy(p, &crc, 4);
	rc = train_write_atomic(path, buf, len, err);
out:
	json_object_put(h);
	free(buf);
	return rc;
}

/* The whole file, checked for magic, version, length and CRC, with its
 * parsed header. */
static int read_checkpoint(const char *path, char **data, size_t *len, struct json_object **hdr,
                           struct dg_error *err)
{
	FILE *f = fopen(path, "rb");
	uint32_t version, hlen, crc;
	long size;
	char *buf = NULL;

	*data = NULL;
	*hdr = NULL;
	if (!f)
		return dg_fail(err, DG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		dg_fail(err, DG_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
		goto fail;
	}
	if (size < CKPT_PREAMBLE + 4) {
		dg_fail(err, DG_ERR_FORMAT, "%s: truncated: %ld bytes, not a checkpoint", path,
		        size);
		goto fail;
	}
	buf = malloc((size_t)size + 1);
	if (!buf) {
		dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
		goto fail;
	}
	if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
		dg_fail(err, DG_ERR_IO, "%s: cannot read: %s", path,
		        ferror(f) ? strerror(errno) : "short read");
		goto fail;
	}
	memcpy(&version, buf + 8, 4);
	memcpy(&hlen, buf + 12, 4);
	memcpy(&crc, buf + size - 4, 4);
	if (memcmp(buf, CKPT_MAGIC, 8) != 0) {
		dg_fail(err, DG_ERR_FORMAT, "%s: not a digits-train checkpoint (bad magic)", path);
		goto fail;
	}
	if (version != CKPT_VERSION) {
		dg_fail(err, DG_ERR_UNSUPPORTED, "%s: checkpoint version %u, this trainer reads %d",
		        path, version, CKPT_VERSION);
		goto fail;
	}
	if (hlen > CKPT_MAX_HEADER || CKPT_PREAMBLE + (size_t)hlen + 4 > (size_t)size) {
		dg_fail(err, DG_ERR_FORMAT, "%s: header length %u does not fit the file", path,
		        hlen);
		goto fail;
	}
	if (crc32_z(0, (const Bytef *)buf, (size_t)size - 4) != crc) {
		dg_fail(err, DG_ERR_FORMAT, "%s: checksum mismatch (truncated or corrupt)", path);
		goto fail;
	}
	{
		char save = buf[CKPT_PREAMBLE + hlen];
		buf[CKPT_PREAMBLE + hlen] = '\0';
		*hdr = json_tokener_parse(buf + CKPT_PREAMBLE);
		buf[CKPT_PREAMBLE + hlen] = save;
	}
	if (!*hdr || !json_object_is_type(*hdr, json_type_object)) {
		dg_fail(err, DG_ERR_FORMAT, "%s: checkpoint header is not a JSON object", path);
		goto fail;
	}
	fclose(f);
	*data = buf;
	*len = (size_t)size;
	return 0;
fail:
	json_object_put(*hdr);
	*hdr = NULL;
	free(buf);
	fclose(f);
	return -1;
}

int train_checkpoint_read_config(const char *path, struct train_config *cfg, struct dg_error *err)
{
	struct json_object *h, *c;
	char *data;
	size_t len;
	const char *s;
	int rc = -1;

	if (read_checkpoint(path, &data, &len, &h, err) < 0)
		return -1;
	c = member(h, "config");
	s = json_object_get_string(member(h, "byte_order"));
	if (!s || strcmp(s, BYTE_ORDER_NAME) != 0) {
		dg_fail(err, DG_ERR_UNSUPPORTED, "%s: written on a %s-endian machine", path,
		        s ? s : "different");
		goto out;
	}
	if (!c || fields_from_json(c, config_fields, cfg) < 0) {
		dg_fail(err, DG_ERR_FORMAT, "%s: checkpoint header lacks a valid \"config\"", path);
		goto out;
	}
	if (cfg->epochs < 1 || cfg->epochs > TRAIN_MAX_EPOCHS || cfg->batch < 1 ||
	    cfg->threads < 1 || cfg->val < 0 || cfg->limit < 0 || !(cfg->lr > 0)) {
		dg_fail(err, DG_ERR_FORMAT, "%s: checkpoint config out of range", path);
		goto out;
	}
	rc = 0;
out:
	json_object_put(h);
	free(data);
	return rc;
}

int train_checkpoint_load(const char *path, const struct train_config *cfg,
                          const struct nn_graph *g, struct train_state *st, struct dg_error *err)
{
	struct json_object *h, *s, *hist;
	char *data;
	size_t len, arr = g->n_params * sizeof(float);
	uint32_t hlen;
	int64_t n_params;
	int rc = -1;

	if (read_checkpoint(path, &data, &len, &h, err) < 0)
		return -1;
	memcpy(&hlen, data + 12, 4);
	s = member(h, "state");
	hist = member(h, "history");
	n_params = json_object_get_int64(member(h, "n_params"));
	if ((size_t)n_params != g->n_params || CKPT_PREAMBLE + hlen + 4 * arr + 4 != len) {
		dg_fail(err, DG_ERR_FORMAT, "%s: holds %lld parameters, %s has %zu", path,
		        (long long)n_params, g->name, g->n_params);
		goto out;
	}
	if (!s || !hist || !json_object_is_type(hist, json_type_array)) {
		dg_fail(err, DG_ERR_FORMAT, "%s: checkpoint header lacks \"state\"", path);
		goto out;
	}
	if (train_state_init(st, cfg, g, err) < 0)
		goto out;
	fields_from_json(s, state_fields, st);
	fields_from_json(s, adam_fields, st->adam);
	if (st->epoch < 0 || st->epoch > cfg->epochs || st->step < 0 || st->best_epoch < 0 ||
	    st->best_epoch > st->epoch || (int)json_object_array_length(hist) != st->epoch) {
		dg_fail(err, DG_ERR_FORMAT, "%s: checkpoint state out of range", path);
		train_state_free(st);
		goto out;
	}
	for (int i = 0; i < st->epoch; i++)
		fields_from_json(json_object_array_get_idx(hist, (size_t)i), epoch_fields,
		                 &st->history[i]);
	{
		const char *p = data + CKPT_PREAMBLE + hlen;
		memcpy(st->params, p, arr);
		memcpy(st->best, p + arr, arr);
		memcpy(st->adam->m, p + 2 * arr, arr);
		memcpy(st->adam->v, p + 3 * arr, arr);
	}
	rc = 0;
out:
	json_object_put(h);
	free(data);
	return rc;
}
