// layers_to_json / architecture_from_json: one codec per layer class (its Keras config fields both ways), and a
// field reader that refuses unknown, duplicate and ill-typed fields with the layer's position and class.
#include "descent/train/layer_config.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "../io/strict_json.hpp"
#include "descent/core/error.hpp"
#include "descent/nn/conv.hpp"
#include "descent/nn/layers.hpp"
#include "descent/nn/linear.hpp"
#include "descent/nn/norm.hpp"

namespace descent::train {
namespace {

using Json = nlohmann::ordered_json;

// No parameter built from a config may hold more elements than this (8 GiB of float32): a config is a file, and
// a file must not make descent allocate whatever size it names.
// The fuzz build (DESCENT_FUZZ) lowers the cap so that a model it builds fits the fuzzer's memory limit.
#ifndef DESCENT_MAX_PARAMETER_ELEMENTS
#define DESCENT_MAX_PARAMETER_ELEMENTS (int64_t{1} << 31)
#endif
constexpr int64_t kMaxParameterElements = DESCENT_MAX_PARAMETER_ELEMENTS;

// One layer's "config" object. Each accessor marks its field as read; finish() refuses the fields nobody read.
class Fields {
 public:
  Fields(const Json& config, std::string where) : config_(config), where_(std::move(where)) {
    if (!config_.is_object()) fail(where_, ": \"config\" is ", config_.dump(), ", not a JSON object");
  }
  const std::string& where() const { return where_; }

  bool has(const std::string& key) const { return config_.contains(key); }

  const Json& get(const std::string& key) {
    if (!has(key)) fail(where_, ": the config has no \"", key, "\"");
    read_.insert(key);
    return config_.at(key);
  }

  int64_t integer(const std::string& key, int64_t lo = 1) {
    const Json& v = get(key);
    return checked_integer(v, key, lo);
  }

  // Keras accepts an integer or a list of `n` integers for sizes like kernel_size (3 means [3, 3]).
  std::vector<int64_t> integers(const std::string& key, size_t n, int64_t lo = 1) {
    const Json& v = get(key);
    if (v.is_array()) {
      if (v.size() != n) bad(key, v, concat("an integer or a list of ", n, " integers"));
      std::vector<int64_t> out;
      for (const Json& e : v) out.push_back(checked_integer(e, key, lo, &v));
      return out;
    }
    return std::vector<int64_t>(n, checked_integer(v, key, lo));
  }

  // A list of integers of any length, each >= lo (Reshape's target_shape, where -1 is allowed).
  std::vector<int64_t> integer_list(const std::string& key, int64_t lo) {
    const Json& v = get(key);
    if (!v.is_array()) bad(key, v, "a list of integers");
    std::vector<int64_t> out;
    for (const Json& e : v) out.push_back(checked_integer(e, key, lo, &v));
    return out;
  }

  // null or any non-negative 64-bit integer (a random seed).
  std::optional<uint64_t> seed(const std::string& key) {
    if (!has(key) || get(key).is_null()) return std::nullopt;
    const Json& v = get(key);
    if (!v.is_number_unsigned()) bad(key, v, "null or a non-negative integer");
    return v.get<uint64_t>();
  }

  // Keras fields descent supports only at one value (data_format "channels_last", groups 1, …): accepted when
  // absent or equal to `only`, refused otherwise with `why`.
  void only(const std::string& key, const Json& only_value, const char* why) {
    if (!has(key)) return;
    const Json& v = get(key);
    if (v != only_value && !(only_value.is_number() && v.is_array() &&
                             std::all_of(v.begin(), v.end(), [&](const Json& e) { return e == only_value; })))
      fail(where_, ": \"", key, "\" = ", v.dump(), " is not supported (", why, ")");
  }

  double number(const std::string& key, double fallback, double lo, double hi) {
    return has(key) ? number(key, lo, hi) : fallback;
  }
  double number(const std::string& key, double lo, double hi) {
    const Json& v = get(key);
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < lo || v.get<double>() > hi)
      bad(key, v, concat("a number in [", lo, ", ", hi, "]"));
    return v.get<double>();
  }

