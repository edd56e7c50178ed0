// ServiceScorer: scores decision rows with deployed pipeline services (the
// decision component's ExperienceScorer). Rows are routed to a revision by
// the request identity exactly like predict; each thread keeps its own row
// contexts, so scoring takes no lock beyond the registry snapshot.
#pragma once

#include "decision/delivery.h"
#include "serving/service_registry.h"

namespace rtml::data {
class DataStore;
}

namespace rtml::serving {

class ServiceScorer final : public decision::ExperienceScorer {
 public:
  ServiceScorer(ServiceRegistry* registry, data::DataStore* data) : registry_(registry), data_(data) {}

  Status Check(const std::string& sandbox, const std::string& service, const std::string& output) const override;
  Status Score(const std::string& sandbox, const std::string& service, const std::string& output,
               std::string_view identity, int64_t now_ms, std::span<const decision::FeatureSource* const> rows,
               std::span<double> scores) override;

 private:
  ServiceRegistry* registry_;
  data::DataStore* data_;
};

}  // namespace rtml::serving
