/* checkpoint.c -- models to and from .safetensors files (host/safetensors.c
 * does the file format, its checks and the atomic write). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

#define FORMAT "dytcl-checkpoint-1"

int ckpt_meta_set(ckpt_meta *md, const char *key, const char *value)
{
    int i = 0;
    while (i < md->n && strcmp(md->key[i], key)) i++;
    if (i == CKPT_MAX_META) return -1;
    if (i == md->n) md->n++;
    snprintf(md->key[i], sizeof md->key[i], "%s", key);
    snprintf(md->value[i], sizeof md->value[i], "%s", value);
    return 0;
}

const char *ckpt_meta_get(const ckpt_meta *md, const char *key)
{
    for (int i = 0; md && i < md->n; i++)
        if (!strcmp(md->key[i], key)) return md->value[i];
    return NULL;
}

/* ------------------------------------------------------------ the config */

static void config_to_meta(const model_config *c, ckpt_meta *md)
{
    char v[64];
    ckpt_meta_set(md, "format", FORMAT);
    ckpt_meta_set(md, "arch", model_arch_name(c->arch));
    ckpt_meta_set(md, "norm", model_norm_name(c->norm));
#define INT(field) (snprintf(v, sizeof v, "%d", c->field), ckpt_meta_set(md, #field, v))
#define FLT(field) (snprintf(v, sizeof v, "%.9g", (double)c->field), ckpt_meta_set(md, #field, v))
    INT(vocab), INT(max_seq), INT(n_layer), INT(n_head), INT(d_model), INT(d_ff), INT(folded);
    FLT(alpha_attn), FLT(alpha_ffn), FLT(alpha_final), FLT(norm_eps), FLT(rope_theta);
#undef INT
#undef FLT
}

/* Parses the config from a file's metadata; non-zero with a message when a
 * key is missing or malformed. */
static int config_from_file(const dytcl_st_file *f, model_config *c, char *err, size_t cap)
{
    memset(c, 0, sizeof *c);
    const char *fmt = dytcl_st_metadata(f, "format");
    if (!fmt || strcmp(fmt, FORMAT))
        return snprintf(err, cap, "not a dytcl checkpoint (metadata \"format\" is %s%s%s, expected \"" FORMAT "\")",
                        fmt ? "\"" : "", fmt ? fmt : "missing", fmt ? "\"" : ""), -1;
    const char *a = dytcl_st_metadata(f, "arch"), *n = dytcl_st_metadata(f, "norm");
    if (!a || model_arch_parse(a, &c->arch)) return snprintf(err, cap, "bad or missing \"arch\" in the metadata"), -1;
    if (!n || model_norm_parse(n, &c->norm)) return snprintf(err, cap, "bad or missing \"norm\" in the metadata"), -1;
    struct {
        const char *key;
        int *i;
        float *f;
    } fields[] = {{"vocab", &c->vocab, NULL},         {"max_seq", &c->max_seq, NULL},
                  {"n_layer", &c->n_layer, NULL},     {"n_head", &c->n_head, NULL},
                  {"d_model", &c->d_model, NULL},     {"d_ff", &c->d_ff, NULL},
                  {"alpha_attn", NULL, &c->alpha_attn}, {"alpha_ffn", NULL, &c->alpha_ffn},
                  {"alpha_final", NULL, &c->alpha_final}, {"norm_eps", NULL, &c->norm_eps},
                  {"rope_theta", NULL, &c->rope_theta}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *v = dytcl_st_metadata(f, fields[i].key);
        char *end = NULL;
        errno = 0;
        double x = v ? strtod(v, &end) : 0;
        if (!v || end == v || *end || errno || (fields[i].i && (x != (int)x || x < 0 || x > 1e9)))
            return snprintf(err, cap, "bad or missing \"%s\" in the metadata", fields[i].key), -1;
        if (fields[i].i) *fields[i].i = (int)x;
        else *fields[i].f = (float)x;
    }
    const char *folded = dytcl_st_metadata(f, "folded"); /* absent: 0 */
    if (folded && strcmp(folded, "0") && strcmp(folded, "1"))
        return snprintf(err, cap, "bad \"folded\" in the metadata"), -1;
    c->folded = folded && !strcmp(folded, "1");
    char why[512];
    if (model_config_check(c, why, sizeof why)) return snprintf(err, cap, "%s", why), -1;
    return 0;
}

