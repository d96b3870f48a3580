/* hf_load.c -- a Hugging Face model directory into a dytcl model
 * (dytcl_model_load_hf; dytcl_model_load forwards a directory here).
 *
 * The directory holds config.json and model.safetensors, or shards named by
 * model.safetensors.index.json ({"weight_map": {tensor: file}}). Tensors F32,
 * F16 or BF16 (widened by the safetensors reader). The steps:
 *
 *   config.json  -> hf_config (every key checked and bounded; what dytcl
 *                   cannot run refused naming the key) -> dytcl_model_config
 *   the pieces   -> dy_hf_pieces: each HF tensor's name, shape and place in
 *                   the flat parameter buffer (hf_map.c)
 *   each file    -> its tensors checked against the pieces (shape, shard)
 *                   and copied in, one file in memory at a time
 *   the model    -> dytcl_model_create, dytcl_model_write_params
 *
 * Nothing is allocated from a size the files give before it is bounded:
 * the config's numbers have ranges, the parameter count comes from them in
 * 64-bit arithmetic, the files together must hold at least 2 bytes for each
 * parameter (so a small file cannot claim a huge model), JSON files have a
 * byte limit, and shard names must stay inside the directory (no absolute
 * path, no "..", no link out of it). */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hf_internal.h"
#include "model_internal.h"

#define CONFIG_MAX ((size_t)1 << 20) /* bytes of config.json */
#define INDEX_MAX ((size_t)64 << 20) /* bytes of model.safetensors.index.json */
#define SHARDS_MAX 10000
#define NO_DEFAULT LLONG_MIN

typedef struct {
    dytcl_arch arch;
    const char *arch_name; /* "LlamaForCausalLM" or "GPT2LMHeadModel" */
    dytcl_norm_kind norm;
    int hidden, inter, layers, heads, kv_heads, head_dim, vocab, max_pos;
    double theta, eps;
    int tie, attn_bias, mlp_bias;
} hf_config;

/* ------------------------------------------------------------ small files */

/* The regular file at path, whole, NUL-terminated, if at most max bytes:
 * 0, or -1 with the reason in err (errno_out: the open's errno). */
static int read_small(const char *path, size_t max, char **out, char *err, size_t cap, int *errno_out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (errno_out) *errno_out = fd < 0 ? errno : 0;
    if (fd < 0) return snprintf(err, cap, "cannot open %s: %s", path, strerror(errno)), -1;
    struct stat st;
    char *buf = NULL;
    int bad = -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) snprintf(err, cap, "%s is not a regular file: refused", path);
    else if ((uint64_t)st.st_size > max)
        snprintf(err, cap, "%s: %lld bytes, more than the %zu this file may have", path, (long long)st.st_size, max);
    else if (!(buf = malloc((size_t)st.st_size + 1))) snprintf(err, cap, "%s: out of host memory", path);
    else {
        size_t got = 0, n = (size_t)st.st_size;
        while (got < n) {
            ssize_t r = read(fd, buf + got, n - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got == n) buf[n] = '\0', bad = 0;
        else snprintf(err, cap, "reading %s: %s", path, got < n ? "the file shrank while read" : strerror(errno));
    }
    close(fd);
    if (bad) free(buf);
    else *out = buf;
    return bad;
}

static json_t *parse_json(const char *path, size_t max, char *err, size_t cap, int *errno_out)
{
    char *text = NULL;
    if (read_small(path, max, &text, err, cap, errno_out)) return NULL;
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!j) snprintf(err, cap, "%s is not JSON (line %d: %s)", path, je.line, je.text);
    else if (!json_is_object(j)) snprintf(err, cap, "%s is not a JSON object", path), json_decref(j), j = NULL;
    return j;
}

/* ------------------------------------------------------------ config.json */

/* j[key] unless absent or null. */
static json_t *get(json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);
    return json_is_null(v) ? NULL : v;
}

static int get_int(json_t *j, const char *key, long long dflt, long long lo, long long hi, int *out, char *err,
                   size_t cap)
{
    json_t *v = get(j, key);
    if (!v && dflt == NO_DEFAULT) return snprintf(err, cap, "\"%s\" is missing", key), -1;
    long long x = v ? (json_is_integer(v) ? (long long)json_integer_value(v) : lo - 1) : dflt;
    if (x < lo || x > hi)
        return snprintf(err, cap, "\"%s\" must be an integer in [%lld, %lld]", key, lo, hi), -1;
    *out = (int)x;
    return 0;
}

