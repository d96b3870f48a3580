/* fuzz_safetensors.c -- libFuzzer target for the safetensors reader: any
 * byte string is either refused with a status or parsed into tensors whose
 * every byte lies inside the input. Build and run: `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dytcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dytcl_st_file *f = NULL;
    if (dytcl_st_parse(data, size, &f) != DYTCL_OK) {
        if (f) __builtin_trap(); /* a refusal must not hand out a file */
        return 0;
    }
    volatile float sink = 0;
    for (int i = 0; i < dytcl_st_count(f); i++) {
        dytcl_st_tensor t;
        if (dytcl_st_tensor_at(f, i, &t) != DYTCL_OK) __builtin_trap();
        if (t.dtype == DYTCL_Q8) { /* I8: numel bytes as stored */
            if (t.data || (t.numel && !t.i8)) __builtin_trap();
            for (size_t j = 0; j < t.numel; j++) sink += t.i8[j];
        } else {
            for (size_t j = 0; j < t.numel; j++) {
                float v;
                memcpy(&v, (const char *)t.data + 4 * j, 4); /* ASan checks each read */
                sink += v;
            }
        }
        dytcl_st_tensor g;
        if (dytcl_st_get(f, t.name, &g) != DYTCL_OK) __builtin_trap();
    }
    dytcl_st_metadata(f, "config");
    dytcl_st_free(f);
    return 0;
}
