// Checkpoints: writing them crash-safely, finding the newest complete one, and restoring a run from it.
#include "descent/train/checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

#include "../io/strict_json.hpp"
#include "checkpoint_run.hpp"
#include "descent/core/error.hpp"
#include "descent/core/file.hpp"
#include "descent/core/random.hpp"
#include "descent/core/threading.hpp"
#include "descent/io/safetensors.hpp"
#include "descent/nn/layers.hpp"
#include "descent/train/layer_config.hpp"
#include "descent/train/weights.hpp"

namespace descent::train {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr const char* kFormat = "descent-checkpoint";
constexpr int64_t kVersion = 1;
constexpr const char* kModelFile = "model.safetensors";
constexpr const char* kOptimizerFile = "optimizer.safetensors";
constexpr const char* kStateFile = "training.json";
constexpr const char* kPrefix = "checkpoint-";

// ---- names and files ----------------------------------------------------------------------------------------

std::string padded_step(int64_t step) {
  std::string digits = std::to_string(step);
  return std::string(digits.size() < 9 ? 9 - digits.size() : 0, '0') + digits;
}

// The step of a directory named checkpoint-<digits>, or -1.
int64_t step_of_name(const std::string& name) {
  const size_t n = std::strlen(kPrefix);
  if (name.size() <= n || name.compare(0, n, kPrefix) != 0 || name.size() > n + 18) return -1;
  int64_t step = 0;
  for (size_t i = n; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

bool complete(const fs::path& checkpoint) {
  std::error_code ec;
  return fs::is_regular_file(checkpoint / kStateFile, ec);
}

// Complete checkpoints under dir, oldest first.
std::vector<std::pair<int64_t, fs::path>> checkpoints_in(const fs::path& dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const int64_t step = step_of_name(it->path().filename().string());
    if (step >= 0 && complete(it->path())) found.emplace_back(step, it->path());
  }
  DESCENT_CHECK(!ec, "checkpoint directory '", dir.string(), "': cannot list it: ", ec.message());
  std::sort(found.begin(), found.end());
  return found;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  DESCENT_CHECK(in.good(), "checkpoint file '", path.string(), "': cannot open it: ", std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  DESCENT_CHECK(!in.bad() && !bytes.bad(), "checkpoint file '", path.string(), "': cannot read it");
  return std::move(bytes).str();
}

std::string hex(uint64_t value) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
  return buf;
}

// Removes a directory by first renaming it out of the checkpoints' name space, so that a process killed half-way
// leaves a leftover the next writer cleans, never a half-deleted "checkpoint-N".
void discard(const fs::path& path, const std::string& tag) {
  std::error_code ec;
  const fs::path doomed = path.parent_path() / concat(".", path.filename().string(), ".", tag);
  fs::remove_all(doomed, ec);
  fs::rename(path, doomed, ec);
  fs::remove_all(ec ? path : doomed, ec);
}

// ---- JSON for doubles, hyperparameters, schedules, generators -------------------------------------------------

// Finite doubles as JSON numbers (written with the shortest digits that read back to the same bits); NaN and
// infinities, which JSON lacks, as {"float": "nan" | "inf" | "-inf"}.
Json number(double value) {
  if (std::isfinite(value)) return value;
  return Json{{"float", std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf"}};
}

double to_double(const Json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_object() && j.size() == 1 && j.contains("float")) {
    const std::string s = j.at("float").get<std::string>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
  }
  fail("expected a number, found ", j.dump());
}

Json numbers(const std::vector<double>& values) {
  Json list = Json::array();
  for (double v : values) list.push_back(number(v));
  return list;
}

std::vector<double> to_doubles(const Json& j) {
  DESCENT_CHECK(j.is_array(), "expected a list of numbers, found ", j.dump());
  std::vector<double> values;
  for (const Json& v : j) values.push_back(to_double(v));
  return values;
}

Json number_map(const std::map<std::string, double>& values) {
  Json object = Json::object();
  for (const auto& [k, v] : values) object[k] = number(v);
  return object;
}

std::map<std::string, double> to_number_map(const Json& j) {
  DESCENT_CHECK(j.is_object(), "expected an object of numbers, found ", j.dump());
  std::map<std::string, double> values;
  for (const auto& [k, v] : j.items()) values[k] = to_double(v);
  return values;
}

// Hyperparameters keep their type: flags as booleans, counts as integers, numbers as JSON numbers (always with a
// fraction or exponent, so they read back as doubles), tuples as lists, choices as strings.
Json hyper_json(const optim::HyperValue& value) {
  return std::visit(
      [](const auto& v) -> Json {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, double>) {
          return number(v);
        } else if constexpr (std::is_same_v<V, std::vector<double>>) {
          return numbers(v);
        } else {
          return v;
        }
      },
      value);
}

optim::HyperValue to_hyper(const Json& j) {
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_string()) return j.get<std::string>();
  if (j.is_array()) return to_doubles(j);
  return to_double(j);
}

Json schedule_json(const optim::ScheduleState& s) {
  Json lists = Json::object();
  for (const auto& [k, v] : s.lists) lists[k] = numbers(v);
  Json children = Json::array();
  for (const optim::ScheduleState& c : s.children) children.push_back(schedule_json(c));
  return {{"schedule", s.schedule}, {"scalars", number_map(s.scalars)}, {"lists", lists}, {"children", children}};
}

optim::ScheduleState to_schedule(const Json& j) {
  optim::ScheduleState s;
  s.schedule = j.at("schedule").get<std::string>();
  s.scalars = to_number_map(j.at("scalars"));
  for (const auto& [k, v] : j.at("lists").items()) s.lists[k] = to_doubles(v);
  for (const Json& c : j.at("children")) s.children.push_back(to_schedule(c));
  return s;
}

Json generator_json(const Generator::State& s) {
  Json words = Json::array();
  for (uint64_t w : s.s) words.push_back(w);
  return {{"s", words}, {"has_cached_normal", s.has_cached_normal}, {"cached_normal", number(s.cached_normal)}};
}

Generator::State to_generator(const Json& j) {
  Generator::State s;
  const Json& words = j.at("s");
  DESCENT_CHECK(words.is_array() && words.size() == 4, "a generator's state needs 4 words, found ", words.dump());
  for (size_t i = 0; i < 4; ++i) s.s[i] = words[i].get<uint64_t>();
  s.has_cached_normal = j.at("has_cached_normal").get<bool>();
  s.cached_normal = to_double(j.at("cached_normal"));
  return s;
}

std::string shape_text(const Tensor& t) { return concat(t.dtype(), " ", t.shape()); }

// The generators a model draws from while training: the default one, then each Dropout layer's, in layer order.
void collect_dropouts(nn::Module& m, std::vector<nn::Dropout*>& out) {
  if (auto* d = dynamic_cast<nn::Dropout*>(&m)) out.push_back(d);
  for (const auto& [name, child] : m.named_children()) collect_dropouts(*child, out);
}

std::vector<Generator*> generators_of(Sequential& model) {
  std::vector<nn::Dropout*> dropouts;
  for (const auto& layer : model.layers()) collect_dropouts(*layer, dropouts);
  std::vector<Generator*> gens{&default_generator()};
  for (nn::Dropout* d : dropouts) gens.push_back(&d->generator());
  return gens;
}

// ---- fingerprints of the run ------------------------------------------------------------------------------------

Json data_record(const data::TensorDataset& d) {
  if (d.size() == 0) return {{"rows", 0}};
  const auto tensor_record = [](const Tensor& t) {
    const Tensor c = t.contiguous();
    return Json{{"shape", concat(c.dtype(), " ", c.shape())},
                {"hash", hex(detail::hash_bytes(c.raw_data(), static_cast<size_t>(c.numel()) * element_size(c.dtype())))}};
  };
  return {{"rows", d.size()}, {"x", tensor_record(d.x())}, {"y", tensor_record(d.y())}};
}

Json model_record(const Sequential& model) {
  Json parameters = Json::array();
  for (const auto& [name, t] : named_state(model)) parameters.push_back(name + " " + shape_text(t));
  Json architecture;
  try {
    architecture = Json::parse(layers_to_json(model.layers(), model.input_shape()));
  } catch (const Error&) {  // a layer without a JSON form: its type name stands for it
    architecture = Json::array();
    for (const auto& layer : model.layers()) architecture.push_back(layer->type_name());
  }
  return {{"tensors", parameters}, {"architecture", architecture}};
}

// The first difference between two records, as "key: A (checkpoint) against B (this run)".
std::string first_difference(const Json& saved, const Json& current, const std::string& where = "") {
  if (saved.is_object() && current.is_object()) {
    for (const auto& [k, v] : saved.items()) {
      if (!current.contains(k)) return concat(where, k, " is missing in this run");
      const std::string d = first_difference(v, current.at(k), where + k + " ");
      if (!d.empty()) return d;
    }
    return saved.size() == current.size() ? "" : concat(where, "has other entries");
  }
  if (saved.is_array() && current.is_array()) {
    for (size_t i = 0; i < saved.size() && i < current.size(); ++i) {
      const std::string d = first_difference(saved[i], current[i], concat(where, "#", i, " "));
      if (!d.empty()) return d;
    }
    if (saved.size() != current.size())
      return concat(where, "has ", saved.size(), " entries in the checkpoint, ", current.size(), " in this run");
    return "";
  }
  if (saved == current) return "";
  std::string a = saved.dump(), b = current.dump();
  constexpr size_t kShown = 120;
  if (a.size() > kShown) a = a.substr(0, kShown) + "…";
  if (b.size() > kShown) b = b.substr(0, kShown) + "…";
  return concat(where, a, " in the checkpoint, ", b, " in this run");
}

// ---- the optimizer's state dict ---------------------------------------------------------------------------------

Json optimizer_json(const optim::StateDict& dict, io::NamedTensors& tensors) {
  Json groups = Json::array();
  for (const optim::HyperMap& g : dict.groups) {
    Json group = Json::object();
    for (const auto& [k, v] : g) group[k] = hyper_json(v);
    groups.push_back(group);
  }
  Json state = Json::array();
  for (const auto& [key, ps] : dict.state) {
    Json buffers = Json::object();
    for (const auto& [buffer, t] : ps.buffers) {
      const std::string name = concat("optimizer.", tensors.size());
      tensors.emplace_back(name, t);
      buffers[buffer] = name;
    }
    state.push_back({{"param", key}, {"step", ps.step}, {"buffers", buffers}});
  }
  Json scalars = Json::array();
  for (const auto& s : dict.scalars) scalars.push_back(number_map(s));
  return {{"name", dict.optimizer}, {"groups", groups}, {"params", dict.params}, {"state", state},
          {"scalars", scalars}};
}

const Tensor& named_tensor(const std::map<std::string, Tensor>& tensors, const std::string& name) {
  const auto it = tensors.find(name);
  DESCENT_CHECK(it != tensors.end(), "tensor '", name, "' is not in ", kOptimizerFile);
  return it->second;
}

optim::StateDict to_state_dict(const Json& j, const std::map<std::string, Tensor>& tensors) {
  optim::StateDict dict;
  dict.optimizer = j.at("name").get<std::string>();
  for (const Json& g : j.at("groups")) {
    optim::HyperMap group;
    for (const auto& [k, v] : g.items()) group[k] = to_hyper(v);
    dict.groups.push_back(std::move(group));
  }
  dict.params = j.at("params").get<std::vector<std::vector<std::string>>>();
  for (const Json& s : j.at("state")) {
    optim::ParamState ps;
    ps.step = s.at("step").get<int64_t>();
    for (const auto& [buffer, name] : s.at("buffers").items())
      ps.buffers[buffer] = named_tensor(tensors, name.get<std::string>());
    dict.state[s.at("param").get<std::string>()] = std::move(ps);
  }
  for (const Json& s : j.at("scalars")) dict.scalars.push_back(to_number_map(s));
  return dict;
}

// ---- reading a checkpoint ---------------------------------------------------------------------------------------

// A safetensors file of a checkpoint, checked against the size and hash training.json recorded for it.
io::NamedTensors read_checked(const fs::path& checkpoint, const char* file, const Json& state) {
  const fs::path path = checkpoint / file;
  const std::string bytes = read_bytes(path);
  const Json& record = state.at("files").at(file);
  const auto size = record.at("bytes").get<uint64_t>();
  DESCENT_CHECK(bytes.size() == size, "checkpoint file '", path.string(), "' has ", bytes.size(),
                " bytes, training.json recorded ", size, ": the file is truncated or was replaced");
  DESCENT_CHECK(hex(detail::hash_bytes(bytes.data(), bytes.size())) == record.at("hash").get<std::string>(),
                "checkpoint file '", path.string(), "' does not match the hash training.json recorded: it is corrupt");
  return io::parse_safetensors(bytes, path.string());
}

Json read_state(const fs::path& checkpoint) {
  const fs::path path = checkpoint / kStateFile;
  Json state = io::detail::parse_strict_json(read_bytes(path), concat("checkpoint '", path.string(), "'"), 64);
  DESCENT_CHECK(state.is_object() && state.value("format", "") == kFormat, "checkpoint '", path.string(),
                "' is not a descent checkpoint (no \"format\": \"", kFormat, "\")");
  const int64_t version = state.value("version", int64_t{0});
  DESCENT_CHECK(version == kVersion, "checkpoint '", path.string(), "' has format version ", version,
                "; this descent reads version ", kVersion);
  return state;
}

std::string newest_or_fail(const std::string& dir) {
  const std::optional<std::string> found = latest_checkpoint(dir);
  DESCENT_CHECK(found.has_value(), "checkpoint directory '", dir, "' holds no complete checkpoint (",
                kPrefix, "<step> with ", kStateFile, ")");
  return *found;
}

}  // namespace

