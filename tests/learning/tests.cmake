# Unit tests of the learning component (included from tests/CMakeLists.txt).
file(GLOB LEARNING_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*_test.cc)
add_executable(rtml_learning_tests ${LEARNING_TEST_SOURCES})
target_link_libraries(rtml_learning_tests PRIVATE rtml_learning GTest::gmock GTest::gtest_main)
rtml_target_options(rtml_learning_tests STRICT)
gtest_discover_tests(rtml_learning_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