/* A number in (lo, hi]. */
static int get_num(json_t *j, const char *key, double dflt, double lo, double hi, double *out, char *err, size_t cap)
{
    json_t *v = get(j, key);
    double x = v ? (json_is_number(v) ? json_number_value(v) : NAN) : dflt;
    if (!(x > lo && x <= hi)) return snprintf(err, cap, "\"%s\" must be a number in (%g, %g]", key, lo, hi), -1;
    *out = x;
    return 0;
}

static int get_bool(json_t *j, const char *key, int dflt, int *out, char *err, size_t cap)
{
    json_t *v = get(j, key);
    if (v && !json_is_boolean(v)) return snprintf(err, cap, "\"%s\" must be true or false", key), -1;
    *out = v ? json_is_true(v) : dflt;
    return 0;
}

/* A string key that must be absent, null, or one of the allowed values
 * (a NULL-terminated list; the first is the default). */
static int get_choice(json_t *j, const char *key, const char *const *allowed, const char **out, char *err, size_t cap)
{
    json_t *v = get(j, key);
    const char *s = v ? json_string_value(v) : allowed[0];
    for (int i = 0; s && allowed[i]; i++)
        if (!strcmp(s, allowed[i])) return *out = allowed[i], 0;
    size_t k = (size_t)snprintf(err, cap, "\"%s\" is %s%s%s: dytcl reads", key, s ? "\"" : "", s ? s : "not a string",
                                s ? "\"" : "");
    for (int i = 0; allowed[i] && k < cap; i++)
        k += (size_t)snprintf(err + k, cap - k, "%s \"%s\"", i ? " or" : "", allowed[i]);
    return -1;
}

/* A key that must be absent or null (a feature dytcl does not have). */
static int must_be_null(json_t *j, const char *key, const char *what, char *err, size_t cap)
{
    if (!get(j, key)) return 0;
    return snprintf(err, cap, "\"%s\" is set (%s): not supported", key, what), -1;
}

/* The architecture from "architectures" (one entry) and "model_type". */
static int parse_arch(json_t *j, hf_config *h, char *err, size_t cap)
{
    static const struct {
        const char *arch, *type;
        dytcl_arch a;
    } known[] = {{"LlamaForCausalLM", "llama", DYTCL_ARCH_LLAMA}, {"GPT2LMHeadModel", "gpt2", DYTCL_ARCH_GPT}};
    json_t *as = get(j, "architectures"), *mt = get(j, "model_type");
    const char *arch = NULL, *type = mt ? json_string_value(mt) : NULL;
    if (as && (!json_is_array(as) || json_array_size(as) != 1 || !(arch = json_string_value(json_array_get(as, 0)))))
        return snprintf(err, cap, "\"architectures\" must list one name"), -1;
    if (mt && !type) return snprintf(err, cap, "\"model_type\" must be a string"), -1;
    if (!arch && !type) return snprintf(err, cap, "\"architectures\" and \"model_type\" are both missing"), -1;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (arch ? strcmp(arch, known[i].arch) : strcmp(type, known[i].type)) continue;
        if (type && strcmp(type, known[i].type))
            return snprintf(err, cap, "\"model_type\" is \"%s\" but \"architectures\" says %s (model_type \"%s\")",
                            type, known[i].arch, known[i].type), -1;
        h->arch = known[i].a, h->arch_name = known[i].arch;
        return 0;
    }
    return snprintf(err, cap, "\"%s\" is \"%s\": dytcl reads LlamaForCausalLM (model_type \"llama\") and "
                    "GPT2LMHeadModel (\"gpt2\")", arch ? "architectures" : "model_type", arch ? arch : type), -1;
}

/* The norm: transformers' own (rmsnorm / layernorm), or dytcl's DyT / Derf
 * named by "dytcl_norm" (the layout hf_export.c writes). */
