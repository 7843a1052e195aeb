"""Reference renders for the chat templates axolotl-java bundles under Axolotl's names whose real model templates
are not in ../shared/tokenizers (mistral_v1, mistral_v2v3, mistral_v3_tekken, mistral_v7_tekken, phi_3).

The references are Axolotl's own templates (axolotl-ai-cloud/axolotl, src/axolotl/utils/chat_templates/templates,
commit 067b021c8b87a9e5e380b9173c704cf7340e30f5, the corpus commit), rendered by Python Jinja2 set up as
transformers sets it up (the environment of ../shared/tokenizers/golden/make-chat.py, fixed date 2026-01-15) on the
DEV conversations of ../shared/tokenizers/golden/conversations-dev.json. Only the renders are kept here; the
templates axolotl-java ships are its own (src/main/resources/ai/axolotl/data/chat/).

Usage: python3 make_bundled_goldens.py <axolotl templates dir> <conversations-dev.json> > bundled-goldens.jsonl
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

NAMES = {"mistral_v1": ("<s>", "</s>"), "mistral_v2v3": ("<s>", "</s>"), "mistral_v3_tekken": ("<s>", "</s>"),
         "mistral_v7_tekken": ("<s>", "</s>"), "phi_3": ("<s>", "<|endoftext|>")}
FIXED_NOW = datetime(2026, 1, 15, 9, 30, 0)


def compile_template(source):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: FIXED_NOW.strftime(fmt)
    return env.from_string(source)


def main():
    templates_dir, conv_file = sys.argv[1], sys.argv[2]
    conversations = json.load(open(conv_file))
    for name, (bos, eos) in NAMES.items():
        template = compile_template(open(f"{templates_dir}/{name}.jinja").read())
        for conv in conversations:
            for agp in (False, True):
                line = {"template": name, "case": conv["case"], "add_generation_prompt": agp,
                        "bos_token": bos, "eos_token": eos, "messages": conv["messages"]}
                if "tools" in conv:
                    line["tools"] = conv["tools"]
                if "kwargs" in conv:
                    line["kwargs"] = conv["kwargs"]
                try:
                    line["text"] = template.render(messages=conv["messages"], tools=conv.get("tools"),
                                                   documents=None, add_generation_prompt=agp, bos_token=bos,
                                                   eos_token=eos, **conv.get("kwargs", {}))
                except Exception as e:  # the template raised: the test expects an error too
                    line["error"] = f"{type(e).__name__}: {e}"
                print(json.dumps(line, ensure_ascii=False))


main()
