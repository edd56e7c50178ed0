# Unit tests of the condition language and traffic allocation (included from
# tests/CMakeLists.txt). alloc_counter.cc replaces operator new to prove that
# Evaluate does not allocate; it is left out of sanitizer builds, where the
# allocation tests skip themselves.
add_executable(rtml_condition_tests
  ${CMAKE_CURRENT_LIST_DIR}/condition_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/allocation_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/../engine/alloc_counter.cc)
target_link_libraries(rtml_condition_tests PRIVATE rtml_conditions GTest::gmock GTest::gtest_main)
target_include_directories(rtml_condition_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../engine)
if(NOT RTML_SANITIZE)
  target_compile_definitions(rtml_condition_tests PRIVATE RTML_ALLOC_COUNTER)
endif()
rtml_target_options(rtml_condition_tests)
gtest_discover_tests(rtml_condition_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
