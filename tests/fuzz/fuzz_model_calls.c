/* fuzz_model_calls.c -- libFuzzer target for the model API's gate
 * (models/model_gate.c): the input is a sequence of calls on a tiny model
 * (gpt, llama or vit; 1 layer, d_model 8, 17 tokens or 3 classes), each
 * with arguments drawn from the input -- batch shapes, token ids and labels
 * in and out of range, decoding positions with gaps, sampling and optimiser
 * settings with NaN, NULL pointers and NULL models -- in any order.
 *
 * Host arrays are as long as dytcl_model.h says the call reads, for the
 * batch the model reports; the library is built with ASan and UBSan, so any
 * read past them, or any overflow in the library's own arithmetic, is
 * reported. Checked here: every call returns a known status, a refusal has
 * a message, an accepted read of logits or predictions holds finite logits
 * and classes in range (until an accepted step may have moved the weights
 * anywhere). A fresh model per input keeps every input reproducible; the
 * context, and so the compiled programs, stay. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dytcl_model.h"

static dytcl_ctx *ctx;

typedef struct {
    const uint8_t *p;
    size_t n;
} input;

static unsigned byte(input *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

/* A small int, sometimes a wild one. */
static int num(input *in, int lo, int hi)
{
    unsigned k = byte(in);
    if (k < 224) return lo + (int)(k % (unsigned)(hi - lo + 1));
    static const int wild[] = {-1, -2, 0, 1 << 30, -(1 << 30), 2147483647, -2147483647 - 1, 65, 4096};
    return wild[k % (sizeof wild / sizeof wild[0])];
}

static float real(input *in)
{
    static const float v[] = {0, 1, 0.5f, 1e-3f, -1, 7, 1e30f, NAN, INFINITY, -INFINITY, 0.9f, 0.999f, 1e-8f};
    return v[byte(in) % (sizeof v / sizeof v[0])];
}

static void fail(const char *what, int op, dytcl_status s)
{
    fprintf(stderr, "fuzz_model_calls: op %d: %s (%s: %s)\n", op, what, dytcl_status_name(s), dytcl_last_error(ctx));
    abort();
}

/* Every call returns a known status; a refusal says why (on ctx, or on this thread when no model took it). */
static void status_ok(dytcl_status s, int op, int no_model)
{
    if ((int)s < 0 || (int)s >= DYTCL_STATUS_COUNT) fail("unknown status", op, s);
    if (s && !*dytcl_last_error(no_model ? NULL : ctx)) fail("a refusal without a message", op, s);
}

static int stop_after(int32_t token, void *user)
{
    (void)token;
    return --*(int *)user <= 0;
}