static int parse_norm(json_t *j, hf_config *h, char *err, size_t cap)
{
    const int llama = h->arch == DYTCL_ARCH_LLAMA;
    const char *const allowed_llama[] = {"rmsnorm", "dyt", "derf", NULL}, *const allowed_gpt[] = {"layernorm", "dyt", "derf", NULL};
    const char *s;
    if (get_choice(j, "dytcl_norm", llama ? allowed_llama : allowed_gpt, &s, err, cap)) return -1;
    return dytcl_norm_kind_parse(s, &h->norm) ? (snprintf(err, cap, "\"dytcl_norm\": bad value"), -1) : 0;
}

static int parse_llama(json_t *j, hf_config *h, char *err, size_t cap)
{
    static const char *const silu[] = {"silu", NULL};
    const char *act;
    if (get_int(j, "hidden_size", NO_DEFAULT, 2, 1 << 16, &h->hidden, err, cap) ||
        get_int(j, "intermediate_size", NO_DEFAULT, 1, 1 << 20, &h->inter, err, cap) ||
        get_int(j, "num_hidden_layers", NO_DEFAULT, 1, 1 << 12, &h->layers, err, cap) ||
        get_int(j, "num_attention_heads", NO_DEFAULT, 1, 1 << 12, &h->heads, err, cap) ||
        get_int(j, "num_key_value_heads", h->heads, 1, 1 << 12, &h->kv_heads, err, cap) ||
        get_int(j, "head_dim", h->hidden / h->heads, 1, 1 << 12, &h->head_dim, err, cap) ||
        get_int(j, "vocab_size", NO_DEFAULT, 2, 1 << 22, &h->vocab, err, cap) ||
        get_int(j, "max_position_embeddings", 2048, 1, 1 << 24, &h->max_pos, err, cap) ||
        get_num(j, "rms_norm_eps", 1e-6, 0, 1, &h->eps, err, cap) ||
        get_bool(j, "tie_word_embeddings", 0, &h->tie, err, cap) ||
        get_bool(j, "attention_bias", 0, &h->attn_bias, err, cap) ||
        get_bool(j, "mlp_bias", 0, &h->mlp_bias, err, cap) || get_choice(j, "hidden_act", silu, &act, err, cap) ||
        must_be_null(j, "rope_scaling", "scaled RoPE", err, cap) ||
        must_be_null(j, "sliding_window", "sliding-window attention", err, cap))
        return -1;
    /* rope_theta, or (newer transformers) rope_parameters {"rope_type": "default", "rope_theta": x} */
    json_t *rp = get(j, "rope_parameters");
    if (rp) {
        static const char *const plain[] = {"default", NULL};
        const char *type;
        if (!json_is_object(rp)) return snprintf(err, cap, "\"rope_parameters\" must be an object"), -1;
        if (get_choice(rp, "rope_type", plain, &type, err, cap) ||
            get_num(rp, "rope_theta", 10000, 1, 1e12, &h->theta, err, cap)) {
            char inner[400];
            snprintf(inner, sizeof inner, "%s", err);
            return snprintf(err, cap, "\"rope_parameters\": %s", inner), -1;
        }
    } else if (get_num(j, "rope_theta", 10000, 1, 1e12, &h->theta, err, cap)) {
        return -1;
    }
    json_t *sw = get(j, "use_sliding_window");
    if (sw && !json_is_false(sw)) return snprintf(err, cap, "\"use_sliding_window\" is set: not supported"), -1;
    return 0;
}

static int parse_gpt2(json_t *j, hf_config *h, char *err, size_t cap)
{
    static const char *const gelu[] = {"gelu_new", "gelu_pytorch_tanh", NULL};
    const char *act;
    int scale, by_layer, cross;
    if (get_int(j, "n_embd", NO_DEFAULT, 2, 1 << 16, &h->hidden, err, cap) ||
        get_int(j, "n_layer", NO_DEFAULT, 1, 1 << 12, &h->layers, err, cap) ||
        get_int(j, "n_head", NO_DEFAULT, 1, 1 << 12, &h->heads, err, cap) ||
        get_int(j, "n_inner", 4LL * h->hidden, 1, 1 << 20, &h->inter, err, cap) ||
        get_int(j, "vocab_size", NO_DEFAULT, 2, 1 << 22, &h->vocab, err, cap) ||
        get_int(j, "n_positions", NO_DEFAULT, 1, 1 << 20, &h->max_pos, err, cap) ||
        get_num(j, "layer_norm_epsilon", 1e-5, 0, 1, &h->eps, err, cap) ||
        get_bool(j, "tie_word_embeddings", 1, &h->tie, err, cap) ||
        get_choice(j, "activation_function", gelu, &act, err, cap) ||
        get_bool(j, "scale_attn_weights", 1, &scale, err, cap) ||
        get_bool(j, "scale_attn_by_inverse_layer_idx", 0, &by_layer, err, cap) ||
        get_bool(j, "add_cross_attention", 0, &cross, err, cap))
        return -1;
    if (!scale) return snprintf(err, cap, "\"scale_attn_weights\" is false: dytcl scales scores by 1/sqrt(head_dim)"), -1;
    if (by_layer) return snprintf(err, cap, "\"scale_attn_by_inverse_layer_idx\" is true: not supported"), -1;
    if (cross) return snprintf(err, cap, "\"add_cross_attention\" is true: not supported"), -1;
    h->kv_heads = h->heads;
    h->head_dim = h->hidden / h->heads;
    h->theta = 10000;
    return 0;
}

