/* checkpoint.c -- models to and from .safetensors files (host/safetensors.c
 * does the file format, its checks and the atomic write), and the metadata
 * pairs they carry. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_internal.h"

#define FORMAT "dytcl-checkpoint-1"
#define LEGACY_VIT "dytcl-vit-1" /* the ViT files of earlier versions: read, not written */

static char *copy_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

dytcl_status dytcl_meta_set(dytcl_meta *md, const char *key, const char *value)
{
    if (!md || !key || !value) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_meta_set: NULL argument");
    int i = 0;
    while (i < md->n && strcmp(md->key[i], key)) i++;
    char *v = copy_str(value);
    if (!v) return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "dytcl_meta_set: out of host memory");
    if (i < md->n) {
        free(md->value[i]);
        md->value[i] = v;
        return DYTCL_OK;
    }
    if (md->n == md->cap) {
        int cap = md->cap ? 2 * md->cap : 16;
        char **k = realloc(md->key, (size_t)cap * sizeof *k);
        if (k) md->key = k;
        char **vs = k ? realloc(md->value, (size_t)cap * sizeof *vs) : NULL;
        if (!vs) return free(v), dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "dytcl_meta_set: out of host memory");
        md->value = vs, md->cap = cap;
    }
    if (!(md->key[i] = copy_str(key)))
        return free(v), dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "dytcl_meta_set: out of host memory");
    md->value[i] = v;
    md->n++;
    return DYTCL_OK;
}

void dytcl_meta_clear(dytcl_meta *md)
{
    if (!md) return;
    for (int i = 0; i < md->n; i++) free(md->key[i]), free(md->value[i]);
    free(md->key), free(md->value);
    *md = (dytcl_meta){0};
}

const char *dytcl_meta_get(const dytcl_meta *md, const char *key)
{
    for (int i = 0; md && key && i < md->n; i++)
        if (!strcmp(md->key[i], key)) return md->value[i];
    return NULL;
}

/* ------------------------------------------------------------ the config */

/* Non-zero when out of host memory. */
static int config_to_meta(const dytcl_model_config *c, dytcl_meta *md)
{
    char v[64];
    int bad = dytcl_meta_set(md, "format", FORMAT) | dytcl_meta_set(md, "arch", dytcl_arch_name(c->arch)) |
              dytcl_meta_set(md, "norm", dytcl_norm_kind_name(c->norm));
#define INT(field) (snprintf(v, sizeof v, "%d", c->field), bad |= dytcl_meta_set(md, #field, v))
#define FLT(field) (snprintf(v, sizeof v, "%.9g", (double)c->field), bad |= dytcl_meta_set(md, #field, v))
    if (c->arch == DYTCL_ARCH_VIT) {
        INT(n_layer), INT(n_head), INT(d_model), INT(d_ff);
        FLT(alpha_attn), FLT(alpha_ffn), FLT(alpha_final), FLT(norm_eps);
        INT(image_height), INT(image_width), INT(image_channels), INT(patch), INT(classes);
        bad |= dytcl_meta_set(md, "pool", c->pool == DYTCL_POOL_CLS ? "cls" : "mean");
        return bad;
    }
    INT(vocab), INT(max_seq), INT(n_layer), INT(n_head), INT(d_model), INT(d_ff), INT(folded);
    FLT(alpha_attn), FLT(alpha_ffn), FLT(alpha_final), FLT(norm_eps), FLT(rope_theta);
    /* written only when set: files without them read as 0 */
    if (c->n_kv_head && c->n_kv_head != c->n_head) INT(n_kv_head);
    if (c->tie_embeddings) INT(tie_embeddings);
    if (c->attn_bias) INT(attn_bias);
    if (c->mlp_bias) INT(mlp_bias);
#undef INT
#undef FLT
    return bad;
}

