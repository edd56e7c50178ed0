// ConditionRegex: a recursive-descent parser from the pattern to a small
// syntax tree, code generation into Thompson NFA instructions (Thompson 1968;
// the layout follows Russ Cox, "Regular Expression Matching: the Virtual
// Machine Approach", 2009), and a capture-free Pike VM over fixed buffers.
#include "decision/condition_regex.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace rtml::decision {

using Opcode = ConditionRegex::Opcode;
using Assertion = ConditionRegex::Assertion;
using Instruction = ConditionRegex::Instruction;
using Range = ConditionRegex::Range;
using CharClass = ConditionRegex::CharClass;

namespace {

static_assert(kMaxRegexInstructions <= 0xFFFF, "program counters are 16-bit in the VM");

// Bytes that are not valid UTF-8 decode to kInvalidByteBase + byte: outside
// Unicode, so only `.` and negated classes match them.
constexpr uint32_t kInvalidByteBase = 0x110000;
constexpr uint32_t kMaxSymbol = kInvalidByteBase + 0xFF;
constexpr uint32_t kNoChar = 0xFFFFFFFF;  // before the start / after the end

uint32_t ContinuationBits(std::string_view s, size_t at) {
  if (at >= s.size()) return kNoChar;
  const auto b = static_cast<unsigned char>(s[at]);
  return (b & 0xC0) == 0x80 ? (b & 0x3Fu) : kNoChar;
}

// Decodes the UTF-8 sequence at s[*pos] and advances *pos past it.
uint32_t DecodeUtf8(std::string_view s, size_t* pos) {
  const auto lead = static_cast<unsigned char>(s[*pos]);
  int extra = 0;
  uint32_t cp = lead;
  uint32_t min = 0;
  if (lead >= 0xF0 && lead <= 0xF4) {
    extra = 3, cp = lead & 0x07u, min = 0x10000;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    extra = 2, cp = lead & 0x0Fu, min = 0x800;
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    extra = 1, cp = lead & 0x1Fu, min = 0x80;
  } else if (lead >= 0x80) {
    ++*pos;
    return kInvalidByteBase + lead;
  }
  for (int i = 1; i <= extra; ++i) {
    const uint32_t bits = ContinuationBits(s, *pos + static_cast<size_t>(i));
    if (bits == kNoChar) {
      ++*pos;
      return kInvalidByteBase + lead;
    }
    cp = (cp << 6) | bits;
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++*pos;
    return kInvalidByteBase + lead;
  }
  *pos += static_cast<size_t>(extra) + 1;
  return cp;
}

uint32_t FoldAscii(uint32_t cp) { return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp; }

uint32_t SwapAsciiCase(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp >= 'a' && cp <= 'z') return cp - 32;
  return cp;
}

bool IsWordChar(uint32_t cp) {
  return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') ||
         cp == '_';
}

bool IsLineTerminator(uint32_t cp) {
  return cp == '\n' || cp == '\r' || cp == 0x2028 || cp == 0x2029;
}

