"""GitLab's own API client, python-gitlab, unmodified, against `vexil serve --api`.

Usage: python gitlab_features.py BASE_URL TOKEN READ_ONLY_TOKEN
BASE_URL is one environment's: http://127.0.0.1:PORT/staging. Exits non-zero, saying why,
when anything differs from what GitLab's API documents.
"""
import sys

import gitlab

base, token, read_only = sys.argv[1:4]
gl = gitlab.Gitlab(base, private_token=token)
FLAG = "new_navigation_bar"


def gates(feature):
    return {g["key"]: g["value"] for g in feature.gates}


# Percentage of actors, as chatops' `--actors` sends it: `key` as an extra parameter.
f = gl.features.set(FLAG, 25, key="percentage_of_actors")
assert f.name == FLAG and f.state == "conditional", f.attributes
assert gates(f) == {"boolean": False, "percentage_of_actors": 25}, f.gates
assert f.definition["type"] == "beta", f.definition

# Actors, comma-separated, each kind as python-gitlab names it.
f = gl.features.set(FLAG, True, user="alice,bob", project="gitlab-org/gitlab", group="gitlab-org")
actors = gates(f)["actors"]
assert sorted(actors) == ["Group:gitlab-org", "Project:gitlab-org/gitlab", "User:alice", "User:bob"], actors
f = gl.features.set(FLAG, True, feature_group="gitlab_team_members")
assert gates(f)["groups"] == ["gitlab_team_members"], f.gates

# The list is every persisted feature.
listed = {x.name: x for x in gl.features.list(get_all=True)}
assert FLAG in listed and listed[FLAG].state == "conditional", listed

# `true` clears every gate, as Flipper's boolean enable does.
f = gl.features.set(FLAG, True)
assert f.state == "on" and gates(f) == {"boolean": True}, f.gates

# Refusals come back as GitLab's: 400 with the message.
try:
    gl.features.set(FLAG, 30, key="percentage_of_actors")
    raise AssertionError("a percentage of a fully enabled flag was accepted")
except gitlab.exceptions.GitlabSetError as e:
    assert e.response_code == 400 and "fully-enabled" in e.error_message, (e.response_code, e.error_message)
try:
    gl.features.set("no_such_flag", True)
    raise AssertionError("a flag without definition was accepted")
except gitlab.exceptions.GitlabSetError as e:
    assert e.response_code == 400 and "has no definition" in e.error_message, e.error_message
assert gl.features.set("no_such_flag", True, force=True).state == "on"

# Delete: 204, whether or not anything was persisted.
gl.features.delete(FLAG)
gl.features.delete(FLAG)
assert FLAG not in {x.name for x in gl.features.list(get_all=True)}

# A read-only token reads, and is refused changes (403); a wrong token is 401.
reader = gitlab.Gitlab(base, private_token=read_only)
assert isinstance(reader.features.list(get_all=True), list)
try:
    reader.features.set(FLAG, True)
    raise AssertionError("a read-only token changed a flag")
except gitlab.exceptions.GitlabSetError as e:
    assert e.response_code == 403, e.response_code
try:
    gitlab.Gitlab(base, private_token="vxl_not-a-token").features.list(get_all=True)
    raise AssertionError("an unknown token was accepted")
except gitlab.exceptions.GitlabAuthenticationError as e:
    assert e.response_code == 401, e.response_code

print("python-gitlab: every check passed")
