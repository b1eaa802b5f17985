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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define CKPT_MAGIC      "DIGITSCK"
#define CKPT_VERSION    1
#define CKPT_MAX_HEADER (16u << 20)

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

static struct json_object *config_json(const struct train_config *c)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_object();

	json_object_object_add(o, "model", json_object_new_string(c->model));
	json_object_object_add(o, "epochs", json_object_new_int(c->epochs));
	json_object_object_add(o, "batch", json_object_new_int(c->batch));
	json_object_object_add(o, "threads", json_object_new_int(c->threads));
	json_object_object_add(o, "lr", json_object_new_double(c->lr));
	json_object_object_add(o, "weight_decay", json_object_new_double(c->weight_decay));
	json_object_object_add(o, "schedule",
	                       json_object_new_string(optim_schedule_name(c->schedule)));
	json_object_object_add(o, "warmup_steps", json_object_new_int64(c->warmup_steps));
	json_object_object_add(o, "seed", json_object_new_uint64(c->seed));
	json_object_object_add(o, "val", json_object_new_int(c->val));
	json_object_object_add(o, "limit", json_object_new_int(c->limit));
	json_object_object_add(o, "augment", json_object_new_boolean(c->augment));
	json_object_object_add(a, "rotate", json_object_new_double(c->aug.rotate));
	json_object_object_add(a, "scale", json_object_new_double(c->aug.scale));
	json_object_object_add(a, "shear", json_object_new_double(c->aug.shear));
	json_object_object_add(a, "shift", json_object_new_double(c->aug.shift));
	json_object_object_add(a, "thickness", json_object_new_double(c->aug.thickness));
	json_object_object_add(o, "augmentation", a);
	json_object_object_add(o, "out", json_object_new_string(c->out));
	return o;
}