/* What dytcl's model core cannot run: refused here, and only here, naming
 * the config key. Grouped-query attention, a tied LLaMA head and LLaMA's
 * biases map onto the core's n_kv_head, tie_embeddings, attn_bias and
 * mlp_bias. */
static int core_supports(const hf_config *h, char *err, size_t cap)
{
    const int llama = h->arch == DYTCL_ARCH_LLAMA;
    if (h->kv_heads < 1 || h->kv_heads > h->heads || h->heads % h->kv_heads)
        return snprintf(err, cap, "\"num_key_value_heads\" is %d: it must divide \"num_attention_heads\" %d",
                        h->kv_heads, h->heads), -1;
    if (!llama && !h->tie)
        return snprintf(err, cap, "\"tie_word_embeddings\" is false: dytcl's GPT ties its lm head to wte"), -1;
    if (h->head_dim * h->heads != h->hidden)
        return snprintf(err, cap, "\"head_dim\" is %d, but dytcl's heads are hidden_size / num_attention_heads = "
                        "%d / %d wide", h->head_dim, h->hidden, h->heads), -1;
    if (h->head_dim % 2 || h->head_dim > 128)
        return snprintf(err, cap, "head_dim (hidden_size / num_attention_heads) is %d: dytcl's attention takes an "
                        "even head_dim up to 128", h->head_dim), -1;
    return 0;
}

/* config.json in dir into h and c. 0, or -1 with the reason in err. */
static int read_hf_config(const char *dir, hf_config *h, dytcl_model_config *c, char *err, size_t cap)
{
    char path[4200], why[900] = "";
    snprintf(path, sizeof path, "%s/config.json", dir);
    memset(h, 0, sizeof *h);
    json_t *j = parse_json(path, CONFIG_MAX, why, sizeof why, NULL);
    int bad = !j || parse_arch(j, h, why, sizeof why) || parse_norm(j, h, why, sizeof why) ||
              (h->arch == DYTCL_ARCH_LLAMA ? parse_llama(j, h, why, sizeof why) : parse_gpt2(j, h, why, sizeof why)) ||
              core_supports(h, why, sizeof why);
    json_decref(j);
    if (bad) return snprintf(err, cap, "%s%s", j ? "config.json: " : "", why), -1;
    memset(c, 0, sizeof *c);
    c->arch = h->arch, c->norm = h->norm;
    c->vocab = h->vocab, c->max_seq = h->max_pos, c->n_layer = h->layers, c->n_head = h->heads;
    c->d_model = h->hidden, c->d_ff = h->inter;
    c->norm_eps = (float)h->eps, c->rope_theta = (float)h->theta;
    c->n_kv_head = h->kv_heads == h->heads ? 0 : h->kv_heads;
    if (h->arch == DYTCL_ARCH_LLAMA) c->tie_embeddings = h->tie, c->attn_bias = h->attn_bias, c->mlp_bias = h->mlp_bias;
    dytcl_model_config_defaults(c);
    if (dytcl_model_config_check(c)) return snprintf(err, cap, "config.json: %s", dytcl_last_error(NULL)), -1;
    /* every size below comes from these bounded numbers; the largest
     * (vocab 2^22 x hidden 2^16, or 2^12 layers of 2^16 x 2^20) stays far
     * inside 64 bits, and the count itself must fit this machine */
    const double n = (double)dytcl_model_param_count(c);
    if (n * sizeof(float) > (double)SIZE_MAX / 2)
        return snprintf(err, cap, "config.json: %.0f parameters do not fit this machine's address space", n), -1;
    return 0;
}

