/* hf_export.c -- a dytcl model as a Hugging Face model directory
 * (dytcl_model_export_hf): config.json and model.safetensors, the layout of
 * LlamaForCausalLM (llama with RMSNorm) or GPT2LMHeadModel (gpt with
 * LayerNorm), which transformers' from_pretrained loads as they are. DyT and
 * Derf models keep that layout with their extra tensors (alpha, shift,
 * model.embed_scale) named plainly and "dytcl_norm" in config.json
 * (docs/huggingface.md shows the PyTorch modules that read them).
 *
 * Files are written whole or not at all: both into a private temporary
 * directory beside them (the safetensors writer fsyncs), then renamed into
 * place, model.safetensors first, so a directory with a new config.json is
 * complete. An existing file there is replaced only when asked (force), and
 * never through a link. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hf_internal.h"

/* The shortest decimal that reads back as the float x (1e-05, not 9.99999975e-06). */
static double shortest(float x)
{
    char s[32];
    for (int p = 6; p < 10; p++) {
        snprintf(s, sizeof s, "%.*g", p, (double)x);
        if (strtof(s, NULL) == x) break;
    }
    return strtod(s, NULL);
}

static const char *torch_dtype(dytcl_dtype d)
{
    return d == DYTCL_F16 ? "float16" : d == DYTCL_BF16 ? "bfloat16" : "float32";
}

/* config.json's object for c (NULL when out of memory). */
static json_t *config_json(const dytcl_model_config *c, dytcl_dtype dtype)
{
    const int llama = c->arch == DYTCL_ARCH_LLAMA;
    json_t *j = json_object();
    int bad = !j;
#define SET(key, value) (bad |= j ? json_object_set_new(j, key, value) : 1)
    SET("architectures", json_pack("[s]", llama ? "LlamaForCausalLM" : "GPT2LMHeadModel"));
    SET("model_type", json_string(llama ? "llama" : "gpt2"));
    SET("vocab_size", json_integer(c->vocab));
    if (llama) {
        SET("hidden_size", json_integer(c->d_model));
        SET("intermediate_size", json_integer(c->d_ff));
        SET("num_hidden_layers", json_integer(c->n_layer));
        SET("num_attention_heads", json_integer(c->n_head));
        SET("num_key_value_heads", json_integer(c->n_kv_head ? c->n_kv_head : c->n_head));
        SET("head_dim", json_integer(c->d_model / c->n_head));
        SET("max_position_embeddings", json_integer(c->max_seq));
        SET("rms_norm_eps", json_real(shortest(c->norm_eps)));
        SET("rope_theta", json_real(shortest(c->rope_theta)));
        SET("rope_scaling", json_null());
        SET("hidden_act", json_string("silu"));
        SET("tie_word_embeddings", c->tie_embeddings ? json_true() : json_false());
        SET("attention_bias", c->attn_bias ? json_true() : json_false());
        SET("mlp_bias", c->mlp_bias ? json_true() : json_false());
        SET("attention_dropout", json_real(0.0));
    } else {
        SET("n_embd", json_integer(c->d_model));
        SET("n_layer", json_integer(c->n_layer));
        SET("n_head", json_integer(c->n_head));
        SET("n_inner", json_integer(c->d_ff));
        SET("n_positions", json_integer(c->max_seq));
        SET("n_ctx", json_integer(c->max_seq));
        SET("layer_norm_epsilon", json_real(shortest(c->norm_eps)));
        SET("activation_function", json_string("gelu_new"));
        SET("scale_attn_weights", json_true());
        SET("tie_word_embeddings", json_true());
        SET("resid_pdrop", json_real(0.0));
        SET("embd_pdrop", json_real(0.0));
        SET("attn_pdrop", json_real(0.0));
        SET("bos_token_id", json_null()); /* (GPT-2's default, 50256, is past a small vocabulary) */
        SET("eos_token_id", json_null());
    }
    if (c->norm == DYTCL_NORM_DYT || c->norm == DYTCL_NORM_DERF) SET("dytcl_norm", json_string(dytcl_norm_kind_name(c->norm)));
    SET("torch_dtype", json_string(torch_dtype(dtype)));
#undef SET
    if (bad) json_decref(j);
    return bad ? NULL : j;
}

/* An output file in dir: absent, or (force) a regular file, never a link. */
static int output_ok(const char *path, int force, char *err, size_t cap)
{
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : (snprintf(err, cap, "%s: %s", path, strerror(errno)), -1);
    if (S_ISLNK(st.st_mode)) return snprintf(err, cap, "%s is a symbolic link: refused", path), -1;
    if (!S_ISREG(st.st_mode)) return snprintf(err, cap, "%s exists and is not a regular file: refused", path), -1;
    if (!force) return snprintf(err, cap, "%s exists: refused (force to replace it)", path), -1;
    return 0;
}