// ---- public functions -------------------------------------------------------------------------------------------

std::optional<std::string> latest_checkpoint(const std::string& dir) {
  const fs::path path(dir);
  std::error_code ec;
  DESCENT_CHECK(fs::is_directory(path, ec), "checkpoint directory '", dir, "' ",
                fs::exists(path, ec) ? "is not a directory" : "does not exist");
  if (step_of_name(path.filename().string()) >= 0 && complete(path)) return path.string();
  const auto found = checkpoints_in(path);
  if (found.empty()) return std::nullopt;
  return found.back().second.string();
}

int64_t checkpoint_step(const std::string& checkpoint) {
  const int64_t step = step_of_name(fs::path(checkpoint).filename().string());
  DESCENT_CHECK(step >= 0, "'", checkpoint, "' is not a checkpoint directory (", kPrefix, "<step>)");
  return step;
}

std::string load_checkpoint_weights(nn::Module& m, const std::string& dir) {
  const fs::path checkpoint = newest_or_fail(dir);
  try {
    const Json state = read_state(checkpoint);
    load_named_state(m, read_checked(checkpoint, kModelFile, state), (checkpoint / kModelFile).string());
  } catch (const Json::exception& e) {
    fail("checkpoint '", checkpoint.string(), "': ", kStateFile, " is malformed: ", e.what());
  }
  return checkpoint.string();
}

