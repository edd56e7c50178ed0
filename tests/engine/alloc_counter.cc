#include "alloc_counter.h"

#include <cstdlib>
#include <new>

namespace rtml::testing {
namespace {
thread_local bool t_counting = false;
thread_local int64_t t_count = 0;
}  // namespace

#ifdef RTML_ALLOC_COUNTER
bool AllocCounterAvailable() { return true; }
#else
bool AllocCounterAvailable() { return false; }
#endif
void StartCountingAllocs() {
  t_count = 0;
  t_counting = true;
}
int64_t StopCountingAllocs() {
  t_counting = false;
  return t_count;
}

namespace internal {
inline void Note() {
  if (t_counting) ++t_count;
}
}  // namespace internal
}  // namespace rtml::testing

#ifdef RTML_ALLOC_COUNTER
void* operator new(std::size_t n) {
  rtml::testing::internal::Note();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  rtml::testing::internal::Note();
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return ::operator new(n, t); }
void* operator new(std::size_t n, std::align_val_t a) {
  rtml::testing::internal::Note();
  const std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  rtml::testing::internal::Note();
  const std::size_t al = static_cast<std::size_t>(a);
  return std::aligned_alloc(al, (n + al - 1) / al * al);
}
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
#endif
