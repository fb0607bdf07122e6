#include "cli/completion.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <map>
#include <vector>

namespace coffre::cli {
namespace {

// What the script knows of one command: its path ("coffre hub device"), its subcommands, its
// options, those of them that take a value, and the values of those with a fixed set (options
// and positional arguments).
struct Node {
  std::string path;
  std::vector<std::string> subcommands;
  std::vector<std::string> options;
  std::vector<std::string> valued;
  std::map<std::string, std::vector<std::string>> choices;  // option -> values
  std::vector<std::string> arguments;  // the values of its positional arguments' sets
};

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// `text` as a single-quoted bash word.
std::string Quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The set an IsMember check names in an option's type ("TEXT:{table,json,tsv}"), else none.
std::vector<std::string> Choices(const CLI::Option& option) {
  std::string type = option.get_type_name();
  size_t open = type.find('{');
  size_t close = type.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  std::vector<std::string> out;
  std::string set = type.substr(open + 1, close - open - 1);
  for (size_t at = 0; at <= set.size();) {
    size_t comma = std::min(set.find(',', at), set.size());
    if (comma > at) out.push_back(set.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

void Walk(const CLI::App& app, const std::string& path, std::vector<Node>& nodes) {
  Node node;
  node.path = path;
  // Hidden ones (an empty group) are not offered.
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_group().empty()) continue;
    if (!o->nonpositional()) {
      for (std::string& value : Choices(*o)) node.arguments.push_back(std::move(value));
      continue;
    }
    std::vector<std::string> names;
    for (const std::string& s : o->get_snames()) names.push_back("-" + s);
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
    std::vector<std::string> choices = Choices(*o);
    for (const std::string& name : names) {
      node.options.push_back(name);
      if (o->get_expected_max() == 0) continue;  // a flag
      node.valued.push_back(name);
      if (!choices.empty()) node.choices[name] = choices;
    }
  }
  std::vector<const CLI::App*> subcommands =
      app.get_subcommands([](const CLI::App* a) { return !a->get_group().empty(); });
  for (const CLI::App* sub : subcommands) node.subcommands.push_back(sub->get_name());
  nodes.push_back(std::move(node));
  for (const CLI::App* sub : subcommands) Walk(*sub, path + " " + sub->get_name(), nodes);
}

// The function: the words before the cursor name the command (option values skipped, also
// "--opt=value", which bash splits at '='); the word at the cursor is completed from it.
constexpr const char* kFunctionBody = R"(  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local i=1 w opt=
  while (( i < COMP_CWORD )); do
    w=${COMP_WORDS[i]}
    if [[ $w == -* ]]; then
      if [[ " ${valued[$path]} " == *" $w "* ]]; then
        i=$((i + 1))
        [[ ${COMP_WORDS[i]} == "=" ]] && i=$((i + 1))
      fi
    elif [[ " ${subs[$path]} " == *" $w "* ]]; then
      path="$path $w"
    fi
    i=$((i + 1))
  done
  COMPREPLY=()
  if [[ $cur == "=" ]]; then
    opt=$prev cur=
  elif [[ $prev == "=" ]] && (( COMP_CWORD >= 2 )); then
    opt=${COMP_WORDS[COMP_CWORD-2]}
  elif [[ $prev == -* ]]; then
    opt=$prev
  fi
  if [[ -n $opt && " ${valued[$path]} " == *" $opt "* ]]; then
    # A value: one of its set, else bash's own completion (file names).
    [[ -n ${choices["$path $opt"]} ]] && COMPREPLY=($(compgen -W "${choices["$path $opt"]}" -- "$cur"))
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "${opts[$path]}" -- "$cur"))
  elif [[ -n ${subs[$path]} ]]; then
    COMPREPLY=($(compgen -W "${subs[$path]}" -- "$cur"))
  elif [[ -n ${args[$path]} ]]; then
    COMPREPLY=($(compgen -W "${args[$path]}" -- "$cur"))
  fi
  return 0
}
)";

}  // namespace

std::string BashCompletion(const CLI::App& app, const std::string& program) {
  std::vector<Node> nodes;
  Walk(app, program, nodes);
  std::string function = "_" + program;
  for (char& c : function) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  std::string subs, opts, valued, choices, args;
  for (const Node& n : nodes) {
    std::string key = "    [" + Quote(n.path) + "]=";
    if (!n.subcommands.empty()) subs += key + Quote(Join(n.subcommands)) + "\n";
    opts += key + Quote(Join(n.options)) + "\n";
    if (!n.valued.empty()) valued += key + Quote(Join(n.valued)) + "\n";
    if (!n.arguments.empty()) args += key + Quote(Join(n.arguments)) + "\n";
    for (const auto& [option, values] : n.choices) {
      choices += "    [" + Quote(n.path + " " + option) + "]=" + Quote(Join(values)) + "\n";
    }
  }
  return "# bash completion for " + program + ", made by `" + program +
         " completion bash` from its commands and options.\n"
         "# Use: source <(" + program + " completion bash)\n" +
         function + "() {\n"
         "  local -A subs=(\n" + subs + "  )\n"
         "  local -A opts=(\n" + opts + "  )\n"
         "  local -A valued=(\n" + valued + "  )\n"
         "  local -A choices=(\n" + choices + "  )\n"
         "  local -A args=(\n" + args + "  )\n"
         "  local path=" + Quote(program) + "\n" +
         kFunctionBody +
         "complete -o default -F " + function + " " + program + "\n";
}

}  // namespace coffre::cli