const std::vector<Range>& DigitRanges() {
  static const std::vector<Range> kRanges = {{'0', '9'}};
  return kRanges;
}
const std::vector<Range>& WordRanges() {
  static const std::vector<Range> kRanges = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
  return kRanges;
}
// ECMAScript WhiteSpace and LineTerminator.
const std::vector<Range>& SpaceRanges() {
  static const std::vector<Range> kRanges = {
      {0x09, 0x0D}, {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
      {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
  return kRanges;
}

void Normalize(std::vector<Range>* ranges) {
  std::sort(ranges->begin(), ranges->end(),
            [](const Range& a, const Range& b) { return a.lo < b.lo; });
  std::vector<Range> merged;
  for (const Range& r : *ranges) {
    if (!merged.empty() && r.lo <= merged.back().hi + 1) {
      merged.back().hi = std::max(merged.back().hi, r.hi);
    } else {
      merged.push_back(r);
    }
  }
  *ranges = std::move(merged);
}

// Appends the complement of the sorted, disjoint `set` over [0, kMaxSymbol].
void AppendComplement(const std::vector<Range>& set, std::vector<Range>* out) {
  uint32_t next = 0;
  for (const Range& r : set) {
    if (r.lo > next) out->push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= kMaxSymbol) out->push_back({next, kMaxSymbol});
}

struct RegexNode {
  enum class Kind : uint8_t { kEmpty, kChar, kAny, kClass, kAssert, kConcat, kAlternate, kRepeat };
  Kind kind = Kind::kEmpty;
  uint32_t value = 0;  // kChar: code point; kClass: class index; kAssert: Assertion
  int min = 0;
  int max = 0;  // kRepeat; -1 = unbounded
  std::vector<RegexNode> children;
};

RegexNode Leaf(RegexNode::Kind kind, uint32_t value = 0) {
  RegexNode n;
  n.kind = kind;
  n.value = value;
  return n;
}

}  // namespace

// Parses the pattern and generates the program of one ConditionRegex.
class RegexCompiler {
 public:
  RegexCompiler(std::string_view pattern, ConditionRegex* out) : pattern_(pattern), out_(out) {}

  Status Run() {
    ASSIGN_OR_RETURN(RegexNode root, ParseAlternation(0));
    if (pos_ < pattern_.size()) return InvalidArgumentError("unmatched ')'");
    RETURN_IF_ERROR(Emit(root));
    return Add({Opcode::kMatch}).status();
  }

 private:
  bool AtEnd() const { return pos_ >= pattern_.size(); }
  char Peek() const { return pattern_[pos_]; }

  StatusOr<RegexNode> ParseAlternation(int depth) {
    RegexNode alt;
    alt.kind = RegexNode::Kind::kAlternate;
    while (true) {
      ASSIGN_OR_RETURN(RegexNode seq, ParseSequence(depth));
      alt.children.push_back(std::move(seq));
      if (AtEnd() || Peek() != '|') break;
      ++pos_;
    }
    if (alt.children.size() == 1) return std::move(alt.children[0]);
    return alt;
  }

  StatusOr<RegexNode> ParseSequence(int depth) {
    RegexNode seq;
    seq.kind = RegexNode::Kind::kConcat;
    while (!AtEnd() && Peek() != '|' && Peek() != ')') {
      ASSIGN_OR_RETURN(RegexNode atom, ParseAtom(depth));
      RETURN_IF_ERROR(ParseQuantifier(&atom));
      seq.children.push_back(std::move(atom));
    }
    return seq;
  }

  StatusOr<RegexNode> ParseAtom(int depth) {
    const char c = Peek();
    switch (c) {
      case '(':
        return ParseGroup(depth);
      case '[':
        ++pos_;
        return ParseClass();
      case '.':
        ++pos_;
        return Leaf(RegexNode::Kind::kAny);
      case '^':
        ++pos_;
        return Leaf(RegexNode::Kind::kAssert, static_cast<uint32_t>(Assertion::kBegin));
      case '$':
        ++pos_;
        return Leaf(RegexNode::Kind::kAssert, static_cast<uint32_t>(Assertion::kEnd));
      case '\\':
        return ParseEscape();
      case '*':
      case '+':
      case '?':
        return InvalidArgumentError("nothing to repeat before '" + std::string(1, c) + "'");
      case '{': {
        int min = 0, max = 0;
        size_t end = 0;
        if (ParseBraces(&min, &max, &end)) return InvalidArgumentError("nothing to repeat before '{'");
        ++pos_;
        return Leaf(RegexNode::Kind::kChar, '{');
      }
      default:
        return Leaf(RegexNode::Kind::kChar, Fold(DecodeUtf8(pattern_, &pos_)));
    }
  }

  StatusOr<RegexNode> ParseGroup(int depth) {
    if (depth + 1 > kMaxRegexGroupDepth) {
      return InvalidArgumentError("groups nest deeper than " + std::to_string(kMaxRegexGroupDepth));
    }
    ++pos_;
    if (!AtEnd() && Peek() == '?') {
      if (pos_ + 1 < pattern_.size() && pattern_[pos_ + 1] == ':') {
        pos_ += 2;
      } else {
        return InvalidArgumentError("lookaround and named groups '(?' are not supported");
      }
    }
    ASSIGN_OR_RETURN(RegexNode inner, ParseAlternation(depth + 1));
    if (AtEnd() || Peek() != ')') return InvalidArgumentError("missing ')'");
    ++pos_;
    return inner;
  }

  // Parses "{n}", "{n,}" or "{n,m}" at pos_ without consuming it.
  bool ParseBraces(int* min, int* max, size_t* end) const {
    size_t p = pos_ + 1;
    auto number = [&](int* out) {
      const size_t start = p;
      long long v = 0;
      while (p < pattern_.size() && pattern_[p] >= '0' && pattern_[p] <= '9') {
        v = std::min<long long>(v * 10 + (pattern_[p] - '0'), 1LL << 40);
        ++p;
      }
      *out = static_cast<int>(std::min<long long>(v, kMaxRegexRepeat + 1LL));
      return p > start;
    };
    if (!number(min)) return false;
    *max = *min;
    if (p < pattern_.size() && pattern_[p] == ',') {
      ++p;
      if (!number(max)) *max = -1;
    }
    if (p >= pattern_.size() || pattern_[p] != '}') return false;
    *end = p + 1;
    return true;
  }

  Status ParseQuantifier(RegexNode* atom) {
    if (AtEnd()) return OkStatus();
    int min = 0, max = 0;
    size_t end = 0;
    switch (Peek()) {
      case '*': min = 0, max = -1, end = pos_ + 1; break;
      case '+': min = 1, max = -1, end = pos_ + 1; break;
      case '?': min = 0, max = 1, end = pos_ + 1; break;
      case '{':
        if (!ParseBraces(&min, &max, &end)) return OkStatus();
        break;
      default:
        return OkStatus();
    }
    if (min > kMaxRegexRepeat || max > kMaxRegexRepeat) {
      return InvalidArgumentError("repetition count above " + std::to_string(kMaxRegexRepeat));
    }
    if (max != -1 && max < min) return InvalidArgumentError("numbers out of order in {} quantifier");
    pos_ = end;
    if (!AtEnd() && Peek() == '?') ++pos_;  // lazy: irrelevant when only asking "is there a match"
    RegexNode repeat;
    repeat.kind = RegexNode::Kind::kRepeat;
    repeat.min = min;
    repeat.max = max;
    repeat.children.push_back(std::move(*atom));
    *atom = std::move(repeat);
    return OkStatus();
  }

  RegexNode ClassNode(std::vector<Range> ranges, bool negated) {
    Normalize(&ranges);
    out_->classes_.push_back(CharClass{std::move(ranges), negated});
    return Leaf(RegexNode::Kind::kClass, static_cast<uint32_t>(out_->classes_.size() - 1));
  }

  // \d \D \w \W \s \S: appends the set's ranges; false when `c` names no set.
  static bool AppendNamedSet(char c, std::vector<Range>* out) {
    const std::vector<Range>* set = nullptr;
    switch (c | 0x20) {
      case 'd': set = &DigitRanges(); break;
      case 'w': set = &WordRanges(); break;
      case 's': set = &SpaceRanges(); break;
      default: return false;
    }
    if (c >= 'a') {
      out->insert(out->end(), set->begin(), set->end());
    } else {
      AppendComplement(*set, out);
    }
    return true;
  }

  // Parses hex digits for \xHH / \uHHHH after the letter.
  StatusOr<uint32_t> ParseHex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i, ++pos_) {
      if (AtEnd()) return InvalidArgumentError("incomplete hex escape");
      const char h = Peek();
      uint32_t d = 0;
      if (h >= '0' && h <= '9') d = static_cast<uint32_t>(h - '0');
      else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f') d = static_cast<uint32_t>((h | 0x20) - 'a' + 10);
      else return InvalidArgumentError("invalid hex escape");
      v = v * 16 + d;
    }
    return v;
  }

  // After a backslash (pos_ at the escaped character): a single character.
  // `in_class` makes \b a backspace.
  StatusOr<uint32_t> ParseEscapedChar(bool in_class) {
    const char c = Peek();
    ++pos_;
    switch (c) {
      case 'n': return uint32_t{'\n'};
      case 'r': return uint32_t{'\r'};
      case 't': return uint32_t{'\t'};
      case 'f': return uint32_t{'\f'};
      case 'v': return uint32_t{'\v'};
      case '0': return uint32_t{0};
      case 'x': return ParseHex(2);
      case 'u': return ParseHex(4);
      case 'b':
        if (in_class) return uint32_t{'\b'};
        break;
      default:
        break;
    }
    if (c >= '1' && c <= '9') return InvalidArgumentError("backreferences are not supported");
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || u >= 0x80) {
      return InvalidArgumentError("unsupported escape '\\" + std::string(1, c) + "'");
    }
    return uint32_t{u};
  }

  StatusOr<RegexNode> ParseEscape() {
    ++pos_;
    if (AtEnd()) return InvalidArgumentError("pattern ends with '\\'");
    const char c = Peek();
    std::vector<Range> ranges;
    if (AppendNamedSet(c, &ranges)) {
      ++pos_;
      return ClassNode(std::move(ranges), false);
    }
    if (c == 'b' || c == 'B') {
      ++pos_;
      return Leaf(RegexNode::Kind::kAssert, static_cast<uint32_t>(c == 'b' ? Assertion::kWordBoundary
                                                                       : Assertion::kNotWordBoundary));
    }
    ASSIGN_OR_RETURN(uint32_t cp, ParseEscapedChar(false));
    return Leaf(RegexNode::Kind::kChar, Fold(cp));
  }

  // One class member: a character (returned) or a named set (appended; returns kNoChar).
  StatusOr<uint32_t> ParseClassMember(std::vector<Range>* ranges) {
    if (Peek() != '\\') return DecodeUtf8(pattern_, &pos_);
    ++pos_;
    if (AtEnd()) return InvalidArgumentError("missing ']'");
    if (AppendNamedSet(Peek(), ranges)) {
      ++pos_;
      return kNoChar;
    }
    if (Peek() == 'B') return InvalidArgumentError("unsupported escape '\\B' in a character class");
    return ParseEscapedChar(true);
  }

  StatusOr<RegexNode> ParseClass() {
    bool negated = false;
    if (!AtEnd() && Peek() == '^') {
      negated = true;
      ++pos_;
    }
    std::vector<Range> ranges;
    while (!AtEnd() && Peek() != ']') {
      ASSIGN_OR_RETURN(uint32_t lo, ParseClassMember(&ranges));
      const bool range = pos_ + 1 < pattern_.size() && Peek() == '-' && pattern_[pos_ + 1] != ']';
      if (!range) {
        if (lo != kNoChar) ranges.push_back({lo, lo});
        continue;
      }
      ++pos_;
      ASSIGN_OR_RETURN(uint32_t hi, ParseClassMember(&ranges));
      if (lo == kNoChar || hi == kNoChar) return InvalidArgumentError("invalid character class range");
      if (lo > hi) return InvalidArgumentError("range out of order in character class");
      ranges.push_back({lo, hi});
    }
    if (AtEnd()) return InvalidArgumentError("missing ']'");
    ++pos_;
    return ClassNode(std::move(ranges), negated);
  }

  uint32_t Fold(uint32_t cp) const { return out_->ignore_case_ ? FoldAscii(cp) : cp; }

  StatusOr<size_t> Add(Instruction inst) {
    if (out_->program_.size() >= kMaxRegexInstructions) {
      return InvalidArgumentError("pattern too large: more than " +
                                  std::to_string(kMaxRegexInstructions) +
                                  " instructions once repetitions are expanded");
    }
    out_->program_.push_back(inst);
    return out_->program_.size() - 1;
  }

  uint32_t Here() const { return static_cast<uint32_t>(out_->program_.size()); }
  Instruction& At(size_t pc) { return out_->program_[pc]; }

  Status Emit(const RegexNode& n) {
    switch (n.kind) {
      case RegexNode::Kind::kEmpty:
        return OkStatus();
      case RegexNode::Kind::kChar:
        return Add({Opcode::kChar, Assertion::kBegin, n.value}).status();
      case RegexNode::Kind::kAny:
        return Add({Opcode::kAny}).status();
      case RegexNode::Kind::kClass:
        return Add({Opcode::kClass, Assertion::kBegin, n.value}).status();
      case RegexNode::Kind::kAssert:
        return Add({Opcode::kAssert, static_cast<Assertion>(n.value)}).status();
      case RegexNode::Kind::kConcat:
        for (const RegexNode& child : n.children) RETURN_IF_ERROR(Emit(child));
        return OkStatus();
      case RegexNode::Kind::kAlternate:
        return EmitAlternation(n);
      case RegexNode::Kind::kRepeat:
        return EmitRepeat(n);
    }
    return InternalError("unknown regex node");
  }

  // split L1, next; L1: a; jmp end; next: split L2, ...; last alternative; end:
  Status EmitAlternation(const RegexNode& n) {
    std::vector<size_t> jumps;
    for (size_t i = 0; i + 1 < n.children.size(); ++i) {
      ASSIGN_OR_RETURN(size_t split, Add({Opcode::kSplit}));
      At(split).arg = Here();
      RETURN_IF_ERROR(Emit(n.children[i]));
      ASSIGN_OR_RETURN(size_t jump, Add({Opcode::kJump}));
      jumps.push_back(jump);
      At(split).alt = Here();
    }
    RETURN_IF_ERROR(Emit(n.children.back()));
    for (size_t jump : jumps) At(jump).arg = Here();
    return OkStatus();
  }

  // x{min,max}: min copies of x, then either a loop (unbounded) or max-min
  // optional copies that all exit to the end.
  Status EmitRepeat(const RegexNode& n) {
    const RegexNode& child = n.children[0];
    for (int i = 0; i < n.min; ++i) RETURN_IF_ERROR(Emit(child));
    if (n.max == -1) {
      ASSIGN_OR_RETURN(size_t loop, Add({Opcode::kSplit}));
      At(loop).arg = Here();
      RETURN_IF_ERROR(Emit(child));
      RETURN_IF_ERROR(Add({Opcode::kJump, Assertion::kBegin, static_cast<uint32_t>(loop)}).status());
      At(loop).alt = Here();
      return OkStatus();
    }
    std::vector<size_t> splits;
    for (int i = n.min; i < n.max; ++i) {
      ASSIGN_OR_RETURN(size_t split, Add({Opcode::kSplit}));
      At(split).arg = Here();
      splits.push_back(split);
      RETURN_IF_ERROR(Emit(child));
    }
    for (size_t split : splits) At(split).alt = Here();
    return OkStatus();
  }

  std::string_view pattern_;
  size_t pos_ = 0;
  ConditionRegex* out_;
};