/* A number from metadata key `key` into *i (integral, 0..1e9) or *f; non-zero when missing or malformed. */
static int meta_num(const dytcl_st_file *f, const char *key, int *i, float *fl, char *err, size_t cap)
{
    const char *v = dytcl_st_metadata(f, key);
    char *end = NULL;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || errno || (i && (x != (int)x || x < 0 || x > 1e9)))
        return snprintf(err, cap, "bad or missing \"%s\" in the metadata", key), -1;
    if (i) *i = (int)x;
    else *fl = (float)x;
    return 0;
}

/* A ViT's config: the keys of this format, or of the earlier ViT files
 * ("dytcl-vit-1": dim, heads, layers, mlp, height, width, channels,
 * alpha0 and eps). */
static int vit_config_from_file(const dytcl_st_file *f, int legacy, dytcl_model_config *c, char *err, size_t cap)
{
    const char *pool = dytcl_st_metadata(f, "pool");
    if (!pool || (strcmp(pool, "cls") && strcmp(pool, "mean")))
        return snprintf(err, cap, "bad or missing \"pool\" in the metadata"), -1;
    c->arch = DYTCL_ARCH_VIT;
    c->pool = strcmp(pool, "cls") ? DYTCL_POOL_MEAN : DYTCL_POOL_CLS;
    struct {
        const char *key, *old;
        int *i;
        float *f;
    } fields[] = {{"n_layer", "layers", &c->n_layer, NULL},
                  {"n_head", "heads", &c->n_head, NULL},
                  {"d_model", "dim", &c->d_model, NULL},
                  {"d_ff", "mlp", &c->d_ff, NULL},
                  {"image_height", "height", &c->image_height, NULL},
                  {"image_width", "width", &c->image_width, NULL},
                  {"image_channels", "channels", &c->image_channels, NULL},
                  {"patch", "patch", &c->patch, NULL},
                  {"classes", "classes", &c->classes, NULL},
                  {"alpha_attn", "alpha0", NULL, &c->alpha_attn},
                  {"alpha_ffn", "alpha0", NULL, &c->alpha_ffn},
                  {"alpha_final", "alpha0", NULL, &c->alpha_final},
                  {"norm_eps", "eps", NULL, &c->norm_eps}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (meta_num(f, legacy ? fields[i].old : fields[i].key, fields[i].i, fields[i].f, err, cap)) return -1;
    dytcl_model_config_defaults(c); /* max_seq: the tokens per image */
    if (dytcl_model_config_check(c)) return snprintf(err, cap, "%s", dytcl_last_error(NULL)), -1;
    return 0;
}

/* Parses the config from a file's metadata; non-zero with a message when a
 * key is missing or malformed. */
static int config_from_file(const dytcl_st_file *f, dytcl_model_config *c, char *err, size_t cap)
{
    memset(c, 0, sizeof *c);
    const char *fmt = dytcl_st_metadata(f, "format");
    int legacy_vit = fmt && !strcmp(fmt, LEGACY_VIT);
    if (!fmt || (strcmp(fmt, FORMAT) && !legacy_vit))
        return snprintf(err, cap, "not a dytcl checkpoint (metadata \"format\" is %s%s%s, expected \"" FORMAT "\")",
                        fmt ? "\"" : "", fmt ? fmt : "missing", fmt ? "\"" : ""), -1;
    const char *a = dytcl_st_metadata(f, "arch"), *n = dytcl_st_metadata(f, "norm");
    if (legacy_vit) a = "vit";
    if (!a || dytcl_arch_parse(a, &c->arch)) return snprintf(err, cap, "bad or missing \"arch\" in the metadata"), -1;
    if (!n || dytcl_norm_kind_parse(n, &c->norm))
        return snprintf(err, cap, "bad or missing \"norm\" in the metadata"), -1;
    if (c->arch == DYTCL_ARCH_VIT) return vit_config_from_file(f, legacy_vit, c, err, cap);
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
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (meta_num(f, fields[i].key, fields[i].i, fields[i].f, err, cap)) return -1;
    const char *folded = dytcl_st_metadata(f, "folded"); /* absent: 0 */
    if (folded && strcmp(folded, "0") && strcmp(folded, "1"))
        return snprintf(err, cap, "bad \"folded\" in the metadata"), -1;
    c->folded = folded && !strcmp(folded, "1");
    struct {
        const char *key;
        int *i;
    } opt[] = {{"n_kv_head", &c->n_kv_head}, {"tie_embeddings", &c->tie_embeddings}, {"attn_bias", &c->attn_bias},
               {"mlp_bias", &c->mlp_bias}};
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) /* absent: 0 */
        if (dytcl_st_metadata(f, opt[i].key) && meta_num(f, opt[i].key, opt[i].i, NULL, err, cap)) return -1;
    if (dytcl_model_config_check(c)) return snprintf(err, cap, "%s", dytcl_last_error(NULL)), -1;
    return 0;
}