  bool boolean(const std::string& key, bool fallback) {
    if (!has(key)) return fallback;
    const Json& v = get(key);
    if (!v.is_boolean()) bad(key, v, "true or false");
    return v.get<bool>();
  }

  std::string string(const std::string& key) {
    const Json& v = get(key);
    if (!v.is_string()) bad(key, v, "a string");
    return v.get<std::string>();
  }
  std::string string(const std::string& key, const std::string& fallback) { return has(key) ? string(key) : fallback; }
  std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& allowed) {
    const std::string s = string(key, fallback);
    for (const auto& a : allowed)
      if (s == a) return s;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "\"" : ", \"") + a + "\"";
    bad(key, get(key), "one of " + list);
  }

  DType dtype() {
    const std::string s = string("dtype", "float32");
    if (s == "float32") return kFloat32;
    if (s == "float64") return kFloat64;
    bad("dtype", get("dtype"), "\"float32\" or \"float64\"");
  }

  // [null, d1, d2, …]: a shape with its batch axis first (null or a positive integer, dropped); the other
  // dimensions are positive integers, or null where `allow_unknown` (returned as -1). One sample may hold at
  // most kMaxParameterElements elements: a model builds itself by running a zero sample of this shape.
  Shape batch_shape(const std::string& key, bool allow_unknown) {
    const Json& v = get(key);
    if (!v.is_array() || v.empty()) bad(key, v, "a list [batch, dims…]");
    if (!v[0].is_null()) checked_integer(v[0], key, 1, &v);
    Shape shape;
    int64_t elements = 1;
    for (size_t i = 1; i < v.size(); ++i) {
      if (v[i].is_null() && allow_unknown) {
        shape.push_back(-1);
        continue;
      }
      shape.push_back(checked_integer(v[i], key, 1, &v));
      if (__builtin_mul_overflow(elements, shape.back(), &elements) || elements > kMaxParameterElements)
        fail(where_, ": \"", key, "\" ", v.dump(), " has more than ", kMaxParameterElements, " elements per sample");
    }
    return shape;
  }

  // Keras writes these for every layer; descent has no per-layer names and trains every layer.
  void common() {
    if (has("name")) string("name");
    if (!boolean("trainable", true)) fail(where_, ": \"trainable\": false is not supported (every layer trains)");
  }

  void finish() const {
    for (const auto& [key, value] : config_.items())
      if (!read_.count(key)) fail(where_, ": unknown field \"", key, "\" = ", value.dump());
  }

  [[noreturn]] void bad(const std::string& key, const Json& value, const std::string& wanted) const {
    fail(where_, ": \"", key, "\" is ", value.dump(), ", not ", wanted);
  }

 private:
  int64_t checked_integer(const Json& v, const std::string& key, int64_t lo, const Json* whole = nullptr) const {
    const bool ok = (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(kMaxParameterElements)) ||
                    (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() >= -kMaxParameterElements);
    if (!ok || v.get<int64_t>() < lo)
      bad(key, whole ? *whole : v,
          concat(whole ? "a list of integers each " : "an integer ", ">= ", lo, " and <= ", kMaxParameterElements));
    return v.get<int64_t>();
  }

  const Json& config_;
  std::string where_;
  std::set<std::string> read_;
};

void check_parameter_size(const Fields& f, const char* what, std::initializer_list<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxParameterElements)
      fail(f.where(), ": the ", what, " would hold more than ", kMaxParameterElements, " elements");
}

Json shape_with_batch(const Shape& shape) {
  Json out = Json::array({nullptr});
  for (int64_t d : shape) out.push_back(d < 0 ? Json(nullptr) : Json(d));
  return out;
}

// ---- codecs: one per class --------------------------------------------------------------------------------
// to: fills the config (and the input shape the parameters were built for, if built) when `m` is this class.
// from: builds the layer from its fields and, when known, its build input shape (-1 for unknown dimensions).

struct Codec {
  std::string class_name;
  std::function<bool(const nn::Module& m, Json& config, std::optional<Shape>& built_for)> to;
  std::function<std::shared_ptr<nn::Module>(Fields& f, const std::optional<Shape>& built_for)> from;
};

