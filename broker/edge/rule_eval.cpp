#include "broker/edge/rule_eval.hpp"

#include <cmath>
#include <limits>

namespace tern::edge {
namespace {

using Kind = Value::Kind;

Value arithmetic(Expr::Op op, const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) return {};
  if (op != Expr::Op::div && a.kind == Kind::integer && b.kind == Kind::integer) {
    std::int64_t r = 0;
    const bool overflow = op == Expr::Op::add   ? __builtin_add_overflow(a.integer, b.integer, &r)
                          : op == Expr::Op::sub ? __builtin_sub_overflow(a.integer, b.integer, &r)
                                                : __builtin_mul_overflow(a.integer, b.integer, &r);
    if (!overflow) return {.kind = Kind::integer, .integer = r};
  }
  const double x = a.as_double(), y = b.as_double();
  double r = 0;
  switch (op) {
    case Expr::Op::add:
      r = x + y;
      break;
    case Expr::Op::sub:
      r = x - y;
      break;
    case Expr::Op::mul:
      r = x * y;
      break;
    default:
      if (y == 0) return {};
      r = x / y;
      break;
  }
  if (!std::isfinite(r)) return {};
  return {.kind = Kind::real, .real = r};
}

// -1, 0, 1; 2: equal or not but unordered (booleans: 0 or 2); nullopt when the two cannot be compared.
std::optional<int> order(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::integer && b.kind == Kind::integer) return a.integer < b.integer ? -1 : a.integer > b.integer;
    const double x = a.as_double(), y = b.as_double();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind == Kind::text && b.kind == Kind::text) {
    const int c = a.text.compare(b.text);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.kind == Kind::boolean && b.kind == Kind::boolean) return a.boolean == b.boolean ? 0 : 2;
  return std::nullopt;
}

Value compare(Expr::Op op, const Value& a, const Value& b) {
  if (a.kind == Kind::null || b.kind == Kind::null) return Value::of_bool(false);
  const auto o = order(a, b);
  bool r = false;
  switch (op) {
    case Expr::Op::eq:
      r = o ? *o == 0 : (a.kind == Kind::json && b.kind == Kind::json && *a.json == *b.json);
      break;
    case Expr::Op::ne:
      r = o ? *o != 0 : !(a.kind == Kind::json && b.kind == Kind::json && *a.json == *b.json);
      break;
    case Expr::Op::lt:
      r = o && *o != 2 && *o < 0;
      break;
    case Expr::Op::le:
      r = o && *o != 2 && *o <= 0;
      break;
    case Expr::Op::gt:
      r = o && *o != 2 && *o > 0;
      break;
    default:
      r = o && *o != 2 && *o >= 0;
      break;
  }
  return Value::of_bool(r);
}

}  // namespace

// Whether `payload` can be JSON at all: a JSON text starts, after white space, with one of these. The parser builds
// an error message (formatted, allocated) even when told not to throw, which costs a microsecond; a binary payload is
// turned away here in a few nanoseconds instead.
bool may_be_json(std::string_view payload) {
  const auto start = payload.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return false;
  const char c = payload[start];
  return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n';
}

const Json* PayloadJson::get(std::string_view payload) {
  if (state_ == State::unparsed) {
    state_ = State::invalid;
    if (may_be_json(payload)) {
      value_ = Json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
      if (!value_.is_discarded()) state_ = State::valid;
    }
  }
  return state_ == State::valid ? &value_ : nullptr;
}

std::optional<std::string_view> topic_level(std::string_view topic, std::size_t n) {
  for (std::size_t level = 1;; ++level) {
    const auto slash = topic.find('/');
    if (level == n) return topic.substr(0, slash);
    if (slash == std::string_view::npos) return std::nullopt;
    topic.remove_prefix(slash + 1);
  }
}