namespace detail {

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
  // 8 bytes at a time through a multiply-xorshift mix (MurmurHash3's finaliser constants), the tail byte-wise.
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (size + 1));
  const auto mix = [](uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
  };
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ mix(w)) * 0x100000001b3ULL + 0x632be59bd9b4e019ULL;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i < size; ++i, ++k) tail |= static_cast<uint64_t>(p[i]) << (8 * k);
  return mix(h ^ mix(tail));
}

// ---- RunCheckpoints ---------------------------------------------------------------------------------------------

RunCheckpoints::RunCheckpoints(Sequential& model, const FitOptions& options, const data::TensorDataset& training,
                               const data::TensorDataset& validation)
    : model_(model), options_(options) {
  if (options.checkpoint) {
    const CheckpointOptions& c = *options.checkpoint;
    DESCENT_CHECK(!c.dir.empty(), "Sequential::fit: checkpoint.dir is empty");
    DESCENT_CHECK(c.every_steps >= 0, "Sequential::fit: checkpoint.every_steps = ", c.every_steps,
                  " must be >= 0 (0: only at the end of each epoch)");
    DESCENT_CHECK(c.keep >= 1, "Sequential::fit: checkpoint.keep = ", c.keep, " must be at least 1");
    // Never overwrite another run's checkpoints: a directory that holds some is written only by the run resumed
    // from it.
    std::error_code ec;
    if (fs::is_directory(c.dir, ec)) {
      const auto existing = checkpoints_in(c.dir);
      fs::path resumed_from = options.resume;
      if (step_of_name(resumed_from.filename().string()) >= 0) resumed_from = resumed_from.parent_path();
      const bool same = !options.resume.empty() && fs::weakly_canonical(resumed_from, ec) == fs::weakly_canonical(c.dir, ec);
      DESCENT_CHECK(existing.empty() || same, "Sequential::fit: checkpoint directory '", c.dir,
                    "' already holds checkpoints (the newest: '", existing.empty() ? "" : existing.back().second.string(),
                    "'): resume from it to continue that run, or write to another directory");
    }
  }
  model_json_ = model_record(model).dump();
  data_json_ = Json{{"training", data_record(training)}, {"validation", data_record(validation)}}.dump();
}

