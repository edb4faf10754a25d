#!/usr/bin/env python3
"""Render the Youtu chat-template golden corpus with real Jinja.

Reads  tests/YoutuServer.Chat.Tests/Golden/youtu-cases.json
and    src/YoutuServer.Chat/Templates/youtu_chat_template.jinja (byte-exact copy of the model's template),
writes tests/YoutuServer.Chat.Tests/Golden/youtu-expected.json  (case name -> rendered text, or {"error": "..."}).

The environment mirrors Hugging Face transformers' apply_chat_template:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols extension,
HF's tojson filter (json.dumps, ensure_ascii=False, default separators, key order kept) and raise_exception.
Like HF, `tools` is always passed (None when absent) and `add_generation_prompt` is always passed.

Normalizations applied before rendering (the C# YoutuChatFormatter applies the same ones):
  * tools == []                         -> tools absent (None); otherwise the template renders an empty tool block
  * assistant content null / missing    -> ""  (the template crashes on `'</think>' in None`)
  * role "developer"                    -> "system"

Case format (a JSON array):
  {"name": str, "description": str?, "messages": [OpenAI-style messages], "tools": [...]?,
   "add_generation_prompt": bool? (default true), "enable_thinking": bool?, "forced_thinking": bool?,
   "bos_token": str? (default "<|begin_of_text|>"), "include_bos": bool? (default true)}
A tool call is {"id": str?, "type": "function", "function": {"name": str, "arguments": str | any JSON}}.

Usage: python3 scripts/render-golden-templates.py   (requires jinja2 >= 3.1)
"""

import json
import os
import sys

import jinja2
import jinja2.ext
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TEMPLATE_PATH = os.path.join(ROOT, "src", "YoutuServer.Chat", "Templates", "youtu_chat_template.jinja")
GOLDEN_DIR = os.path.join(ROOT, "tests", "YoutuServer.Chat.Tests", "Golden")
CASES_PATH = os.path.join(GOLDEN_DIR, "youtu-cases.json")
EXPECTED_PATH = os.path.join(GOLDEN_DIR, "youtu-expected.json")

DEFAULT_BOS = "<|begin_of_text|>"


def build_environment():
    # Same construction as transformers.utils.chat_template_utils._compile_jinja_template
    # (minus the {% generation %} tracker extension, which this template does not use).
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def normalize_messages(messages):
    out = []
    for message in messages:
        m = dict(message)
        if m.get("role") == "developer":
            m["role"] = "system"
        if m.get("role") == "assistant" and m.get("content") is None:
            m["content"] = ""
        out.append(m)
    return out


def render_case(template, case):
    tools = case.get("tools")
    if tools is not None and len(tools) == 0:
        tools = None
    kwargs = {
        "messages": normalize_messages(case["messages"]),
        "tools": tools,
        "documents": None,
        "add_generation_prompt": case.get("add_generation_prompt", True),
        "bos_token": case.get("bos_token", DEFAULT_BOS) if case.get("include_bos", True) else "",
    }
    # Absent in the case means "not passed", so `is defined` stays false in the template.
    for key in ("enable_thinking", "forced_thinking"):
        if key in case and case[key] is not None:
            kwargs[key] = case[key]
    return template.render(**kwargs)


def main():
    with open(TEMPLATE_PATH, "r", encoding="utf-8", newline="") as f:
        source = f.read()
    with open(CASES_PATH, "r", encoding="utf-8") as f:
        cases = json.load(f)

    template = build_environment().from_string(source)
    expected = {}
    errors = 0
    for case in cases:
        name = case["name"]
        if name in expected:
            sys.exit(f"duplicate case name: {name}")
        try:
            expected[name] = render_case(template, case)
        except Exception as e:  # any Jinja failure is a golden "error" case
            expected[name] = {"error": f"{type(e).__name__}: {e}"}
            errors += 1

    with open(EXPECTED_PATH, "w", encoding="utf-8", newline="\n") as f:
        json.dump(expected, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"jinja2 {jinja2.__version__}: rendered {len(cases)} cases ({errors} errors) -> {os.path.relpath(EXPECTED_PATH, ROOT)}")


if __name__ == "__main__":
    main()