/* Every pair the file lists under "keys" into md (emptied first); non-zero
 * when out of host memory. */
static int meta_from_file(const dytcl_st_file *f, dytcl_meta *md)
{
    /* the reader exposes metadata by key only: "keys" names them all */
    dytcl_meta_clear(md);
    const char *keys = dytcl_st_metadata(f, "keys");
    char *list = copy_str(keys ? keys : "");
    int bad = !list;
    for (char *save = NULL, *k = list ? strtok_r(list, ",", &save) : NULL; k && !bad; k = strtok_r(NULL, ",", &save)) {
        const char *v = dytcl_st_metadata(f, k);
        if (v) bad = dytcl_meta_set(md, k, v);
    }
    free(list);
    if (bad) dytcl_meta_clear(md);
    return bad;
}

/* The keys of md joined by commas (malloc'd; NULL when out of memory). */
static char *key_list(const dytcl_meta *md)
{
    size_t n = 1;
    for (int i = 0; i < md->n; i++) n += strlen(md->key[i]) + 1;
    char *s = malloc(n), *p = s;
    if (!s) return NULL;
    *p = '\0';
    for (int i = 0; i < md->n; i++) {
        size_t k = strlen(md->key[i]);
        if (i) *p++ = ',';
        memcpy(p, md->key[i], k + 1);
        p += k;
    }
    return s;
}

/* ------------------------------------------------------------------ save */

/* 1 when table entry t is a matrix a q8 export quantizes: every 2-D
 * tensor but the embeddings (wte, wpe), which stay F32. */
static int q8_matrix(const dytcl_model_tensor *t)
{
    return t->ndim == 2 && strcmp(t->name, "wte") && strcmp(t->name, "wpe");
}

/* q8: the matrix `t` of host quantized into *blob (freed by the caller)
 * and written as two tensors, st[0] "<name>.q" I8 [N, K] and st[1]
 * "<name>.scale" F32 [N, K/32]; names[2] holds their names. */
static int q8_pair(const dytcl_model_tensor *t, const float *host, dytcl_st_tensor *st, char names[2][DYTCL_MODEL_NAME_MAX + 8],
                   unsigned char **blob, char *err, size_t cap)
{
    const int64_t N = t->shape[0], K = t->shape[1];
    const size_t bytes = dytcl_q8_bytes(N, K), n = (size_t)N * (size_t)K;
    if (!bytes)
        return snprintf(err, cap, "q8: %s is [%lld, %lld]; q8 quantizes blocks of 32 along a row, so its input "
                        "width must be a multiple of 32", t->name, (long long)N, (long long)K), -1;
    if (!(*blob = malloc(bytes))) return snprintf(err, cap, "out of host memory"), -1;
    if (dytcl_q8_quantize(host + t->offset, N, K, *blob))
        return snprintf(err, cap, "q8: %s: %s", t->name, dytcl_last_error(NULL)), -1;
    snprintf(names[0], sizeof names[0], "%s.q", t->name);
    snprintf(names[1], sizeof names[1], "%s.scale", t->name);
    st[0] = (dytcl_st_tensor){.name = names[0], .ndim = 2, .shape = {N, K}, .numel = n, .dtype = DYTCL_Q8,
                              .i8 = (const int8_t *)*blob};
    st[1] = (dytcl_st_tensor){.name = names[1], .ndim = 2, .shape = {N, K / 32}, .numel = n / 32,
                              .data = (const float *)(const void *)(*blob + n)};
    return 0;
}

