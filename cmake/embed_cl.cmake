# Turns cl/*.cl into C: kernels_src.h (an enum of programs) and kernels_src.c
# (their sources as NUL-terminated byte arrays, and their names).
# Run as: cmake -DOUT_DIR=<dir> -DSOURCES="a.cl|b.cl" -P embed_cl.cmake
string(REPLACE "|" ";" SOURCES "${SOURCES}")
set(enum "")
set(arrays "")
set(names "")
set(table "")
foreach(src IN LISTS SOURCES)
  get_filename_component(name "${src}" NAME_WE)
  string(TOUPPER "${name}" upper)
  file(READ "${src}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n  " hex "${hex}")
  string(APPEND enum "    DY_PROG_${upper},\n")
  string(APPEND arrays "static const char src_${name}[] = {\n  ${hex}0x00};\n\n")
  string(APPEND names "    \"${name}\",\n")
  string(APPEND table "    src_${name},\n")
endforeach()
file(WRITE "${OUT_DIR}/kernels_src.h.tmp"
  "/* Generated from the cl/ sources by cmake/embed_cl.cmake: do not edit. */\n"
  "#ifndef DYTCL_KERNELS_SRC_H\n#define DYTCL_KERNELS_SRC_H\n"
  "typedef enum {\n${enum}    DY_PROG_COUNT\n} dy_prog_id;\n"
  "extern const char *const dy_prog_source[DY_PROG_COUNT];\n"
  "extern const char *const dy_prog_name[DY_PROG_COUNT];\n#endif\n")
file(WRITE "${OUT_DIR}/kernels_src.c.tmp"
  "/* Generated from the cl/ sources by cmake/embed_cl.cmake: do not edit. */\n"
  "#include \"kernels_src.h\"\n\n${arrays}"
  "const char *const dy_prog_source[DY_PROG_COUNT] = {\n${table}};\n"
  "const char *const dy_prog_name[DY_PROG_COUNT] = {\n${names}};\n")
# Replace only when changed, so that an unchanged kernel rebuilds nothing.
foreach(f kernels_src.h kernels_src.c)
  execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT_DIR}/${f}.tmp" "${OUT_DIR}/${f}")
  file(REMOVE "${OUT_DIR}/${f}.tmp")
endforeach()