StatusOr<ConditionRegex> ConditionRegex::Compile(std::string_view pattern, bool ignore_case) {
  ConditionRegex re;
  re.ignore_case_ = ignore_case;
  RegexCompiler compiler(pattern, &re);
  RETURN_IF_ERROR(compiler.Run());
  const Instruction& first = re.program_[0];
  re.anchored_ = first.op == Opcode::kAssert && first.assertion == Assertion::kBegin;
  return re;
}

bool ConditionRegex::ClassMatches(const CharClass& c, uint32_t cp) const {
  auto contains = [&c](uint32_t x) {
    auto it = std::upper_bound(c.ranges.begin(), c.ranges.end(), x,
                               [](uint32_t v, const Range& r) { return v < r.lo; });
    return it != c.ranges.begin() && x <= std::prev(it)->hi;
  };
  bool in = contains(cp);
  if (!in && ignore_case_) in = contains(SwapAsciiCase(cp));
  return in != c.negated;
}

bool ConditionRegex::Consumes(const Instruction& inst, uint32_t cp) const {
  switch (inst.op) {
    case Opcode::kChar:
      return (ignore_case_ ? FoldAscii(cp) : cp) == inst.arg;
    case Opcode::kAny:
      return !IsLineTerminator(cp);
    case Opcode::kClass:
      return ClassMatches(classes_[inst.arg], cp);
    default:
      return false;
  }
}