/* with_opt: AdamW's state too (training checkpoints, always F32); dtype:
 * how the matrices are stored (the vectors, norms and biases, stay F32;
 * q8 keeps the embeddings F32 too and writes each other matrix as a
 * quants / scales pair, q8_pair). */
static dytcl_status save(dytcl_model *m, const char *path, int with_opt, dytcl_dtype dtype, const dytcl_meta *user,
                         char *err, size_t cap)
{
    const dytcl_model_config *c = dytcl_model_get_config(m);
    int nt = dytcl_model_param_table(c, NULL, 0);
    size_t n = dytcl_model_param_count(c);
    dytcl_model_tensor *tab = calloc((size_t)nt, sizeof *tab);
    dytcl_st_tensor *st = calloc(2 * (size_t)nt + 2, sizeof *st);
    float *host = malloc(n * sizeof(float) * (with_opt ? 3 : 1));
    const int q8 = dtype == DYTCL_Q8;
    unsigned char **blobs = q8 ? calloc((size_t)nt, sizeof *blobs) : NULL;
    char (*qnames)[2][DYTCL_MODEL_NAME_MAX + 8] = q8 ? calloc((size_t)nt, sizeof *qnames) : NULL;
    dytcl_meta md = {0};
    const char **kv = NULL;
    char *keys = NULL;
    dytcl_status s = DYTCL_ERR_HOST_MEMORY;
    if (!tab || !st || !host || (q8 && (!blobs || !qnames))) {
        snprintf(err, cap, "checkpoint %s: out of host memory", path);
        goto done;
    }
    dytcl_model_param_table(c, tab, nt);
    if ((s = dytcl_model_read_params(m, host)) || (with_opt && (s = dytcl_model_read_opt(m, host + n, host + 2 * n)))) {
        snprintf(err, cap, "checkpoint %s: %s", path, dytcl_last_error(m->ctx));
        goto done;
    }
    int count = 0;
    for (int i = 0; i < nt; i++) {
        if (q8 && q8_matrix(&tab[i])) {
            if (q8_pair(&tab[i], host, st + count, qnames[i], &blobs[i], err, cap)) {
                s = DYTCL_ERR_INVALID_ARG;
                goto done;
            }
            count += 2;
            continue;
        }
        st[count].name = tab[i].name;
        st[count].ndim = tab[i].ndim;
        st[count].shape[0] = tab[i].shape[0], st[count].shape[1] = tab[i].shape[1];
        st[count].numel = tab[i].numel;
        st[count].data = host + tab[i].offset;
        st[count].dtype = tab[i].ndim == 2 && !q8 ? dtype : DYTCL_F32;
        count++;
    }
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
    int bad = 0;
    for (int i = 0; user && i < user->n; i++) bad |= dytcl_meta_set(&md, user->key[i], user->value[i]);
    bad |= config_to_meta(c, &md) | dytcl_meta_set(&md, "dtype", dytcl_dtype_name(dtype));
    if (bad || !(keys = key_list(&md)) || dytcl_meta_set(&md, "keys", keys) ||
        !(kv = calloc(2 * (size_t)md.n, sizeof *kv))) {
        s = DYTCL_ERR_HOST_MEMORY;
        snprintf(err, cap, "checkpoint %s: out of host memory", path);
        goto done;
    }
    for (int i = 0; i < md.n; i++) kv[2 * i] = md.key[i], kv[2 * i + 1] = md.value[i];
    if ((s = dytcl_st_save(path, st, count, kv, md.n)))
        snprintf(err, cap, "checkpoint %s: %s", path, dytcl_last_error(NULL));
done:
    for (int i = 0; blobs && i < nt; i++) free(blobs[i]);
    free(blobs), free(qnames);
    free(tab), free(st), free(host), free(kv), free(keys);
    dytcl_meta_clear(&md);
    return s;
}