bool RunCheckpoints::due(int64_t global_step) const {
  return writes() && options_.checkpoint->every_steps > 0 && global_step % options_.checkpoint->every_steps == 0;
}

void RunCheckpoints::save(const RunPosition& position, int64_t global_step, const History& history,
                          uint64_t shuffle_seed, const std::vector<std::shared_ptr<Callback>>& callbacks,
                          const optim::StateDict* optimizer_state) {
  const CheckpointOptions& c = *options_.checkpoint;
  const fs::path dir(c.dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  DESCENT_CHECK(fs::is_directory(dir), "checkpoint directory '", c.dir, "': cannot create it",
                ec ? ": " + ec.message() : std::string(" (a file of that name is in the way)"));
  const auto existing = checkpoints_in(dir);
  if (!cleaned_) {  // leftovers of a write or removal that a killed process did not finish
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind(std::string(".") + kPrefix, 0) == 0) fs::remove_all(it->path(), ec);
    }
    cleaned_ = true;
  }

  const std::string name = kPrefix + padded_step(global_step);
  const fs::path final_path = dir / name, tmp = dir / ("." + name + ".tmp");
  try {
    fs::remove_all(tmp, ec);
    fs::create_directory(tmp, ec);
    DESCENT_CHECK(!ec, "cannot create '", tmp.string(), "': ", ec.message());

    // Tensors first (each file hashed as written), training.json last.
    const std::string model_bytes = io::serialize_safetensors(named_state(model_));
    io::NamedTensors extra;
    const Json optimizer = optimizer_json(optimizer_state ? *optimizer_state : model_.optimizer().state_dict(), extra);
    Json callback_states = Json::array();
    for (size_t i = 0; i < callbacks.size(); ++i) {
      const CallbackState s = callbacks[i]->save_state();
      if (s.empty()) continue;
      Json names = Json::array();
      for (const Tensor& t : s.tensors) {
        names.push_back(concat("callback.", i, ".", names.size()));
        extra.emplace_back(names.back().get<std::string>(), t);
      }
      Json record = {{"index", i}, {"numbers", number_map(s.numbers)}, {"texts", s.texts}, {"tensors", names}};
      if (s.schedule) record["schedule"] = schedule_json(*s.schedule);
      callback_states.push_back(record);
    }
    const std::string optimizer_bytes = io::serialize_safetensors(extra);

    Json metrics = Json::array();
    for (const auto& m : position.metric_states) metrics.push_back(numbers(m));
    Json generators = Json::array();
    for (const Generator* g : generators_of(model_)) generators.push_back(generator_json(g->state()));
    Json values = Json::object();
    for (const std::string& key : history.keys()) values[key] = numbers(history[key]);
    const auto file_record = [](const std::string& bytes) {
      return Json{{"bytes", bytes.size()}, {"hash", hex(hash_bytes(bytes.data(), bytes.size()))}};
    };
    const Json state = {
        {"format", kFormat},
        {"version", kVersion},
        {"global_step", global_step},
        {"position",
         {{"epoch", position.epoch},
          {"step", position.step},
          {"loss_sum", number(position.loss_sum)},
          {"seen", position.seen},
          {"skipped", position.skipped},
          {"metrics", metrics}}},
        {"config",
         {{"batch_size", options_.batch_size},
          {"shuffle", options_.shuffle},
          {"shuffle_seed", shuffle_seed},
          {"epochs", options_.epochs},
          {"threads", num_threads()}}},
        {"model", Json::parse(model_json_)},
        {"data", Json::parse(data_json_)},
        {"optimizer", optimizer},
        {"generators", generators},
        {"history", {{"epochs", history.epochs()}, {"keys", history.keys()}, {"values", values}}},
        {"callbacks", callback_states},
        {"files", {{kModelFile, file_record(model_bytes)}, {kOptimizerFile, file_record(optimizer_bytes)}}}};

    write_file_atomic((tmp / kModelFile).string(), model_bytes);
    write_file_atomic((tmp / kOptimizerFile).string(), optimizer_bytes);
    write_file_atomic((tmp / kStateFile).string(), state.dump(1) + "\n");
    if (fs::exists(final_path)) discard(final_path, "replaced");
    fs::rename(tmp, final_path, ec);
    DESCENT_CHECK(!ec, "cannot rename '", tmp.string(), "' to '", final_path.string(), "': ", ec.message());
    sync_directory(dir.string());
  } catch (const Error& e) {
    fs::remove_all(tmp, ec);
    fail("Sequential::fit: the checkpoint of step ", global_step, " was not written: ", e.what(), "; ",
         existing.empty() ? std::string("there is no earlier checkpoint")
                          : concat("the previous checkpoint '", existing.back().second.string(), "' is intact"));
  }

  // Older checkpoints beyond `keep`, and any of a later step: those belong to a run abandoned at this point.
  const auto all = checkpoints_in(dir);
  int64_t kept = 0;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->first > global_step || (it->first < global_step && ++kept >= c.keep)) discard(it->second, "old");
  }
}

