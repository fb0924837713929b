// Logs and History: what fit() reports. Logs are the (name, value) pairs of one batch or epoch in the order
// Keras prints them (loss, metrics, val_loss, val_metrics, lr); History collects the epochs' logs as Keras'
// History.history does (one list of values per key).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace descent::train {

class Logs {
 public:
  using Item = std::pair<std::string, double>;

  // Sets `key`, appending it when new. Updating an existing key does not allocate (fit reuses one Logs per batch).
  void set(std::string_view key, double value);
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  std::optional<double> get(std::string_view key) const;
  // Throws descent::Error naming the key and the keys there are.
  double at(std::string_view key) const;
  void erase(std::string_view key);
  void clear() { items_.clear(); }
  std::vector<std::string> keys() const;

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  const Item* find(std::string_view key) const;
  std::vector<Item> items_;
};

class History {
 public:
  // Appends one epoch's logs; keys seen for the first time start a new list (as Keras' setdefault(k, [])).
  void append(int64_t epoch, const Logs& logs);
  // A History holding these lists (what a checkpoint stored): every key has a list no longer than `epochs`.
  static History from_lists(std::vector<int64_t> epochs, std::vector<std::string> keys,
                            std::map<std::string, std::vector<double>> values);

  const std::vector<int64_t>& epochs() const { return epochs_; }  // 0-based, as Keras' History.epoch
  size_t size() const { return epochs_.size(); }
  bool contains(std::string_view key) const { return history_.find(std::string(key)) != history_.end(); }
  // The values of `key`, one per epoch that logged it; throws descent::Error listing the keys there are.
  const std::vector<double>& operator[](std::string_view key) const;
  const std::vector<std::string>& keys() const { return keys_; }  // in first-logged order
  const std::map<std::string, std::vector<double>>& history() const { return history_; }

 private:
  std::vector<int64_t> epochs_;
  std::vector<std::string> keys_;
  std::map<std::string, std::vector<double>> history_;
};

}  // namespace descent::train