/* ------------------------------------------------------------------ load */

dytcl_status dytcl_model_save(dytcl_model *m, const char *path, int with_opt, const dytcl_meta *md)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, path, "path");
    if (s) return s;
    char err[1200];
    s = save(m, path, with_opt, DYTCL_F32, md, err, sizeof err);
    return s ? dy_fail(m->ctx, s, "%s", err) : s;
}

dytcl_status dytcl_model_export(dytcl_model *m, const char *path, dytcl_dtype dtype, const dytcl_meta *md)
{
    dytcl_status s = dy_gate(m, __func__, 0);
    if (!s) s = dy_gate_ptr(m, __func__, path, "path");
    if (s) return s;
    if (!dytcl_dtype_size(dtype))
        return dy_model_fail(m, DYTCL_ERR_INVALID_ARG, "dytcl_model_export: dtype %d is not f32, f16, bf16 or q8", (int)dtype);
    if (dtype == DYTCL_Q8 && m->c.arch == DYTCL_ARCH_VIT) return dy_refuse_vit(m, "dytcl_model_export (q8)");
    char err[1200];
    s = save(m, path, 0, dtype, md, err, sizeof err);
    return s ? dy_fail(m->ctx, s, "%s", err) : s;
}

static dytcl_status read_config(const char *path, dytcl_model_config *c, dytcl_meta *md, char *err, size_t cap)
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
    int bad = md && meta_from_file(f, md);
    dytcl_st_free(f);
    if (bad) return snprintf(err, cap, "checkpoint %s: out of host memory", path), DYTCL_ERR_HOST_MEMORY;
    return DYTCL_OK;
}

