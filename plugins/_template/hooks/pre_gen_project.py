"""Refuse names that would not work as a channel type, a distribution and a package."""

import re
import sys

platform = "{{ cookiecutter.platform }}"
limit = "{{ cookiecutter.text_limit }}"

if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", platform):
    sys.exit(f"platform {platform!r}: use lowercase letters, digits and single dashes, e.g. 'pixelfed'")
if not limit.isdigit() or int(limit) <= 0:
    sys.exit(f"text_limit {limit!r}: give a positive whole number of graphemes")