Resumed RunCheckpoints::resume() {
  const fs::path checkpoint = newest_or_fail(options_.resume);
  const std::string where = concat("Sequential::fit: cannot resume from '", checkpoint.string(), "': ");
  try {
    const Json state = read_state(checkpoint);
    // The run must be the checkpoint's: same optimizer, model, data and batching.
    const std::string optimizer = state.at("optimizer").at("name").get<std::string>();
    DESCENT_CHECK(optimizer == model_.optimizer().name(), where, "it was written by optimizer ", optimizer,
                  ", this run uses ", model_.optimizer().name());
    const std::string model_difference = first_difference(state.at("model"), Json::parse(model_json_));
    DESCENT_CHECK(model_difference.empty(), where, "the model differs: ", model_difference);
    const std::string data_difference = first_difference(state.at("data"), Json::parse(data_json_));
    DESCENT_CHECK(data_difference.empty(), where, "the data differ (rows, shapes or values): ", data_difference);
    const Json& config = state.at("config");
    const auto batch_size = config.at("batch_size").get<int64_t>();
    DESCENT_CHECK(batch_size == options_.batch_size, where, "it was trained with batch size ", batch_size,
                  ", this run asks for ", options_.batch_size);
    const bool shuffle = config.at("shuffle").get<bool>();
    DESCENT_CHECK(shuffle == options_.shuffle, where, "it was trained with shuffle = ", shuffle ? "true" : "false",
                  ", this run asks for ", options_.shuffle ? "true" : "false");
    const auto shuffle_seed = config.at("shuffle_seed").get<uint64_t>();
    DESCENT_CHECK(!shuffle || !options_.seed || *options_.seed == shuffle_seed, where,
                  "it shuffled with seed ", shuffle_seed, ", this run asks for seed ", options_.seed.value_or(0));

    Resumed r;
    r.path = checkpoint.string();
    const Json& p = state.at("position");
    r.position.epoch = p.at("epoch").get<int64_t>();
    r.position.step = p.at("step").get<int64_t>();
    r.position.loss_sum = to_double(p.at("loss_sum"));
    r.position.seen = p.at("seen").get<int64_t>();
    r.position.skipped = p.at("skipped").get<int64_t>();
    for (const Json& m : p.at("metrics")) r.position.metric_states.push_back(to_doubles(m));
    DESCENT_CHECK(r.position.epoch >= 0 && r.position.step >= 0 && r.position.seen >= 0 && r.position.skipped >= 0,
                  where, "its position is negative");
    DESCENT_CHECK(r.position.metric_states.empty() || r.position.metric_states.size() == model_.metrics().size(),
                  where, "it holds ", r.position.metric_states.size(), " metrics' totals, the model has ",
                  model_.metrics().size(), " metrics");
    const Json& h = state.at("history");
    std::map<std::string, std::vector<double>> values;
    for (const auto& [k, v] : h.at("values").items()) values[k] = to_doubles(v);
    r.history = History::from_lists(h.at("epochs").get<std::vector<int64_t>>(),
                                    h.at("keys").get<std::vector<std::string>>(), std::move(values));
    r.shuffle_seed = shuffle_seed;

    // Load: the optimizer's state (refused without changing anything), then the weights (checked in full first).
    const io::NamedTensors extra = read_checked(checkpoint, kOptimizerFile, state);
    const std::map<std::string, Tensor> by_name(extra.begin(), extra.end());
    const optim::StateDict optimizer_state = to_state_dict(state.at("optimizer"), by_name);
    if (load_optimizer) load_optimizer(optimizer_state);
    else model_.optimizer().load_state_dict(optimizer_state);
    load_named_state(model_, read_checked(checkpoint, kModelFile, state), (checkpoint / kModelFile).string());
    pending_state_ = state.dump();
    for (const auto& [name, t] : extra)
      if (name.rfind("callback.", 0) == 0) pending_callback_tensors_.emplace(name, t);
    return r;
  } catch (const Json::exception& e) {
    fail(where, kStateFile, " is malformed: ", e.what());
  }
}

