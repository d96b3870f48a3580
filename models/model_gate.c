/* model_gate.c -- the checks every public model call makes before it does
 * anything, in one place: the handle, the arch, the call order (a state
 * machine, below), pointers, token ids and labels, sampling and optimiser
 * settings, decoding positions. A refused call returns
 * DYTCL_ERR_INVALID_ARG (a bad argument) or DYTCL_ERR_CALL_ORDER (a call out
 * of order), with a message naming the call and the reason, and changes
 * nothing.
 *
 * The order a model's calls must keep (m->gate):
 *
 *   set_batch          new activations: nothing computed in them yet
 *   forward(_images)   ran = 1, logits = 1; with targets: targets = 1 and
 *                      one more loss since zero_grad
 *   read_logits, read_predictions   need logits (a forward since set_batch,
 *                      not consumed by backward)
 *   backward           needs targets (a forward with targets, not yet
 *                      consumed); consumes the logits (turned into their
 *                      gradient in place)
 *   read_loss          needs a loss since zero_grad, from the last forward
 *                      (one without targets, or a new batch, has none)
 *   step               stepped = 1
 *   step_stats(n)      needs a step since zero_grad and n losses
 *   zero_grad          losses = 0, stepped = 0
 *   saturation         needs ran
 *   decode_begin       decoding (refused while decoding); decoded = 0
 *   decode(pos, n)     needs decoding and pos <= decoded (no gap in the
 *                      cache); decoded = pos + n; logits = (n == 1): of n
 *                      new rows only the last one's logits are computed
 *   decode_end         not decoding
 *   forward, generate  refused while decoding (generate begins and ends
 *                      its own session) */
#include <math.h>
#include <stdio.h>

#include "model_internal.h"

/* ------------------------------------------------------------ the gate */

dytcl_status dy_gate(const dytcl_model *m, const char *fn, unsigned need)
{
    if (!m) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "%s: the model is NULL", fn);
    dytcl_ctx *ctx = m->ctx;
    const dy_gate_state *g = &m->gate;
    int vit = m->c.arch == DYTCL_ARCH_VIT;
    if ((need & DY_NEED_LM) && vit)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s: for language models only (the model is a vit)", fn);
    if ((need & DY_NEED_VIT) && !vit)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s: the model is %s, not a vit", fn, dytcl_arch_name(m->c.arch));
    if ((need & DY_NEED_IDLE) && m->kv)
        return dy_fail(ctx, DYTCL_ERR_CALL_ORDER, "%s: the model is decoding (dytcl_model_decode_end first)", fn);
    if ((need & DY_NEED_DECODING) && !m->kv)
        return dy_fail(ctx, DYTCL_ERR_CALL_ORDER, "%s: no decoding session (dytcl_model_decode_begin first)", fn);
    if ((need & DY_NEED_BATCH) && !m->acts)
        return dy_fail(ctx, DYTCL_ERR_CALL_ORDER, "%s: no batch yet (dytcl_model_set_batch first)", fn);
    if ((need & DY_NEED_RAN) && !g->ran)
        return dy_fail(ctx, DYTCL_ERR_CALL_ORDER, "%s: no forward pass since the batch was set", fn);
    if ((need & DY_NEED_LOGITS) && !g->logits)
        return dy_fail(ctx, DYTCL_ERR_CALL_ORDER,
                       "%s: no logits to read (they come from a forward pass, and a backward consumes them)", fn);
    if ((need & DY_NEED_TARGETS) && !g->targets)
        return dy_fail(ctx, DYTCL_ERR_CALL_ORDER,
                       "%s: needs a forward with targets first (each forward takes one backward)", fn);
    if ((need & DY_NEED_LOSS) && !g->losses)
        return dy_fail(ctx, DYTCL_ERR_CALL_ORDER, "%s: no loss computed since dytcl_model_zero_grad", fn);
    if ((need & DY_NEED_LOSS) && !g->loss)
        return dy_fail(ctx, DYTCL_ERR_CALL_ORDER,
                       "%s: the last forward computed no loss (it had no targets, or the batch was set since)", fn);
    if ((need & DY_NEED_STEP) && !g->stepped)
        return dy_fail(ctx, DYTCL_ERR_CALL_ORDER, "%s: no dytcl_model_step since dytcl_model_zero_grad", fn);
    return DYTCL_OK;
}

dytcl_status dy_gate_ptr(const dytcl_model *m, const char *fn, const void *p, const char *name)
{
    if (p) return DYTCL_OK;
    return dy_fail(m ? m->ctx : NULL, DYTCL_ERR_INVALID_ARG, "%s: %s is NULL", fn, name);
}