/* text into a new file at path (never through a link), flushed to disk. */
static int write_new(const char *path, const char *text, char *err, size_t cap)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return snprintf(err, cap, "cannot create %s: %s", path, strerror(errno)), -1;
    size_t n = strlen(text), done = 0;
    while (done < n) {
        ssize_t w = write(fd, text + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    int e = done == n ? 0 : (errno ? errno : EIO);
    if (!e && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    return e ? (snprintf(err, cap, "cannot write %s: %s", path, strerror(e)), -1) : 0;
}

/* The model's tensors in HF's layout (hf: n floats, the pieces one after
 * another; ts[np]) -- the pieces tile the parameter buffer. */
static int hf_tensors(dytcl_model *m, const dy_hf_piece *ps, int np, dytcl_dtype dtype, float *params, float *hf,
                      dytcl_st_tensor *ts, char *err, size_t cap)
{
    const size_t n = dytcl_model_param_count(dytcl_model_get_config(m));
    if (dytcl_model_read_params(m, params))
        return snprintf(err, cap, "%s", dytcl_last_error(dytcl_model_ctx(m))), -1;
    size_t at = 0;
    for (int i = 0; i < np; i++) {
        dy_hf_from_dytcl(&ps[i], params, hf + at);
        ts[i].name = ps[i].name;
        ts[i].ndim = ps[i].ndim;
        ts[i].shape[0] = ps[i].shape[0], ts[i].shape[1] = ps[i].shape[1];
        ts[i].numel = dy_hf_numel(&ps[i]);
        ts[i].data = hf + at;
        ts[i].dtype = ps[i].ndim == 2 ? dtype : DYTCL_F32;
        at += ts[i].numel;
    }
    if (at != n) return snprintf(err, cap, "the Hugging Face tensors hold %zu of the model's %zu parameters", at, n), -1;
    return 0;
}

/* Both files are written into a private new directory inside dir (mkdtemp:
 * mode 0700, nothing there to follow), then renamed into place:
 * model.safetensors first, config.json last. */
static dytcl_status export_dir(dytcl_model *m, const char *dir, dytcl_dtype dtype, int force, char *err, size_t cap)
{
    const dytcl_model_config *c = dytcl_model_get_config(m);
    const int llama = c->arch == DYTCL_ARCH_LLAMA;
    if (c->folded)
        return snprintf(err, cap, "a folded model (dytcl_model_fold) has no Hugging Face layout: export it before "
                        "folding"), DYTCL_ERR_INVALID_ARG;
    if ((llama && c->norm == DYTCL_NORM_LAYERNORM) || (!llama && c->norm == DYTCL_NORM_RMSNORM))
        return snprintf(err, cap, "a %s with %s has no Hugging Face layout (LLaMA: RMSNorm, DyT, Derf; GPT: "
                        "LayerNorm, DyT, Derf)", dytcl_arch_name(c->arch), dytcl_norm_kind_name(c->norm)),
               DYTCL_ERR_INVALID_ARG;
    struct stat st;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return snprintf(err, cap, "cannot create %s: %s", dir, strerror(errno)), DYTCL_ERR_IO;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return snprintf(err, cap, "%s is not a directory", dir), DYTCL_ERR_IO;
    char cfg_path[4200], st_path[4200], tmp[4200], tmp_cfg[4300], tmp_st[4300];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
    if (output_ok(st_path, force, err, cap) || output_ok(cfg_path, force, err, cap)) return DYTCL_ERR_IO;

    int np = dy_hf_pieces(c, NULL, 0);
    size_t n = dytcl_model_param_count(c);
    dy_hf_piece *ps = np > 0 ? calloc((size_t)np, sizeof *ps) : NULL;
    dytcl_st_tensor *ts = np > 0 ? calloc((size_t)np, sizeof *ts) : NULL;
    float *params = malloc(n * sizeof(float)), *hf = malloc(n * sizeof(float));
    json_t *j = config_json(c, dtype);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    const char *meta[2] = {"format", "pt"}; /* transformers reads files that say so */
    dytcl_status s = DYTCL_ERR_HOST_MEMORY;
    tmp[0] = '\0';
    if (!ps || !ts || !params || !hf || !text) {
        snprintf(err, cap, np < 0 ? "the model has no Hugging Face layout" : "out of host memory");
        if (np < 0) s = DYTCL_ERR_INVALID_ARG;
        goto done;
    }
    dy_hf_pieces(c, ps, np);
    s = DYTCL_ERR_IO;
    if (hf_tensors(m, ps, np, dtype, params, hf, ts, err, cap)) goto done;
    snprintf(tmp, sizeof tmp, "%s/.dytcl-export-XXXXXX", dir);
    if (!mkdtemp(tmp)) {
        snprintf(err, cap, "cannot create a temporary directory in %s: %s", dir, strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    snprintf(tmp_st, sizeof tmp_st, "%s/model.safetensors", tmp);
    snprintf(tmp_cfg, sizeof tmp_cfg, "%s/config.json", tmp);
    if (dytcl_st_save(tmp_st, ts, np, meta, 1)) {
        snprintf(err, cap, "%s", dytcl_last_error(NULL));
        goto done;
    }
    if (write_new(tmp_cfg, text, err, cap)) goto done;
    if (output_ok(st_path, force, err, cap) || output_ok(cfg_path, force, err, cap)) goto done; /* again, just before */
    if (rename(tmp_st, st_path) != 0 || rename(tmp_cfg, cfg_path) != 0) {
        snprintf(err, cap, "cannot move the files into %s: %s", dir, strerror(errno));
        goto done;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* make the renames durable */
    if (dfd >= 0) fsync(dfd), close(dfd);
    s = DYTCL_OK;
done:
    if (tmp[0]) { /* empty after success */
        unlink(tmp_st), unlink(tmp_cfg);
        rmdir(tmp);
    }
    free(ps), free(ts), free(params), free(hf), free(text);
    json_decref(j);
    return s;
}

dytcl_status dytcl_model_export_hf(dytcl_model *m, const char *dir, dytcl_dtype dtype, int force)
{
    if (!m || !dir) return dy_fail(m ? dytcl_model_ctx(m) : NULL, DYTCL_ERR_INVALID_ARG,
                                   "dytcl_model_export_hf: m and dir are required");
    dytcl_ctx *ctx = dytcl_model_ctx(m);
    if (!dytcl_dtype_size(dtype))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_model_export_hf: dtype %d is not f32, f16 or bf16", (int)dtype);
    char err[5000];
    dytcl_status s = export_dir(m, dir, dtype, force, err, sizeof err);
    return s ? dy_fail(ctx, s, "Hugging Face export to %s: %s", dir, err) : DYTCL_OK;
}