/* ------------------------------------------------------------ the shards */

/* A shard's path from the index: "dir/name" when name stays inside dir (no
 * absolute path, no ".." component, and no link that leads out), else -1
 * and why. */
static int shard_path(const char *dir, const char *dir_real, const char *name, char *out, size_t cap, char *err,
                      size_t ecap)
{
    if (!name[0] || name[0] == '/' || strchr(name, '\\'))
        return snprintf(err, ecap, "model.safetensors.index.json names the file \"%s\": shards must be relative "
                        "paths inside the directory", name), -1;
    for (const char *p = name; *p;) {
        size_t k = strcspn(p, "/");
        if (k == 2 && !strncmp(p, "..", 2))
            return snprintf(err, ecap, "model.safetensors.index.json names the file \"%s\": \"..\" leads out of "
                            "the directory, refused", name), -1;
        p += k + (p[k] == '/');
    }
    if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
        return snprintf(err, ecap, "the shard path %s/%s is too long", dir, name), -1;
    char real[PATH_MAX];
    if (!realpath(out, real))
        return snprintf(err, ecap, "the shard \"%s\" that model.safetensors.index.json names is missing (%s)", name,
                        strerror(errno)), -1;
    size_t k = strlen(dir_real);
    if (strncmp(real, dir_real, k) || (real[k] != '/' && strcmp(dir_real, "/")))
        return dy_hf_err(err, ecap, "the shard \"%s\" is a link to %.900s, outside the directory: refused", name, real);
    return 0;
}

/* The files to read: model.safetensors, else the shards of the index (each
 * once, in the order the index first names them) and the weight map. */
typedef struct {
    char **files;
    int n;
    json_t *weight_map; /* NULL for one file */
    json_t *index;
} shard_list;

static void shards_free(shard_list *s)
{
    for (int i = 0; i < s->n; i++) free(s->files[i]);
    free(s->files);
    json_decref(s->index);
    *s = (shard_list){0};
}

static int list_shards(const char *dir, shard_list *s, char *err, size_t cap)
{
    *s = (shard_list){0};
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (stat(path, &st) == 0) {
        if (!(s->files = malloc(sizeof *s->files)) || !(s->files[0] = strdup("model.safetensors")))
            return free(s->files), s->files = NULL, snprintf(err, cap, "out of host memory"), -1;
        s->n = 1;
        return 0;
    }
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    int open_errno = 0;
    char why[900];
    if (!(s->index = parse_json(path, INDEX_MAX, why, sizeof why, &open_errno))) {
        if (open_errno == ENOENT)
            return snprintf(err, cap, "neither model.safetensors nor model.safetensors.index.json is there"), -1;
        return snprintf(err, cap, "%s", why), -1;
    }
    s->weight_map = json_object_get(s->index, "weight_map");
    if (!json_is_object(s->weight_map) || !json_object_size(s->weight_map))
        return snprintf(err, cap, "model.safetensors.index.json: \"weight_map\" must be a non-empty object"), -1;
    const char *key;
    json_t *v;
    json_object_foreach(s->weight_map, key, v) {
        const char *f = json_string_value(v);
        if (!f) return snprintf(err, cap, "model.safetensors.index.json: the file of \"%s\" is not a string", key), -1;
        int seen = 0;
        for (int i = 0; i < s->n && !seen; i++) seen = !strcmp(s->files[i], f);
        if (seen) continue;
        if (s->n == SHARDS_MAX)
            return snprintf(err, cap, "model.safetensors.index.json names more than %d files", SHARDS_MAX), -1;
        char **grown = realloc(s->files, (size_t)(s->n + 1) * sizeof *grown);
        if (!grown) return snprintf(err, cap, "out of host memory"), -1;
        s->files = grown;
        if (!(s->files[s->n] = strdup(f))) return snprintf(err, cap, "out of host memory"), -1;
        s->n++;
    }
    return 0;
}

/* ------------------------------------------------------------ the tensors */