namespace {

// What the assertions see at one position of the text.
struct TextPosition {
  uint32_t prev;  // kNoChar at the start
  uint32_t next;  // kNoChar at the end
};

bool AssertionHolds(Assertion a, const TextPosition& p) {
  const bool word_before = p.prev != kNoChar && IsWordChar(p.prev);
  const bool word_after = p.next != kNoChar && IsWordChar(p.next);
  switch (a) {
    case Assertion::kBegin: return p.prev == kNoChar;
    case Assertion::kEnd: return p.next == kNoChar;
    case Assertion::kWordBoundary: return word_before != word_after;
    case Assertion::kNotWordBoundary: return word_before == word_after;
  }
  return false;
}

}  // namespace

// The Pike VM's state for one search: thread lists as program counters in
// fixed arrays (each instruction appears at most once per list), about 10 KiB
// of stack and no heap.
class RegexVm {
 public:
  RegexVm(const std::vector<Instruction>& program, const ConditionRegex& re)
      : program_(program), re_(re) {}

  bool Search(std::string_view text) {
    size_t pos = 0;
    uint32_t prev = kNoChar;
    pending_count_ = 0;
    while (true) {
      size_t after = pos;
      const uint32_t cur = pos < text.size() ? DecodeUtf8(text, &after) : kNoChar;
      const bool may_start = !re_.anchored_ || pos == 0;
      if (!may_start && pending_count_ == 0) return false;
      if (FollowAll({prev, cur}, may_start)) return true;
      if (pos == text.size()) return false;
      Step(cur);
      prev = cur;
      pos = after;
    }
  }

