"""Keep one starting point: the bearer-token REST channel, or the webhook-URL channel."""

import shutil
from pathlib import Path

credential = "{{ cookiecutter.credential }}"
package = Path("src") / "{{ cookiecutter.package }}"
webhook = Path("_webhook")

if credential == "webhook-url":
    shutil.move(webhook / "__init__.py", package / "__init__.py")
    shutil.move(webhook / "test_contract.py", Path("tests") / "test_contract.py")
shutil.rmtree(webhook)