// The last dimension of a build shape, which must be known: the feature axis Dense, the norms and Conv2D
// (channels-last) size their parameters by.
int64_t known_last(const Fields& f, const Shape& s) {
  if (s.empty() || s.back() < 1) fail(f.where(), ": build_config input_shape ", s, " has no known last dimension");
  return s.back();
}

Codec dense_codec() {
  return {"Dense",
          [](const nn::Module& m, Json& config, std::optional<Shape>& built_for) {
            const auto* d = dynamic_cast<const nn::Dense*>(&m);
            if (!d) return false;
            config["units"] = d->units();
            config["activation"] = d->activation_name().empty() ? "linear" : d->activation_name();
            config["use_bias"] = d->options().use_bias;
            config["dtype"] = std::string(dtype_name(d->options().dtype));
            if (d->built()) built_for = Shape{d->kernel.size(0)};
            return true;
          },
          [](Fields& f, const std::optional<Shape>& built_for) -> std::shared_ptr<nn::Module> {
            const int64_t units = f.integer("units");
            nn::DenseOptions options;
            options.activation = f.string("activation", "linear");
            options.use_bias = f.boolean("use_bias", true);
            options.dtype = f.dtype();
            std::optional<int64_t> input_dim;
            if (built_for) {
              input_dim = known_last(f, *built_for);
              check_parameter_size(f, "kernel", {*input_dim, units});
            }
            return std::make_shared<nn::Dense>(units, options, input_dim);
          }};
}

Json size2d(Size2d s) { return Json::array({s.h, s.w}); }

Codec conv2d_codec() {
  return {"Conv2D",
          [](const nn::Module& m, Json& config, std::optional<Shape>& built_for) {
            const auto* c = dynamic_cast<const nn::Conv2D*>(&m);
            if (!c) return false;
            config["filters"] = c->filters();
            config["kernel_size"] = size2d(c->kernel_size());
            config["strides"] = size2d(c->strides());
            config["padding"] = c->padding();
            config["data_format"] = "channels_last";
            config["activation"] = c->activation_name().empty() ? "linear" : c->activation_name();
            config["use_bias"] = c->use_bias();
            config["kernel_initializer"] = c->kernel_initializer();
            config["bias_initializer"] = c->bias_initializer();
            config["dtype"] = std::string(dtype_name(c->options().dtype));
            if (c->built()) built_for = Shape{-1, -1, c->kernel.size(2)};
            return true;
          },
          [](Fields& f, const std::optional<Shape>& built_for) -> std::shared_ptr<nn::Module> {
            const int64_t filters = f.integer("filters");
            const std::vector<int64_t> k = f.integers("kernel_size", 2);
            nn::Conv2DOptions o;
            if (f.has("strides")) {
              const std::vector<int64_t> st = f.integers("strides", 2);
              o.strides = Size2d(st[0], st[1]);
            }
            o.padding = f.choice("padding", "valid", {"valid", "same"});
            f.only("data_format", "channels_last", "images are channels-last [N, H, W, C]");
            f.only("dilation_rate", 1, "no dilated convolution");
            f.only("groups", 1, "no grouped convolution");
            o.activation = f.string("activation", "linear");
            o.use_bias = f.boolean("use_bias", true);
            o.kernel_initializer = f.string("kernel_initializer", o.kernel_initializer);
            o.bias_initializer = f.string("bias_initializer", o.bias_initializer);
            o.dtype = f.dtype();
            auto layer = std::make_shared<nn::Conv2D>(filters, Size2d(k[0], k[1]), o);
            if (built_for) {
              const int64_t channels = known_last(f, *built_for);
              check_parameter_size(f, "kernel", {k[0], k[1], channels, filters});
              layer->build(channels);
            }
            return layer;
          }};
}

