# Unit tests of the training component (XGBoost training, ONNX export,
# metrics). Include from tests/CMakeLists.txt after GTest is found.
add_executable(rtml_training_tests ${CMAKE_CURRENT_LIST_DIR}/trainer_test.cc)
target_link_libraries(rtml_training_tests PRIVATE rtml_training GTest::gmock GTest::gtest_main)
rtml_target_options(rtml_training_tests)
gtest_discover_tests(rtml_training_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
