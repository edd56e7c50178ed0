# rtml_target_options(<target> [STRICT])
# Warnings are set per target, never through global flags. STRICT adds
# -Wconversion for components written to that standard.
function(rtml_target_options target)
  cmake_parse_arguments(ARG "STRICT" "" "" ${ARGN})
  # -Wno-restrict: GCC 12 false positives inside libstdc++ string code (GCC bug 105329).
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wpedantic -Wno-restrict)
  if(ARG_STRICT)
    target_compile_options(${target} PRIVATE -Wconversion -Wno-sign-conversion)
  endif()
  if(RTML_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(RTML_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