dytcl_status dy_gate_ids(const dytcl_model *m, const char *fn, const char *what, const int32_t *ids, size_t n,
                         int allow_ignored)
{
    int V = m->V;
    for (size_t i = 0; i < n; i++)
        if ((ids[i] < 0 || ids[i] >= V) && !(allow_ignored && ids[i] == -1))
            return dy_fail(m->ctx, DYTCL_ERR_INVALID_ARG, "%s: %s[%zu] is %d, outside [0, %d)%s", fn, what, i,
                           (int)ids[i], V, allow_ignored ? " (-1: ignored)" : "");
    return DYTCL_OK;
}

dytcl_status dy_gate_decode(const dytcl_model *m, const char *fn, int n, int pos)
{
    if (n < 1 || pos < 0 || n > m->c.max_seq || pos > m->c.max_seq - n)
        return dy_fail(m->ctx, DYTCL_ERR_INVALID_ARG,
                       "%s: %d tokens at position %d do not fit positions 0..%d (max_seq %d)", fn, n, pos,
                       m->c.max_seq - 1, m->c.max_seq);
    if (pos > m->gate.decoded)
        return dy_fail(m->ctx, DYTCL_ERR_INVALID_ARG,
                       "%s: position %d leaves a gap: the cache holds positions 0..%d (pos must be at most %d)", fn,
                       pos, m->gate.decoded - 1, m->gate.decoded);
    return DYTCL_OK;
}

dytcl_status dy_gate_sampling(dytcl_ctx *ctx, const char *fn, const dytcl_sampling *s)
{
    if (!s) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "%s: the sampling options are NULL", fn);
    if (!(s->temperature >= 0) || !isfinite(s->temperature) || s->top_k < 0 || !(s->top_p >= 0 && s->top_p <= 1))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG,
                       "%s: sampling needs a finite temperature >= 0, top_k >= 0 and 0 <= top_p <= 1 (temperature "
                       "%g, top_k %d, top_p %g)", fn, (double)s->temperature, s->top_k, (double)s->top_p);
    return DYTCL_OK;
}

dytcl_status dy_gate_optim(const dytcl_model *m, const char *fn, const dytcl_model_optim *o, int step)
{
    if (!o || step < 1)
        return dy_fail(m->ctx, DYTCL_ERR_INVALID_ARG, "%s: needs an optimiser and step >= 1 (step %d)", fn, step);
    int ok = isfinite(o->lr) && o->lr >= 0 && isfinite(o->min_lr_frac) && o->min_lr_frac >= 0 &&
             o->min_lr_frac <= 1 && o->warmup >= 0 && o->steps >= 0 && o->beta1 >= 0 && o->beta1 < 1 &&
             o->beta2 >= 0 && o->beta2 < 1 && isfinite(o->eps) && o->eps >= 0 && isfinite(o->weight_decay) &&
             o->weight_decay >= 0 && isfinite(o->clip) && o->clip >= 0;
    if (ok) return DYTCL_OK;
    return dy_fail(m->ctx, DYTCL_ERR_INVALID_ARG,
                   "%s: the optimiser needs finite lr, eps, weight_decay, clip >= 0, 0 <= min_lr_frac <= 1, "
                   "warmup and steps >= 0, betas in [0, 1) (lr %g, min_lr_frac %g, warmup %d, steps %d, betas %g %g, "
                   "eps %g, weight_decay %g, clip %g)",
                   fn, (double)o->lr, (double)o->min_lr_frac, o->warmup, o->steps, (double)o->beta1,
                   (double)o->beta2, (double)o->eps, (double)o->weight_decay, (double)o->clip);
}

/* --------------------------------------------------------- what happened */

void dy_gate_batch(dytcl_model *m)
{
    m->gate.ran = m->gate.logits = m->gate.targets = m->gate.loss = 0;
}

void dy_gate_forward(dytcl_model *m, int done, int targets)
{
    dy_gate_state *g = &m->gate;
    g->ran = g->logits = done;
    g->targets = g->loss = done && targets;
    if (done && targets && g->losses < LOSS_SLOTS) g->losses++;
}

void dy_gate_backward(dytcl_model *m) { m->gate.logits = m->gate.targets = 0; }

void dy_gate_zero_grad(dytcl_model *m) { m->gate.losses = m->gate.stepped = 0; }

void dy_gate_step(dytcl_model *m, int done) { m->gate.stepped = done; }

void dy_gate_decoded(dytcl_model *m, int upto) { m->gate.decoded = upto; }
