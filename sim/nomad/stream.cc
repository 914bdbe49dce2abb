// GET /v1/event/stream: newline-delimited JSON over a chunked response. A `{}` heartbeat goes out
// at once and every heartbeat_interval; retained buffer entries from `index` (inclusive; the
// oldest retained one when `index` is older) are replayed, then each new write's entry is sent
// as one frame holding the events that match the subscriber's topics, keys and namespace.

#include <boost/asio/post.hpp>

#include "sim/nomad/internal.h"

namespace berth::sim::nomad {
namespace asio = boost::asio;

void SimulatorImpl::serve_stream(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer) {
  Subscriber subscriber;
  for (const auto& [name, value] : request.query) {
    if (name != "topic") continue;
    const auto colon = value.find(':');
    std::string topic = value;
    std::string key = "*";
    if (colon != std::string::npos) {
      if (value.find(':', colon + 1) != std::string::npos) {
        return writer->respond(net::HttpResponse{400, {{"content-type", "text/plain; charset=utf-8"}},
                                                 "Invalid key value pair for topic: " + value});
      }
      topic = value.substr(0, colon);
      key = value.substr(colon + 1);
    }
    subscriber.topics[topic].insert(key.empty() ? "*" : key);
  }
  if (subscriber.topics.empty()) subscriber.topics["*"].insert("*");
  std::uint64_t from = 0;
  if (auto text = request.param("index"); text && !text->empty()) {
    try {
      std::size_t used = 0;
      from = std::stoull(*text, &used);
      if (used != text->size()) throw std::invalid_argument("index");
    } catch (const std::exception&) {
      return writer->respond(
          net::HttpResponse{400, {{"content-type", "text/plain; charset=utf-8"}}, "Invalid index"});
    }
  }
  const std::string ns = request.param("namespace").value_or("");
  subscriber.namespace_name = ns.empty() ? "default" : ns;
  subscriber.id = next_subscriber_++;
  subscriber.writer = writer;

  writer->start_stream(200, {{"content-type", "application/json"}});
  std::string replay = "{}\n";
  for (const auto& entry : buffer_) {
    if (entry.index >= from) replay += frame_for(subscriber, entry);
  }
  writer->write(std::move(replay));
  subscriber.sent_through = index_;

  const std::uint64_t id = subscriber.id;
  subscriber.heartbeat = std::make_unique<asio::steady_timer>(strand_);
  writer->on_close([self = shared_from_this(), id] {
    asio::post(self->strand_, [self, id] {
      auto it = self->subscribers_.find(id);
      if (it == self->subscribers_.end()) return;
      it->second.heartbeat->cancel();
      self->subscribers_.erase(it);
    });
  });
  subscribers_.emplace(id, std::move(subscriber));
  send_heartbeat(id);
}

void SimulatorImpl::send_heartbeat(std::uint64_t subscriber_id) {
  auto it = subscribers_.find(subscriber_id);
  if (it == subscribers_.end()) return;
  it->second.heartbeat->expires_after(options_.heartbeat_interval);
  it->second.heartbeat->async_wait([self = shared_from_this(), subscriber_id](boost::system::error_code ec) {
    if (ec) return;
    auto found = self->subscribers_.find(subscriber_id);
    if (found == self->subscribers_.end()) return;
    found->second.writer->write("{}\n");
    self->send_heartbeat(subscriber_id);
  });
}

std::string SimulatorImpl::frame_for(const Subscriber& subscriber, const BufferEntry& entry) const {
  json::array events;
  for (const auto& event : entry.events) {
    if (subscriber.namespace_name != "*" && !event.namespace_name.empty() &&
        event.namespace_name != subscriber.namespace_name) {
      continue;
    }
    bool wanted = false;
    for (const std::string& topic : {event.topic, std::string("*")}) {
      auto keys = subscriber.topics.find(topic);
      if (keys == subscriber.topics.end()) continue;
      for (const auto& key : keys->second) {
        if (key == "*" || key == event.key ||
            std::find(event.filter_keys.begin(), event.filter_keys.end(), key) != event.filter_keys.end()) {
          wanted = true;
        }
      }
    }
    if (wanted) events.push_back(event.rendered);
  }
  if (events.empty()) return {};
  return json::serialize(json::object{{"Index", entry.index}, {"Events", std::move(events)}}) + "\n";
}

void SimulatorImpl::publish(const BufferEntry& entry) {
  for (auto& [id, subscriber] : subscribers_) {
    if (entry.index <= subscriber.sent_through) continue;
    subscriber.sent_through = entry.index;
    std::string frame = frame_for(subscriber, entry);
    if (!frame.empty()) subscriber.writer->write(std::move(frame));
  }
}

void SimulatorImpl::drop_streams() {
  for (auto& [id, subscriber] : subscribers_) {
    subscriber.heartbeat->cancel();
    subscriber.writer->abort();
  }
  subscribers_.clear();
}

}  // namespace berth::sim::nomad
