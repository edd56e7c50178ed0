// Delivery routes: activities, segments, decisions, feedback, reports and
// learner status. Decisions and feedback run on the event loop and answer
// through a deferred response completed by the delivery log's writer thread
// after the group commit that makes them durable; definitions and reports
// run on the offload pool.
#include "decision/delivery.h"
#include "server/api_server.h"
#include "server/api_state.h"

namespace rtml::server {

namespace {

void Deferred(ApiServer* api, Request& req, Response& resp,
              const std::function<void(std::function<void(StatusOr<std::string>)>)>& call) {
  auto completer = DeferResponse(req);
  Response* out = &resp;
  call([api, completer, out](StatusOr<std::string> result) {
    if (!result.ok()) out->SetError(result.status());
    else out->SetJson(200, std::move(*result));
    api->CountResponse(out->status);
    completer->Complete();
  });
}

}  // namespace

void ApiServer::HandlePutActivity(Request& req, Response& resp, ThreadState&) {
  bool created = false;
  auto r = delivery_->PutActivity(std::string(req.sandbox), std::string(req.param(0)), *req.body, &created);
  Reply(resp, std::move(r), [&] { return created ? 201 : 200; });
}

void ApiServer::HandleGetActivity(Request& req, Response& resp, ThreadState&) {
  Reply(resp, delivery_->GetActivity(std::string(req.sandbox), std::string(req.param(0))), [] { return 200; });
}

void ApiServer::HandleListActivities(Request& req, Response& resp, ThreadState&) {
  Reply(resp, delivery_->ListActivities(std::string(req.sandbox)), [] { return 200; });
}

void ApiServer::HandleDeleteActivity(Request& req, Response& resp, ThreadState&) {
  Status s = delivery_->DeleteActivity(std::string(req.sandbox), std::string(req.param(0)));
  if (!s.ok()) return resp.SetError(s);
  resp.SetJson(200, "{\"deleted\":true}");
}

void ApiServer::HandleActivityReport(Request& req, Response& resp, ThreadState&) {
  Reply(resp, delivery_->Report(std::string(req.sandbox), std::string(req.param(0))), [] { return 200; });
}

void ApiServer::HandleActivityLearner(Request& req, Response& resp, ThreadState&) {
  Reply(resp, delivery_->LearnerJson(std::string(req.sandbox), std::string(req.param(0))), [] { return 200; });
}

void ApiServer::HandlePutSegment(Request& req, Response& resp, ThreadState&) {
  bool created = false;
  auto r = delivery_->PutSegment(std::string(req.sandbox), std::string(req.param(0)), *req.body, &created);
  Reply(resp, std::move(r), [&] { return created ? 201 : 200; });
}

void ApiServer::HandleGetSegment(Request& req, Response& resp, ThreadState&) {
  Reply(resp, delivery_->GetSegment(std::string(req.sandbox), std::string(req.param(0))), [] { return 200; });
}

void ApiServer::HandleListSegments(Request& req, Response& resp, ThreadState&) {
  Reply(resp, delivery_->ListSegments(std::string(req.sandbox)), [] { return 200; });
}

void ApiServer::HandleDeleteSegment(Request& req, Response& resp, ThreadState&) {
  Status s = delivery_->DeleteSegment(std::string(req.sandbox), std::string(req.param(0)));
  if (!s.ok()) return resp.SetError(s);
  resp.SetJson(200, "{\"deleted\":true}");
}

void ApiServer::HandleDecide(Request& req, Response& resp, ThreadState&) {
  const std::string sandbox(req.sandbox);
  Deferred(this, req, resp, [&](auto done) { delivery_->Decide(sandbox, *req.body, std::move(done)); });
}

void ApiServer::HandleFeedback(Request& req, Response& resp, ThreadState&) {
  const std::string sandbox(req.sandbox);
  Deferred(this, req, resp, [&](auto done) { delivery_->Feedback(sandbox, *req.body, std::move(done)); });
}

}  // namespace rtml::server
