"""unipost's fixtures: unipost_clock, unipost_recorder, unipost_host, unipost_dispatcher."""

pytest_plugins = ["unipost.testing.pytest_plugin"]
