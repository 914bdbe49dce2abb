// A recursive-descent parser and evaluator for the go-bexpr subset described in filter.h.

#include "sim/nomad/filter.h"

#include <boost/json.hpp>
#include <cctype>
#include <regex>
#include <vector>

namespace berth::sim::nomad {

namespace json = boost::json;

struct Filter::Node {
  enum class Kind { kAnd, kOr, kNot, kMatch };
  enum class Op { kEqual, kNotEqual, kContains, kNotContains, kMatches, kNotMatches, kEmpty, kNotEmpty };
  Kind kind = Kind::kMatch;
  std::shared_ptr<const Node> left;
  std::shared_ptr<const Node> right;
  Op op = Op::kEqual;
  std::vector<std::string> selector;
  std::string value;
  std::optional<std::regex> pattern;
};

namespace {

using Node = Filter::Node;

struct Token {
  enum class Kind { kWord, kString, kOp, kOpen, kClose, kDot, kLeftBracket, kRightBracket, kEnd };
  Kind kind = Kind::kEnd;
  std::string text;
  std::size_t at = 0;
};

std::optional<std::vector<Token>> tokenize(const std::string& text, std::string& error) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token token;
    token.at = i;
    if (c == '"' || c == '`') {
      std::string value;
      std::size_t j = i + 1;
      while (j < text.size() && text[j] != c) {
        if (c == '"' && text[j] == '\\' && j + 1 < text.size()) ++j;
        value += text[j++];
      }
      if (j >= text.size()) {
        error = "unterminated string at position " + std::to_string(i);
        return std::nullopt;
      }
      token.kind = Token::Kind::kString;
      token.text = value;
      i = j + 1;
    } else if (c == '(' || c == ')' || c == '.' || c == '[' || c == ']') {
      token.kind = c == '(' ? Token::Kind::kOpen
                   : c == ')' ? Token::Kind::kClose
                   : c == '.' ? Token::Kind::kDot
                   : c == '[' ? Token::Kind::kLeftBracket
                              : Token::Kind::kRightBracket;
      token.text = std::string(1, c);
      ++i;
    } else if ((c == '=' || c == '!') && i + 1 < text.size() && text[i + 1] == '=') {
      token.kind = Token::Kind::kOp;
      token.text = text.substr(i, 2);
      i += 2;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '/' || c == ':') {
      std::size_t j = i;
      while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_' ||
                                 text[j] == '-' || text[j] == '/' || text[j] == ':')) {
        ++j;
      }
      token.kind = Token::Kind::kWord;
      token.text = text.substr(i, j - i);
      i = j;
    } else {
      error = std::string("unexpected character '") + c + "' at position " + std::to_string(i);
      return std::nullopt;
    }
    tokens.push_back(std::move(token));
  }
  tokens.push_back(Token{Token::Kind::kEnd, "", text.size()});
  return tokens;
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, std::string& error) : tokens_(std::move(tokens)), error_(error) {}

  std::shared_ptr<const Node> parse() {
    auto node = parse_or();
    if (node && peek().kind != Token::Kind::kEnd) return fail("unexpected \"" + peek().text + "\"");
    return node;
  }

 private:
  const Token& peek(std::size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  bool word(const char* text, std::size_t ahead = 0) const {
    return peek(ahead).kind == Token::Kind::kWord && peek(ahead).text == text;
  }
  std::shared_ptr<const Node> fail(const std::string& message) {
    if (error_.empty()) error_ = message + " at position " + std::to_string(peek().at);
    return nullptr;
  }

  std::shared_ptr<const Node> parse_or() {
    auto left = parse_and();
    while (left && word("or")) {
      ++pos_;
      auto right = parse_and();
      if (!right) return nullptr;
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kOr;
      node->left = left;
      node->right = right;
      left = node;
    }
    return left;
  }

  std::shared_ptr<const Node> parse_and() {
    auto left = parse_unary();
    while (left && word("and")) {
      ++pos_;
      auto right = parse_unary();
      if (!right) return nullptr;
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kAnd;
      node->left = left;
      node->right = right;
      left = node;
    }
    return left;
  }

  std::shared_ptr<const Node> parse_unary() {
    if (word("not")) {
      ++pos_;
      auto inner = parse_unary();
      if (!inner) return nullptr;
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::kNot;
      node->left = inner;
      return node;
    }
    if (peek().kind == Token::Kind::kOpen) {
      ++pos_;
      auto inner = parse_or();
      if (!inner) return nullptr;
      if (peek().kind != Token::Kind::kClose) return fail("expected )");
      ++pos_;
      return inner;
    }
    return parse_match();
  }

  std::optional<std::string> parse_value() {
    const Token& token = peek();
    if (token.kind == Token::Kind::kString || token.kind == Token::Kind::kWord) {
      ++pos_;
      return token.text;
    }
    fail("expected a value");
    return std::nullopt;
  }

  std::optional<std::vector<std::string>> parse_selector() {
    std::vector<std::string> path;
    if (peek().kind != Token::Kind::kWord) {
      fail("expected a selector");
      return std::nullopt;
    }
    path.push_back(peek().text);
    ++pos_;
    while (true) {
      if (peek().kind == Token::Kind::kDot && peek(1).kind == Token::Kind::kWord) {
        path.push_back(peek(1).text);
        pos_ += 2;
      } else if (peek().kind == Token::Kind::kLeftBracket && peek(1).kind == Token::Kind::kString &&
                 peek(2).kind == Token::Kind::kRightBracket) {
        path.push_back(peek(1).text);
        pos_ += 3;
      } else {
        return path;
      }
    }
  }

  std::shared_ptr<const Node> parse_match() {
    auto node = std::make_shared<Node>();
    // "value" in Selector / "value" not in Selector
    const bool value_first = peek().kind == Token::Kind::kString || (word("in", 1) || (word("not", 1) && word("in", 2)));
    if (value_first) {
      auto value = parse_value();
      if (!value) return nullptr;
      bool negated = false;
      if (word("not")) {
        negated = true;
        ++pos_;
      }
      if (!word("in")) return fail("expected in");
      ++pos_;
      auto selector = parse_selector();
      if (!selector) return nullptr;
      node->selector = std::move(*selector);
      node->value = std::move(*value);
      node->op = negated ? Node::Op::kNotContains : Node::Op::kContains;
      return node;
    }
    auto selector = parse_selector();
    if (!selector) return nullptr;
    node->selector = std::move(*selector);
    if (peek().kind == Token::Kind::kOp) {
      node->op = peek().text == "==" ? Node::Op::kEqual : Node::Op::kNotEqual;
      ++pos_;
    } else if (word("is")) {
      ++pos_;
      node->op = Node::Op::kEmpty;
      if (word("not")) {
        node->op = Node::Op::kNotEmpty;
        ++pos_;
      }
      if (!word("empty")) return fail("expected empty");
      ++pos_;
      return node;
    } else {
      bool negated = false;
      if (word("not")) {
        negated = true;
        ++pos_;
      }
      if (word("contains")) {
        node->op = negated ? Node::Op::kNotContains : Node::Op::kContains;
      } else if (word("matches")) {
        node->op = negated ? Node::Op::kNotMatches : Node::Op::kMatches;
      } else {
        return fail("expected a match operator");
      }
      ++pos_;
    }
    auto value = parse_value();
    if (!value) return nullptr;
    node->value = std::move(*value);
    if (node->op == Node::Op::kMatches || node->op == Node::Op::kNotMatches) {
      try {
        node->pattern.emplace(node->value, std::regex::ECMAScript);
      } catch (const std::regex_error&) {
        return fail("invalid regular expression \"" + node->value + "\"");
      }
    }
    return node;
  }

  std::vector<Token> tokens_;
  std::string& error_;
  std::size_t pos_ = 0;
};

