// Logs and History.
#include "descent/train/history.hpp"

#include "descent/core/error.hpp"

namespace descent::train {
namespace {

std::string join(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out.empty() ? "none" : out;
}

}  // namespace

const Logs::Item* Logs::find(std::string_view key) const {
  for (const Item& item : items_)
    if (item.first == key) return &item;
  return nullptr;
}

void Logs::set(std::string_view key, double value) {
  for (Item& item : items_)
    if (item.first == key) {
      item.second = value;
      return;
    }
  items_.emplace_back(std::string(key), value);
}

std::optional<double> Logs::get(std::string_view key) const {
  const Item* item = find(key);
  if (item == nullptr) return std::nullopt;
  return item->second;
}

double Logs::at(std::string_view key) const {
  const Item* item = find(key);
  if (item == nullptr) fail("logs have no '", key, "' (they have: ", join(keys()), ")");
  return item->second;
}

void Logs::erase(std::string_view key) {
  for (auto it = items_.begin(); it != items_.end(); ++it)
    if (it->first == key) {
      items_.erase(it);
      return;
    }
}

std::vector<std::string> Logs::keys() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const Item& item : items_) out.push_back(item.first);
  return out;
}

void History::append(int64_t epoch, const Logs& logs) {
  epochs_.push_back(epoch);
  for (const auto& [key, value] : logs) {
    auto [it, inserted] = history_.try_emplace(key);
    if (inserted) keys_.push_back(key);
    it->second.push_back(value);
  }
}

History History::from_lists(std::vector<int64_t> epochs, std::vector<std::string> keys,
                            std::map<std::string, std::vector<double>> values) {
  DESCENT_CHECK(keys.size() == values.size(), "History: ", keys.size(), " keys but ", values.size(), " lists");
  for (const std::string& key : keys) {
    const auto it = values.find(key);
    DESCENT_CHECK(it != values.end(), "History: no list for key '", key, "'");
    DESCENT_CHECK(it->second.size() <= epochs.size(), "History: '", key, "' has ", it->second.size(),
                  " values for ", epochs.size(), " epochs");
  }
  History history;
  history.epochs_ = std::move(epochs);
  history.keys_ = std::move(keys);
  history.history_ = std::move(values);
  return history;
}

const std::vector<double>& History::operator[](std::string_view key) const {
  const auto it = history_.find(std::string(key));
  if (it == history_.end()) fail("History has no '", key, "' (it has: ", join(keys_), ")");
  return it->second;
}

}  // namespace descent::train
