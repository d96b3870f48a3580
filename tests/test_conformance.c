/* test_conformance.c -- dytcl against an independent PyTorch implementation
 * (tests/reference/reference.py and reference_vit.py, which wrote the files
 * read here).
 *
 * For a tiny GPT-DyT, a tiny LLaMA-DyT (weights in through dytcl_model_load,
 * the normal checkpoint loader) and two tiny ViT-DyTs, one pooling by a class
 * token, one by the mean (weights in through dytcl_model_load too, from
 * the ViT files' earlier format, "dytcl-vit-1"), in float32 on the
 * OpenCL device dytcl must give PyTorch's
 *   logits and loss                    within 1e-5 relative (logits by norm)
 *   every parameter's gradient         within 1e-4 relative by norm
 *   the loss and gradient norm of each
 *   of 10 AdamW steps (clipped)        within 1e-4 relative
 *   the parameters after the 10 steps  within 1e-5 relative by norm, per tensor
 *                                      (but the keys' third of qkv biases: see params_err)
 * and the worst tensor of each kind is printed with its error.
 *
 * The other direction, when python3 can import torch (CI has no torch: that
 * part is skipped with a note): the model after its 10 steps is saved with
 * dytcl_model_save, and reference.py (reference_vit.py)
 * --check runs its own forward on that file and compares with dytcl's logits. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"
#include "dytcl_model.h"

#ifndef REF_DIR
#error "REF_DIR (tests/reference) must be defined"
#endif
#ifndef WORK_DIR
#error "WORK_DIR (a scratch folder) must be defined"
#endif

enum { MAX_STEPS = 64 };

#define TOL_LOGITS 1e-5
#define TOL_LOSS 1e-5
#define TOL_GRAD 1e-4
#define TOL_STEP 1e-4
#define TOL_PARAMS 1e-5

/* ||got - want|| / ||want|| in double over [from, to) (absolute when want
 * is zero there); a NaN or infinity anywhere gives infinity. */
