/* ref_model.h -- a float64 CPU forward pass of the decoder-only transformer
 * that models/model.h describes, written independently of models/model.c,
 * for test_model.c (logits, loss, and gradients by finite differences). */
#ifndef DYTCL_REF_MODEL_H
#define DYTCL_REF_MODEL_H

#include <stdint.h>

#include "dytcl_model.h"

/* The mean cross-entropy over the rows whose target is not -1 (0 when all
 * are ignored) of the model c with parameters params (flat, in
 * dytcl_model_param_table's layout and order), on tokens [B*T]; targets [B*T].
 * logits [B*T, V] receives the logits when not NULL. Unfolded models only. */
double ref_model_loss(const dytcl_model_config *c, const double *params, const int32_t *tokens, const int32_t *targets,
                      int B, int T, double *logits);

#endif