static struct json_object *header_json(const struct train_config *cfg, const struct nn_graph *g,
                                       const struct train_state *st)
{
	struct json_object *h = json_object_new_object(), *s = json_object_new_object();
	struct json_object *hist = json_object_new_array();

	json_object_object_add(h, "format", json_object_new_string("digits-checkpoint"));
	json_object_object_add(h, "byte_order", json_object_new_string(BYTE_ORDER_NAME));
	json_object_object_add(h, "config", config_json(cfg));
	json_object_object_add(h, "n_params", json_object_new_int64((int64_t)g->n_params));
	json_object_object_add(s, "epoch", json_object_new_int(st->epoch));
	json_object_object_add(s, "step", json_object_new_int64(st->step));
	json_object_object_add(s, "loss_sum", json_object_new_double(st->loss_sum));
	json_object_object_add(s, "correct", json_object_new_int64(st->correct));
	json_object_object_add(s, "seen", json_object_new_int64(st->seen));
	json_object_object_add(s, "seconds", json_object_new_double(st->seconds));
	json_object_object_add(s, "best_epoch", json_object_new_int(st->best_epoch));
	json_object_object_add(s, "best_val_acc", json_object_new_double(st->best_val_acc));
	json_object_object_add(s, "best_val_loss", json_object_new_double(st->best_val_loss));
	json_object_object_add(s, "adam_t", json_object_new_int64(st->adam->t));
	json_object_object_add(h, "state", s);
	for (int i = 0; i < st->epoch; i++) {
		const struct train_epoch *e = &st->history[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "train_loss", json_object_new_double(e->train_loss));
		json_object_object_add(o, "train_acc", json_object_new_double(e->train_acc));
		json_object_object_add(o, "val_loss", json_object_new_double(e->val_loss));
		json_object_object_add(o, "val_acc", json_object_new_double(e->val_acc));
		json_object_object_add(o, "lr", json_object_new_double(e->lr));
		json_object_object_add(o, "seconds", json_object_new_double(e->seconds));
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
	uint32_t hlen = (uint32_t)strlen(text), version = CKPT_VERSION, crc;
	size_t arr = g->n_params * sizeof(float);
	size_t len = 16 + hlen + 4 * arr + 4;
	char *buf = malloc(len), *p = buf;
	int rc;

	if (!buf) {
		json_object_put(h);
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
	}
	memcpy(p, CKPT_MAGIC, 8);
	memcpy(p + 8, &version, 4);
	memcpy(p + 12, &hlen, 4);
	memcpy(p + 16, text, hlen);
	p += 16 + hlen;
	memcpy(p, st->params, arr);
	memcpy(p + arr, st->best, arr);
	memcpy(p + 2 * arr, st->adam->m, arr);
	memcpy(p + 3 * arr, st->adam->v, arr);
	p += 4 * arr;
	crc = (uint32_t)crc32_z(0, (const Bytef *)buf, (size_t)(p - buf));
	memcpy(p, &crc, 4);
	json_object_put(h);
	rc = train_write_atomic(path, buf, len, err);
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
	if (size < 20) {
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
	if (hlen > CKPT_MAX_HEADER || 16 + (size_t)hlen + 4 > (size_t)size) {
		dg_fail(err, DG_ERR_FORMAT, "%s: header length %u does not fit the file", path,
		        hlen);
		goto fail;
	}
	if (crc32_z(0, (const Bytef *)buf, (size_t)size - 4) != crc) {
		dg_fail(err, DG_ERR_FORMAT, "%s: checksum mismatch (truncated or corrupt)", path);
		goto fail;
	}
	{
		char save = buf[16 + hlen];
		buf[16 + hlen] = '\0';
		*hdr = json_tokener_parse(buf + 16);
		buf[16 + hlen] = save;
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

static struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static double get_d(struct json_object *o, const char *key)
{
	return json_object_get_double(member(o, key));
}

static int64_t get_i(struct json_object *o, const char *key)
{
	return json_object_get_int64(member(o, key));
}

int train_checkpoint_read_config(const char *path, struct train_config *cfg, struct dg_error *err)
{
	struct json_object *h, *c, *a;
	char *data;
	size_t len;
	const char *s;
	int rc = -1;

	if (read_checkpoint(path, &data, &len, &h, err) < 0)
		return -1;
	c = member(h, "config");
	a = c ? member(c, "augmentation") : NULL;
	s = json_object_get_string(member(h, "byte_order"));
	if (!s || strcmp(s, BYTE_ORDER_NAME) != 0) {
		dg_fail(err, DG_ERR_UNSUPPORTED, "%s: written on a %s-endian machine", path,
		        s ? s : "different");
		goto out;
	}
	if (!c || !a || !json_object_is_type(member(c, "model"), json_type_string) ||
	    !json_object_is_type(member(c, "out"), json_type_string) ||
	    optim_schedule_parse(json_object_get_string(member(c, "schedule")) ?: "",
	                         &cfg->schedule) < 0) {
		dg_fail(err, DG_ERR_FORMAT, "%s: checkpoint header lacks a valid \"config\"", path);
		goto out;
	}
	snprintf(cfg->model, sizeof(cfg->model), "%s", json_object_get_string(member(c, "model")));
	snprintf(cfg->out, sizeof(cfg->out), "%s", json_object_get_string(member(c, "out")));
	cfg->epochs = (int)get_i(c, "epochs");
	cfg->batch = (int)get_i(c, "batch");
	cfg->threads = (int)get_i(c, "threads");
	cfg->lr = get_d(c, "lr");
	cfg->weight_decay = get_d(c, "weight_decay");
	cfg->warmup_steps = get_i(c, "warmup_steps");
	cfg->seed = json_object_get_uint64(member(c, "seed"));
	cfg->val = (int)get_i(c, "val");
	cfg->limit = (int)get_i(c, "limit");
	cfg->augment = json_object_get_boolean(member(c, "augment"));
	cfg->aug.rotate = (float)get_d(a, "rotate");
	cfg->aug.scale = (float)get_d(a, "scale");
	cfg->aug.shear = (float)get_d(a, "shear");
	cfg->aug.shift = (float)get_d(a, "shift");
	cfg->aug.thickness = (float)get_d(a, "thickness");
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
	int rc = -1;

	if (read_checkpoint(path, &data, &len, &h, err) < 0)
		return -1;
	memcpy(&hlen, data + 12, 4);
	s = member(h, "state");
	hist = member(h, "history");
	if ((size_t)get_i(h, "n_params") != g->n_params || 16 + hlen + 4 * arr + 4 != len) {
		dg_fail(err, DG_ERR_FORMAT, "%s: holds %lld parameters, %s has %zu", path,
		        (long long)get_i(h, "n_params"), g->name, g->n_params);
		goto out;
	}
	if (!s || !hist || !json_object_is_type(hist, json_type_array)) {
		dg_fail(err, DG_ERR_FORMAT, "%s: checkpoint header lacks \"state\"", path);
		goto out;
	}
	if (train_state_init(st, cfg, g, err) < 0)
		goto out;
	st->epoch = (int)get_i(s, "epoch");
	st->step = get_i(s, "step");
	st->loss_sum = get_d(s, "loss_sum");
	st->correct = get_i(s, "correct");
	st->seen = get_i(s, "seen");
	st->seconds = get_d(s, "seconds");
	st->best_epoch = (int)get_i(s, "best_epoch");
	st->best_val_acc = get_d(s, "best_val_acc");
	st->best_val_loss = get_d(s, "best_val_loss");
	st->adam->t = get_i(s, "adam_t");
	if (st->epoch < 0 || st->epoch > cfg->epochs || st->step < 0 || st->best_epoch < 0 ||
	    st->best_epoch > st->epoch || (int)json_object_array_length(hist) != st->epoch) {
		dg_fail(err, DG_ERR_FORMAT, "%s: checkpoint state out of range", path);
		train_state_free(st);
		goto out;
	}
	for (int i = 0; i < st->epoch; i++) {
		struct json_object *o = json_object_array_get_idx(hist, (size_t)i);
		struct train_epoch *e = &st->history[i];
		e->train_loss = get_d(o, "train_loss");
		e->train_acc = get_d(o, "train_acc");
		e->val_loss = get_d(o, "val_loss");
		e->val_acc = get_d(o, "val_acc");
		e->lr = get_d(o, "lr");
		e->seconds = get_d(o, "seconds");
	}
	{
		const char *p = data + 16 + hlen;
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
