// Little-endian byte encoding and CRC-32 for learner snapshots (private to
// the learning component). Doubles are written as their IEEE-754 bit
// patterns, so a round trip is bit-exact.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

namespace rtml::learning::internal {

// CRC-32 (ISO-HDLC / zlib polynomial 0xEDB88320, reflected, init and final
// xor 0xFFFFFFFF); CRC-32 of "123456789" is 0xCBF43926.
uint32_t Crc32(std::string_view data);

class ByteWriter {
 public:
  explicit ByteWriter(std::string& out) : out_(out) {}
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void F64(double v) { Le(std::bit_cast<uint64_t>(v), 8); }
  void Bytes(std::string_view b) { out_.append(b); }

 private:
  void Le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  std::string& out_;
};

// Reads from a bounded buffer; every read checks the remaining length and
// sets a sticky failure instead of reading past the end.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  uint32_t U32() { return static_cast<uint32_t>(Le(4)); }
  uint64_t U64() { return Le(8); }
  double F64() { return std::bit_cast<double>(Le(8)); }
  std::string_view Bytes(size_t n) {
    if (!ok_ || remaining() < n) {
      ok_ = false;
      return {};
    }
    std::string_view b = in_.substr(pos_, n);
    pos_ += n;
    return b;
  }

 private:
  uint64_t Le(int n) {
    if (!ok_ || remaining() < static_cast<size_t>(n)) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      v |= static_cast<uint64_t>(static_cast<unsigned char>(in_[pos_ + static_cast<size_t>(i)]))
           << (8 * i);
    }
    pos_ += static_cast<size_t>(n);
    return v;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace rtml::learning::internal
