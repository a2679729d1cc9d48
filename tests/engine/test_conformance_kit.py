"""The conformance kit can fail: every ChannelContract check fails on a broken channel.

The kit's channels (``kit/kit_channels.py``) are "installed" with a
``.dist-info`` holding their entry point, as a plugin author's would be, and
``ChannelContract`` runs on each in a pytest subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from unipost.testing import ChannelContract

KIT = Path(__file__).parent / "kit"
ROOT = Path(__file__).parents[2]


def test_every_contract_check_fails_on_some_broken_channel(tmp_path: Path) -> None:
    info = tmp_path / "kit_channels-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kit-channels\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text("[unipost]\nkit = kit_channels\n", encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(KIT), str(tmp_path)]))
    report = tmp_path / "r.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--junit-xml",
            str(report),
            str(KIT / "kit_contract.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    xml = report.read_text(encoding="utf-8")
    outcomes: dict[str, dict[str, bool]] = defaultdict(dict)
    for suite, name, body in re.findall(
        r'<testcase classname="[^"]*\.(Test_\w+)" name="([^"]+)"[^>]*?(?:/>|>(.*?)</testcase>)',
        xml,
        re.S,
    ):
        outcomes[suite][name] = "<failure" not in body and "<error" not in body
    checks = {n for n in dir(ChannelContract) if n.startswith("test_")}
    good = outcomes.pop("Test_GoodChannel")
    assert good, "the good channel's suite ran"
    assert all(good.values()), {n for n, ok in good.items() if not ok}
    assert {n.split("[")[0] for n in good} == checks, "every check ran on the good channel"
    failed_somewhere = {
        n.split("[")[0] for suite in outcomes.values() for n, ok in suite.items() if not ok
    }
    assert checks <= failed_somewhere, (
        f"checks that no broken channel fails: {checks - failed_somewhere}"
    )
    for suite, results in outcomes.items():
        assert not all(results.values()), f"{suite}'s defect went unnoticed by the kit"
