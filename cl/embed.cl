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
 * adds its bucket's rows in that order. Cost: O(rows * C) adds, O(V) for
 * the serial scan, O(V * C) writes only when dwte is overwritten (a fill).
 *
 * Storage: out and dout are DT (LOAD / STORE, cl/common.cl), f32, f16 or
 * bf16 by the program's build; the tables wte, wpe and their gradients are
 * float. */

/* NDRange 2-D: global (C, rows), local (L, 1); _tail checks bounds. */
#define DEFINE_EMBED_FORWARD(NAME, GUARD)                                                      \
__kernel void NAME(__global DT *out, const int out_off, __global const int *tokens, const int tok_off, \
                   __global const float *wte, const int wte_off, __global const float *wpe,   \
                   const int wpe_off, const int has_pos, const int V, const int T, const int C) \
{                                                                                              \
    const int c = get_global_id(0), r = get_global_id(1);                                     \
    GUARD                                                                                      \
    const int tok = tokens[tok_off + r], ok = tok >= 0 && tok < V;                             \
    const float e = wte[wte_off + (ok ? tok : 0) * C + c];                                     \
    const float p = has_pos ? wpe[wpe_off + (r % T) * C + c] : 0.0f;                           \
    STORE(out, out_off + r * C + c, ok ? e + p : NAN);                                         \
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

/* starts[v] = counts[0] + ... + counts[v-1]; cursor[v] = 0; and the tokens
 * that occur, in order, right after cursor: present = cursor + V,
 * present[0] = how many, present[1..] = which. One work-item (a serial pass
 * over V ints). */
__kernel void embed_scan(__global int *starts, __global int *cursor, __global const int *counts, const int V)
{
    if (get_global_id(0) != 0) return;
    __global int *present = cursor + V;
    int at = 0, np = 0;
    for (int v = 0; v < V; v++) {
        starts[v] = at;
        cursor[v] = 0;
        at += counts[v];
        if (counts[v]) present[1 + np++] = v;
    }
    present[0] = np;
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

/* Sorts each bucket by row: insertion sort for short buckets (the usual
 * case, and on a CPU the scatter leaves them nearly sorted), heapsort past
 * 32 rows, so that one token filling the batch costs O(n log n), not
 * O(n^2), on a device whose atomics scatter in random order.
 * NDRange 1-D over V. */
inline void sift_down(__global int *b, int at, const int n)
{
    const int key = b[at];
    for (int child = 2 * at + 1; child < n; child = 2 * at + 1) {
        if (child + 1 < n && b[child + 1] > b[child]) child++;
        if (b[child] <= key) break;
        b[at] = b[child];
        at = child;
    }
    b[at] = key;
}

__kernel void embed_sort(__global int *bucket_rows, __global const int *starts, __global const int *counts,
                         const int V)
{
    const int v = get_global_id(0);
    if (v >= V) return;
    __global int *b = bucket_rows + starts[v];
    const int n = counts[v];
    if (n > 32) {
        for (int i = n / 2 - 1; i >= 0; i--) sift_down(b, i, n);
        for (int end = n - 1; end > 0; end--) {
            const int top = b[0];
            b[0] = b[end];
            b[end] = top;
            sift_down(b, 0, end);
        }
        return;
    }
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

/* dwte[v, c] += the bucket's rows of dout, in row order, for the tokens
 * that occur (the host zeroes dwte first when not accumulating): the work
 * is the rows, not the vocabulary. NDRange 2-D: global (C, an upper bound
 * on the tokens present), local (L, 1). */
__kernel void embed_accumulate(__global float *dwte, const int dwte_off, __global const DT *dout,
                               const int dout_off, __global const int *bucket_rows, __global const int *starts,
                               __global const int *counts, __global const int *present, const int present_off,
                               const int C)
{
    present += present_off;
    const int c = get_global_id(0), k = get_global_id(1);
    if (c >= C || k >= present[0]) return;
    const int v = present[1 + k];
    __global const int *b = bucket_rows + starts[v];
    float s = 0.0f;
    for (int i = 0; i < counts[v]; i++) s += LOAD(dout, dout_off + b[i] * C + c);
    dwte[dwte_off + v * C + c] += s;
}