std::string as_text(const json::value& value) {
  if (value.is_string()) return std::string(value.as_string());
  return json::serialize(value);
}

const json::value* resolve(const json::value& item, const std::vector<std::string>& path) {
  const json::value* current = &item;
  for (const auto& name : path) {
    if (!current->is_object()) return nullptr;
    auto it = current->as_object().find(name);
    if (it == current->as_object().end()) return nullptr;
    current = &it->value();
  }
  return current;
}

bool is_empty(const json::value* value) {
  if (!value || value->is_null()) return true;
  if (value->is_string()) return value->as_string().empty();
  if (value->is_array()) return value->as_array().empty();
  if (value->is_object()) return value->as_object().empty();
  return false;
}

bool contains(const json::value* value, const std::string& needle) {
  if (!value) return false;
  if (value->is_string()) return std::string_view(value->as_string()).find(needle) != std::string_view::npos;
  if (value->is_array()) {
    for (const auto& element : value->as_array()) {
      if (as_text(element) == needle) return true;
    }
    return false;
  }
  if (value->is_object()) return value->as_object().contains(needle);
  return false;
}

bool evaluate(const Node& node, const json::value& item) {
  switch (node.kind) {
    case Node::Kind::kAnd:
      return evaluate(*node.left, item) && evaluate(*node.right, item);
    case Node::Kind::kOr:
      return evaluate(*node.left, item) || evaluate(*node.right, item);
    case Node::Kind::kNot:
      return !evaluate(*node.left, item);
    case Node::Kind::kMatch:
      break;
  }
  const json::value* value = resolve(item, node.selector);
  switch (node.op) {
    case Node::Op::kEqual:
      return value && as_text(*value) == node.value;
    case Node::Op::kNotEqual:
      return !value || as_text(*value) != node.value;
    case Node::Op::kContains:
      return contains(value, node.value);
    case Node::Op::kNotContains:
      return !contains(value, node.value);
    case Node::Op::kMatches:
      return value && std::regex_search(as_text(*value), *node.pattern);
    case Node::Op::kNotMatches:
      return !value || !std::regex_search(as_text(*value), *node.pattern);
    case Node::Op::kEmpty:
      return is_empty(value);
    case Node::Op::kNotEmpty:
      return !is_empty(value);
  }
  return false;
}

}  // namespace

std::optional<Filter> Filter::parse(const std::string& text, std::string& error) {
  error.clear();
  auto tokens = tokenize(text, error);
  if (!tokens) return std::nullopt;
  Parser parser(std::move(*tokens), error);
  auto root = parser.parse();
  if (!root) return std::nullopt;
  Filter filter;
  filter.root_ = std::move(root);
  return filter;
}

bool Filter::matches(const json::value& item) const { return !root_ || evaluate(*root_, item); }

}  // namespace berth::sim::nomad
