# Placeholder until the conditions library lands (owned by its author).
set(RTML_DECISION_CONDITION_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/placeholder_conditions.cc)