template <class Pool>
Codec pooling_codec(const char* class_name) {
  return {
      class_name,
      [](const nn::Module& m, Json& config, std::optional<Shape>&) {
        const auto* p = dynamic_cast<const Pool*>(&m);
        if (!p) return false;
        config["pool_size"] = size2d(p->pool_size());
        config["strides"] = size2d(p->strides());
        config["padding"] = p->padding();
        config["data_format"] = "channels_last";
        return true;
      },
      [](Fields& f, const std::optional<Shape>&) -> std::shared_ptr<nn::Module> {
        const std::vector<int64_t> pool = f.has("pool_size") ? f.integers("pool_size", 2) : std::vector<int64_t>{2, 2};
        std::optional<Size2d> strides;
        if (f.has("strides") && !f.get("strides").is_null()) {  // Keras: strides None means pool_size
          const std::vector<int64_t> st = f.integers("strides", 2);
          strides = Size2d(st[0], st[1]);
        }
        const std::string padding = f.choice("padding", "valid", {"valid", "same"});
        f.only("data_format", "channels_last", "images are channels-last [N, H, W, C]");
        return std::make_shared<Pool>(Size2d(pool[0], pool[1]), strides, padding);
      }};
}

Codec dropout_codec() {
  return {"Dropout",
          [](const nn::Module& m, Json& config, std::optional<Shape>&) {
            const auto* d = dynamic_cast<const nn::Dropout*>(&m);
            if (!d) return false;
            config["rate"] = d->rate();
            config["seed"] = d->seed() ? Json(*d->seed()) : Json(nullptr);
            return true;
          },
          [](Fields& f, const std::optional<Shape>&) -> std::shared_ptr<nn::Module> {
            const double rate = f.number("rate", 0.0, 1.0);
            f.only("noise_shape", nullptr, "dropout masks are elementwise");
            return std::make_shared<nn::Dropout>(rate, f.seed("seed"));
          }};
}

Codec flatten_codec() {
  return {"Flatten",
          [](const nn::Module& m, Json& config, std::optional<Shape>&) {
            if (!dynamic_cast<const nn::Flatten*>(&m)) return false;
            config["data_format"] = "channels_last";
            return true;
          },
          [](Fields& f, const std::optional<Shape>&) -> std::shared_ptr<nn::Module> {
            f.only("data_format", "channels_last", "images are channels-last [N, H, W, C]");
            return std::make_shared<nn::Flatten>();
          }};
}

Codec reshape_codec() {
  return {"Reshape",
          [](const nn::Module& m, Json& config, std::optional<Shape>&) {
            const auto* r = dynamic_cast<const nn::Reshape*>(&m);
            if (!r) return false;
            config["target_shape"] = r->target_shape();
            return true;
          },
          [](Fields& f, const std::optional<Shape>&) -> std::shared_ptr<nn::Module> {
            return std::make_shared<nn::Reshape>(f.integer_list("target_shape", -1));
          }};
}

Codec activation_codec() {
  return {"Activation",
          [](const nn::Module& m, Json& config, std::optional<Shape>&) {
            const auto* a = dynamic_cast<const nn::ActivationLayer*>(&m);
            if (!a) return false;
            config["activation"] = a->activation_name().empty() ? "linear" : a->activation_name();
            return true;
          },
          [](Fields& f, const std::optional<Shape>&) -> std::shared_ptr<nn::Module> {
            return std::make_shared<nn::ActivationLayer>(f.string("activation"));
          }};
}

// The feature count and dtype a norm layer's parameters were built with, from whichever tensor it has.
void norm_built_for(std::initializer_list<const Tensor*> tensors, Json& config, std::optional<Shape>& built_for) {
  for (const Tensor* t : tensors)
    if (t->defined()) {
      config["dtype"] = std::string(dtype_name(t->dtype()));
      built_for = Shape{t->size(0)};
      return;
    }
}

