/* embed.cl -- token (and position) embeddings, forward and backward.
 *
 * tokens [rows] are int32; rows = B*T, row r at position r % T.
 *   forward   out[r, :] = wte[tokens[r], :] (+ wpe[r % T, :])
 *   backward  dwte[v, :] (+)= sum over rows r with tokens[r] == v of dout[r, :]
 * A token outside [0, V) gives a row of NaN in the forward (the loss turns NaN
 * and training stops) and is skipped in the backward: never an out-of-bounds
 * access.
 *
 * The backward is deterministic without float atomics: the rows of each token
 * are gathered into a bucket (a counting sort with integer atomics, whose
 * counts are exact), each bucket is sorted by row, and each (token, channel)
 * adds its bucket's rows in that order. */

/* NDRange 2-D: global (C, rows), local (L, 1); _tail checks bounds. */
#define DEFINE_EMBED_FORWARD(NAME, GUARD)                                                      \
__kernel void NAME(__global float *out, const int out_off, __global const int *tokens, const int tok_off, \
                   __global const float *wte, const int wte_off, __global const float *wpe,   \
                   const int wpe_off, const int has_pos, const int V, const int T, const int C) \
{                                                                                              \
    const int c = get_global_id(0), r = get_global_id(1);                                     \
    GUARD                                                                                      \
    const int tok = tokens[tok_off + r], ok = tok >= 0 && tok < V;                             \
    const float e = wte[wte_off + (ok ? tok : 0) * C + c];                                     \
    const float p = has_pos ? wpe[wpe_off + (r % T) * C + c] : 0.0f;                           \
    out[out_off + r * C + c] = ok ? e + p : NAN;                                               \
}
DEFINE_EMBED_FORWARD(embed_forward, )
DEFINE_EMBED_FORWARD(embed_forward_tail, if (c >= C) return;)

/* counts[tokens[r]] += 1. NDRange 1-D over rows. counts start at 0. */
__kernel void embed_count(__global int *counts, __global const int *tokens, const int tok_off, const int V,
                          const int rows)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int tok = tokens[tok_off + r];
    if (tok >= 0 && tok < V) atomic_inc(&counts[tok]);
}

/* starts[v] = counts[0] + ... + counts[v-1]; cursor[v] = 0. One work-item. */
__kernel void embed_scan(__global int *starts, __global int *cursor, __global const int *counts, const int V)
{
    if (get_global_id(0) != 0) return;
    int at = 0;
    for (int v = 0; v < V; v++) {
        starts[v] = at;
        cursor[v] = 0;
        at += counts[v];
    }
}

/* Puts each row into its token's bucket (in any order). NDRange 1-D over rows. */
__kernel void embed_scatter(__global int *bucket_rows, __global int *cursor, __global const int *starts,
                            __global const int *tokens, const int tok_off, const int V, const int rows)
{
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int tok = tokens[tok_off + r];
    if (tok >= 0 && tok < V) bucket_rows[starts[tok] + atomic_inc(&cursor[tok])] = r;
}

/* Sorts each bucket by row (insertion sort: buckets are short, and already
 * nearly sorted). NDRange 1-D over V. */
__kernel void embed_sort(__global int *bucket_rows, __global const int *starts, __global const int *counts,
                         const int V)
{
    const int v = get_global_id(0);
    if (v >= V) return;
    __global int *b = bucket_rows + starts[v];
    const int n = counts[v];
    for (int i = 1; i < n; i++) {
        const int key = b[i];
        int j = i - 1;
        while (j >= 0 && b[j] > key) {
            b[j + 1] = b[j];
            j--;
        }
        b[j + 1] = key;
    }
}

/* dwte[v, c] (+)= the bucket's rows of dout, in row order.
 * NDRange 2-D: global (C, V), local (L, 1). */
__kernel void embed_accumulate(__global float *dwte, const int dwte_off, __global const float *dout,
                               const int dout_off, __global const int *bucket_rows, __global const int *starts,
                               __global const int *counts, const int C, const int V, const int accumulate)
{
    const int c = get_global_id(0), v = get_global_id(1);
    if (c >= C || v >= V) return;
    __global const int *b = bucket_rows + starts[v];
    float s = 0.0f;
    for (int i = 0; i < counts[v]; i++) s += dout[dout_off + b[i] * C + c];
    __global float *d = dwte + dwte_off + v * C + c;
    *d = accumulate ? *d + s : s;
}