 private:
  // Expands every pending thread, plus a new attempt starting at this
  // position when `may_start`, into active_ (consuming instructions). True on reaching kMatch.
  bool FollowAll(const TextPosition& at, bool may_start) {
    visited_.fill(0);
    active_count_ = 0;
    for (size_t i = 0; i < pending_count_; ++i) {
      if (Follow(pending_[i], at)) return true;
    }
    return may_start && Follow(0, at);
  }

  bool Follow(uint16_t start, const TextPosition& at) {
    size_t top = 0;
    stack_[top++] = start;
    while (top > 0) {
      const uint16_t pc = stack_[--top];
      uint64_t& word = visited_[pc / 64];
      const uint64_t bit = uint64_t{1} << (pc % 64);
      if ((word & bit) != 0) continue;
      word |= bit;
      const Instruction& inst = program_[pc];
      switch (inst.op) {
        case Opcode::kMatch:
          return true;
        case Opcode::kJump:
          stack_[top++] = static_cast<uint16_t>(inst.arg);
          break;
        case Opcode::kSplit:
          stack_[top++] = static_cast<uint16_t>(inst.alt);
          stack_[top++] = static_cast<uint16_t>(inst.arg);
          break;
        case Opcode::kAssert:
          if (AssertionHolds(inst.assertion, at)) stack_[top++] = static_cast<uint16_t>(pc + 1);
          break;
        default:
          active_[active_count_++] = pc;
      }
    }
    return false;
  }

  // Advances every active thread that accepts `cp` into the pending list.
  void Step(uint32_t cp) {
    pending_count_ = 0;
    for (size_t i = 0; i < active_count_; ++i) {
      const uint16_t pc = active_[i];
      if (re_.Consumes(program_[pc], cp)) pending_[pending_count_++] = static_cast<uint16_t>(pc + 1);
    }
  }

  const std::vector<Instruction>& program_;
  const ConditionRegex& re_;
  std::array<uint16_t, kMaxRegexInstructions> pending_;
  size_t pending_count_ = 0;
  std::array<uint16_t, kMaxRegexInstructions> active_;
  size_t active_count_ = 0;
  // Each instruction is visited once per position and pushes at most two.
  std::array<uint16_t, 2 * kMaxRegexInstructions + 2> stack_;
  std::array<uint64_t, kMaxRegexInstructions / 64> visited_;
};

bool ConditionRegex::Search(std::string_view text) const {
  RegexVm vm(program_, *this);
  return vm.Search(text);
}

}  // namespace rtml::decision