static double rel_norm_range(const float *got, const float *want, size_t from, size_t to)
{
    double num = 0, den = 0;
    for (size_t i = from; i < to; i++) {
        double d = (double)got[i] - (double)want[i];
        if (!isfinite(d)) return INFINITY;
        num += d * d;
        den += (double)want[i] * want[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static double rel_norm(const float *got, const float *want, size_t n) { return rel_norm_range(got, want, 0, n); }

/* The parameters after the AdamW steps, tensor t. The key third of a qkv
 * bias is left out: adding a constant to every key's score changes no
 * softmax, so its gradient is zero in exact arithmetic and both sides hold
 * float rounding noise (~1e-9) there, which AdamW's m / (sqrt(v) + eps)
 * turns into updates of up to lr in random directions: a comparison of
 * noise. (Its gradient is in the gradient check, where it is negligible.) */
static double params_err(const char *name, size_t n, const float *got, const float *want)
{
    static const char suffix[] = ".attn.qkv.bias";
    size_t len = strlen(name), k = sizeof suffix - 1, C = n / 3;
    if (len < k || strcmp(name + len - k, suffix)) return rel_norm(got, want, n);
    double a = rel_norm_range(got, want, 0, C), b = rel_norm_range(got, want, 2 * C, n);
    return a > b ? a : b;
}

/* The worst error of one kind of comparison, and where it was. */
typedef struct {
    double err;
    char what[96];
} worst;

static void note(worst *w, double err, const char *what)
{
    if (err > w->err || !w->what[0]) {
        w->err = err;
        snprintf(w->what, sizeof w->what, "%s", what);
    }
}

static void report(const char *model_name, const char *kind, const worst *w, double tol)
{
    printf("  %-12s %-26s worst %-28s %.3g (tolerance %.0e)\n", model_name, kind, w->what, w->err, tol);
    CHECK(w->err <= tol, "%s: %s: %s is off by %.3g relative (tolerance %.0e)", model_name, kind, w->what, w->err, tol);
}

static dytcl_st_file *open_ref(const char *name, const char *suffix)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s%s.safetensors", REF_DIR, name, suffix);
    dytcl_st_file *f = NULL;
    dytcl_status s = dytcl_st_load(path, &f);
    CHECK(s == DYTCL_OK, "%s: %s (regenerate with tests/reference/reference.py)", path, dytcl_last_error(NULL));
    return f;
}

/* A reference tensor of exactly n floats, or NULL (a failed check). */
static const float *ref_tensor(const dytcl_st_file *f, const char *file, const char *name, size_t n)
{
    dytcl_st_tensor t;
    if (!f || dytcl_st_get(f, name, &t) != DYTCL_OK) {
        CHECK(0, "%s: no tensor \"%s\"", file, name);
        return NULL;
    }
    CHECK(t.numel == n, "%s: \"%s\" has %zu elements, expected %zu", file, name, t.numel, n);
    return t.numel == n ? t.data : NULL;
}

static double meta_num(const dytcl_st_file *f, const char *key)
{
    const char *v = f ? dytcl_st_metadata(f, key) : NULL;
    CHECK(v != NULL, "reference io file: metadata \"%s\" is missing", key);
    return v ? strtod(v, NULL) : NAN;
}

static int meta_int(const dytcl_st_file *f, const char *key)
{
    double x = meta_num(f, key);
    return x >= 0 && x <= 1e6 ? (int)x : -1;
}

/* 1 when `python3 -c "import torch"` works. */
static int have_torch(void)
{
    int rc = system("python3 -c 'import torch' >/dev/null 2>&1");
    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

/* Saves the trained model, the batch and dytcl's logits, and has
 * reference.py --check compare its forward on that checkpoint. */
static void check_from_python(dytcl_model *m, const char *name, const int32_t *tok, int B, int T, const float *logits)
{
    const dytcl_model_config *c = dytcl_model_get_config(m);
    char ckpt[1024], tpath[1024], lpath[1024], cmd[4096];
    mkdir(WORK_DIR, 0777);
    snprintf(ckpt, sizeof ckpt, "%s/%s-trained.safetensors", WORK_DIR, name);
    snprintf(tpath, sizeof tpath, "%s/%s-tokens.safetensors", WORK_DIR, name);
    snprintf(lpath, sizeof lpath, "%s/%s-logits.safetensors", WORK_DIR, name);
    dytcl_meta md = {0};
    dytcl_meta_set(&md, "step", "10");
    dytcl_meta_set(&md, "note", "test_conformance");
    dytcl_status s = dytcl_model_save(m, ckpt, 1, &md);
    dytcl_meta_clear(&md);
    CHECK(s == DYTCL_OK, "dytcl_model_save: %s", dytcl_last_error(dytcl_model_ctx(m)));

    size_t BT = (size_t)B * T;
    float *tokf = malloc(BT * sizeof *tokf);
    for (size_t i = 0; i < BT; i++) tokf[i] = (float)tok[i];
    dytcl_st_tensor tt = {.name = "tokens", .ndim = 2, .shape = {B, T}, .numel = BT, .data = tokf};
    dytcl_st_tensor lt = {.name = "logits", .ndim = 2, .shape = {(int64_t)BT, c->vocab}, .numel = BT * c->vocab,
                          .data = logits};
    CHECK(dytcl_st_save(tpath, &tt, 1, NULL, 0) == DYTCL_OK, "%s: %s", tpath, dytcl_last_error(NULL));
    CHECK(dytcl_st_save(lpath, &lt, 1, NULL, 0) == DYTCL_OK, "%s: %s", lpath, dytcl_last_error(NULL));
    free(tokf);
    if (s) return;
    snprintf(cmd, sizeof cmd, "python3 '%s/reference.py' --check '%s' '%s' '%s'", REF_DIR, ckpt, tpath, lpath);
    fflush(stdout);
    int rc = system(cmd);
    CHECK(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "%s: reference.py --check failed (status %d)", name,
          rc);
}

static void run_model(dytcl_ctx *ctx, const char *name, int torch)
{
    char path[1024], what[128];
    snprintf(path, sizeof path, "%s/%s.safetensors", REF_DIR, name);
    dytcl_model *m = NULL;
    int has_opt = 1;
    dytcl_status s = dytcl_model_load(ctx, path, NULL, &has_opt, &m);
    CHECK(s == DYTCL_OK, "dytcl_model_load: %s", dytcl_last_error(ctx));
    CHECK(!has_opt, "%s: the reference checkpoint has no optimiser state", path);
    dytcl_st_file *io = open_ref(name, "-io"), *gf = open_ref(name, "-grads"), *pf = open_ref(name, "-step10");
    if (s || !io || !gf || !pf) goto done;

    const dytcl_model_config *c = dytcl_model_get_config(m);
    int B = meta_int(io, "B"), T = meta_int(io, "T"), steps = meta_int(io, "steps");
    dytcl_model_optim o = {.lr = (float)meta_num(io, "lr"), .beta1 = (float)meta_num(io, "beta1"),
                           .beta2 = (float)meta_num(io, "beta2"), .eps = (float)meta_num(io, "eps"),
                           .weight_decay = (float)meta_num(io, "weight_decay"), .clip = (float)meta_num(io, "clip")};
    CHECK(B > 0 && T > 0 && T <= c->max_seq && steps >= 1 && steps <= MAX_STEPS, "%s-io: B %d, T %d, steps %d", name,
          B, T, steps);
    if (!(B > 0 && T > 0 && T <= c->max_seq && steps >= 1 && steps <= MAX_STEPS)) goto done;
    size_t BT = (size_t)B * T, V = (size_t)c->vocab, n = dytcl_model_param_count(c);
    const float *tokf = ref_tensor(io, "io", "tokens", BT), *tgtf = ref_tensor(io, "io", "targets", BT);
    const float *want_logits = ref_tensor(io, "io", "logits", BT * V), *want_loss = ref_tensor(io, "io", "loss", 1);
    const float *want_losses = ref_tensor(io, "io", "losses", (size_t)steps);
    const float *want_norms = ref_tensor(io, "io", "grad_norms", (size_t)steps);
    if (!tokf || !tgtf || !want_logits || !want_loss || !want_losses || !want_norms) goto done;

    int32_t *tok = malloc(BT * sizeof *tok), *tgt = malloc(BT * sizeof *tgt);
    float *logits = malloc(BT * V * sizeof *logits), *buf = malloc(n * sizeof *buf);
    for (size_t i = 0; i < BT; i++) tok[i] = (int32_t)tokf[i], tgt[i] = (int32_t)tgtf[i];
    int nt = dytcl_model_param_table(c, NULL, 0);
    dytcl_model_tensor *tab = calloc((size_t)nt, sizeof *tab);
    dytcl_model_param_table(c, tab, nt);

    /* one forward and backward */
    float loss = NAN;
    if ((s = dytcl_model_set_batch(m, B, T)) || (s = dytcl_model_zero_grad(m)) ||
        (s = dytcl_model_forward(m, tok, tgt)) || (s = dytcl_model_read_loss(m, &loss)) ||
        (s = dytcl_model_read_logits(m, logits)) || (s = dytcl_model_backward(m, 1.0f)) ||
        (s = dytcl_model_read_grads(m, buf)))
        CHECK(0, "%s: forward/backward: %s", name, dytcl_last_error(dytcl_model_ctx(m)));
    worst wl = {0}, wloss = {0}, wg = {0}, ws = {0}, wn = {0}, wp = {0};
    note(&wl, rel_norm(logits, want_logits, BT * V), "logits");
    note(&wloss, rel_norm(&loss, want_loss, 1), "loss");
    for (int i = 0; !s && i < nt; i++) {
        const float *want = ref_tensor(gf, "grads", tab[i].name, tab[i].numel);
        if (want) note(&wg, rel_norm(buf + tab[i].offset, want, tab[i].numel), tab[i].name);
    }

    /* AdamW steps on the same batch; the first reuses the gradients above */
    float losses[MAX_STEPS], norms[MAX_STEPS];
    for (int i = 0; i < MAX_STEPS; i++) losses[i] = norms[i] = NAN;
    for (int step = 1; !s && step <= steps; step++) {
        if (step > 1 && ((s = dytcl_model_zero_grad(m)) || (s = dytcl_model_forward(m, tok, tgt)) ||
                         (s = dytcl_model_backward(m, 1.0f))))
            break;
        if ((s = dytcl_model_step(m, &o, step)) ||
            (s = dytcl_model_step_stats(m, &losses[step - 1], 1, &norms[step - 1])))
            break;
        snprintf(what, sizeof what, "step %d", step);
        note(&ws, rel_norm(&losses[step - 1], &want_losses[step - 1], 1), what);
        note(&wn, rel_norm(&norms[step - 1], &want_norms[step - 1], 1), what);
    }
    CHECK(s == DYTCL_OK, "%s: training: %s", name, dytcl_last_error(dytcl_model_ctx(m)));
    if (!s && !(s = dytcl_model_read_params(m, buf)))
        for (int i = 0; i < nt; i++) {
            const float *want = ref_tensor(pf, "step10", tab[i].name, tab[i].numel);
            if (want) note(&wp, params_err(tab[i].name, tab[i].numel, buf + tab[i].offset, want), tab[i].name);
        }

    printf("%s: loss %.6f (PyTorch %.6f), after %d steps %.6f (PyTorch %.6f)\n", name, (double)loss,
           (double)*want_loss, steps, (double)losses[steps - 1], (double)want_losses[steps - 1]);
    report(name, "logits", &wl, TOL_LOGITS);
    report(name, "loss", &wloss, TOL_LOSS);
    report(name, "gradients", &wg, TOL_GRAD);
    report(name, "losses of the steps", &ws, TOL_STEP);
    report(name, "gradient norms", &wn, TOL_STEP);
    report(name, "parameters after the steps", &wp, TOL_PARAMS);

    /* the other direction: PyTorch reads dytcl's checkpoint of the trained dytcl_model */
    if (!s && torch) {
        if ((s = dytcl_model_forward(m, tok, NULL)) || (s = dytcl_model_read_logits(m, logits)))
            CHECK(0, "%s: forward: %s", name, dytcl_last_error(dytcl_model_ctx(m)));
        else check_from_python(m, name, tok, B, T, logits);
    }
    free(tok), free(tgt), free(logits), free(buf), free(tab);
done:
    dytcl_st_free(io), dytcl_st_free(gf), dytcl_st_free(pf);
    dytcl_model_free(m);
}

/* ------------------------------------------------------------------ ViT */

/* Saves the trained ViT, the images and dytcl's logits, and has
 * reference_vit.py --check compare its forward on that checkpoint. */
static void vit_check_from_python(dytcl_model *v, const char *name, const float *images, const float *logits)
{
    const dytcl_model_config *c = dytcl_model_get_config(v);
    int B = 0;
    dytcl_model_batch(v, &B, NULL);
    char ckpt[1024], ipath[1024], lpath[1024], cmd[4096];
    mkdir(WORK_DIR, 0777);
    snprintf(ckpt, sizeof ckpt, "%s/%s-trained.safetensors", WORK_DIR, name);
    snprintf(ipath, sizeof ipath, "%s/%s-images.safetensors", WORK_DIR, name);
    snprintf(lpath, sizeof lpath, "%s/%s-logits.safetensors", WORK_DIR, name);
    dytcl_meta md = {0};
    dytcl_status s = dytcl_meta_set(&md, "step", "10");
    if (!s) s = dytcl_meta_set(&md, "note", "test_conformance");
    if (!s) s = dytcl_model_save(v, ckpt, 1, &md);
    dytcl_meta_clear(&md);
    CHECK(s == DYTCL_OK, "dytcl_model_save: %s", dytcl_last_error(dytcl_model_ctx(v)));
    const size_t npix = (size_t)B * c->image_channels * c->image_height * c->image_width;
    dytcl_st_tensor it = {.name = "images", .ndim = 4, .shape = {B, c->image_channels, c->image_height, c->image_width},
                          .numel = npix, .data = images};
    dytcl_st_tensor lt = {.name = "logits", .ndim = 2, .shape = {B, c->classes}, .numel = (size_t)B * c->classes,
                          .data = logits};
    CHECK(dytcl_st_save(ipath, &it, 1, NULL, 0) == DYTCL_OK, "%s: %s", ipath, dytcl_last_error(NULL));
    CHECK(dytcl_st_save(lpath, &lt, 1, NULL, 0) == DYTCL_OK, "%s: %s", lpath, dytcl_last_error(NULL));
    if (s) return;
    snprintf(cmd, sizeof cmd, "python3 '%s/reference_vit.py' --check '%s' '%s' '%s'", REF_DIR, ckpt, ipath, lpath);
    fflush(stdout);
    int rc = system(cmd);
    CHECK(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "%s: reference_vit.py --check failed (status %d)",
          name, rc);
}

/* The same comparisons for a ViT: images [B, ch, H, W] and labels [B] in. */
static void run_vit(dytcl_ctx *ctx, const char *name, int torch)
{
    char path[1024], what[128];
    snprintf(path, sizeof path, "%s/%s.safetensors", REF_DIR, name);
    dytcl_model *v = NULL;
    int has_opt = 1;
    dytcl_status s = dytcl_model_load(ctx, path, NULL, &has_opt, &v);
    CHECK(s == DYTCL_OK, "dytcl_model_load: %s", dytcl_last_error(ctx));
    CHECK(!has_opt, "%s: the reference checkpoint has no optimiser state", path);
    dytcl_st_file *io = open_ref(name, "-io"), *gf = open_ref(name, "-grads"), *pf = open_ref(name, "-step10");
    if (s || !io || !gf || !pf) goto done;

    const dytcl_model_config *c = dytcl_model_get_config(v);
    CHECK(c->arch == DYTCL_ARCH_VIT, "%s: loaded as %s", path, dytcl_arch_name(c->arch));
    int B = meta_int(io, "B"), steps = meta_int(io, "steps");
    dytcl_model_optim o = {.lr = (float)meta_num(io, "lr"), .beta1 = (float)meta_num(io, "beta1"),
                           .beta2 = (float)meta_num(io, "beta2"), .eps = (float)meta_num(io, "eps"),
                           .weight_decay = (float)meta_num(io, "weight_decay"), .clip = (float)meta_num(io, "clip")};
    CHECK(B > 0 && steps >= 1 && steps <= MAX_STEPS, "%s-io: B %d, steps %d", name, B, steps);
    if (!(B > 0 && steps >= 1 && steps <= MAX_STEPS)) goto done;
    size_t K = (size_t)c->classes, n = dytcl_model_param_count(c);
    size_t npix = (size_t)B * c->image_channels * c->image_height * c->image_width;
    const float *images = ref_tensor(io, "io", "images", npix), *labf = ref_tensor(io, "io", "labels", (size_t)B);
    const float *want_logits = ref_tensor(io, "io", "logits", (size_t)B * K);
    const float *want_loss = ref_tensor(io, "io", "loss", 1);
    const float *want_losses = ref_tensor(io, "io", "losses", (size_t)steps);
    const float *want_norms = ref_tensor(io, "io", "grad_norms", (size_t)steps);
    if (!images || !labf || !want_logits || !want_loss || !want_losses || !want_norms) goto done;

    int32_t *lab = malloc((size_t)B * sizeof *lab);
    float *logits = malloc((size_t)B * K * sizeof *logits), *buf = malloc(n * sizeof *buf);
    for (int i = 0; i < B; i++) lab[i] = (int32_t)labf[i];
    int nt = dytcl_model_param_table(c, NULL, 0);
    dytcl_model_tensor *tab = calloc((size_t)nt, sizeof *tab);
    dytcl_model_param_table(c, tab, nt);

    /* one forward and backward (the backward overwrites the logits: read first) */
    float loss = NAN;
    if ((s = dytcl_model_set_batch(v, B, 0)) || (s = dytcl_model_zero_grad(v)) ||
        (s = dytcl_model_forward_images(v, images, lab)) || (s = dytcl_model_read_loss(v, &loss)) ||
        (s = dytcl_model_read_logits(v, logits)) || (s = dytcl_model_backward(v, 1.0f)) ||
        (s = dytcl_model_read_grads(v, buf)))
        CHECK(0, "%s: forward/backward: %s", name, dytcl_last_error(ctx));
    worst wl = {0}, wloss = {0}, wg = {0}, ws = {0}, wn = {0}, wp = {0};
    note(&wl, rel_norm(logits, want_logits, (size_t)B * K), "logits");
    note(&wloss, rel_norm(&loss, want_loss, 1), "loss");
    for (int i = 0; !s && i < nt; i++) {
        const float *want = ref_tensor(gf, "grads", tab[i].name, tab[i].numel);
        if (want) note(&wg, rel_norm(buf + tab[i].offset, want, tab[i].numel), tab[i].name);
    }

    /* AdamW steps on the same batch; the first reuses the gradients above */
    float losses[MAX_STEPS], norms[MAX_STEPS];
    for (int i = 0; i < MAX_STEPS; i++) losses[i] = norms[i] = NAN;
    for (int step = 1; !s && step <= steps; step++) {
        if (step > 1 && ((s = dytcl_model_zero_grad(v)) || (s = dytcl_model_forward_images(v, images, lab)) ||
                         (s = dytcl_model_backward(v, 1.0f))))
            break;
        if ((s = dytcl_model_step(v, &o, step)) ||
            (s = dytcl_model_step_stats(v, &losses[step - 1], 1, &norms[step - 1])))
            break;
        snprintf(what, sizeof what, "step %d", step);
        note(&ws, rel_norm(&losses[step - 1], &want_losses[step - 1], 1), what);
        note(&wn, rel_norm(&norms[step - 1], &want_norms[step - 1], 1), what);
    }
    CHECK(s == DYTCL_OK, "%s: training: %s", name, dytcl_last_error(ctx));
    if (!s && !(s = dytcl_model_read_params(v, buf)))
        for (int i = 0; i < nt; i++) {
            const float *want = ref_tensor(pf, "step10", tab[i].name, tab[i].numel);
            if (want) note(&wp, params_err(tab[i].name, tab[i].numel, buf + tab[i].offset, want), tab[i].name);
        }

    printf("%s: loss %.6f (PyTorch %.6f), after %d steps %.6f (PyTorch %.6f)\n", name, (double)loss,
           (double)*want_loss, steps, (double)losses[steps - 1], (double)want_losses[steps - 1]);
    report(name, "logits", &wl, TOL_LOGITS);
    report(name, "loss", &wloss, TOL_LOSS);
    report(name, "gradients", &wg, TOL_GRAD);
    report(name, "losses of the steps", &ws, TOL_STEP);
    report(name, "gradient norms", &wn, TOL_STEP);
    report(name, "parameters after the steps", &wp, TOL_PARAMS);

    /* the other direction: PyTorch reads dytcl's checkpoint of the trained ViT */
    if (!s && torch) {
        if ((s = dytcl_model_forward_images(v, images, NULL)) || (s = dytcl_model_read_logits(v, logits)))
            CHECK(0, "%s: forward: %s", name, dytcl_last_error(ctx));
        else vit_check_from_python(v, name, images, logits);
    }
    free(lab), free(logits), free(buf), free(tab);
done:
    dytcl_st_free(io), dytcl_st_free(gf), dytcl_st_free(pf);
    dytcl_model_free(v);
}

int main(void)
{
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    int torch = have_torch();
    run_model(ctx, "gpt-dyt", torch);
    run_model(ctx, "llama-dyt", torch);
    run_vit(ctx, "vit-dyt-cls", torch);
    run_vit(ctx, "vit-dyt-mean", torch);
    if (!torch)
        printf("note: python3 cannot import torch: skipped reference.py and reference_vit.py --check on "
               "dytcl's checkpoints (pip install torch, or apt-get install python3-torch)\n");
    dytcl_ctx_free(ctx);
    return check_done("test_conformance");
}