/* A directory: a Hugging Face model, not a checkpoint file. */
static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "[3, 1024]" */
static void shape_str(int ndim, const int64_t *shape, char *out, size_t cap)
{
    size_t k = (size_t)snprintf(out, cap, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(out + k, cap - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < cap) snprintf(out + k, cap - k, "]");
}

/* A q8 matrix `name` [N, K] (tab: its shape) from the pair "<name>.q", I8
 * [N, K], and "<name>.scale", F32 [N, K/32], dequantized into dst. */
static int take_q8(const dytcl_st_file *f, const char *name, const dytcl_model_tensor *tab, float *dst, char *why,
                   size_t cap)
{
    char qn[DYTCL_MODEL_NAME_MAX + 16], sn[DYTCL_MODEL_NAME_MAX + 16];
    snprintf(qn, sizeof qn, "%s.q", name);
    snprintf(sn, sizeof sn, "%s.scale", name);
    dytcl_st_tensor q, sc;
    if (!tab || tab->ndim != 2 || dytcl_st_get(f, qn, &q) || dytcl_st_get(f, sn, &sc))
        return snprintf(why, cap, "tensor \"%s\" is missing", name), -1;
    const int64_t N = tab->shape[0], K = tab->shape[1];
    if (q.dtype != DYTCL_Q8 || q.ndim != 2 || q.shape[0] != N || q.shape[1] != K || sc.dtype == DYTCL_Q8 ||
        sc.ndim != 2 || sc.shape[0] != N || K % 32 || sc.shape[1] != K / 32)
        return snprintf(why, cap, "q8 matrix \"%s\" [%lld, %lld] needs \"%s\" I8 [%lld, %lld] and \"%s\" F32 "
                        "[%lld, %lld] (K a multiple of 32)", name, (long long)N, (long long)K, qn, (long long)N,
                        (long long)K, sn, (long long)N, (long long)(K / 32)), -1;
    const size_t n = (size_t)N * (size_t)K;
    for (size_t b = 0; b < n / 32; b++) {
        float scale; /* the file's bytes may be unaligned */
        memcpy(&scale, (const unsigned char *)sc.data + 4 * b, sizeof scale);
        for (size_t j = 32 * b; j < 32 * b + 32; j++) dst[j] = (float)q.i8[j] * scale;
    }
    return 0;
}

/* Copies tensor `name` of numel n (and shape, when tab is given) into dst;
 * a q8 matrix's pair (take_q8) when the file has no `name`. The file's
 * tensor number `hint` is tried first: a checkpoint lists them in table
 * order, so loading is linear in the tensors. */
static int take(const dytcl_st_file *f, const char *name, int hint, const dytcl_model_tensor *tab, size_t n,
                float *dst, char *why, size_t cap)
{
    dytcl_st_tensor t;
    if ((dytcl_st_tensor_at(f, hint, &t) || strcmp(t.name, name)) && dytcl_st_get(f, name, &t))
        return take_q8(f, name, tab, dst, why, cap);
    if (t.dtype == DYTCL_Q8)
        return snprintf(why, cap, "tensor \"%s\" is stored as I8 (int8); a q8 matrix is a \"%s.q\" (I8) and "
                        "\"%s.scale\" (F32) pair", name, name, name), -1;
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

dytcl_status dytcl_model_read_config(const char *path, dytcl_model_config *c, dytcl_meta *md)
{
    dytcl_status s = dy_gate_ptr(NULL, __func__, path, "path");
    if (!s) s = dy_gate_ptr(NULL, __func__, c, "config");
    if (s) return s;
    if (is_dir(path)) { /* a Hugging Face model (hf_load.c) */
        if (md) dytcl_meta_clear(md);
        return dytcl_model_read_config_hf(path, c);
    }
    char err[1200];
    s = read_config(path, c, md, err, sizeof err);
    return s ? dy_fail(NULL, s, "%s", err) : s;
}

/* 0, or -1 with why naming the first of data[0..n) that is not finite, in tensor `name`. */
static int nonfinite(const char *name, const float *data, size_t n, char *why, size_t cap)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(data[i]))
            return snprintf(why, cap,
                            "tensor \"%s\" holds a non-finite value (%g at element %zu of %zu); refused "
                            "(DYTCL_LOAD_ALLOW_NONFINITE loads it anyway)",
                            name, (double)data[i], i, n),
                   -1;
    return 0;
}

