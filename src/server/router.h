// Router: matches (method, path) against route patterns.
//
// Patterns are '/'-separated segments: literals, "{param}" (one segment) or
// "{param}:suffix" (a segment ending in ":suffix", as in
// /v1/services/{name}:rollback). Routes are tried in the order they were
// added and the first match wins, so action routes must not be shadowed by
// a plain parameter route of the same method. Up to four parameters per
// route. Immutable after setup; Match is thread-safe and allocation-free.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "server/http.h"

namespace rtml::server {

template <typename Target>
class Router {
 public:
  void Add(http::verb method, std::string_view pattern, Target target) {
    Route r;
    r.method = method;
    r.target = std::move(target);
    std::string_view p = pattern;
    if (!p.empty() && p.front() == '/') p.remove_prefix(1);
    while (true) {
      const size_t slash = p.find('/');
      std::string_view seg = p.substr(0, slash);
      Segment s;
      if (!seg.empty() && seg.front() == '{') {
        const size_t close = seg.find('}');
        s.is_param = true;
        s.text = std::string(seg.substr(close + 1));  // suffix after the parameter, may be empty
      } else {
        s.text = std::string(seg);
      }
      r.segments.push_back(std::move(s));
      if (slash == std::string_view::npos) break;
      p.remove_prefix(slash + 1);
    }
    routes_.push_back(std::move(r));
  }

  enum class Result { kMatched, kNoPath, kWrongMethod };

  // On kMatched returns the target and fills req->params.
  Result Match(http::verb method, std::string_view path, Request* req, const Target** target) const {
    std::string_view segs[16];
    int n = 0;
    std::string_view p = path;
    if (!p.empty() && p.front() == '/') p.remove_prefix(1);
    while (n < 16) {
      const size_t slash = p.find('/');
      segs[n++] = p.substr(0, slash);
      if (slash == std::string_view::npos) break;
      p.remove_prefix(slash + 1);
    }
    bool path_seen = false;
    for (const Route& r : routes_) {
      if (static_cast<int>(r.segments.size()) != n) continue;
      int params = 0;
      std::string_view captured[4];
      bool ok = true;
      for (int i = 0; i < n && ok; ++i) {
        const Segment& s = r.segments[static_cast<size_t>(i)];
        std::string_view seg = segs[i];
        if (!s.is_param) {
          ok = seg == s.text;
        } else {
          if (seg.size() <= s.text.size() || seg.substr(seg.size() - s.text.size()) != s.text) {
            ok = false;
          } else {
            std::string_view value = seg.substr(0, seg.size() - s.text.size());
            if (params < 4) captured[params++] = value;
          }
        }
      }
      if (!ok) continue;
      path_seen = true;
      if (r.method != method) continue;
      for (int i = 0; i < params; ++i) req->params[i] = captured[i];
      req->num_params = params;
      *target = &r.target;
      return Result::kMatched;
    }
    return path_seen ? Result::kWrongMethod : Result::kNoPath;
  }

 private:
  struct Segment {
    bool is_param = false;
    std::string text;  // literal, or the suffix after a parameter
  };
  struct Route {
    http::verb method;
    std::vector<Segment> segments;
    Target target;
  };
  std::vector<Route> routes_;
};

}  // namespace rtml::server