/* Tensors a file may hold that are not parameters: buffers transformers
 * rebuilds (GPT-2's causal mask, older LLaMA's rotary frequencies) and
 * GPT-2's tied head (a copy of wte). */
static int ignorable(const hf_config *h, const char *name)
{
    size_t n = strlen(name);
#define ENDS(s) (n >= sizeof(s) - 1 && !strcmp(name + n - (sizeof(s) - 1), s))
    if (h->arch == DYTCL_ARCH_GPT) return ENDS(".attn.bias") || ENDS(".attn.masked_bias") || !strcmp(name, "lm_head.weight");
    /* a tied LLaMA head saved anyway is the embedding again */
    return ENDS(".rotary_emb.inv_freq") || (h->tie && !strcmp(name, "lm_head.weight"));
#undef ENDS
}

/* The piece named `name` (GPT-2 names with or without "transformer."), or -1. */
static int find_piece(const hf_config *h, const dy_hf_piece *ps, int np, const char *name)
{
    char full[DY_HF_NAME_MAX + 16];
    if (h->arch == DYTCL_ARCH_GPT && strncmp(name, "transformer.", 12)) {
        snprintf(full, sizeof full, "transformer.%s", name);
        name = full;
    }
    for (int i = 0; i < np; i++)
        if (!strcmp(ps[i].name, name)) return i;
    return -1;
}

/* "[3, 1024]" */
static void shape_str(int ndim, const int64_t *shape, char *out, size_t cap)
{
    size_t k = (size_t)snprintf(out, cap, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(out + k, cap - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < cap) snprintf(out + k, cap - k, "]");
}

/* Every tensor of one file into params (filled[i] marks piece i taken). */
static int take_file(const hf_config *h, const shard_list *sl, const char *file, const char *path,
                     const dy_hf_piece *ps, int np, char *filled, float *params, char *err, size_t cap)
{
    dytcl_st_file *f = NULL;
    if (dytcl_st_load(path, &f)) return snprintf(err, cap, "%s", dytcl_last_error(NULL)), -1;
    int bad = 0;
    for (int t = 0; t < dytcl_st_count(f) && !bad; t++) {
        dytcl_st_tensor st;
        dytcl_st_tensor_at(f, t, &st);
        if (sl->weight_map) { /* the index must agree with the file */
            const char *want = json_string_value(json_object_get(sl->weight_map, st.name));
            if (!want || strcmp(want, file)) {
                bad = dy_hf_err(err, cap, "tensor \"%s\" is in %s, but model.safetensors.index.json %s%s", st.name, file,
                             want ? "puts it in " : "does not list it", want ? want : "");
                break;
            }
        }
        int i = find_piece(h, ps, np, st.name);
        if (i < 0) {
            if (!ignorable(h, st.name))
                bad = dy_hf_err(err, cap, "unexpected tensor \"%s\" in %s (not part of a %s with this config.json)",
                               st.name, file, h->arch_name);
            continue;
        }
        const dy_hf_piece *p = &ps[i];
        if (st.ndim != p->ndim || st.shape[0] != p->shape[0] || (p->ndim == 2 && st.shape[1] != p->shape[1])) {
            char has[96], need[96];
            shape_str(st.ndim, st.shape, has, sizeof has);
            shape_str(p->ndim, p->shape, need, sizeof need);
            bad = dy_hf_err(err, cap, "tensor \"%s\" in %s is %s, config.json makes it %s", st.name, file, has, need);
        } else if (filled[i]) {
            bad = dy_hf_err(err, cap, "tensor \"%s\" appears twice", st.name);
        } else {
            dy_hf_to_dytcl(p, st.data, params);
            filled[i] = 1;
        }
    }
    dytcl_st_free(f);
    return bad;
}

/* The model in dir: config into *c, parameters into *params (malloc'd). */
static int read_dir(const char *dir, hf_config *h, dytcl_model_config *c, float **params, char *err, size_t cap)
{
    *params = NULL;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return snprintf(err, cap, "%s", errno == ENOENT ? "no such directory" : "not a directory"), -1;
    if (read_hf_config(dir, h, c, err, cap)) return -1;
    shard_list sl;
    if (list_shards(dir, &sl, err, cap)) return shards_free(&sl), -1;
    int np = dy_hf_pieces(c, NULL, 0);
    const size_t n = dytcl_model_param_count(c);
    dy_hf_piece *ps = NULL;
    char *filled = NULL;
    float *host = NULL;
    char dir_real[PATH_MAX], path[4200 + PATH_MAX];
    int bad = -1;
    if (sl.weight_map && !realpath(dir, dir_real)) {
        snprintf(err, cap, "cannot resolve the directory: %s", strerror(errno));
        goto done;
    }
    uint64_t bytes = 0; /* every shard must be there, and hold the model, before anything is allocated */
    for (int i = 0; i < sl.n; i++) {
        struct stat fs;
        if (!sl.weight_map) snprintf(path, sizeof path, "%s/%s", dir, sl.files[i]);
        else if (shard_path(dir, dir_real, sl.files[i], path, sizeof path, err, cap)) goto done;
        if (stat(path, &fs) == 0 && S_ISREG(fs.st_mode)) bytes += (uint64_t)fs.st_size;
    }
    if (bytes / 2 < (uint64_t)n) { /* 2 bytes a parameter at the least (F16, BF16) */
        snprintf(err, cap, "config.json makes %zu parameters (at least %llu bytes), but the files hold %llu bytes",
                 n, 2ULL * (unsigned long long)n, (unsigned long long)bytes);
        goto done;
    }
    ps = np > 0 ? calloc((size_t)np, sizeof *ps) : NULL;
    filled = np > 0 ? calloc((size_t)np, 1) : NULL;
    host = malloc(n * sizeof(float));
    if (!ps || !filled || !host) {
        snprintf(err, cap, np < 0 ? "the model has no Hugging Face layout" : "out of host memory (%zu parameters)", n);
        goto done;
    }
    dy_hf_pieces(c, ps, np);
    for (int i = 0; i < sl.n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, sl.files[i]);
        if (take_file(h, &sl, sl.files[i], path, ps, np, filled, host, err, cap)) goto done;
    }
    for (int i = 0; i < np; i++)
        if (!filled[i]) {
            const char *in = sl.weight_map ? json_string_value(json_object_get(sl.weight_map, ps[i].name)) : NULL;
            snprintf(err, cap, "tensor \"%s\" is missing (%s%s)", ps[i].name,
                     sl.weight_map ? (in ? "not in " : "not in the index's weight_map") : "not in model.safetensors",
                     in ? in : "");
            goto done;
        }
    bad = 0;
    *params = host;
    host = NULL;
done:
    free(ps), free(filled), free(host);
    shards_free(&sl);
    return bad;
}

