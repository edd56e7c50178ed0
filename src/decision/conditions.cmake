# Sources of rtml_conditions (the condition language and traffic allocation);
# included from src/decision/CMakeLists.txt, which defines the target.
set(RTML_DECISION_CONDITION_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/condition.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/condition_compile.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/condition_regex.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/allocation.cc
)