std::string dump(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string to_text(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return {};
  return dump(value);
}

Value Value::of(const Json& j) {
  switch (j.type()) {
    case Json::value_t::boolean:
      return of_bool(j.get<bool>());
    case Json::value_t::number_integer:
      return {.kind = Kind::integer, .integer = j.get<std::int64_t>()};
    case Json::value_t::number_unsigned: {
      const auto u = j.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return {.kind = Kind::integer, .integer = static_cast<std::int64_t>(u)};
      return {.kind = Kind::real, .real = static_cast<double>(u)};
    }
    case Json::value_t::number_float:
      return {.kind = Kind::real, .real = j.get<double>()};
    case Json::value_t::string:
      return of_text(j.get_ref<const std::string&>());
    case Json::value_t::object:
    case Json::value_t::array:
      return {.kind = Kind::json, .json = &j};
    default:
      return {};
  }
}

Json to_json(const Value& v) {
  switch (v.kind) {
    case Kind::boolean:
      return v.boolean;
    case Kind::integer:
      return v.integer;
    case Kind::real:
      return v.real;
    case Kind::text:
      return std::string(v.text);
    case Kind::json:
      return *v.json;
    default:
      return nullptr;
  }
}

std::string to_text(const Value& v) {
  if (v.kind == Kind::text) return std::string(v.text);
  if (v.kind == Kind::null) return {};
  return dump(to_json(v));
}

const Value& Evaluation::field(std::size_t index) {
  if (fields_.size() < statement_.fields.size()) fields_.resize(statement_.fields.size());
  auto& slot = fields_[index];
  if (!slot) slot = value(*statement_.fields[index].expr);
  return *slot;
}

Value Evaluation::value(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::literal:
      return Value::of(e.value);
    case Expr::Kind::payload:
      return Value::of_text(message_.payload);
    case Expr::Kind::payload_path: {
      const Json* v = payload_.get(message_.payload);
      for (const Expr::Step& step : e.path) {
        if (!v) break;
        if (step.index != 0) {
          v = v->is_array() && step.index <= v->size() ? &(*v)[step.index - 1] : nullptr;
        } else if (v->is_object()) {
          const auto it = v->find(step.name);
          v = it == v->end() ? nullptr : &*it;
        } else {
          v = nullptr;
        }
      }
      return v ? Value::of(*v) : Value{};
    }
    case Expr::Kind::topic:
      return Value::of_text(message_.topic);
    case Expr::Kind::topic_level: {
      const auto level = topic_level(message_.topic, e.index);
      return level ? Value::of_text(*level) : Value{};
    }
    case Expr::Kind::qos:
      return {.kind = Kind::integer, .integer = static_cast<int>(message_.qos)};
    case Expr::Kind::retain:
      return Value::of_bool(message_.retain);
    case Expr::Kind::clientid:
      return Value::of_text(message_.clientid);
    case Expr::Kind::username:
      return message_.username && *message_.username ? Value::of_text(**message_.username) : Value{};
    case Expr::Kind::user_property:
      if (message_.user_properties) {
        for (const auto& [key, property] : *message_.user_properties) {
          if (key == e.name) return Value::of_text(property);
        }
      }
      return {};
    case Expr::Kind::alias:
      return field(e.index);
    case Expr::Kind::negate: {
      const Value v = value(*e.args[0]);
      if (v.kind == Kind::integer && v.integer != std::numeric_limits<std::int64_t>::min())
        return {.kind = Kind::integer, .integer = -v.integer};
      if (v.is_number()) return {.kind = Kind::real, .real = -v.as_double()};
      return {};
    }
    case Expr::Kind::logical_not: {
      const Value v = value(*e.args[0]);
      return v.kind == Kind::boolean ? Value::of_bool(!v.boolean) : Value{};
    }
    case Expr::Kind::binary:
      break;
  }
  const Value a = value(*e.args[0]);
  if (e.op == Expr::Op::logical_and) {
    if (a.is_false()) return Value::of_bool(false);
    const Value b = value(*e.args[1]);
    if (b.is_false()) return Value::of_bool(false);
    return a.is_true() && b.is_true() ? Value::of_bool(true) : Value{};
  }
  if (e.op == Expr::Op::logical_or) {
    if (a.is_true()) return Value::of_bool(true);
    const Value b = value(*e.args[1]);
    if (b.is_true()) return Value::of_bool(true);
    return a.is_false() && b.is_false() ? Value::of_bool(false) : Value{};
  }
  const Value b = value(*e.args[1]);
  switch (e.op) {
    case Expr::Op::add:
    case Expr::Op::sub:
    case Expr::Op::mul:
    case Expr::Op::div:
      return arithmetic(e.op, a, b);
    default:
      return compare(e.op, a, b);
  }
}

bool Evaluation::matches() { return !statement_.where || value(*statement_.where).is_true(); }

Json Evaluation::selected() {
  Json out = Json::object();
  if (statement_.select_all) {
    out["topic"] = std::string(message_.topic);
    out["qos"] = static_cast<int>(message_.qos);
    out["retain"] = message_.retain;
    out["clientid"] = std::string(message_.clientid);
    out["username"] = message_.username && *message_.username ? Json(**message_.username) : Json();
    const Json* json = payload_.get(message_.payload);
    out["payload"] = json ? *json : Json(std::string(message_.payload));
    return out;
  }
  for (std::size_t i = 0; i < statement_.fields.size(); ++i) out[statement_.fields[i].name] = to_json(field(i));
  return out;
}

}  // namespace tern::edge
