# XDM-style schemas (src/data/schema.h): parsing, record validation, evolution
# checks and SQL view columns. Needs simdjson::simdjson and rtml_common.
set(RTML_DATA_SCHEMA_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/schema.cc)
