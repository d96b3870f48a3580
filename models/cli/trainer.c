/* trainer.c -- the training loop of train and train-image (trainer.h). */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dist.h"
#include "signals.h"

/* Ends a progress line a terminal shows, before a message. */
static void clear_line(void)
{
    if (dist_rank() == 0 && isatty(2)) fprintf(stderr, "\r\033[K");
}

/* Where the last good checkpoint of this run is, for a run that stops early. */
static const char *last_good(const trainer_config *c, int saved_step, char *buf, size_t cap)
{
    const char *out = c->out ? c->out->path : "";
    if (!c->saves) snprintf(buf, cap, "no checkpoint: --out is empty");
    else if (saved_step < 0) snprintf(buf, cap, "no checkpoint was saved by this run; %s is not from it", out);
    else snprintf(buf, cap, "the last good checkpoint is %s, at step %d", out, saved_step);
    return buf;
}

int trainer_claim(trainer_files *tf, const char *who, int force, const char *out, const char *log,
                  int (*log_kind)(const char *path), const char *log_kind_name, int diag, const char *resume,
                  const char *const *in_opt, const char *const *in, int nin)
{
    char path[PATH_MAX + 16];
    outs_init(&tf->set, who, force);
    tf->out = outs_add(&tf->set, "--out", out, output_is_checkpoint, "a checkpoint");
    tf->log = outs_add(&tf->set, "--log", log, log_kind, log_kind_name);
    snprintf(path, sizeof path, "%s.diag.csv", log);
    tf->diag = diag && log[0] ? outs_add(&tf->set, "--log's diagnostics", path, output_is_diag_log,
                                         "a diagnostics log")
                              : NULL;
    for (int i = 0; i < nin; i++) outs_input(&tf->set, in_opt[i], in[i], NULL);
    outs_input(&tf->set, "--resume", resume, tf->out); /* resumed and replaced in place: allowed */
    return outs_claim(&tf->set);
}

int trainer_open_log(out_file *f, int resumed, int keep, const char *header)
{
    if (!f) return 0;
    if (resumed && out_log_keep(f, keep)) return 1;
    return out_open_log(f, resumed, header) ? 1 : 0;
}

int trainer_save(dytcl_model *m, const trainer_config *c, const trainer_source *src, int step)
{
    float norm;
    dytcl_ctx *ctx = dytcl_model_ctx(m);
    if (dytcl_model_param_norm(m, &norm)) return cli_error(c->who, 1, "%s", dytcl_last_error(ctx));
    if (!isfinite(norm))
        return cli_error(c->who, 1, "step %d: the parameters are no longer finite (norm %g); not saving over %s, "
                         "which keeps the last good checkpoint", step, norm, c->out->path);
    dytcl_meta md = {0};
    if (src->to_meta(src->self, &md, step)) {
        dytcl_meta_clear(&md);
        return cli_error(c->who, 1, "out of host memory for the checkpoint's metadata");
    }
    const char *staged = out_stage(c->out);
    int rc = 1;
    if (!staged) goto out;
    if (dytcl_model_save(m, staged, 1, &md) != DYTCL_OK) {
        out_unstage(c->out);
        cli_error(c->who, 1, "%s: %s", c->out->path, dytcl_last_error(ctx));
        goto out;
    }
    rc = out_commit(c->out) ? 1 : 0;
out:
    dytcl_meta_clear(&md);
    return rc;
}

int trainer_run(dytcl_model *m, const trainer_config *c, const trainer_source *src)
{
    const int N = dist_size(), total = c->optim.steps;
    float losses[64];
    char where[PATH_MAX + 128];
    double t_start = dytcl_now_ms();
    trainer_timing timing = {0, 0};
    int step = c->step0, rc = 1;
    /* the step of the checkpoint at --out that this run stands on: none yet,
     * unless it resumed from that very file */
    int saved_step = c->out_is_resume ? c->step0 : -1;
    trainer_step st = {0};
    signals_install(); /* from here a first SIGINT/SIGTERM ends the step and saves */
    while (step < total) {
        step++;
        double t_step = dytcl_now_ms();
        if (dytcl_model_zero_grad(m)) goto fail;
        for (int a = 0; a < c->accum; a++)
            /* each rank's mean over its rows, / N: the sum over the ranks is the batch's mean */
            if (src->forward(src->self, m, step, a) || dytcl_model_backward(m, 1.0f / (float)(c->accum * N)))
                goto fail;
        if (dist_allreduce_grads(m)) goto fail;
        float gnorm;
        if (dytcl_model_step(m, &c->optim, step) || dytcl_model_step_stats(m, losses, c->accum, &gnorm)) goto fail;
        double loss = 0;
        for (int a = 0; a < c->accum; a++) loss += losses[a] / c->accum;
        dist_sum(&loss, 1);
        loss /= N;
        if (step > c->step0 + 1) timing.step_ms += dytcl_now_ms() - t_step, timing.timed++;
        st.step = step, st.loss = loss, st.grad_norm = gnorm, st.lr = dytcl_lr_at(&c->optim, step);
        st.items += c->items_per_step;
        st.elapsed = (dytcl_now_ms() - t_start) / 1e3;
        /* the loss and the gradient norm are the same on every rank: all stop together */
        if (!isfinite(loss) || !isfinite(gnorm)) {
            clear_line();
            if (dist_rank() == 0)
                cli_error(c->who, 1, "step %d: the loss (%g) or gradient norm (%g) is not finite; stopping without "
                          "saving (%s)", step, loss, gnorm, last_good(c, saved_step, where, sizeof where));
            return 1;
        }
        int last = step == total || step == c->stop_at || (c->time_limit > 0 && st.elapsed >= c->time_limit);
        if (c->time_limit > 0) last = dist_bcast_int(last); /* rank 0's clock decides */
        int sig = signals_pending();
        if (N > 1) sig = dist_max_int(sig); /* a signal to any rank stops all */
        st.last = last | (sig != 0);
        st.evaluated = (c->eval_every > 0 && step % c->eval_every == 0) || (st.last && c->eval_last);
        if (st.evaluated && src->evaluate(src->self, m, &st)) goto fail;
        if (src->after_step(src->self, m, &st)) {
            dist_abort(1);
            return 1;
        }
        if (c->saves && ((c->save_every > 0 && step % c->save_every == 0) || st.last)) {
            int saved = !c->out || !trainer_save(m, c, src, step); /* rank 0 writes */
            if (!dist_all_ok(saved)) return 1;
            saved_step = step;
        }
        if (sig) { /* stopped at the end of this step; its checkpoint (if any) is complete */
            clear_line();
            if (dist_rank() == 0)
                cli_error(c->who, 128 + sig, "%s at step %d: stopped (%s)", signals_name(sig), step,
                          last_good(c, saved_step, where, sizeof where));
            return 128 + sig;
        }
        if (st.last) break;
    }
    rc = src->finish(src->self, m, step, &timing);
    if (rc) dist_abort(1);
    return rc;
fail:
    clear_line();
    cli_error(c->who, 1, "step %d: %s", step, dytcl_last_error(dytcl_model_ctx(m)));
    dist_abort(1); /* the other ranks may be waiting for this one */
    return 1;
}