/* ------------------------------------------------------------ the API */

dytcl_status dytcl_model_read_config_hf(const char *dir, dytcl_model_config *c)
{
    if (!dir || !c) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_model_read_config_hf: dir and c are required");
    hf_config h;
    char err[2000];
    if (read_hf_config(dir, &h, c, err, sizeof err))
        return dy_fail(NULL, DYTCL_ERR_FORMAT, "Hugging Face model %s: %s", dir, err);
    return DYTCL_OK;
}

dytcl_status dytcl_model_load_hf(dytcl_ctx *ctx, const char *dir, dytcl_meta *md, dytcl_model **out)
{
    if (out) *out = NULL;
    if (!ctx || !dir || !out)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_model_load_hf: ctx, dir and out are required");
    hf_config h;
    dytcl_model_config c;
    float *params = NULL;
    char err[2000];
    if (read_dir(dir, &h, &c, &params, err, sizeof err))
        return dy_fail(ctx, DYTCL_ERR_FORMAT, "Hugging Face model %s: %s", dir, err);
    dytcl_model *m = NULL;
    dytcl_status s = dy_model_make(ctx, &c, 0, 0, &m); /* every parameter is written next */
    if (!s) s = dytcl_model_write_params(m, params);
    free(params);
    if (!s && md) {
        dytcl_meta_clear(md);
        if (dytcl_meta_set(md, "format", "huggingface") || dytcl_meta_set(md, "architecture", h.arch_name))
            s = dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "dytcl_model_load_hf: out of host memory");
    }
    if (s) {
        char msg[2000];
        snprintf(msg, sizeof msg, "%s", dytcl_last_error(ctx));
        dytcl_model_free(m);
        return dy_fail(ctx, s, "Hugging Face model %s: %s", dir, msg);
    }
    *out = m;
    return DYTCL_OK;
}