Codec batch_norm_codec() {
  return {"BatchNormalization",
          [](const nn::Module& m, Json& config, std::optional<Shape>& built_for) {
            const auto* b = dynamic_cast<const nn::BatchNormalization*>(&m);
            if (!b) return false;
            config["axis"] = -1;
            config["momentum"] = b->momentum();
            config["epsilon"] = b->epsilon();
            config["center"] = b->center();
            config["scale"] = b->scale();
            norm_built_for({&b->moving_mean}, config, built_for);
            return true;
          },
          [](Fields& f, const std::optional<Shape>& built_for) -> std::shared_ptr<nn::Module> {
            nn::BatchNormalizationOptions o;
            f.only("axis", -1, "normalisation is over the last axis");
            o.momentum = f.number("momentum", o.momentum, 0.0, 1.0);
            o.epsilon = f.number("epsilon", o.epsilon, 0.0, std::numeric_limits<double>::max());
            o.center = f.boolean("center", o.center);
            o.scale = f.boolean("scale", o.scale);
            const DType dtype = f.dtype();
            auto layer = std::make_shared<nn::BatchNormalization>(o);
            if (built_for) {
              const int64_t features = known_last(f, *built_for);
              layer->build(features, dtype);
            }
            return layer;
          }};
}

Codec layer_norm_codec() {
  return {"LayerNormalization",
          [](const nn::Module& m, Json& config, std::optional<Shape>& built_for) {
            const auto* l = dynamic_cast<const nn::LayerNormalization*>(&m);
            if (!l) return false;
            config["axis"] = -1;
            config["epsilon"] = l->epsilon();
            config["center"] = l->center();
            config["scale"] = l->scale();
            norm_built_for({&l->gamma, &l->beta}, config, built_for);
            return true;
          },
          [](Fields& f, const std::optional<Shape>& built_for) -> std::shared_ptr<nn::Module> {
            nn::LayerNormalizationOptions o;
            f.only("axis", -1, "normalisation is over the last axis");
            o.epsilon = f.number("epsilon", o.epsilon, 0.0, std::numeric_limits<double>::max());
            o.center = f.boolean("center", o.center);
            o.scale = f.boolean("scale", o.scale);
            const DType dtype = f.dtype();
            auto layer = std::make_shared<nn::LayerNormalization>(o);
            if (built_for) layer->build(known_last(f, *built_for), dtype);
            return layer;
          }};
}

const std::vector<Codec>& codecs() {
  static const std::vector<Codec> all = {dense_codec(),
                                         conv2d_codec(),
                                         pooling_codec<nn::MaxPooling2D>("MaxPooling2D"),
                                         pooling_codec<nn::AveragePooling2D>("AveragePooling2D"),
                                         dropout_codec(),
                                         flatten_codec(),
                                         reshape_codec(),
                                         activation_codec(),
                                         batch_norm_codec(),
                                         layer_norm_codec()};
  return all;
}

std::string known_list() {
  std::string s;
  for (const auto& name : known_layer_classes()) s += (s.empty() ? "" : ", ") + name;
  return s;
}

// ---- reading --------------------------------------------------------------------------------------------

const std::set<std::string> kIgnoredEntryKeys = {"module", "registered_name", "name"};  // Keras 3 bookkeeping

std::optional<Shape> read_input_layer(const Json& config, const std::string& where) {
  Fields f(config, where);
  f.common();
  Shape shape;
  if (f.has("batch_shape") && f.has("batch_input_shape"))
    fail(where, ": give \"batch_shape\" or \"batch_input_shape\", not both");
  shape = f.batch_shape(f.has("batch_shape") ? "batch_shape" : "batch_input_shape", false);
  f.dtype();  // validated; each layer carries its own dtype
  f.finish();
  return shape;
}

