/* train_opts.h -- the options of `dytcl train`, from the command line and,
 * when resuming, from the checkpoint's metadata (so a resumed run continues
 * with the same settings unless a flag overrides them). */
#ifndef DYTCL_TRAIN_OPTS_H
#define DYTCL_TRAIN_OPTS_H

#include "dytcl_model.h"

typedef struct {
    dytcl_model_config model;
    char data[1024], out[1024], resume[1024], log[1024], tokenizer[1024];
    char init[1024];              /* --init: the model to fine-tune (a checkpoint or a Hugging Face directory) */
    char data_id[48];             /* the data's size and fingerprint (resume.h), saved in checkpoints */
    int force;                    /* --force: replace an existing --out/--log of another kind */
    int batch, seq, accum, steps, warmup, eval_every, eval_batches, diag_every, save_every, decay_norm;
    float lr, min_lr_frac, weight_decay, clip, beta2, val_fraction;
    double time_limit;            /* seconds; 0: none */
    int stop_at;                  /* stop after this step as if interrupted; 0: none */
    int steps_given, batch_given; /* --steps / --batch on the command line (else a resumed checkpoint's) */
    unsigned long long seed;
} train_opts;

/* Parses argv (argv[0] = "train"). Returns -1 when training should go on,
 * else the exit status (0 after --help, 2 for a usage error). When resuming
 * (or starting from --init), md receives the checkpoint's metadata. */
int train_opts_parse(int argc, char **argv, train_opts *o, dytcl_meta *md);
/* The options that matter for resuming, as metadata pairs. */
void train_opts_to_meta(const train_opts *o, dytcl_meta *md);

#endif