static dytcl_status load(dytcl_ctx *ctx, const char *path, unsigned flags, dytcl_model **out, dytcl_meta *md,
                         int *has_opt, char *err, size_t cap)
{
    int check = !(flags & DYTCL_LOAD_ALLOW_NONFINITE);
    *out = NULL;
    if (has_opt) *has_opt = 0;
    dytcl_st_file *f = NULL;
    dytcl_status s = dytcl_st_load(path, &f);
    if (s) return snprintf(err, cap, "checkpoint %s: %s", path, dytcl_last_error(NULL)), s;
    dytcl_model_config c;
    char why[600] = "";
    dytcl_model_tensor *tab = NULL;
    float *host = NULL;
    dytcl_model *m = NULL;
    s = DYTCL_ERR_FORMAT;
    if (config_from_file(f, &c, why, sizeof why)) goto done;
    int nt = dytcl_model_param_table(&c, NULL, 0);
    size_t n = dytcl_model_param_count(&c);
    s = DYTCL_ERR_HOST_MEMORY;
    snprintf(why, sizeof why, "out of host memory");
    dytcl_st_tensor probe;
    /* AdamW's state is read when the caller asks about it (has_opt): a model
     * loaded for inference holds no training state (dy_model_train_state) */
    int opt = has_opt && !dytcl_st_get(f, "opt.m", &probe);
    if (!(tab = calloc((size_t)nt, sizeof *tab)) || !(host = malloc((opt ? 3 : 1) * n * sizeof(float)))) goto done;
    dytcl_model_param_table(&c, tab, nt);
    s = DYTCL_ERR_FORMAT;
    for (int i = 0; i < nt; i++)
        if (take(f, tab[i].name, i, &tab[i], tab[i].numel, host + tab[i].offset, why, sizeof why) ||
            (check && nonfinite(tab[i].name, host + tab[i].offset, tab[i].numel, why, sizeof why)))
            goto done;
    if (opt && probe.dtype != DYTCL_F32) {
        snprintf(why, sizeof why, "AdamW's state \"opt.m\" is stored as %s; training checkpoints are F32 only",
                 dytcl_dtype_name(probe.dtype));
        goto done;
    }
    if (opt && (take(f, "opt.m", nt, NULL, n, host + n, why, sizeof why) ||
                take(f, "opt.v", nt + 1, NULL, n, host + 2 * n, why, sizeof why) ||
                (check && (nonfinite("opt.m", host + n, n, why, sizeof why) ||
                           nonfinite("opt.v", host + 2 * n, n, why, sizeof why)))))
        goto done;
    if ((s = dy_model_make(ctx, &c, 0, 0, &m))) { /* every parameter is written next */
        snprintf(why, sizeof why, "%s", dytcl_last_error(ctx));
        goto done;
    }
    if ((s = dytcl_model_write_params(m, host)) || (opt && (s = dytcl_model_write_opt(m, host + n, host + 2 * n)))) {
        snprintf(why, sizeof why, "%s", dytcl_last_error(ctx));
        goto done;
    }
    /* a q8 export: the linear layers read q8 weights, quantized again from
     * the dequantized parameters (the same quants: each is an integer times
     * its block's scale, and the largest is +-127 times it) */
    const char *fdt = dytcl_st_metadata(f, "dtype");
    if (fdt && !strcmp(fdt, "q8") && (s = dytcl_model_set_weight_dtype(m, DYTCL_Q8))) {
        snprintf(why, sizeof why, "%s", dytcl_last_error(ctx));
        goto done;
    }
    s = DYTCL_ERR_HOST_MEMORY;
    snprintf(why, sizeof why, "out of host memory");
    if (md && meta_from_file(f, md)) goto done;
    s = DYTCL_OK;
    if (has_opt) *has_opt = opt;
    *out = m;
    m = NULL;
done:
    if (s) snprintf(err, cap, "checkpoint %s: %s", path, why);
    dytcl_model_free(m);
    free(tab), free(host);
    dytcl_st_free(f);
    return s;
}

dytcl_status dytcl_model_load_ex(dytcl_ctx *ctx, const char *path, unsigned flags, dytcl_meta *md, int *has_opt,
                                 dytcl_model **out)
{
    if (out) *out = NULL;
    if (!ctx || !path || !out)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_model_load: ctx, path and out are required");
    if (flags & ~(unsigned)DYTCL_LOAD_ALLOW_NONFINITE)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_model_load_ex: unknown flags 0x%x", flags);
    if (is_dir(path)) { /* a Hugging Face model (hf_load.c) */
        if (has_opt) *has_opt = 0;
        return dytcl_model_load_hf(ctx, path, md, out);
    }
    char err[1200];
    dytcl_status s = load(ctx, path, flags, out, md, has_opt, err, sizeof err);
    return s ? dy_fail(ctx, s, "%s", err) : s;
}

dytcl_status dytcl_model_load(dytcl_ctx *ctx, const char *path, dytcl_meta *md, int *has_opt, dytcl_model **out)
{
    return dytcl_model_load_ex(ctx, path, 0, md, has_opt, out);
}