// `first`: no layer has been read yet, so the model's input shape (if known) is this layer's input shape.
std::shared_ptr<nn::Module> read_layer(const Json& entry, size_t index, bool first, std::optional<Shape>* input_shape) {
  std::string where = concat("layers_from_json: layer ", index);
  if (!entry.is_object()) fail(where, ": entry is ", entry.dump(), ", not a JSON object");
  if (!entry.contains("class_name") || !entry["class_name"].is_string())
    fail(where, ": the entry has no \"class_name\" string");
  const std::string class_name = entry["class_name"].get<std::string>();
  where += " (" + class_name + ")";
  for (const auto& [key, value] : entry.items())
    if (key != "class_name" && key != "config" && key != "build_config" && !kIgnoredEntryKeys.count(key))
      fail(where, ": unknown field \"", key, "\" in the entry");
  const Json config = entry.contains("config") ? entry["config"] : Json::object();

  if (class_name == "InputLayer") {
    if (index != 0) fail(where, ": an InputLayer can only come first");
    *input_shape = read_input_layer(config, where);
    return nullptr;
  }
  for (const Codec& codec : codecs()) {
    if (codec.class_name != class_name) continue;
    std::optional<Shape> built_for;
    if (entry.contains("build_config")) {
      Fields b(entry["build_config"], where + " build_config");
      built_for = b.batch_shape("input_shape", true);
      b.finish();
    }
    Fields f(config, where);
    f.common();
    // Keras 2 writes the model's input shape into the first layer's config.
    if (index == 0 && f.has("batch_input_shape")) *input_shape = f.batch_shape("batch_input_shape", false);
    if (!built_for && first && *input_shape) built_for = *input_shape;
    std::shared_ptr<nn::Module> layer;
    try {
      layer = codec.from(f, built_for);
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (msg.rfind(where, 0) == 0) throw;
      fail(where, ": ", msg);  // the layer's own refusal (an unknown activation, …), placed
    }
    f.finish();
    return layer;
  }
  fail(where, ": unknown layer class '", class_name, "' (known: ", known_list(), ", InputLayer)");
}

}  // namespace

std::vector<std::string> known_layer_classes() {
  std::vector<std::string> names;
  for (const Codec& c : codecs()) names.push_back(c.class_name);
  return names;
}

std::string layers_to_json(const std::vector<std::shared_ptr<nn::Module>>& layers,
                           const std::optional<Shape>& input_shape) {
  Json list = Json::array();
  if (input_shape) {
    for (int64_t d : *input_shape)
      DESCENT_CHECK(d > 0, "layers_to_json: input_shape ", *input_shape, " must hold positive sizes");
    list.push_back({{"class_name", "InputLayer"}, {"config", {{"batch_shape", shape_with_batch(*input_shape)}}}});
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    DESCENT_CHECK(layers[i] != nullptr, "layers_to_json: layer ", i, " is null");
    const nn::Module& m = *layers[i];
    bool done = false;
    for (const Codec& codec : codecs()) {
      Json config = Json::object();
      std::optional<Shape> built_for;
      if (!codec.to(m, config, built_for)) continue;
      Json entry = {{"class_name", codec.class_name}, {"config", config}};
      if (built_for) entry["build_config"] = {{"input_shape", shape_with_batch(*built_for)}};
      list.push_back(std::move(entry));
      done = true;
      break;
    }
    if (!done)
      fail("layers_to_json: layer ", i, " is a ", m.type_name(), ", which has no JSON form (known: ", known_list(),
           ")");
  }
  const Json doc = {{"class_name", "Sequential"}, {"config", {{"layers", list}}}};
  return doc.dump(2);
}

Architecture architecture_from_json(const std::string& json) {
  const Json doc = io::detail::parse_strict_json(json, "layers_from_json: the document");
  const Json* list = &doc;
  if (doc.is_object()) {
    for (const auto& [key, value] : doc.items())
      if (key != "class_name" && key != "config" && key != "keras_version" && key != "backend" &&
          !kIgnoredEntryKeys.count(key))
        fail("layers_from_json: unknown field \"", key, "\" in the document");
    if (!doc.contains("class_name") || doc["class_name"] != "Sequential")
      fail("layers_from_json: the document's class_name is ", doc.value("class_name", Json()).dump(),
           ", not \"Sequential\"");
    if (!doc.contains("config") || !doc["config"].is_object())
      fail("layers_from_json: the Sequential document has no \"config\" object");
    Fields top(doc["config"], "layers_from_json: Sequential");
    top.common();
    list = &top.get("layers");
    top.finish();
  }
  if (!list->is_array()) fail("layers_from_json: \"layers\" is ", list->dump(), ", not a list of layers");

  Architecture arch;
  for (size_t i = 0; i < list->size(); ++i)
    if (auto layer = read_layer((*list)[i], i, arch.layers.empty(), &arch.input_shape))
      arch.layers.push_back(std::move(layer));
  return arch;
}

std::vector<std::shared_ptr<nn::Module>> layers_from_json(const std::string& json) {
  return architecture_from_json(json).layers;
}

}  // namespace descent::train
