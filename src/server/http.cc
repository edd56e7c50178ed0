#include "server/http.h"

#include "common/json_writer.h"

namespace rtml::server {

std::string_view Request::Header(http::field f) const {
  if (headers == nullptr) return {};
  auto it = headers->find(f);
  if (it == headers->end()) return {};
  return {it->value().data(), it->value().size()};
}

std::string_view Request::Header(std::string_view name) const {
  if (headers == nullptr) return {};
  auto it = headers->find(boost::beast::string_view(name.data(), name.size()));
  if (it == headers->end()) return {};
  return {it->value().data(), it->value().size()};
}

std::string_view Request::QueryParam(std::string_view key) const {
  std::string_view q = query;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    std::string_view kv = q.substr(0, amp);
    const size_t eq = kv.find('=');
    if (kv.substr(0, eq) == key) return eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return {};
}

std::string PercentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      const int hi = i + 1 < s.size() ? hex(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hex(s[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

void Response::SetError(const Status& s) { SetError(s, {}); }

void Response::SetError(const Status& s, const std::vector<std::string>& details) {
  status = HttpStatusOf(s.code());
  content_type = "application/json";
  body.clear();
  JsonWriter w(&body);
  w.BeginObject();
  w.Key("error");
  w.String(s.message());
  w.Key("code");
  w.String(StatusCodeName(s.code()));
  w.Key("details");
  w.BeginArray();
  for (const auto& d : details) w.String(d);
  w.EndArray();
  w.EndObject();
}

}  // namespace rtml::server
