#include "broker/edge/rule_eval.hpp"

#include <cmath>
#include <limits>

namespace tern::edge {
namespace {

bool is_true(const Json& v) { return v.is_boolean() && v.get<bool>(); }
bool is_false(const Json& v) { return v.is_boolean() && !v.get<bool>(); }

// An integer that fits int64 (JSON's unsigned numbers above it are taken as doubles).
bool as_int(const Json& v, std::int64_t& out) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (!v.is_number_integer()) return false;
  out = v.get<std::int64_t>();
  return true;
}

Json arithmetic(Expr::Op op, const Json& a, const Json& b) {
  if (!a.is_number() || !b.is_number()) return nullptr;
  std::int64_t i = 0, j = 0;
  if (op != Expr::Op::div && as_int(a, i) && as_int(b, j)) {
    std::int64_t r = 0;
    const bool overflow = op == Expr::Op::add   ? __builtin_add_overflow(i, j, &r)
                          : op == Expr::Op::sub ? __builtin_sub_overflow(i, j, &r)
                                                : __builtin_mul_overflow(i, j, &r);
    if (!overflow) return r;
  }
  const double x = a.get<double>(), y = b.get<double>();
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
      if (y == 0) return nullptr;
      r = x / y;
      break;
  }
  if (!std::isfinite(r)) return nullptr;
  return r;
}

// -1, 0, 1; nullopt when the two cannot be ordered.
std::optional<int> order(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) {
    std::int64_t x = 0, y = 0;
    if (as_int(a, x) && as_int(b, y)) return x < y ? -1 : x > y ? 1 : 0;
    const double dx = a.get<double>(), dy = b.get<double>();
    return dx < dy ? -1 : dx > dy ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_boolean() && b.is_boolean()) return a.get<bool>() == b.get<bool>() ? 0 : 2;  // equal or not, unordered
  return std::nullopt;
}

Json compare(Expr::Op op, const Json& a, const Json& b) {
  if (a.is_null() || b.is_null()) return false;
  const auto o = order(a, b);
  switch (op) {
    case Expr::Op::eq:
      return o ? *o == 0 : a == b;
    case Expr::Op::ne:
      return o ? *o != 0 : a != b;
    case Expr::Op::lt:
      return o && *o != 2 && *o < 0;
    case Expr::Op::le:
      return o && *o != 2 && *o <= 0;
    case Expr::Op::gt:
      return o && *o != 2 && *o > 0;
    default:
      return o && *o != 2 && *o >= 0;
  }
}

}  // namespace

const Json* PayloadJson::get(std::string_view payload) {
  if (state_ == State::unparsed) {
    value_ = Json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
    state_ = value_.is_discarded() ? State::invalid : State::valid;
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

const Json& Evaluation::field(std::size_t index) {
  if (fields_.size() < statement_.fields.size()) fields_.resize(statement_.fields.size());
  auto& slot = fields_[index];
  if (!slot) slot = evaluate(*statement_.fields[index].expr);
  return *slot;
}

Json Evaluation::evaluate(const Expr& e) {
  using Kind = Expr::Kind;
  switch (e.kind) {
    case Kind::literal:
      return e.value;
    case Kind::payload:
      return std::string(message_.payload);
    case Kind::payload_path: {
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
      return v ? *v : Json();
    }
    case Kind::topic:
      return std::string(message_.topic);
    case Kind::topic_level: {
      const auto level = topic_level(message_.topic, e.index);
      return level ? Json(std::string(*level)) : Json();
    }
    case Kind::qos:
      return static_cast<int>(message_.qos);
    case Kind::retain:
      return message_.retain;
    case Kind::clientid:
      return std::string(message_.clientid);
    case Kind::username:
      return message_.username && *message_.username ? Json(**message_.username) : Json();
    case Kind::user_property:
      if (message_.user_properties) {
        for (const auto& [key, value] : *message_.user_properties) {
          if (key == e.name) return value;
        }
      }
      return nullptr;
    case Kind::alias:
      return field(e.index);
    case Kind::negate: {
      const Json v = evaluate(*e.args[0]);
      if (std::int64_t n = 0; as_int(v, n) && n != std::numeric_limits<std::int64_t>::min()) return -n;
      if (v.is_number()) return -v.get<double>();
      return nullptr;
    }
    case Kind::logical_not: {
      const Json v = evaluate(*e.args[0]);
      return v.is_boolean() ? Json(!v.get<bool>()) : Json();
    }
    case Kind::binary:
      break;
  }
  const Json a = evaluate(*e.args[0]);
  if (e.op == Expr::Op::logical_and) {
    if (is_false(a)) return false;
    const Json b = evaluate(*e.args[1]);
    if (is_false(b)) return false;
    return is_true(a) && is_true(b) ? Json(true) : Json();
  }
  if (e.op == Expr::Op::logical_or) {
    if (is_true(a)) return true;
    const Json b = evaluate(*e.args[1]);
    if (is_true(b)) return true;
    return is_false(a) && is_false(b) ? Json(false) : Json();
  }
  const Json b = evaluate(*e.args[1]);
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

bool Evaluation::matches() { return !statement_.where || is_true(evaluate(*statement_.where)); }

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
  for (std::size_t i = 0; i < statement_.fields.size(); ++i) out[statement_.fields[i].name] = field(i);
  return out;
}

}  // namespace tern::edge
