// Hashing and randomness (OpenSSL): content addresses of model files and
// stored API-key hashes.
#pragma once

#include <string>
#include <string_view>

namespace rtml {

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// `bytes` cryptographically random bytes as lower-case hex.
std::string RandomHex(size_t bytes);

}  // namespace rtml
