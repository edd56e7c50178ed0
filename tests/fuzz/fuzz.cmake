# Fuzzing (included from tests/CMakeLists.txt and, with RTML_FUZZ=ON, from the
# top-level CMakeLists.txt). Targets: tests/fuzz/fuzz_targets.h.
#   rtml_fuzz_smoke       GCC, normal build: deterministic mutations over the
#                         seed corpus; ctest test fuzz_smoke (label unit).
#   rtml_fuzz_<target>    RTML_FUZZ=ON with clang: one libFuzzer binary per
#                         target (bench/fuzz.sh builds and runs them).
include_guard(GLOBAL)
set(RTML_FUZZ_DIR ${PROJECT_SOURCE_DIR}/tests/fuzz)
set(RTML_FUZZ_TARGETS onnx_model kserve_request row_request pipeline condition activity
    schema_record learner_snapshot features_json)

add_library(rtml_fuzz_targets STATIC ${RTML_FUZZ_DIR}/fuzz_targets.cc)
target_include_directories(rtml_fuzz_targets PUBLIC ${PROJECT_SOURCE_DIR}/tests
                           PRIVATE ${PROJECT_SOURCE_DIR}/tests/engine)
target_link_libraries(rtml_fuzz_targets PUBLIC rtml_serving rtml_decision rtml_pipeline rtml_data
                      rtml_learning rtml_engine simdjson::simdjson)
rtml_target_options(rtml_fuzz_targets)

if(NOT RTML_FUZZ)
  add_executable(rtml_fuzz_smoke ${RTML_FUZZ_DIR}/smoke_main.cc)
  target_link_libraries(rtml_fuzz_smoke PRIVATE rtml_fuzz_targets)
  target_compile_definitions(rtml_fuzz_smoke PRIVATE RTML_FUZZ_CORPUS_DIR="${RTML_FUZZ_DIR}/corpus")
  rtml_target_options(rtml_fuzz_smoke)
  # 2,000 mutated inputs per target plus the corpus replay: a few seconds in
  # Release, well under 30 s in the ASan Debug build.
  add_test(NAME fuzz_smoke COMMAND rtml_fuzz_smoke --target all --iterations 2000 --seed 1)
  set_tests_properties(fuzz_smoke PROPERTIES LABELS unit TIMEOUT 300)
else()
  # libFuzzer needs clang: -fsanitize=fuzzer links libclang_rt.fuzzer.
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "RTML_FUZZ=ON needs clang (e.g. CXX=clang++-14); got ${CMAKE_CXX_COMPILER_ID}")
  endif()
  # Coverage instrumentation and sanitizers on everything the targets reach.
  set(RTML_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer -g)
  foreach(lib rtml_common rtml_engine rtml_data rtml_pipeline rtml_training rtml_learning
          rtml_conditions rtml_decision rtml_serving rtml_fuzz_targets)
    target_compile_options(${lib} PRIVATE ${RTML_FUZZ_FLAGS})
  endforeach()
  foreach(t IN LISTS RTML_FUZZ_TARGETS)
    add_executable(rtml_fuzz_${t} ${RTML_FUZZ_DIR}/libfuzzer_main.cc)
    target_link_libraries(rtml_fuzz_${t} PRIVATE rtml_fuzz_targets)
    target_compile_definitions(rtml_fuzz_${t} PRIVATE RTML_FUZZ_TARGET_NAME="${t}")
    target_compile_options(rtml_fuzz_${t} PRIVATE ${RTML_FUZZ_FLAGS})
    target_link_options(rtml_fuzz_${t} PRIVATE -fsanitize=fuzzer,address,undefined)
    rtml_target_options(rtml_fuzz_${t})
    set_target_properties(rtml_fuzz_${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz)
  endforeach()
endif()
