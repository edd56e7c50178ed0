# Unit tests of the pipeline component (included from tests/CMakeLists.txt).
# alloc_counter.cc replaces operator new to count row-mode allocations; it is
# left out of sanitizer builds, where the allocation test skips itself.
add_executable(rtml_pipeline_tests
  ${CMAKE_CURRENT_LIST_DIR}/pipeline_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/../engine/alloc_counter.cc)
target_link_libraries(rtml_pipeline_tests PRIVATE rtml_pipeline GTest::gmock GTest::gtest_main)
target_include_directories(rtml_pipeline_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../engine)
if(NOT RTML_SANITIZE)
  target_compile_definitions(rtml_pipeline_tests PRIVATE RTML_ALLOC_COUNTER)
endif()
rtml_target_options(rtml_pipeline_tests)
gtest_discover_tests(rtml_pipeline_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