static void meta_from_file(const dytcl_st_file *f, ckpt_meta *md)
{
    /* the reader exposes metadata by key only: copy the keys dytcl writes
     * plus the caller's, which it lists under "keys" */
    const char *keys = dytcl_st_metadata(f, "keys");
    md->n = 0;
    if (!keys) return;
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", keys);
    for (char *save = NULL, *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        const char *v = dytcl_st_metadata(f, k);
        if (v) ckpt_meta_set(md, k, v);
    }
}

/* ------------------------------------------------------------------ save */

dytcl_status ckpt_save(model *m, const char *path, int with_opt, const ckpt_meta *user, char *err, size_t cap)
{
    const model_config *c = model_cfg(m);
    int nt = model_param_table(c, NULL, 0);
    size_t n = model_param_count(c);
    model_tensor *tab = calloc((size_t)nt, sizeof *tab);
    dytcl_st_tensor *st = calloc((size_t)nt + 2, sizeof *st);
    float *host = malloc(n * sizeof(float) * (with_opt ? 3 : 1));
    ckpt_meta *md = calloc(1, sizeof *md);
    const char **kv = calloc(2 * CKPT_MAX_META + 2, sizeof *kv);
    dytcl_status s = DYTCL_ERR_HOST_MEMORY;
    if (!tab || !st || !host || !md || !kv) {
        snprintf(err, cap, "checkpoint %s: out of host memory", path);
        goto done;
    }
    model_param_table(c, tab, nt);
    if ((s = model_read_params(m, host)) || (with_opt && (s = model_read_opt(m, host + n, host + 2 * n)))) {
        snprintf(err, cap, "checkpoint %s: %s", path, model_error(m));
        goto done;
    }
    for (int i = 0; i < nt; i++) {
        st[i].name = tab[i].name;
        st[i].ndim = tab[i].ndim;
        st[i].shape[0] = tab[i].shape[0], st[i].shape[1] = tab[i].shape[1];
        st[i].numel = tab[i].numel;
        st[i].data = host + tab[i].offset;
    }
    int count = nt;
    if (with_opt) {
        const char *names[2] = {"opt.m", "opt.v"};
        for (int j = 0; j < 2; j++, count++) {
            st[count].name = names[j];
            st[count].ndim = 1;
            st[count].shape[0] = (int64_t)n;
            st[count].numel = n;
            st[count].data = host + (size_t)(j + 1) * n;
        }
    }
    /* the caller's pairs, then the config (which wins), then the key list */
    char keys[2048] = "";
    for (int i = 0; user && i < user->n; i++) ckpt_meta_set(md, user->key[i], user->value[i]);
    config_to_meta(c, md);
    for (int i = 0; i < md->n; i++) {
        size_t used = strlen(keys);
        snprintf(keys + used, sizeof keys - used, "%s%s", used ? "," : "", md->key[i]);
    }
    ckpt_meta_set(md, "keys", keys);
    for (int i = 0; i < md->n; i++) kv[2 * i] = md->key[i], kv[2 * i + 1] = md->value[i];
    if ((s = dytcl_st_save(path, st, count, kv, md->n)))
        snprintf(err, cap, "checkpoint %s: %s", path, dytcl_last_error(NULL));
done:
    free(tab), free(st), free(host), free(md), free(kv);
    return s;
}

/* ------------------------------------------------------------------ load */

