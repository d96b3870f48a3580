# Turns cl/*.cl into C: kernels_src.h (an enum of programs and the checked
# names of their kernels) and kernels_src.c (their sources as NUL-terminated
# byte arrays, and their names).
# Run as: cmake -DOUT_DIR=<dir> -DSOURCES="a.cl|b.cl" -DSHARED=<cl/shared.h> -DCC=<C compiler> -P embed_cl.cmake
#
# SHARED (constants the host includes too) is put in front of the first
# source (cl/common.cl, which the library prepends to every program), so
# host and kernels read the same numbers. The kernels of each program are
# found in its preprocessed source (kernels made by macros included), and
# each becomes  #define DY_KNAME_<PROG>_<kernel> "<kernel>":  the host names
# a kernel as DY_KERNEL(PROG, kernel), so one that does not exist is a
# compile error, not a run-time failure.
string(REPLACE "|" ";" SOURCES "${SOURCES}")
file(READ "${SHARED}" shared_text)
file(READ "${SHARED}" shared_hex HEX)
set(enum "")
set(arrays "")
set(names "")
set(table "")
set(knames "")
set(common_text "")
set(first 1)
foreach(src IN LISTS SOURCES)
  get_filename_component(name "${src}" NAME_WE)
  string(TOUPPER "${name}" upper)
  file(READ "${src}" text)
  if(first)
    set(text "${shared_text}\n${text}")
    set(common_text "${text}")
  else()
    set(text_all "${common_text}\n${text}")
  endif()
  # the kernels, as the OpenCL compiler will see them
  if(first)
    set(text_all "${text}")
  endif()
  file(WRITE "${OUT_DIR}/pp_${name}.c" "${text_all}")
  execute_process(COMMAND ${CC} -E -P -x c "${OUT_DIR}/pp_${name}.c"
                  OUTPUT_VARIABLE pp RESULT_VARIABLE rc ERROR_VARIABLE pp_err)
  file(REMOVE "${OUT_DIR}/pp_${name}.c")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "embed_cl: preprocessing ${src} failed: ${pp_err}")
  endif()
  string(REGEX MATCHALL "kernel[ \t\r\n]+void[ \t\r\n]+[A-Za-z_][A-Za-z0-9_]*" found "${pp}")
  string(APPEND knames "/* cl/${name}.cl */\n")
  foreach(k IN LISTS found)
    string(REGEX REPLACE ".*[ \t\r\n]([A-Za-z_][A-Za-z0-9_]*)$" "\\1" k "${k}")
    string(APPEND knames "#define DY_KNAME_${upper}_${k} \"${k}\"\n")
  endforeach()
  # the source itself (the bytes as they are: file(READ ... HEX))
  file(READ "${src}" hex HEX)
  if(first)
    set(hex "${shared_hex}0a${hex}")
  endif()
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n  " hex "${hex}")
  string(APPEND enum "    DY_PROG_${upper},\n")
  string(APPEND arrays "static const char src_${name}[] = {\n  ${hex}0x00};\n\n")
  string(APPEND names "    \"${name}\",\n")
  string(APPEND table "    src_${name},\n")
  set(first 0)
endforeach()
file(WRITE "${OUT_DIR}/kernels_src.h.tmp"
  "/* Generated from the cl/ sources by cmake/embed_cl.cmake: do not edit. */\n"
  "#ifndef DYTCL_KERNELS_SRC_H\n#define DYTCL_KERNELS_SRC_H\n"
  "typedef enum {\n${enum}    DY_PROG_COUNT\n} dy_prog_id;\n"
  "extern const char *const dy_prog_source[DY_PROG_COUNT];\n"
  "extern const char *const dy_prog_name[DY_PROG_COUNT];\n\n"
  "/* The kernels of each program (cl/common.cl's are in every one). */\n"
  "#define DY_KNAME(PROG, kernel) DY_KNAME_##PROG##_##kernel\n"
  "#define DY_KERNEL(PROG, kernel) DY_PROG_##PROG, DY_KNAME(PROG, kernel)\n"
  "${knames}#endif\n")
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