void RunCheckpoints::restore_after_train_begin(const std::vector<std::shared_ptr<Callback>>& callbacks) {
  if (pending_state_.empty()) return;
  const Json state = Json::parse(pending_state_);
  pending_state_.clear();
  try {
    for (const Json& record : state.at("callbacks")) {
      const auto index = record.at("index").get<size_t>();
      DESCENT_CHECK(index < callbacks.size(), "Sequential::fit: the checkpoint holds the state of callback ", index,
                    ", this run has ", callbacks.size(), " callbacks (pass the same callbacks, in the same order)");
      CallbackState s;
      s.numbers = to_number_map(record.at("numbers"));
      s.texts = record.at("texts").get<std::map<std::string, std::string>>();
      for (const Json& name : record.at("tensors")) {
        const auto it = pending_callback_tensors_.find(name.get<std::string>());
        DESCENT_CHECK(it != pending_callback_tensors_.end(), "Sequential::fit: the checkpoint lacks tensor '",
                      name.get<std::string>(), "' of callback ", index);
        s.tensors.push_back(it->second);
      }
      if (record.contains("schedule")) s.schedule = to_schedule(record.at("schedule"));
      callbacks[index]->load_state(s);
    }
    const std::vector<Generator*> gens = generators_of(model_);
    const Json& saved = state.at("generators");
    DESCENT_CHECK(saved.size() == gens.size(), "Sequential::fit: the checkpoint holds ", saved.size(),
                  " random generators, this model has ", gens.size(), " (the default one and one per Dropout layer)");
    for (size_t i = 0; i < gens.size(); ++i) gens[i]->set_state(to_generator(saved[i]));
  } catch (const Json::exception& e) {
    fail("Sequential::fit: the checkpoint's ", kStateFile, " is malformed: ", e.what());
  }
  pending_callback_tensors_.clear();
}

}  // namespace detail
}  // namespace descent::train