dytcl_status ckpt_read_config(const char *path, model_config *c, ckpt_meta *md, char *err, size_t cap)
{
    dytcl_st_file *f = NULL;
    dytcl_status s = dytcl_st_load(path, &f);
    if (s) return snprintf(err, cap, "checkpoint %s: %s", path, dytcl_last_error(NULL)), s;
    char why[600];
    if (config_from_file(f, c, why, sizeof why)) {
        snprintf(err, cap, "checkpoint %s: %s", path, why);
        dytcl_st_free(f);
        return DYTCL_ERR_FORMAT;
    }
    if (md) meta_from_file(f, md);
    dytcl_st_free(f);
    return DYTCL_OK;
}

/* "[3, 1024]" */
static void shape_str(int ndim, const int64_t *shape, char *out, size_t cap)
{
    size_t k = (size_t)snprintf(out, cap, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(out + k, cap - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < cap) snprintf(out + k, cap - k, "]");
}

/* Copies tensor `name` of numel n (and shape, when tab is given) into dst. */
static int take(const dytcl_st_file *f, const char *name, const model_tensor *tab, size_t n, float *dst, char *why,
                size_t cap)
{
    dytcl_st_tensor t;
    if (dytcl_st_get(f, name, &t)) return snprintf(why, cap, "tensor \"%s\" is missing", name), -1;
    int same = t.numel == n;
    if (tab) same = same && t.ndim == tab->ndim && t.shape[0] == tab->shape[0] && (t.ndim < 2 || t.shape[1] == tab->shape[1]);
    if (!same) { /* say the shapes: equal counts can hide different shapes */
        char has[96], need[96];
        shape_str(t.ndim, t.shape, has, sizeof has);
        if (tab) shape_str(tab->ndim, tab->shape, need, sizeof need);
        else snprintf(need, sizeof need, "[%zu]", n);
        return snprintf(why, cap, "tensor \"%s\" is %s (%zu elements), the config needs %s (%zu elements)", name,
                        has, t.numel, need, n),
               -1;
    }
    memcpy(dst, t.data, n * sizeof(float));
    return 0;
}

dytcl_status ckpt_load(dytcl_ctx *ctx, const char *path, model **out, ckpt_meta *md, int *has_opt, char *err,
                       size_t cap)
{
    *out = NULL;
    if (has_opt) *has_opt = 0;
    dytcl_st_file *f = NULL;
    dytcl_status s = dytcl_st_load(path, &f);
    if (s) return snprintf(err, cap, "checkpoint %s: %s", path, dytcl_last_error(NULL)), s;
    model_config c;
    char why[600] = "";
    model_tensor *tab = NULL;
    float *host = NULL;
    model *m = NULL;
    s = DYTCL_ERR_FORMAT;
    if (config_from_file(f, &c, why, sizeof why)) goto done;
    int nt = model_param_table(&c, NULL, 0);
    size_t n = model_param_count(&c);
    s = DYTCL_ERR_HOST_MEMORY;
    snprintf(why, sizeof why, "out of host memory");
    if (!(tab = calloc((size_t)nt, sizeof *tab)) || !(host = malloc(3 * n * sizeof(float)))) goto done;
    model_param_table(&c, tab, nt);
    s = DYTCL_ERR_FORMAT;
    for (int i = 0; i < nt; i++)
        if (take(f, tab[i].name, &tab[i], tab[i].numel, host + tab[i].offset, why, sizeof why)) goto done;
    dytcl_st_tensor probe;
    int opt = !dytcl_st_get(f, "opt.m", &probe);
    if (opt && (take(f, "opt.m", NULL, n, host + n, why, sizeof why) ||
                take(f, "opt.v", NULL, n, host + 2 * n, why, sizeof why)))
        goto done;
    if ((s = model_create(ctx, &c, 0, &m, why, sizeof why))) goto done;
    if ((s = model_write_params(m, host)) || (opt && (s = model_write_opt(m, host + n, host + 2 * n)))) {
        snprintf(why, sizeof why, "%s", model_error(m));
        goto done;
    }
    if (md) meta_from_file(f, md);
    if (has_opt) *has_opt = opt;
    *out = m;
    m = NULL;
done:
    if (s) snprintf(err, cap, "checkpoint %s: %s", path, why);
    model_free(m);
    free(tab), free(host);
    dytcl_st_free(f);
    return s;
}
