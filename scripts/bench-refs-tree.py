#!/usr/bin/env python3
"""Writes the tree `make bench-refs` searches: a vexil project with 1,000 flag definitions
and 100,000 source files of about 10.5 KB (1 GB), a few percent of them naming flags in
every form `vexil refs` knows. Deterministic, so runs compare."""
import os, random, sys

root = sys.argv[1]
FILES, DIRS, FLAGS = 100_000, 1_000, 1_000
rng = random.Random(20261201)
words = ["def", "end", "return", "const", "let", "if", "else", "user", "project", "merge_request",
         "pipeline", "render", "params", "current_user", "namespace", "ci_build", "await", "fetch",
         "this", "props", "state", "value", "items", "map", "filter", "=>", "{", "}", "(", ")", "#"]
pool = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) for _ in range(4_000)]
flags = [f"{rng.choice(['ci', 'mr', 'search', 'duo', 'api', 'ui'])}_{'_'.join(rng.choice(words[7:16]) for _ in range(2))}_{i}" for i in range(FLAGS)]

def camel(name):
    first, *rest = name.split("_")
    return first + "".join(w[:1].upper() + w[1:] for w in rest)

forms = [lambda f: f"  if Feature.enabled?(:{f}, current_user)",
         lambda f: f"    push_frontend_feature_flag(:{f}, project)",
         lambda f: f"  return this.glFeatures.{camel(f)};",
         lambda f: f"if (client.isEnabled('{f}')) {{",
         lambda f: f"const on = await provider.getBooleanValue('{f}', false);",
         lambda f: f"  # {f} is on for everyone since 17.2"]

for i, name in enumerate(flags):
    path = os.path.join(root, "config/feature_flags/beta", f"{name}.yml")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as out:
        out.write(f"---\nname: {name}\nmilestone: '17.{i % 12}'\ngroup: group::bench\ntype: beta\ndefault_enabled: false\n")

with open(os.path.join(root, ".gitignore"), "w") as out:
    out.write("*.min.js\n/tmp/\n")
for i in range(FILES):
    d = os.path.join(root, "app", f"module_{i % DIRS:04d}")
    os.makedirs(d, exist_ok=True)
    lines = rng.choices(pool, k=230)
    if i % 25 == 0:
        for _ in range(3):
            lines[rng.randrange(len(lines))] = rng.choice(forms)(rng.choice(flags))
    ext = rng.choice(["rb", "js", "vue", "ts", "haml"])
    with open(os.path.join(d, f"file_{i:06d}.{ext}"), "w") as out:
        out.write("\n".join(lines) + "\n")