/* Calls with a NULL model, by number. */
static dytcl_status null_call(int k)
{
    float f[4];
    int32_t t[4] = {0};
    dytcl_sampling s = {0};
    dytcl_model_optim o = {0};
    switch (k % 14) {
    case 0: return dytcl_model_read_params(NULL, f);
    case 1: return dytcl_model_write_params(NULL, f);
    case 2: return dytcl_model_read_grads(NULL, f);
    case 3: return dytcl_model_read_opt(NULL, f, f);
    case 4: return dytcl_model_write_opt(NULL, f, f);
    case 5: return dytcl_model_forward(NULL, t, NULL);
    case 6: return dytcl_model_decode(NULL, t, 1, 0, f);
    case 7: return dytcl_model_generate(NULL, t, 1, 1, &s, 1, NULL, NULL);
    case 8: return dytcl_model_step(NULL, &o, 1);
    case 9: return dytcl_model_read_logits(NULL, f);
    case 10: return dytcl_model_set_batch(NULL, 1, 1);
    case 11: return dytcl_model_decode_begin(NULL);
    case 12: return dytcl_model_read_loss(NULL, f);
    default: return dytcl_model_save(NULL, "x", 0, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx && dytcl_ctx_create(NULL, &ctx)) {
        fprintf(stderr, "fuzz_model_calls: no OpenCL context: %s\n", dytcl_last_error(NULL));
        abort();
    }
    input in = {data, size};
    unsigned k = byte(&in);
    dytcl_model_config c = {.arch = (dytcl_arch)(k % 3), .norm = (dytcl_norm_kind)(k / 3 % 4), .vocab = 17,
                            .max_seq = 8, .n_layer = 1, .n_head = 2, .d_model = 8};
    if (c.arch == DYTCL_ARCH_VIT)
        c.vocab = 0, c.max_seq = 0, c.image_height = 4, c.image_width = 4, c.patch = 2, c.classes = 3;
    dytcl_model_config_defaults(&c);
    dytcl_model *m = NULL;
    if (dytcl_model_create(ctx, &c, byte(&in), &m)) fail("create", -1, DYTCL_ERR_INVALID_ARG);
    size_t np = dytcl_model_param_count(&c);
    float *params = malloc(np * sizeof *params), *p2 = malloc(np * sizeof *p2);
    float scratch[2 * 64 * 17];
    int weights_moved = 0;
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz-model-calls-%d.safetensors", (int)getpid());
    for (int call = 0; call < 24 && in.n; call++) {
        const dytcl_model_config *mc = dytcl_model_get_config(m);
        const int vit = mc->arch == DYTCL_ARCH_VIT, V = vit ? mc->classes : mc->vocab;
        int B, T;
        dytcl_model_batch(m, &B, &T);
        const size_t rows = vit ? (size_t)B : (size_t)B * T; /* rows of logits */
        int32_t ids[64], ids2[64];
        for (int i = 0; i < 64; i++) ids[i] = num(&in, -1, V), ids2[i] = num(&in, -1, V);
        int op = (int)(byte(&in) % 24), no_model = 0;
        dytcl_status s = DYTCL_OK;
        switch (op) {
        case 0: s = dytcl_model_set_batch(m, num(&in, 0, 3), num(&in, 0, 9)); break;
        case 1:
            if ((size_t)B * T > 64) break; /* the arrays hold 64 */
            s = dytcl_model_forward(m, byte(&in) % 8 ? ids : NULL, byte(&in) % 2 ? ids2 : NULL);
            break;
        case 2: { /* images of the batch (8 images of 4 x 4 at most) */
            float img[8 * 16];
            for (int i = 0; i < 8 * 16; i++) img[i] = real(&in) * 0.1f;
            if (vit && B > 8) break;
            s = dytcl_model_forward_images(m, byte(&in) % 8 ? img : NULL, byte(&in) % 2 ? ids : NULL);
            break;
        }
        case 3: s = dytcl_model_backward(m, real(&in)); break;
        case 4: s = dytcl_model_zero_grad(m); break;
        case 5: {
            dytcl_model_optim o = {real(&in), real(&in), num(&in, 0, 3), num(&in, 0, 9), real(&in), real(&in),
                                   real(&in), real(&in), real(&in), (int)(byte(&in) & 1)};
            s = dytcl_model_step(m, byte(&in) % 8 ? &o : NULL, num(&in, 0, 3));
            weights_moved |= s == DYTCL_OK;
            break;
        }
        case 6: s = dytcl_model_step_stats(m, scratch, num(&in, 0, 64), byte(&in) % 8 ? scratch : NULL); break;
        case 7: s = dytcl_model_read_loss(m, scratch); break;
        case 8:
        case 9: {
            if (rows * V > sizeof scratch / sizeof *scratch) break;
            int32_t pred[64 * 8];
            s = op == 8 ? dytcl_model_read_logits(m, scratch) : dytcl_model_read_predictions(m, pred);
            for (size_t i = 0; !s && !weights_moved && op == 8 && i < rows * V; i++)
                if (!isfinite(scratch[i])) fail("accepted logits are not finite", op, s);
            for (size_t i = 0; !s && op == 9 && i < rows; i++)
                if (pred[i] < 0 || pred[i] >= V) fail("a prediction outside the classes", op, s);
            break;
        }
        case 10: s = dytcl_model_saturation(m, scratch, scratch + 8); break;
        case 11: s = dytcl_model_decode_begin(m); break;
        case 12: {
            int n = num(&in, -1, 9), pos = num(&in, -1, 9);
            if (n > 64) n = 64 + (n & 1); /* 65: past the array, which the gate must refuse before reading */
            s = dytcl_model_decode(m, ids, n, pos, byte(&in) % 8 ? scratch : NULL);
            break;
        }
        case 13: dytcl_model_decode_end(m); break;
        case 14: {
            dytcl_sampling sp = {real(&in), num(&in, -1, 5), real(&in), byte(&in)};
            int stop = num(&in, 1, 4);
            s = dytcl_model_generate(m, ids, num(&in, 0, 9), num(&in, -1, 6), byte(&in) % 8 ? &sp : NULL,
                                     (int)(byte(&in) & 1), stop_after, &stop);
            break;
        }
        case 15:
            s = dytcl_model_read_params(m, params);
            if (!s) s = dytcl_model_write_params(m, byte(&in) % 8 ? params : NULL);
            break;
        case 16:
            s = dytcl_model_read_opt(m, params, p2);
            if (!s) s = dytcl_model_write_opt(m, params, byte(&in) % 8 ? p2 : NULL);
            if (!s) s = dytcl_model_read_grads(m, params);
            break;
        case 17: s = dytcl_model_param_norm(m, scratch); break;
        case 18: {
            dytcl_model *f = NULL;
            s = dytcl_model_fold(m, &f);
            if (!s && (byte(&in) & 1)) dytcl_model_free(m), m = f, f = NULL;
            dytcl_model_free(f);
            break;
        }
        case 19: s = dytcl_model_set_weight_dtype(m, (dytcl_dtype)num(&in, 0, 4)); break;
        case 20: {
            size_t off = (size_t)num(&in, 0, 40), n = (size_t)num(&in, 0, 40);
            if (off + n > np && n <= np) off = np - n; /* in range, or wild (refused before any copy) */
            s = byte(&in) & 1 ? dytcl_model_read_grads_range(m, off, n, params)
                              : dytcl_model_write_grads_range(m, off, n, params);
            break;
        }
        case 21: {
            dytcl_model *l = NULL;
            s = dytcl_model_save(m, path, (int)(byte(&in) & 1), NULL);
            if (!s) s = dytcl_model_load(ctx, path, NULL, NULL, &l);
            if (!s) dytcl_model_free(m), m = l;
            remove(path);
            break;
        }
        case 22: s = null_call((int)byte(&in)), no_model = 1; break;
        default: s = dytcl_model_finish(m); break;
        }
        status_ok(s, op, no_model);
    }
    dytcl_model_free(m);
    free(params), free(p2);
    return 0;
}
