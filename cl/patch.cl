/* patch.cl -- images to patches and back, the gather before a ViT's patch
 * embedding (a linear layer over each flattened patch).
 *
 * images [B, C, H, W]; p divides H and W; the image has N = (H/p)(W/p)
 * patches, numbered row by row, each of F = C p p values ordered channel,
 * row, column (the layout of a torch Conv2d weight [E, C, p, p]):
 *   patches[b, n, (c p + i) p + j] = images[b, c, (n / (W/p)) p + i, (n % (W/p)) p + j]
 * Patches do not overlap, so the map is a permutation: back = 1 writes the
 * images from the patches (the backward), with no sums.
 * NDRange 2-D: global (F, B*N), any local size (checked). */
__kernel void patchify(__global float *patches, const int patches_off, __global float *images,
                       const int images_off, const int C, const int H, const int W, const int p, const int back)
{
    const int f = get_global_id(0), r = get_global_id(1); /* r = b*N + n */
    const int F = C * p * p, Wp = W / p, N = (H / p) * Wp;
    if (f >= F) return;
    const int b = r / N, n = r % N;
    const int c = f / (p * p), i = (f / p) % p, j = f % p;
    const int y = (n / Wp) * p + i, x = (n % Wp) * p + j;
    const size_t at_img = (((size_t)b * C + c) * H + y) * W + x, at_patch = (size_t)r * F + f;
    if (back) images[images_off + at_img] = patches[patches_off + at_patch];
    else patches[patches_off + at_patch] = images[images_off + at_img];
}
