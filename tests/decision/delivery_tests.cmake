# Unit tests of the delivery component (rtml_decision): activity parsing,
# decision features, decisions, feedback, the reward window, the learning
# loop across restarts, reports, durability and concurrency (included from
# tests/CMakeLists.txt). Each test uses its own SQLite files in a temp dir.
add_executable(rtml_delivery_tests
  ${CMAKE_CURRENT_LIST_DIR}/activity_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/features_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/delivery_test.cc)
target_link_libraries(rtml_delivery_tests PRIVATE rtml_decision nlohmann_json::nlohmann_json GTest::gmock GTest::gtest_main)
rtml_target_options(rtml_delivery_tests)
gtest_discover_tests(rtml_delivery_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
