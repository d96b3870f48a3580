/* trainer.h -- the training loop `dytcl train` and `dytcl train-image`
 * share: each step zero_grad, `accum` micro-batches of forward (the
 * command's data source) and backward, the gradients summed over the ranks
 * (dist.h), global-norm clipping and AdamW at dytcl_lr_at's rate, one read
 * of the step's losses and gradient norm; evaluation every eval_every steps
 * (and at the last, when eval_last), a checkpoint every save_every steps and
 * at the last, through the output module (outputs.h). The last step is the
 * total, --stop-at, the time limit, or the end of the step under way when a
 * SIGINT/SIGTERM came: then the run saves, says where the last good
 * checkpoint is and returns 128 + the signal. A loss or gradient norm that
 * is not finite stops the run without saving (1).
 *
 * What differs between the commands is the data source and what it prints
 * and logs: trainer_source's callbacks. */
#ifndef DYTCL_CLI_TRAINER_H
#define DYTCL_CLI_TRAINER_H

#include "dytcl_model.h"
#include "outputs.h"

/* One step's outcome, as the source's callbacks see it. */
typedef struct {
    int step;          /* 1-based, just done */
    double loss;       /* mean over the micro-batches and the ranks */
    float grad_norm;
    float lr;          /* the schedule's rate at this step */
    double elapsed;    /* seconds since this run's first step began */
    double items;      /* items (tokens, images) this run trained on so far */
    int evaluated;     /* the source's evaluate ran after this step */
    int last;          /* no step follows in this run */
} trainer_step;

/* The mean time of the steps after this run's first (which compiles kernels). */
typedef struct {
    double step_ms; /* summed */
    int timed;
} trainer_timing;

typedef struct {
    void *self;
    /* Draws micro-batch `micro` of step `step` and runs the forward pass
     * (the loss stays in the model). 0, or -1 (the reason in dytcl_last_error). */
    int (*forward)(void *self, dytcl_model *m, int step, int micro);
    /* Evaluation after step st->step (every rank). 0, or -1 (as forward). */
    int (*evaluate)(void *self, dytcl_model *m, const trainer_step *st);
    /* After every step, every rank: progress, log rows, diagnostics. 0, or 1
     * after reporting a failure (a log that cannot be written). */
    int (*after_step)(void *self, dytcl_model *m, const trainer_step *st);
    /* The run's state and options for a checkpoint at step. 0, or -1 (out of memory). */
    int (*to_meta)(void *self, dytcl_meta *md, int step);
    /* The run trained to step and stopped there without a signal. 0, or 1. */
    int (*finish)(void *self, dytcl_model *m, int step, const trainer_timing *t);
} trainer_source;

typedef struct {
    const char *who;
    dytcl_model_optim optim;   /* .steps: the total */
    int step0;                 /* the resumed checkpoint's step (0: a new run) */
    int accum;                 /* micro-batches per step */
    int eval_every, eval_last; /* evaluate every N steps (0: never), and after the last */
    int save_every;            /* checkpoint every N steps (0: only after the last) */
    int saves;                 /* whether the run saves at all (every rank agrees) */
    out_file *out;             /* the checkpoint (rank 0), else NULL */
    int out_is_resume;         /* --out is the checkpoint it resumed from */
    int stop_at;               /* stop after this step as if interrupted (0: none) */
    double time_limit;         /* seconds (0: none) */
    double items_per_step;     /* over all ranks */
} trainer_config;

/* The files of a training run, claimed before any work (outputs.h): the
 * checkpoint --out (the --resume file may be it: replaced in place), the
 * log --log of log_kind, its diagnostics LOG.diag.csv when `diag` (each "":
 * none), and the inputs in[0..nin) given as in_opt[i] (then --resume). */
typedef struct {
    outs set;
    out_file *out, *log, *diag;
} trainer_files;

int trainer_claim(trainer_files *tf, const char *who, int force, const char *out, const char *log,
                  int (*log_kind)(const char *path), const char *log_kind_name, int diag, const char *resume,
                  const char *const *in_opt, const char *const *in, int nin);

/* A log at the start of a run: a new file with its header, or, resumed
 * (`keep`: the last row to keep, by its first column), the rows up to it
 * kept and the rest appended. NULL f: nothing. 0, or 1 (reported). */
int trainer_open_log(out_file *f, int resumed, int keep, const char *header);

/* Trains from c->step0 + 1 to the last step. 0, 1 (reported), or 128 + the signal. */
int trainer_run(dytcl_model *m, const trainer_config *c, const trainer_source *src);

/* Saves m with its AdamW state and src's metadata at step to out (staged,
 * then renamed over it). 0, or 1 (reported). */
int trainer_save(dytcl_model *m, const trainer_config *c, const trainer_source *src, int step);

#endif
